//! voc-pipeline: the worker that carries one feedback item from its topic to
//! its table: consume -> decode (`voc-ingest`) -> enrich (`voc-enrich`) ->
//! store (`voc-sink`) + alert (`voc-alert`) -> commit.
//!
//! - [`worker`]: the consume loop and the shutdown order;
//! - [`storage`]: the task that stores, publishes dead letters, awaits the
//!   batch's alerts and commits, with the insert pacing;
//! - [`alert_step`]: a batch's alerts, evaluated and published as soon as
//!   it is enriched; [`alert_recovery`]: alerts a crash left published but
//!   unrecorded, read back from the alert topic and recorded;
//! - [`decode_step`]: a batch's messages decoded, or dead-lettered with a
//!   reason; [`isolate`]: a panic while enriching one item dead-letters that item;
//! - [`retry`]: a failing step retried on the shared backoff with the
//!   partitions paused;
//! - [`metrics`]: Prometheus metrics, /livez and /readyz; [`context`]: librdkafka
//!   callbacks; [`stats`]: the run summary (`voc run --exit-after`);
//! - [`group_watch`]: partitions of the group nobody consumes;
//! - [`config`]: the worker's options.
//!
//! Depends on every stage crate; only the `voc` binary depends on it.

mod alert_recovery;
mod alert_step;
pub mod config;
mod context;
mod decode_step;
mod group_watch;
pub mod isolate;
pub mod metrics;
mod retry;
pub mod stats;
mod storage;
pub mod worker;

pub use config::WorkerConfig;
pub use worker::Worker;

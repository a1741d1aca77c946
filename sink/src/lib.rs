//! voc-sink: what leaves the worker.
//!
//! Fed by `voc-enrich` (enriched events) and used by `voc-alert`,
//! `voc-notify` and `voc-pipeline`; depends on `voc-core` only.
//!
//! - [`clickhouse`]: the client (errors, timeouts), the rows the worker
//!   inserts (idempotent by event id), the schema as versioned migrations
//!   (sink/schema/*.sql, the one source; the cluster variant is generated
//!   from it), reading query results back as tables, dimension tables;
//! - [`publish`]: the Kafka producer for alerts and dead letters; it waits
//!   for the broker's acknowledgement, so the worker commits source offsets
//!   only after delivery.
//! - [`backoff`]: the one retry schedule every retrying loop uses.

pub mod backoff;
pub mod clickhouse;
pub mod publish;

pub use backoff::Backoff;
pub use clickhouse::{ClickHouseConfig, ClickHouseSink, SinkError, Verdict};
pub use publish::Publisher;

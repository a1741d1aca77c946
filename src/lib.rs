//! voc: the binary that wires the pipeline stages (voc-ingest -> voc-enrich ->
//! voc-sink) into a worker, plus the operator commands around it. Each command
//! lives in its own module under `commands`.

pub mod analytics;
pub mod commands;
pub mod config;
pub mod metrics;
pub mod report;
pub mod worker;

pub use config::Config;

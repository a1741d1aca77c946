//! ClickHouse: where enriched events and alerting's side tables are stored.
//!
//! - [`client`]: connection settings, errors, timeouts, generic inserts;
//! - [`classify`]: retry a failed request, or are its rows refused;
//! - [`rows`]: the row types and the worker's insert;
//! - [`schema`]: the migrations from sink/schema/ (the one source) and the runner;
//!   [`migrate`] plans them (version-gated variants, checksums); [`cluster`]
//!   generates their cluster variant;
//! - [`read`]: query results as tables (saved queries, the report);
//! - [`dimension`]: dimension tables (customers) for joins;
//! - [`shard`]: shard-local event inserts on a cluster.

pub mod classify;
pub mod client;
pub mod cluster;
pub mod dimension;
pub mod migrate;
pub mod read;
pub mod rows;
pub mod schema;
pub mod shard;

pub use classify::Verdict;
pub use client::{ClickHouseConfig, ClickHouseSink, SinkError};
pub use rows::{FeedbackRow, TaxonomyRow};
pub use schema::{MigrationOutcome, MIGRATIONS_TABLE, SCHEMA};

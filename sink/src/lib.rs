//! voc-sink: where enriched events go.
//!
//! - [`clickhouse`]: rows into ClickHouse (batched, idempotent by design; see
//!   deploy/clickhouse/ for the schema and its reasoning) and schema management.
//! - [`migrate`]: versioned, version-gated schema migrations.
//! - [`dimension`]: dimension tables (customers) for joins.
//! - [`read`]: query results back as tables (saved queries, the report).
//! - [`alert`]: detractor, repeat-complainer and spike alerts (voc.alert.v2),
//!   with suppression, stored in ClickHouse; [`webhook`] delivers them to chat
//!   robots and case systems; [`workorder`] takes the case system's status updates.
//! - [`dead_letter`]: input the pipeline cannot use, with the reason.
//! - [`publish`]: the Kafka producer both of the latter use; it waits for the
//!   broker's acknowledgement so offsets are committed only after delivery.

pub mod alert;
pub mod clickhouse;
pub mod dead_letter;
pub mod dimension;
pub mod migrate;
pub mod publish;
pub mod read;
pub mod webhook;
pub mod workorder;

pub use alert::{
    Alert, AlertConfig, Alerter, Alerting, ClickHouseHistory, Evaluation, ALERT_SCHEMA,
};
pub use clickhouse::{ClickHouseConfig, ClickHouseSink, SinkError};
pub use dead_letter::{DeadLetter, DEAD_LETTER_SCHEMA};
pub use publish::Publisher;

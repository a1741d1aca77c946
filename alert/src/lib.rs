//! Alerts (voc.alert.v2): what alerting and case systems act on.
//!
//! Three kinds, one model ([`Alert`], schema docs/alert.schema.json):
//! - [`rules::detractor`]: an explicit 0-6 score, or strongly negative feedback with
//!   no score (marked `inferred`);
//! - [`rules::repeat`]: the same customer negative on N occasions within a window,
//!   across channels (looked up in ClickHouse, so it is global across workers);
//! - [`rules::spike`]: a tag's volume in a sliding window far above its
//!   hour-of-week baseline for a channel, branch, product or app version.
//!
//! Every candidate goes through [`suppress`]: one alert per dedup key and
//! window, plus at most one update carrying the count when the window closes;
//! a re-delivered source message never raises a second alert. The
//! [`AlertEngine`] ties it together: the worker hands it each enriched batch (in
//! offset order, before the batch is stored: alerts do not wait for the
//! ClickHouse insert), publishes the [`Evaluation`] it returns, then records
//! it ([`Evaluation::record`]).
//! Policy (severity, SLA, suppression) is documented in docs/alerting.md.
//!
//! Modules in the order an alert is made: [`model`] (the alert and its
//! parts), [`rules`] (detractor, repeat, spike, title), [`suppress`],
//! [`index`] (keys ClickHouse holds), [`history`] (what alerting reads and
//! writes in ClickHouse), [`engine`] (one batch in, alerts out) and
//! [`service`] (the worker's handle with its background tasks).
//!
//! Fed by `voc-enrich` (enriched events); stores through `voc-sink`'s
//! ClickHouse client. It knows nothing of Kafka or the worker: the caller
//! publishes what it decides.

pub mod config;
pub mod engine;
pub mod history;
pub mod index;
pub mod model;
pub mod rules;
pub mod service;
pub mod spike_eval;
pub mod suppress;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use config::AlertConfig;
pub use engine::{AlertEngine, Candidate, Evaluation};
pub use history::{AlertHistory, ClickHouseHistory};
pub use model::{Alert, AlertEvent, AlertKind, AlertTag, RepeatInfo, Severity, SpikeInfo};
pub use service::AlertService;

pub const ALERT_SCHEMA: &str = "voc.alert.v2";

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alert history in ClickHouse: {0}")]
    History(#[from] voc_sink::SinkError),
}

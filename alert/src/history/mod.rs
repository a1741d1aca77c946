//! What alerting reads from and writes to ClickHouse (tables 020-025 in
//! sink/schema/): recent negative touches per customer, tag volumes for
//! spikes, open suppression windows, counted occurrences, published alerts.
//! [`AlertHistory`] is the seam: [`ClickHouseHistory`] ([`clickhouse`]) in the worker,
//! [`memory`] in unit tests.

pub mod clickhouse;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;
mod rows;

pub use self::clickhouse::ClickHouseHistory;
pub use rows::{epoch, AlertRow, OccurrenceRow};

use crate::config::SpikeConfig;
use crate::model::{Alert, AlertEvent};
use crate::rules::repeat::Touch;
use crate::rules::spike::SeriesCounts;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use voc_sink::SinkError;

/// The history alerting needs; every call is one query.
pub trait AlertHistory: Send + Sync {
    /// The newest `per_customer` negative events of each of these customers
    /// since `since`, each carrying the customer's total count
    /// (`Touch::history_count`).
    fn recent_negatives(
        &self,
        customers: &[&str],
        since: DateTime<Utc>,
        per_customer: usize,
    ) -> impl Future<Output = Result<Vec<Touch>, SinkError>> + Send;
    /// Window counts and baselines of every (tag, series) seen in the window.
    fn spike_series(
        &self,
        cfg: &SpikeConfig,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<SeriesCounts>, SinkError>> + Send;
    /// A few events behind a spike.
    fn spike_sample(
        &self,
        tag_id: &str,
        series: &str,
        now: DateTime<Utc>,
        cfg: &SpikeConfig,
    ) -> impl Future<Output = Result<Vec<AlertEvent>, SinkError>> + Send;
    /// Customer value tiers from the configured query.
    fn customer_tiers(
        &self,
        query: &str,
        keys: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, String>, SinkError>> + Send;
    /// Windows still open for these dedup keys: key -> (alert id, closes at).
    fn open_windows(
        &self,
        keys: &[&str],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<HashMap<String, (String, DateTime<Utc>)>, SinkError>> + Send;
    /// Which (dedup key, trigger) pairs were already counted.
    fn seen_triggers(
        &self,
        pairs: &[(&str, &str)],
    ) -> impl Future<Output = Result<HashSet<(String, String)>, SinkError>> + Send;
    /// The stored JSON (`payload`) of these alerts' first revision, by alert id.
    fn first_alerts(
        &self,
        alert_ids: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, String>, SinkError>> + Send;
    /// Distinct occurrences per alert id.
    fn occurrence_counts(
        &self,
        alert_ids: &[&str],
    ) -> impl Future<Output = Result<HashMap<String, u32>, SinkError>> + Send;
    /// Every customer with a negative touch since `since` (the lookup index).
    fn customers_with_touches(
        &self,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<String>, SinkError>> + Send;
    /// Every dedup key with an occurrence or an alert since `since` (the lookup index).
    fn dedup_keys_since(
        &self,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<String>, SinkError>> + Send;
    /// Every trigger with an occurrence since `since` (the lookup index).
    fn triggers_since(
        &self,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<String>, SinkError>> + Send;
    /// Whether any occurrence was seen before `since` (while none was, the
    /// triggers index holds every trigger ClickHouse has).
    fn occurrences_before(
        &self,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, SinkError>> + Send;
    /// Store published alerts and the occurrences behind them.
    /// `payloads`: each alert's JSON, in order.
    fn record(
        &self,
        alerts: &[Alert],
        payloads: &[std::sync::Arc<str>],
        occurrences: &[OccurrenceRow],
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

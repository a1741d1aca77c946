//! The rows alerting writes: `alert_occurrences` and `alerts`.

use crate::model::Alert;
use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

/// One row of `alert_occurrences`.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct OccurrenceRow {
    pub dedup_key: String,
    pub event_id: String,
    pub alert_id: String,
    pub kind: String,
    pub seen_at: u32,
    pub suppressed: u8,
}

impl OccurrenceRow {
    pub fn new(
        dedup_key: &str,
        trigger: &str,
        alert_id: &str,
        kind: &str,
        now: DateTime<Utc>,
        suppressed: bool,
    ) -> Self {
        OccurrenceRow {
            dedup_key: dedup_key.into(),
            event_id: trigger.into(),
            alert_id: alert_id.into(),
            kind: kind.into(),
            seen_at: epoch(now),
            suppressed: suppressed as u8,
        }
    }
}

/// One row of `alerts`.
#[derive(Debug, Clone, Row, Serialize)]
pub struct AlertRow<'a> {
    pub alert_id: &'a str,
    pub revision: u8,
    pub kind: &'a str,
    pub severity: &'a str,
    pub dedup_key: &'a str,
    pub created_at: u32,
    pub first_seen: u32,
    pub window_closes_at: u32,
    pub sla_due: u32,
    pub occurrences: u32,
    pub customer_key: &'a str,
    pub event_ids: Vec<&'a str>,
    pub tag_ids: Vec<&'a str>,
    pub departments: &'a [String],
    pub work_order_title: &'a str,
    pub payload: &'a str,
}

impl<'a> AlertRow<'a> {
    /// `payload`: the alert's JSON (as published).
    pub fn of(a: &'a Alert, payload: &'a str) -> Self {
        AlertRow {
            alert_id: &a.alert_id,
            revision: a.revision,
            kind: a.kind.as_str(),
            severity: a.severity.as_str(),
            dedup_key: &a.dedup_key,
            created_at: epoch(a.created_at),
            first_seen: epoch(a.first_seen),
            window_closes_at: epoch(a.window_closes_at),
            sla_due: epoch(a.sla_due),
            occurrences: a.occurrences,
            customer_key: a.customer_key.as_deref().unwrap_or(""),
            event_ids: a.events.iter().map(|e| e.event_id.as_str()).collect(),
            tag_ids: a.tags.iter().map(|t| t.id.as_str()).collect(),
            departments: &a.departments,
            work_order_title: &a.work_order_title,
            payload,
        }
    }
}

pub fn epoch(t: DateTime<Utc>) -> u32 {
    t.timestamp().clamp(0, u32::MAX as i64) as u32
}

//! Closing the loop: work-order status updates from the case system
//! (voc.workorder.update.v1, docs/workorder-update.schema.json), consumed from
//! the updates topic by `voc workorders` into ClickHouse `work_order_updates`.
//! Storage is idempotent: a re-delivered update has the same `update_id`, and
//! the saved queries (deploy/clickhouse/queries/) take the first time each
//! status was reached, so duplicates never change an answer.

use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

pub const WORKORDER_UPDATE_SCHEMA: &str = "voc.workorder.update.v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkOrderStatus {
    /// The owning department took the case (time-to-acknowledge ends).
    Acknowledged,
    /// The department says it is fixed (time-to-resolve ends).
    Resolved,
    /// The fix was checked (e.g. by consumer protection or in the data).
    Verified,
    /// Verification failed; the case is open again.
    Reopened,
}

impl WorkOrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkOrderStatus::Acknowledged => "acknowledged",
            WorkOrderStatus::Resolved => "resolved",
            WorkOrderStatus::Verified => "verified",
            WorkOrderStatus::Reopened => "reopened",
        }
    }
}

/// One status update as the case system sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkOrderUpdate {
    pub schema: String,
    /// Unique per update (the idempotency key), e.g. the case system's event id.
    pub update_id: String,
    /// The alert the work order was opened for.
    pub alert_id: String,
    pub work_order_id: String,
    pub status: WorkOrderStatus,
    /// The department acting.
    pub department: String,
    /// When the status changed (RFC 3339).
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub actor: Option<String>,
    /// Free text; PII-masked before it is stored.
    #[serde(default)]
    pub note: Option<String>,
}

/// Why an update was rejected. The messages become dead-letter details and
/// log lines, so they say where and which rule, never a value of the update.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UpdateError {
    #[error("invalid JSON or fields at line {line} column {column}: {category}")]
    Invalid {
        line: usize,
        column: usize,
        /// syntax error, data error (a field of the wrong type or value, unknown or missing), ...
        category: &'static str,
    },
    #[error("unsupported schema, expected voc.workorder.update.v1")]
    Schema,
    #[error("empty {0}")]
    Empty(&'static str),
}

impl UpdateError {
    /// Dead-letter reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            UpdateError::Invalid { .. } => "invalid_json",
            UpdateError::Schema => "unsupported_schema",
            UpdateError::Empty(_) => "missing_field",
        }
    }
}

pub fn parse(payload: &[u8]) -> Result<WorkOrderUpdate, UpdateError> {
    // serde's own messages quote the offending value (`invalid type: string "..."`).
    let u: WorkOrderUpdate = serde_json::from_slice(payload).map_err(|e| {
        use serde_json::error::Category;
        UpdateError::Invalid {
            line: e.line(),
            column: e.column(),
            category: match e.classify() {
                Category::Io => "io error",
                Category::Syntax => "syntax error",
                Category::Data => "data error",
                Category::Eof => "unexpected end of input",
            },
        }
    })?;
    if u.schema != WORKORDER_UPDATE_SCHEMA {
        return Err(UpdateError::Schema);
    }
    for (name, v) in [
        ("update_id", &u.update_id),
        ("alert_id", &u.alert_id),
        ("work_order_id", &u.work_order_id),
    ] {
        if v.trim().is_empty() {
            return Err(UpdateError::Empty(name));
        }
    }
    Ok(u)
}

/// One row of `work_order_updates`.
#[derive(Debug, Clone, Row, Serialize)]
pub struct WorkOrderRow {
    pub update_id: String,
    pub alert_id: String,
    pub work_order_id: String,
    pub status: String,
    pub department: String,
    pub at: u32,
    pub actor: String,
    pub note: String,
    pub received_at: u32,
}

impl WorkOrderRow {
    /// `mask` masks PII in free text (`voc_core::pii`).
    pub fn of(u: WorkOrderUpdate, mask: impl Fn(&str) -> String, now: DateTime<Utc>) -> Self {
        WorkOrderRow {
            status: u.status.as_str().into(),
            at: u.at.timestamp().max(0) as u32,
            actor: mask(u.actor.as_deref().unwrap_or("")),
            note: mask(u.note.as_deref().unwrap_or("")),
            received_at: now.timestamp().max(0) as u32,
            update_id: u.update_id,
            alert_id: u.alert_id,
            work_order_id: u.work_order_id,
            department: u.department,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_updates_and_rejects_the_rest() {
        let ok = r#"{"schema":"voc.workorder.update.v1","update_id":"u1","alert_id":"det-1","work_order_id":"WO-1","status":"acknowledged","department":"运营管理部","at":"2026-11-24T02:10:00Z","note":"已联系客户"}"#;
        let u = parse(ok.as_bytes()).unwrap();
        assert_eq!(u.status, WorkOrderStatus::Acknowledged);
        assert_eq!(u.at.timestamp(), 1795486200);
        assert_eq!(parse(b"{").unwrap_err().reason(), "invalid_json");
        let bad_status = br#"{"schema":"voc.workorder.update.v1","update_id":"u1","alert_id":"a","work_order_id":"w","status":"done","department":"d","at":"2026-11-24T02:10:00Z"}"#;
        assert_eq!(parse(bad_status).unwrap_err().reason(), "invalid_json");
        let v0 = br#"{"schema":"v0","update_id":"u1","alert_id":"a","work_order_id":"w","status":"resolved","department":"d","at":"2026-11-24T02:10:00Z"}"#;
        assert_eq!(parse(v0).unwrap_err().reason(), "unsupported_schema");
        let empty = br#"{"schema":"voc.workorder.update.v1","update_id":" ","alert_id":"a","work_order_id":"w","status":"resolved","department":"d","at":"2026-11-24T02:10:00Z"}"#;
        assert_eq!(parse(empty).unwrap_err(), UpdateError::Empty("update_id"));
    }

    #[test]
    fn errors_never_echo_a_value_of_the_update() {
        for bad in [
            br#"{"schema":"13812345678","update_id":"u1","alert_id":"a","work_order_id":"w","status":"resolved","department":"d","at":"2026-11-24T02:10:00Z"}"#.as_slice(),
            br#"{"schema":"voc.workorder.update.v1","update_id":"u1","alert_id":"a","work_order_id":"w","status":"13812345678","department":"d","at":"2026-11-24T02:10:00Z"}"#,
            br#"{"schema":"voc.workorder.update.v1","update_id":13812345678,"alert_id":"a","work_order_id":"w","status":"resolved","department":"d","at":"2026-11-24T02:10:00Z"}"#,
            br#"{"schema":"voc.workorder.update.v1","update_id":"u1","alert_id":"a","work_order_id":"w","status":"resolved","department":"d","at":"13812345678"}"#,
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(!e.contains("138"), "{e}");
        }
    }
}

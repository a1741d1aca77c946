//! The rows the history's queries answer with.

use clickhouse::Row;
use serde::Deserialize;

#[derive(Debug, Row, Deserialize)]
pub(super) struct WindowRow {
    pub(super) dedup_key: String,
    pub(super) alert_id: String,
    pub(super) closes_at: u32,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct PairRow {
    pub(super) dedup_key: String,
    pub(super) event_id: String,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct KeyRow {
    pub(super) key: String,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct PayloadRow {
    pub(super) alert_id: String,
    pub(super) payload: String,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct AnyRow {
    pub(super) found: u8,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct CountRow {
    pub(super) alert_id: String,
    pub(super) n: u64,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct WindowCountRow {
    pub(super) tag_id: String,
    pub(super) series: String,
    pub(super) n: u64,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct BaselineRow {
    pub(super) tag_id: String,
    pub(super) series: String,
    pub(super) slot: u64,
    pub(super) all: u64,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct SampleRow {
    pub(super) event_id: String,
    pub(super) channel: String,
    pub(super) event_time: u32,
    pub(super) text: String,
    pub(super) sentiment_score: f32,
    pub(super) nps_score: Option<u8>,
    pub(super) kafka_topic: String,
    pub(super) kafka_partition: i32,
    pub(super) kafka_offset: i64,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct TierRow {
    pub(super) customer_key: String,
    pub(super) tier: String,
}

#[derive(Debug, Row, Deserialize)]
pub(super) struct RevisionRow {
    pub(super) alert_id: String,
    pub(super) revision: u8,
}

//! Dead letters: input the pipeline cannot use, parked with the reason so an
//! operator can fix the source and replay. The payload is the original text
//! with PII masked (the caller masks it: raw text never leaves the worker).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const DEAD_LETTER_SCHEMA: &str = "voc.deadletter.v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourcePosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub schema: String,
    /// Machine-readable reason code (see voc_ingest::DeadLetterReason).
    pub reason: String,
    /// The field at fault, when there is one.
    pub field: Option<String>,
    pub detail: String,
    pub channel: Option<String>,
    pub source: SourcePosition,
    /// How `payload` was decoded: "utf-8", "gb18030", or "lossy" for bytes that
    /// were neither (invalid sequences replaced by U+FFFD).
    pub payload_encoding: String,
    /// The original payload as text, PII-masked.
    pub payload: String,
    pub dead_lettered_at: DateTime<Utc>,
}

impl DeadLetter {
    /// Kafka key: the source position, so replays of one message land together.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.source.topic, self.source.partition, self.source.offset
        )
    }
}

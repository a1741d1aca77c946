//! Why a message could not be used. The reason code is what operators alert
//! on and what the dead-letter record carries, so the set is closed and stable.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterReason {
    /// The message had no payload (a tombstone or an empty body).
    EmptyPayload,
    /// The payload exceeds `max_payload_bytes`.
    PayloadTooLarge,
    /// Neither valid UTF-8 nor valid GB18030/GBK.
    BadEncoding,
    /// Not parseable JSON.
    InvalidJson,
    /// JSON, but not an object.
    NotAnObject,
    /// A required field is absent, null or blank.
    MissingField,
    /// A field has a type that cannot be read leniently (an object where text belongs).
    BadFieldType,
    /// A time field in no supported format.
    BadTime,
    /// A time before 2000 or more than a day in the future.
    TimeOutOfRange,
    /// A number outside its domain (NPS 0-10, stars 1-5, negative wait).
    OutOfRange,
    /// Neither text nor a score: nothing to learn from.
    EmptyFeedback,
    /// The message came from a topic no channel is configured for.
    UnknownTopic,
    /// An id or key (feedback id, customer, branch, product, app version...)
    /// longer than `decode.max_key_chars`.
    KeyTooLong,
    /// JSON nested deeper than `decode.max_depth`.
    TooDeeplyNested,
    /// An object with more than `decode.max_fields` fields.
    TooManyFields,
    /// An array with more than `decode.max_array_items` items.
    ArrayTooLarge,
    /// Enriching this one item panicked (the rest of its batch went on).
    EnrichFailed,
    /// ClickHouse refused this row (a value it cannot store or a check it
    /// fails); the rest of its insert was stored.
    RejectedByClickhouse,
}

impl DeadLetterReason {
    pub const ALL: [DeadLetterReason; 18] = [
        DeadLetterReason::EmptyPayload,
        DeadLetterReason::PayloadTooLarge,
        DeadLetterReason::BadEncoding,
        DeadLetterReason::InvalidJson,
        DeadLetterReason::NotAnObject,
        DeadLetterReason::MissingField,
        DeadLetterReason::BadFieldType,
        DeadLetterReason::BadTime,
        DeadLetterReason::TimeOutOfRange,
        DeadLetterReason::OutOfRange,
        DeadLetterReason::EmptyFeedback,
        DeadLetterReason::UnknownTopic,
        DeadLetterReason::KeyTooLong,
        DeadLetterReason::TooDeeplyNested,
        DeadLetterReason::TooManyFields,
        DeadLetterReason::ArrayTooLarge,
        DeadLetterReason::EnrichFailed,
        DeadLetterReason::RejectedByClickhouse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::EmptyPayload => "empty_payload",
            DeadLetterReason::PayloadTooLarge => "payload_too_large",
            DeadLetterReason::BadEncoding => "bad_encoding",
            DeadLetterReason::InvalidJson => "invalid_json",
            DeadLetterReason::NotAnObject => "not_an_object",
            DeadLetterReason::MissingField => "missing_field",
            DeadLetterReason::BadFieldType => "bad_field_type",
            DeadLetterReason::BadTime => "bad_time",
            DeadLetterReason::TimeOutOfRange => "time_out_of_range",
            DeadLetterReason::OutOfRange => "out_of_range",
            DeadLetterReason::EmptyFeedback => "empty_feedback",
            DeadLetterReason::UnknownTopic => "unknown_topic",
            DeadLetterReason::KeyTooLong => "key_too_long",
            DeadLetterReason::TooDeeplyNested => "too_deeply_nested",
            DeadLetterReason::TooManyFields => "too_many_fields",
            DeadLetterReason::ArrayTooLarge => "array_too_large",
            DeadLetterReason::EnrichFailed => "enrich_failed",
            DeadLetterReason::RejectedByClickhouse => "rejected_by_clickhouse",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decode failure: the reason code, the field at fault when there is one,
/// and a human-readable detail (never containing the offending text itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}{}: {detail}", field.as_ref().map(|f| format!(" ({f})")).unwrap_or_default())]
pub struct DecodeError {
    pub reason: DeadLetterReason,
    pub field: Option<String>,
    pub detail: String,
}

impl DecodeError {
    pub fn new(reason: DeadLetterReason, detail: impl Into<String>) -> Self {
        DecodeError {
            reason,
            field: None,
            detail: detail.into(),
        }
    }

    pub fn field(reason: DeadLetterReason, field: &str, detail: impl Into<String>) -> Self {
        DecodeError {
            reason,
            field: Some(field.to_string()),
            detail: detail.into(),
        }
    }
}

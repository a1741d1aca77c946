//! Dead letters: input the pipeline cannot use, parked with the reason so an
//! operator can fix the source and replay. The payload is the original text
//! with PII masked (raw text never leaves the worker unmasked).

use crate::reason::DecodeError;
use chrono::{DateTime, Utc};
use rdkafka::message::{Message, OwnedMessage};
use serde::{Deserialize, Serialize};
use voc_core::Channel;

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
    /// Machine-readable reason code (see [`crate::DeadLetterReason`]).
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
    /// The record for a message the decoders rejected.
    pub fn of(m: &OwnedMessage, channel: Option<Channel>, err: &DecodeError) -> DeadLetter {
        DeadLetter::rejected(
            m,
            channel,
            err.reason.as_str(),
            err.field.clone(),
            err.detail.clone(),
        )
    }

    /// The record for any message rejected with `reason` (a stable code):
    /// its payload as text (UTF-8, else GB18030, else lossy), PII-masked,
    /// with where it came from.
    pub fn rejected(
        m: &OwnedMessage,
        channel: Option<Channel>,
        reason: &str,
        field: Option<String>,
        detail: String,
    ) -> DeadLetter {
        let bytes = m.payload().unwrap_or_default();
        let (text, encoding) = match crate::payload::decode_text(bytes) {
            Ok((t, enc)) => (t.into_owned(), enc),
            Err(_) => (String::from_utf8_lossy(bytes).into_owned(), "lossy"),
        };
        DeadLetter {
            schema: DEAD_LETTER_SCHEMA.into(),
            reason: reason.into(),
            field,
            detail,
            channel: channel.map(|c| c.as_str().to_string()),
            source: SourcePosition {
                topic: m.topic().to_string(),
                partition: m.partition(),
                offset: m.offset(),
                timestamp_ms: m.timestamp().to_millis(),
            },
            payload_encoding: encoding.into(),
            payload: voc_core::pii::mask(&text).text,
            dead_lettered_at: Utc::now(),
        }
    }

    /// Kafka key: the source position, so replays of one message land together.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.source.topic, self.source.partition, self.source.offset
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeadLetterReason;
    use rdkafka::message::Timestamp;

    #[test]
    fn masks_pii_in_the_parked_payload() {
        let payload = br#"{"id":"x","text":"call me 13812345678""#.to_vec();
        let m = OwnedMessage::new(
            Some(payload),
            None,
            "voc.raw.app".into(),
            Timestamp::NotAvailable,
            2,
            41,
            None,
        );
        let err = DecodeError::new(
            DeadLetterReason::InvalidJson,
            "line 1 column 38: unexpected end of input",
        );
        let d = DeadLetter::of(&m, Some(Channel::App), &err);
        assert_eq!(d.reason, "invalid_json");
        assert_eq!((d.source.partition, d.source.offset), (2, 41));
        assert!(d.payload.contains("[PHONE]") && !d.payload.contains("13812345678"));
        assert_eq!(d.key(), "voc.raw.app/2/41");
    }
}

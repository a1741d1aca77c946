//! Turning a message the decoders rejected into a dead-letter record, with
//! the payload's PII masked (the payload never leaves the worker unmasked).

use chrono::Utc;
use rdkafka::message::{Message, OwnedMessage};
use voc_core::Channel;
use voc_ingest::DecodeError;
use voc_sink::dead_letter::SourcePosition;
use voc_sink::{DeadLetter, DEAD_LETTER_SCHEMA};

pub fn dead_letter(m: &OwnedMessage, channel: Option<Channel>, err: &DecodeError) -> DeadLetter {
    let bytes = m.payload().unwrap_or_default();
    let (text, encoding) = match voc_ingest::payload::decode_text(bytes) {
        Ok((t, enc)) => (t.into_owned(), enc),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), "lossy"),
    };
    DeadLetter {
        schema: DEAD_LETTER_SCHEMA.into(),
        reason: err.reason.as_str().into(),
        field: err.field.clone(),
        detail: err.detail.clone(),
        channel: channel.map(|c| c.as_str().to_string()),
        source: SourcePosition {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp_ms: m.timestamp().to_millis(),
        },
        payload_encoding: encoding.into(),
        payload: voc_enrich::pii::mask(&text).text,
        dead_lettered_at: Utc::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Timestamp;
    use voc_ingest::DeadLetterReason;

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
        let d = dead_letter(&m, Some(Channel::App), &err);
        assert_eq!(d.reason, "invalid_json");
        assert_eq!((d.source.partition, d.source.offset), (2, 41));
        assert!(d.payload.contains("[PHONE]") && !d.payload.contains("13812345678"));
        assert_eq!(d.key(), "voc.raw.app/2/41");
    }
}

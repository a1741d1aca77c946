//! Dead letters: input the pipeline cannot use, parked with the reason so an
//! operator can fix the source and replay. The payload is the original text
//! with PII masked (raw text never leaves the worker unmasked), cut to a
//! prefix when it would not fit: a dead letter can always be published.

use crate::reason::DecodeError;
use chrono::{DateTime, Utc};
use rdkafka::message::{Message, OwnedMessage};
use serde::{Deserialize, Serialize};
use voc_core::Channel;

pub const DEAD_LETTER_SCHEMA: &str = "voc.deadletter.v1";

/// The most a dead letter's `payload` takes in its JSON encoding. With the
/// other fields the record stays far below a broker's usual 1 MB message
/// limit whatever the input (a control byte takes six bytes in JSON), so
/// publishing it can never fail for its size and hold a partition.
pub const MAX_PAYLOAD_JSON_BYTES: usize = 64 * 1024;

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
    /// The original payload as text, PII-masked; only its beginning when
    /// `payload_truncated`.
    pub payload: String,
    /// Size of the original payload in bytes.
    #[serde(default)]
    pub payload_bytes: usize,
    /// `payload` is a prefix: the whole text would take more than
    /// [`MAX_PAYLOAD_JSON_BYTES`] in JSON.
    #[serde(default)]
    pub payload_truncated: bool,
    /// SHA-256 of the original bytes (hex) when `payload_truncated`, to find
    /// the message in the source system's copy.
    #[serde(default)]
    pub payload_sha256: Option<String>,
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
        let source = SourcePosition {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp_ms: m.timestamp().to_millis(),
        };
        let mut d = DeadLetter::item(source, channel, reason, field, detail, text, bytes);
        d.payload_encoding = encoding.into();
        d
    }

    /// The record for an item rejected after decoding (enrichment, storage),
    /// whose original message is no longer at hand: `text` is what stands
    /// for it (PII-masked here), `original` the bytes its size and hash describe.
    pub fn item(
        source: SourcePosition,
        channel: Option<Channel>,
        reason: &str,
        field: Option<String>,
        detail: String,
        text: String,
        original: &[u8],
    ) -> DeadLetter {
        // Masked whole first (a cut must not split a number from its mask).
        let masked = voc_core::pii::mask(&text).text;
        let (payload, truncated) = json_prefix(masked, MAX_PAYLOAD_JSON_BYTES);
        DeadLetter {
            schema: DEAD_LETTER_SCHEMA.into(),
            reason: reason.into(),
            field,
            // Details name the field and the rule, never the value; masked all the same.
            detail: voc_core::pii::mask(&detail).text,
            channel: channel.map(|c| c.as_str().to_string()),
            source,
            payload_encoding: "utf-8".into(),
            payload_bytes: original.len(),
            payload_truncated: truncated,
            payload_sha256: truncated.then(|| hex_sha256(original)),
            payload,
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

/// The longest prefix of `text` whose JSON string encoding takes at most
/// `max` bytes, and whether it was cut.
fn json_prefix(mut text: String, max: usize) -> (String, bool) {
    let mut used = 0;
    for (at, c) in text.char_indices() {
        used += match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used > max {
            text.truncate(at);
            return (text, true);
        }
    }
    (text, false)
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeadLetterReason;
    use rdkafka::message::Timestamp;

    #[test]
    fn a_huge_payload_of_control_bytes_still_fits() {
        // 170 KB of control bytes (under a 256 KB decode limit) would take
        // about 1 MB in JSON: the record keeps a prefix, the size and a hash.
        let raw: Vec<u8> = (0..170_000).map(|i| (i % 31 + 1) as u8).collect();
        let m = OwnedMessage::new(
            Some(raw.clone()),
            None,
            "voc.raw.app".into(),
            Timestamp::NotAvailable,
            0,
            9,
            None,
        );
        let err = DecodeError::new(DeadLetterReason::InvalidJson, "expected value");
        let d = DeadLetter::of(&m, Some(Channel::App), &err);
        let json = serde_json::to_vec(&d).unwrap();
        assert!(
            json.len() < MAX_PAYLOAD_JSON_BYTES + 2048,
            "{} bytes",
            json.len()
        );
        assert!(d.payload_truncated);
        assert_eq!(d.payload_bytes, 170_000);
        assert_eq!(d.payload_sha256.as_deref().map(str::len), Some(64));
        assert!(
            raw.starts_with(d.payload.as_bytes()),
            "a prefix of the text"
        );

        // A small payload is whole, without a hash.
        let small = message(br#"{"id":1"#);
        let d = DeadLetter::of(&small, Some(Channel::App), &err);
        assert!(!d.payload_truncated && d.payload_sha256.is_none());
        assert_eq!((d.payload.as_str(), d.payload_bytes), (r#"{"id":1"#, 7));
    }

    #[test]
    fn json_prefixes_count_escapes_and_keep_characters_whole() {
        assert_eq!(json_prefix("abc".into(), 3), ("abc".into(), false));
        assert_eq!(json_prefix("abcd".into(), 3), ("abc".into(), true));
        assert_eq!(json_prefix("a\u{1}b".into(), 6), ("a".into(), true));
        assert_eq!(json_prefix("a\"b".into(), 3), ("a\"".into(), true));
        assert_eq!(json_prefix("客服".into(), 4), ("客".into(), true));
    }

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

    fn message(payload: &[u8]) -> OwnedMessage {
        OwnedMessage::new(
            Some(payload.to_vec()),
            None,
            "voc.raw.call_center".into(),
            Timestamp::NotAvailable,
            0,
            7,
            None,
        )
    }

    #[test]
    fn masks_the_raw_payload_as_it_arrived() {
        // Before any normalization: full-width digits, spoken numerals, JSON
        // escapes, a code after its keyword, GBK bytes.
        let raw = r#"{"call_id":"c1","turns":[{"speaker":"customer","text":"手机１３８ １２３４ ５６７８，验证码是 幺二三四五六"},{"speaker":"customer","text":"身份证 三二零一零二一九八五一二三一零零二一"}],"nps":"x"#;
        let err = DecodeError::new(
            DeadLetterReason::InvalidJson,
            "line 1 column 300: unexpected end of input",
        );
        let d = DeadLetter::of(&message(raw.as_bytes()), Some(Channel::CallCenter), &err);
        for secret in ["１３８", "５６７８", "幺二三四五六", r"三二零一"] {
            assert!(!d.payload.contains(secret), "{secret} in {}", d.payload);
        }
        assert!(
            d.payload.contains("手机[PHONE]，验证码是 [CODE]"),
            "{}",
            d.payload
        );
        assert!(d.payload.contains(r"身份证 [ID]"), "{}", d.payload);
        let (gbk, _, _) =
            encoding_rs::GBK.encode(r#"{"comment":"卡号 六二二二 零二一二 三四五六 七八九零""#);
        let d = DeadLetter::of(&message(&gbk), Some(Channel::Branch), &err);
        assert_eq!(d.payload_encoding, "gb18030");
        assert_eq!(d.payload, r#"{"comment":"卡号 [CARD]""#);
    }

    #[test]
    fn details_of_decoded_payloads_never_echo_a_value() {
        let now = chrono::Utc::now();
        let ctx = crate::DecodeContext {
            zone: chrono_tz::Asia::Shanghai,
            now,
            max_payload_bytes: 1 << 20,
            broker_time: Some(now),
            lineage: voc_core::Lineage::default(),
        };
        for (channel, payload) in [
            (Channel::App, r#"{"id":"a1","text":"好","nps":13812345678}"#),
            (
                Channel::App,
                r#"{"id":"a1","text":"好","stars":"6222021234567890"}"#,
            ),
            (
                Channel::Branch,
                r#"{"id":"b1","comment":"慢","wait_minutes":-13812345678}"#,
            ),
            (
                Channel::App,
                r#"{"id":"a1","text":"好","time":"2099-01-01 13:81:23"}"#,
            ),
            (
                Channel::App,
                r#"{"id":"a1","text":"好","time":13812345678000}"#,
            ),
            (
                Channel::App,
                r#"{"id":"a1","text":{"phone":"13812345678"}}"#,
            ),
        ] {
            let err = crate::decode(channel, Some(payload.as_bytes()), &ctx).unwrap_err();
            let d = DeadLetter::of(&message(payload.as_bytes()), Some(channel), &err);
            for value in ["138", "6222", "2099", "13:81"] {
                assert!(
                    !d.detail.contains(value) && !err.to_string().contains(value),
                    "{err}"
                );
            }
        }
    }
}

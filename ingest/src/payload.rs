//! Raw bytes -> JSON object: size limit, character encoding, JSON syntax.

use crate::reason::{DeadLetterReason, DecodeError};
use serde_json::{Map, Value};

/// A payload parsed to a JSON object, with the encoding it arrived in.
#[derive(Debug)]
pub struct ParsedPayload {
    pub object: Map<String, Value>,
    pub encoding: &'static str,
}

/// Decode bytes as UTF-8 (BOM tolerated) or, failing that, GB18030 (a superset
/// of GBK, which older branch and call-centre systems still emit).
pub fn decode_text(bytes: &[u8]) -> Result<(std::borrow::Cow<'_, str>, &'static str), DecodeError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((std::borrow::Cow::Borrowed(s), "utf-8")),
        Err(_) => encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|s| (s, "gb18030"))
            .ok_or_else(|| {
                DecodeError::new(
                    DeadLetterReason::BadEncoding,
                    "payload is neither valid UTF-8 nor valid GB18030/GBK",
                )
            }),
    }
}

pub fn parse(bytes: Option<&[u8]>, max_bytes: usize) -> Result<ParsedPayload, DecodeError> {
    let bytes = match bytes {
        Some(b) if !b.iter().all(u8::is_ascii_whitespace) => b,
        _ => {
            return Err(DecodeError::new(
                DeadLetterReason::EmptyPayload,
                "message has no payload",
            ))
        }
    };
    if bytes.len() > max_bytes {
        return Err(DecodeError::new(
            DeadLetterReason::PayloadTooLarge,
            format!("payload is {} bytes, limit is {max_bytes}", bytes.len()),
        ));
    }
    let (text, encoding) = decode_text(bytes)?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        DecodeError::new(
            DeadLetterReason::InvalidJson,
            format!(
                "line {} column {}: {}",
                e.line(),
                e.column(),
                e.classify_kind()
            ),
        )
    })?;
    match value {
        Value::Object(object) => Ok(ParsedPayload { object, encoding }),
        other => Err(DecodeError::new(
            DeadLetterReason::NotAnObject,
            format!("payload is a JSON {}, expected an object", kind(&other)),
        )),
    }
}

/// A short name of a JSON value's type, for error details.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

trait ClassifyKind {
    fn classify_kind(&self) -> &'static str;
}

impl ClassifyKind for serde_json::Error {
    fn classify_kind(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "data error",
            serde_json::error::Category::Eof => "unexpected end of input",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<ParsedPayload, DecodeError>) -> DeadLetterReason {
        r.unwrap_err().reason
    }

    #[test]
    fn accepts_utf8_with_and_without_bom() {
        let p = parse(Some("{\"text\":\"转账失败\"}".as_bytes()), 1024).unwrap();
        assert_eq!(p.encoding, "utf-8");
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice("{\"text\":\"好\"}".as_bytes());
        assert_eq!(parse(Some(&bom), 1024).unwrap().object["text"], "好");
    }

    #[test]
    fn decodes_gbk_payloads() {
        let (gbk, _, _) = encoding_rs::GBK.encode("{\"comment\":\"排队太久了\"}");
        let p = parse(Some(&gbk), 1024).unwrap();
        assert_eq!(p.encoding, "gb18030");
        assert_eq!(p.object["comment"], "排队太久了");
    }

    #[test]
    fn rejects_what_cannot_be_used() {
        assert_eq!(reason(parse(None, 10)), DeadLetterReason::EmptyPayload);
        assert_eq!(
            reason(parse(Some(b"  \n"), 10)),
            DeadLetterReason::EmptyPayload
        );
        assert_eq!(
            reason(parse(Some(&[b'x'; 11]), 10)),
            DeadLetterReason::PayloadTooLarge
        );
        assert_eq!(
            reason(parse(Some(&[0xff, 0xfe, 0x00, 0x81]), 10)),
            DeadLetterReason::BadEncoding
        );
        assert_eq!(
            reason(parse(Some(b"{\"a\":"), 10)),
            DeadLetterReason::InvalidJson
        );
        assert_eq!(
            reason(parse(Some(b"[1,2]"), 10)),
            DeadLetterReason::NotAnObject
        );
    }
}

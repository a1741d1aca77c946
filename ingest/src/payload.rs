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

/// Bounds on a payload's shape, checked before anything reads its fields:
/// what a source system would never send, and what would make one message
/// costly for every stage behind (`[decode]` options of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest id or key (feedback id, customer, branch, product, app
    /// version, ...), in characters.
    pub max_key_chars: usize,
    /// Deepest nesting of objects and arrays (the payload itself is level 1).
    pub max_depth: usize,
    /// Most fields of any one object.
    pub max_fields: usize,
    /// Most items of any one array (e.g. a call's turns).
    pub max_array_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key_chars: 256,
            max_depth: 32,
            max_fields: 256,
            max_array_items: 2000,
        }
    }
}

pub fn parse(bytes: Option<&[u8]>, max_bytes: usize) -> Result<ParsedPayload, DecodeError> {
    parse_limited(bytes, max_bytes, &Limits::default())
}

/// The deepest nesting of `[` and `{` outside strings, stopping past `max`.
fn depth_over(text: &str, max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The first object or array past its limit, as a decode error.
fn shape_error(v: &Value, limits: &Limits) -> Option<DecodeError> {
    match v {
        Value::Object(o) if o.len() > limits.max_fields => Some(DecodeError::new(
            DeadLetterReason::TooManyFields,
            format!(
                "an object has {} fields, limit is {}",
                o.len(),
                limits.max_fields
            ),
        )),
        Value::Object(o) => o.values().find_map(|v| shape_error(v, limits)),
        Value::Array(a) if a.len() > limits.max_array_items => Some(DecodeError::new(
            DeadLetterReason::ArrayTooLarge,
            format!(
                "an array has {} items, limit is {}",
                a.len(),
                limits.max_array_items
            ),
        )),
        Value::Array(a) => a.iter().find_map(|v| shape_error(v, limits)),
        _ => None,
    }
}

/// [`parse`] with the shape bounded by `limits` (depth, fields, array items).
pub fn parse_limited(
    bytes: Option<&[u8]>,
    max_bytes: usize,
    limits: &Limits,
) -> Result<ParsedPayload, DecodeError> {
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
    // Before parsing: the parser's own recursion limit would report a syntax error.
    if depth_over(&text, limits.max_depth) {
        return Err(DecodeError::new(
            DeadLetterReason::TooDeeplyNested,
            format!("JSON nests deeper than {} levels", limits.max_depth),
        ));
    }
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
    if let Some(e) = shape_error(&value, limits) {
        return Err(e);
    }
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

    #[test]
    fn bounds_the_shape_of_a_payload() {
        let limits = Limits {
            max_key_chars: 8,
            max_depth: 3,
            max_fields: 4,
            max_array_items: 5,
        };
        let r = |s: &str| parse_limited(Some(s.as_bytes()), 1 << 20, &limits).map(|_| ());
        assert_eq!(r(r#"{"a":{"b":[1]}}"#), Ok(()));
        // Brackets inside strings (escaped quotes too) are not nesting.
        assert_eq!(r(r#"{"a":"[[[[{{{{\"[[[["}"#), Ok(()));
        assert_eq!(
            r(r#"{"a":{"b":[[1]]}}"#).unwrap_err().reason,
            DeadLetterReason::TooDeeplyNested
        );
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            r(&deep).unwrap_err().reason,
            DeadLetterReason::TooDeeplyNested
        );
        assert_eq!(
            r(r#"{"a":1,"b":2,"c":3,"d":4,"e":5}"#).unwrap_err().reason,
            DeadLetterReason::TooManyFields
        );
        assert_eq!(
            r(r#"{"a":{"a":1,"b":2,"c":3,"d":4,"e":5}}"#)
                .unwrap_err()
                .reason,
            DeadLetterReason::TooManyFields
        );
        assert_eq!(
            r(r#"{"a":[1,2,3,4,5,6]}"#).unwrap_err().reason,
            DeadLetterReason::ArrayTooLarge
        );
        assert_eq!(r(r#"{"a":[1,2,3,4,5]}"#), Ok(()));
    }
}

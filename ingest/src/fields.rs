//! Lenient, typed reads from a raw JSON object.
//!
//! Source systems disagree on names (`id` / `feedback_id`), on types (`"9"` vs
//! `9`) and on what "absent" looks like (`null`, `""`, missing). Every read
//! names the aliases it accepts, treats all three absences alike, and fails
//! with a [`DecodeError`] that names the field when a value cannot be trusted.

use crate::payload::kind;
use crate::reason::{DeadLetterReason as R, DecodeError};
use crate::time::{parse_time, TimeError};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Fields { obj }
    }

    /// The first alias present with a non-null, non-blank value.
    pub fn raw(&self, names: &[&str]) -> Option<(&'a str, &'a Value)> {
        names.iter().find_map(|&n| {
            self.obj.get_key_value(n).and_then(|(k, v)| match v {
                Value::Null => None,
                Value::String(s) if s.trim().is_empty() => None,
                _ => Some((k.as_str(), v)),
            })
        })
    }

    /// Optional text; numbers and booleans are accepted and rendered as text.
    pub fn text(&self, names: &[&str]) -> Result<Option<String>, DecodeError> {
        match self.raw(names) {
            None => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.trim().to_string())),
            Some((_, Value::Number(n))) => Ok(Some(n.to_string())),
            Some((_, Value::Bool(b))) => Ok(Some(b.to_string())),
            Some((k, v)) => Err(DecodeError::field(
                R::BadFieldType,
                k,
                format!("{k} must be text, found {}", kind(v)),
            )),
        }
    }

    /// Required text, such as the source id every item must have to be idempotent.
    pub fn required_text(&self, names: &[&str]) -> Result<String, DecodeError> {
        self.text(names)?.ok_or_else(|| {
            DecodeError::field(
                R::MissingField,
                names[0],
                format!("one of {names:?} is required"),
            )
        })
    }

    /// Optional number, from a JSON number or a numeric string ("9", " 9.0 ").
    pub fn number(&self, names: &[&str]) -> Result<Option<f64>, DecodeError> {
        let Some((k, v)) = self.raw(names) else {
            return Ok(None);
        };
        let n = match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(DecodeError::field(
                R::BadFieldType,
                k,
                format!("{k} must be a number, found {}", kind(v)),
            )),
        }
    }

    /// Optional whole number within `lo..=hi` (fractions like 9.0 are fine, 8.5 is not).
    pub fn integer_in(&self, names: &[&str], lo: i64, hi: i64) -> Result<Option<i64>, DecodeError> {
        let Some(x) = self.number(names)? else {
            return Ok(None);
        };
        let field = self.raw(names).map(|(k, _)| k).unwrap_or(names[0]);
        if x.fract() != 0.0 {
            return Err(DecodeError::field(
                R::OutOfRange,
                field,
                format!("{field} must be a whole number"),
            ));
        }
        if x < lo as f64 || x > hi as f64 {
            return Err(DecodeError::field(
                R::OutOfRange,
                field,
                format!("{field} must be within {lo}..={hi}"),
            ));
        }
        Ok(Some(x as i64))
    }

    /// Optional non-negative number (wait minutes, durations).
    pub fn non_negative(&self, names: &[&str]) -> Result<Option<f64>, DecodeError> {
        match self.number(names)? {
            Some(x) if x < 0.0 => {
                let field = self.raw(names).map(|(k, _)| k).unwrap_or(names[0]);
                Err(DecodeError::field(
                    R::OutOfRange,
                    field,
                    format!("{field} must not be negative"),
                ))
            }
            other => Ok(other),
        }
    }

    /// Optional event time in any supported format (see [`crate::time`]).
    pub fn time(
        &self,
        names: &[&str],
        zone: Tz,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DecodeError> {
        let Some((k, v)) = self.raw(names) else {
            return Ok(None);
        };
        parse_time(v, zone, now).map(Some).map_err(|e| match e {
            TimeError::Format => {
                DecodeError::field(R::BadTime, k, format!("{k} is in no supported time format"))
            }
            TimeError::OutOfRange(_) => DecodeError::field(
                R::TimeOutOfRange,
                k,
                format!("{k} must be after 2000-01-01 and at most a day in the future"),
            ),
        })
    }

    /// Optional array.
    pub fn array(&self, names: &[&str]) -> Result<Option<&'a Vec<Value>>, DecodeError> {
        match self.raw(names) {
            None => Ok(None),
            Some((_, Value::Array(a))) => Ok(Some(a)),
            Some((k, v)) => Err(DecodeError::field(
                R::BadFieldType,
                k,
                format!("{k} must be an array, found {}", kind(v)),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_numbers_given_as_strings_and_aliases() {
        let o = obj(json!({"nps_score": " 9 ", "wait": "12.5", "feedback_id": 42, "blank": "  "}));
        let f = Fields::new(&o);
        assert_eq!(f.integer_in(&["nps", "nps_score"], 0, 10).unwrap(), Some(9));
        assert_eq!(f.non_negative(&["wait"]).unwrap(), Some(12.5));
        assert_eq!(f.required_text(&["id", "feedback_id"]).unwrap(), "42");
        assert_eq!(f.text(&["blank"]).unwrap(), None);
    }

    #[test]
    fn names_the_field_at_fault() {
        let o =
            obj(json!({"nps": 11, "stars": "four", "text": {"a": 1}, "wait": -3, "score": 8.5}));
        let f = Fields::new(&o);
        let e = f.integer_in(&["nps"], 0, 10).unwrap_err();
        assert_eq!((e.reason, e.field.as_deref()), (R::OutOfRange, Some("nps")));
        assert_eq!(
            f.integer_in(&["stars"], 1, 5).unwrap_err().reason,
            R::BadFieldType
        );
        assert_eq!(f.text(&["text"]).unwrap_err().reason, R::BadFieldType);
        assert_eq!(f.non_negative(&["wait"]).unwrap_err().reason, R::OutOfRange);
        assert_eq!(
            f.integer_in(&["score"], 0, 10).unwrap_err().reason,
            R::OutOfRange
        );
        assert_eq!(
            f.required_text(&["id"]).unwrap_err().reason,
            R::MissingField
        );
    }

    #[test]
    fn details_name_the_field_and_the_rule_never_the_value() {
        let o = obj(json!({
            "nps": 13812345678_i64, "stars": "6222021234567890.5", "wait": -110101199003074514_i64,
            "time": "13812345678000000", "at": "手机13812345678", "turns": "13812345678",
            "text": [13812345678_i64],
        }));
        let f = Fields::new(&o);
        let now = chrono::Utc::now();
        let zone = chrono_tz::Asia::Shanghai;
        let errors = [
            f.integer_in(&["nps"], 0, 10).unwrap_err(),
            f.integer_in(&["stars"], 1, 5).unwrap_err(),
            f.non_negative(&["wait"]).unwrap_err(),
            f.time(&["time"], zone, now).unwrap_err(),
            f.time(&["at"], zone, now).unwrap_err(),
            f.array(&["turns"]).unwrap_err(),
            f.text(&["text"]).unwrap_err(),
        ];
        assert_eq!(errors[0].detail, "nps must be within 0..=10");
        for e in errors {
            let field = e.field.as_deref().unwrap();
            assert!(e.detail.starts_with(field), "{e:?}");
            for value in ["138", "6222", "110101", "手机"] {
                assert!(
                    !e.detail.contains(value) && !e.to_string().contains(value),
                    "{e:?}"
                );
            }
        }
    }
}

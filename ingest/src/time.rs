//! Event-time parsing for the formats real feeds use.
//!
//! Accepted: epoch seconds or milliseconds (number or numeric string, told
//! apart by magnitude), RFC 3339 / ISO-8601 with a zone (`Z`, `+08:00`,
//! `+0800`), and zone-less local times (`2026-11-24 10:03:05`,
//! `2026-11-24T10:03:05`, `2026/11/24 10:03`, `2026年11月24日 10:03:05`, a bare
//! date) read in the configured source zone (Asia/Shanghai by default).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("unsupported time format")]
    Format,
    /// The time, for the caller; the message never shows it (it comes from the payload).
    #[error("time is before 2000-01-01 or more than a day in the future")]
    OutOfRange(DateTime<Utc>),
}

const ZONED: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
];

const LOCAL: [&str; 8] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
];

const LOCAL_DATES: [&str; 3] = ["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日"];

/// Parse a JSON time value; `zone` interprets zone-less local times and `now`
/// bounds the plausible range.
pub fn parse_time(v: &Value, zone: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    let t = match v {
        Value::Number(n) => n.as_f64().and_then(from_epoch).ok_or(TimeError::Format)?,
        Value::String(s) => parse_str(s.trim(), zone)?,
        _ => return Err(TimeError::Format),
    };
    let floor = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    if t < floor || t > now + chrono::Duration::days(1) {
        return Err(TimeError::OutOfRange(t));
    }
    Ok(t)
}

fn parse_str(s: &str, zone: Tz) -> Result<DateTime<Utc>, TimeError> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s
            .parse::<f64>()
            .ok()
            .and_then(from_epoch)
            .ok_or(TimeError::Format);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ZONED {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    let local = LOCAL
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            LOCAL_DATES
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or(TimeError::Format)?;
    // `earliest` resolves the (rare) ambiguous hour of zones with DST.
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(TimeError::Format)
}

/// Epoch seconds or milliseconds: anything above 1e11 (year 5138 in seconds) is ms.
fn from_epoch(x: f64) -> Option<DateTime<Utc>> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let ms = if x >= 1e11 { x } else { x * 1000.0 };
    DateTime::from_timestamp_millis(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap()
    }

    fn parse(v: Value) -> Result<DateTime<Utc>, TimeError> {
        parse_time(&v, chrono_tz::Asia::Shanghai, now())
    }

    #[test]
    fn all_supported_formats_agree_on_one_instant() {
        // 2026-11-24 10:03:05 in Shanghai == 02:03:05 UTC.
        let want = Utc.with_ymd_and_hms(2026, 11, 24, 2, 3, 5).unwrap();
        for v in [
            json!(1_795_485_785),
            json!(1_795_485_785_000_i64),
            json!("1795485785"),
            json!("1795485785000"),
            json!(1_795_485_785.0),
            json!("2026-11-24T02:03:05Z"),
            json!("2026-11-24T10:03:05+08:00"),
            json!("2026-11-24T10:03:05.000+08:00"),
            json!("2026-11-24 10:03:05+0800"),
            json!("2026-11-24 10:03:05"),
            json!("2026-11-24T10:03:05"),
            json!("2026/11/24 10:03:05"),
            json!(" 2026-11-24 10:03:05 "),
            json!("2026年11月24日 10:03:05"),
        ] {
            assert_eq!(parse(v.clone()), Ok(want), "{v}");
        }
    }

    #[test]
    fn minute_and_date_precision() {
        assert_eq!(
            parse(json!("2026-11-24 10:03")).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 24, 2, 3, 0).unwrap()
        );
        assert_eq!(
            parse(json!("2026-11-24")).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 23, 16, 0, 0).unwrap()
        );
    }

    #[test]
    fn rejects_garbage_and_implausible_times() {
        for v in [
            json!("昨天下午"),
            json!("24/11/2026"),
            json!(""),
            json!(true),
            json!(null),
            json!(-5),
        ] {
            assert_eq!(parse(v.clone()), Err(TimeError::Format), "{v}");
        }
        assert!(matches!(parse(json!(0)), Err(TimeError::OutOfRange(_))));
        assert!(matches!(
            parse(json!("2031-01-01 00:00:00")),
            Err(TimeError::OutOfRange(_))
        ));
    }
}

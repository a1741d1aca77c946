//! One entry point for all channels: payload bytes -> [`Feedback`].

use crate::channels;
use crate::fields::Fields;
use crate::payload::{self, Limits};
use crate::reason::{DeadLetterReason as R, DecodeError};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use voc_core::{Channel, Feedback, Lineage, NpsScore, TimeSource};

/// What a decoder needs besides the payload.
#[derive(Debug, Clone)]
pub struct DecodeContext {
    /// Zone of zone-less local times in payloads (Asia/Shanghai by default).
    pub zone: Tz,
    /// Upper bound for plausible event times (plus one day of clock skew).
    pub now: DateTime<Utc>,
    pub max_payload_bytes: usize,
    /// The broker's message timestamp: the event time when the payload has none.
    pub broker_time: Option<DateTime<Utc>>,
    pub lineage: Lineage,
}

/// The channel-specific part of a decoded item; [`decode`] adds what is common.
pub(crate) struct Decoded {
    pub source_id: String,
    pub time: Option<DateTime<Utc>>,
    pub keys: voc_core::Keys,
    pub voice: String,
    pub context: String,
    pub nps_score: Option<NpsScore>,
    pub star_rating: Option<u8>,
    pub wait_minutes: Option<f32>,
    pub duration_s: Option<u32>,
    pub likes: Option<u32>,
}

/// [`decode_limited`] with the default [`Limits`].
pub fn decode(
    channel: Channel,
    bytes: Option<&[u8]>,
    ctx: &DecodeContext,
) -> Result<Feedback, DecodeError> {
    decode_limited(channel, bytes, ctx, &Limits::default())
}

/// A channel's payload as a feedback item, or why it cannot be one.
pub fn decode_limited(
    channel: Channel,
    bytes: Option<&[u8]>,
    ctx: &DecodeContext,
    limits: &Limits,
) -> Result<Feedback, DecodeError> {
    let parsed = payload::parse_limited(bytes, ctx.max_payload_bytes, limits)?;
    let f = Fields::new(&parsed.object);
    let d = match channel {
        Channel::App => channels::app::decode(&f, ctx)?,
        Channel::CallCenter => channels::call_center::decode(&f, ctx)?,
        Channel::Community => channels::community::decode(&f, ctx)?,
        Channel::Branch => channels::branch::decode(&f, ctx)?,
    };
    check_keys(&d, limits.max_key_chars)?;
    if d.voice.trim().is_empty() && d.nps_score.is_none() && d.star_rating.is_none() {
        return Err(DecodeError::new(
            R::EmptyFeedback,
            "no customer text and no score",
        ));
    }
    let (event_time, event_time_source) = match (d.time, ctx.broker_time) {
        (Some(t), _) => (t, TimeSource::Payload),
        (None, Some(t)) => (t, TimeSource::Broker),
        (None, None) => {
            return Err(DecodeError::field(
                R::MissingField,
                "time",
                "no event time in the payload and no broker timestamp",
            ))
        }
    };
    Ok(Feedback {
        channel,
        source_id: d.source_id,
        event_time,
        event_time_source,
        keys: d.keys,
        voice: d.voice,
        context: d.context,
        nps_score: d.nps_score,
        star_rating: d.star_rating,
        wait_minutes: d.wait_minutes,
        duration_s: d.duration_s,
        likes: d.likes,
        source_encoding: parsed.encoding,
        lineage: ctx.lineage.clone(),
    })
}

/// Ids and keys are what rows are grouped and looked up by: one longer than
/// `max` characters is no id (and would make every lookup with it costly).
fn check_keys(d: &Decoded, max: usize) -> Result<(), DecodeError> {
    let k = &d.keys;
    let keys = [
        ("id", Some(&d.source_id)),
        ("customer", k.customer.as_ref()),
        ("device", k.device.as_ref()),
        ("branch", k.branch.as_ref()),
        ("city", k.city.as_ref()),
        ("product", k.product.as_ref()),
        ("journey_node", k.journey_node.as_ref()),
        ("app_version", k.app_version.as_ref()),
        ("os", k.os.as_ref()),
        ("staff", k.staff.as_ref()),
        ("platform", k.platform.as_ref()),
        ("thread", k.thread.as_ref()),
    ];
    for (name, value) in keys {
        let Some(v) = value else { continue };
        let chars = v.chars().count();
        if chars > max {
            return Err(DecodeError::field(
                R::KeyTooLong,
                name,
                format!("{name} is {chars} characters, limit is {max}"),
            ));
        }
    }
    Ok(())
}

/// Shared optional reads every channel makes the same way.
pub(crate) fn nps(f: &Fields) -> Result<Option<NpsScore>, DecodeError> {
    Ok(
        f.integer_in(&["nps", "nps_score", "score", "recommend_score"], 0, 10)?
            .and_then(|v| NpsScore::new(v as u8)),
    )
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use chrono::TimeZone;

    pub fn ctx() -> DecodeContext {
        DecodeContext {
            zone: chrono_tz::Asia::Shanghai,
            now: Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap(),
            max_payload_bytes: 64 * 1024,
            broker_time: Some(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()),
            lineage: Lineage {
                topic: "t".into(),
                partition: 0,
                offset: 7,
            },
        }
    }

    pub fn run(channel: Channel, v: serde_json::Value) -> Result<Feedback, DecodeError> {
        decode(channel, Some(v.to_string().as_bytes()), &ctx())
    }
}

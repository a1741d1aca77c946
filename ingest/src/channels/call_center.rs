//! Call centre: one ASR transcript per call.
//!
//! The customer's turns are the voice of the customer; agent turns are kept
//! apart as context so an agent's "非常抱歉给您带来不便" never reads as the
//! customer's sentiment. Turns are ordered by start time before joining.

use crate::decode::{nps, DecodeContext, Decoded};
use crate::fields::Fields;
use crate::payload::kind;
use crate::reason::{DeadLetterReason as R, DecodeError};
use serde_json::Value;
use voc_core::Keys;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Speaker {
    Customer,
    Agent,
}

fn speaker(s: &str) -> Option<Speaker> {
    match s.trim().to_ascii_lowercase().as_str() {
        "customer" | "cust" | "client" | "caller" | "c" | "客户" | "用户" => {
            Some(Speaker::Customer)
        }
        "agent" | "staff" | "a" | "seat" | "坐席" | "客服" | "ivr" | "bot" => {
            Some(Speaker::Agent)
        }
        _ => None,
    }
}

pub(crate) fn decode(f: &Fields, ctx: &DecodeContext) -> Result<Decoded, DecodeError> {
    let source_id = f.required_text(&["call_id", "id"])?;
    let turns = f.array(&["turns", "transcript"])?.ok_or_else(|| {
        DecodeError::field(
            R::MissingField,
            "turns",
            "a call needs its transcript turns",
        )
    })?;
    let mut parsed = Vec::with_capacity(turns.len());
    for (i, t) in turns.iter().enumerate() {
        let Value::Object(o) = t else {
            return Err(DecodeError::field(
                R::BadFieldType,
                "turns",
                format!("turn {i} is a {}, expected an object", kind(t)),
            ));
        };
        let tf = Fields::new(o);
        let who = tf.required_text(&["speaker", "role", "channel"])?;
        let who = speaker(&who).ok_or_else(|| {
            DecodeError::field(
                R::BadFieldType,
                "turns.speaker",
                format!("turn {i}: unknown speaker"),
            )
        })?;
        let start = tf
            .non_negative(&["start_ms", "begin_ms", "start"])?
            .unwrap_or(i as f64);
        let text = tf.text(&["text", "content"])?.unwrap_or_default();
        parsed.push((start, i, who, text));
    }
    parsed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let join = |who: Speaker| {
        parsed
            .iter()
            .filter(|t| t.2 == who && !t.3.is_empty())
            .map(|t| t.3.as_str())
            .collect::<Vec<_>>()
            .join("。")
    };
    let queue = match f.raw(&["ivr_path", "queue"]) {
        Some((_, Value::Array(path))) => Some(
            path.iter()
                .map(|p| {
                    p.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| p.to_string())
                })
                .collect::<Vec<_>>()
                .join(">"),
        ),
        _ => f.text(&["ivr_path", "queue"])?,
    };
    let duration = f.non_negative(&["duration_s", "duration", "duration_sec"])?;
    Ok(Decoded {
        source_id,
        time: f.time(
            &["start_time", "time", "call_time", "ts"],
            ctx.zone,
            ctx.now,
        )?,
        keys: Keys {
            customer: f.text(&["customer_id", "cust_id", "caller_id"])?,
            product: f.text(&["product"])?,
            journey_node: queue,
            staff: f.text(&["agent_id"])?,
            ..Keys::default()
        },
        voice: join(Speaker::Customer),
        context: join(Speaker::Agent),
        nps_score: nps(f)?,
        star_rating: None,
        wait_minutes: None,
        duration_s: duration.map(|d| d.round() as u32),
        likes: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::decode::test_support::run;
    use crate::reason::DeadLetterReason as R;
    use serde_json::json;
    use voc_core::Channel;

    #[test]
    fn separates_customer_voice_from_agent_context_in_time_order() {
        let fb = run(
            Channel::CallCenter,
            json!({"call_id": "CALL-1", "start_time": "2026-11-24T10:00:00+08:00",
                   "customer_id": "C9", "agent_id": "A7", "ivr_path": ["信用卡", "人工"],
                   "duration_s": "312",
                   "turns": [
                     {"speaker": "customer", "start_ms": 9000, "end_ms": 15000, "text": "嗯 那个 我的卡被冻结了", "confidence": 0.8},
                     {"speaker": "agent", "start_ms": 0, "end_ms": 3000, "text": "您好很高兴为您服务", "confidence": 0.95},
                     {"speaker": "客户", "start_ms": 20000, "end_ms": 25000, "text": "等了二十分钟才转到人工"}
                   ]}),
        )
        .unwrap();
        assert_eq!(fb.voice, "嗯 那个 我的卡被冻结了。等了二十分钟才转到人工");
        assert_eq!(fb.context, "您好很高兴为您服务");
        assert_eq!(fb.keys.journey_node.as_deref(), Some("信用卡>人工"));
        assert_eq!(fb.duration_s, Some(312));
    }

    #[test]
    fn rejects_calls_without_usable_turns() {
        let e = run(Channel::CallCenter, json!({"call_id": "x"})).unwrap_err();
        assert_eq!(e.reason, R::MissingField);
        let e = run(
            Channel::CallCenter,
            json!({"call_id": "x", "turns": "hello"}),
        )
        .unwrap_err();
        assert_eq!(e.reason, R::BadFieldType);
        let e = run(
            Channel::CallCenter,
            json!({"call_id": "x", "turns": [{"speaker": "robot?", "text": "hi"}]}),
        )
        .unwrap_err();
        assert_eq!(e.reason, R::BadFieldType);
        let agent_only = json!({"call_id": "x", "turns": [{"speaker": "agent", "text": "您好"}]});
        assert_eq!(
            run(Channel::CallCenter, agent_only).unwrap_err().reason,
            R::EmptyFeedback
        );
    }
}

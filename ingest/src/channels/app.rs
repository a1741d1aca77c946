//! Mobile app: in-app feedback, app-store reviews, in-app surveys.

use crate::decode::{nps, DecodeContext, Decoded};
use crate::fields::Fields;
use crate::reason::DecodeError;
use voc_core::Keys;

pub(crate) fn decode(f: &Fields, ctx: &DecodeContext) -> Result<Decoded, DecodeError> {
    Ok(Decoded {
        source_id: f.required_text(&["id", "feedback_id", "review_id"])?,
        time: f.time(
            &["time", "created_at", "ts", "timestamp"],
            ctx.zone,
            ctx.now,
        )?,
        keys: Keys {
            customer: f.text(&["customer_id", "cust_id", "user_id"])?,
            device: f.text(&["device_id"])?,
            product: f.text(&["product"])?,
            journey_node: f.text(&["page", "journey_node"])?,
            app_version: f.text(&["app_version", "version"])?,
            os: f.text(&["os", "platform"])?,
            ..Keys::default()
        },
        voice: f
            .text(&["text", "content", "comment", "review"])?
            .unwrap_or_default(),
        context: String::new(),
        nps_score: nps(f)?,
        star_rating: f
            .integer_in(&["rating", "stars", "star"], 1, 5)?
            .map(|v| v as u8),
        wait_minutes: None,
        duration_s: None,
        likes: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::decode::test_support::run;
    use crate::reason::DeadLetterReason as R;
    use serde_json::json;
    use voc_core::{Channel, TimeSource};

    #[test]
    fn decodes_a_typical_review() {
        let fb = run(
            Channel::App,
            json!({"id": "a-1", "time": "2026-11-24 10:03:05", "customer_id": "C1001",
                   "app_version": "8.2.0", "os": "iOS", "page": "transfer/confirm",
                   "rating": "1", "nps": "3", "text": "更新8.2以后转账一直失败，气死"}),
        )
        .unwrap();
        assert_eq!(fb.source_id, "a-1");
        assert_eq!(fb.keys.journey_node.as_deref(), Some("transfer/confirm"));
        assert_eq!(fb.star_rating, Some(1));
        assert_eq!(fb.nps_score.unwrap().get(), 3);
        assert_eq!(fb.event_time_source, TimeSource::Payload);
    }

    #[test]
    fn rating_only_is_feedback_but_nothing_is_not() {
        let fb = run(Channel::App, json!({"review_id": 9, "stars": 5})).unwrap();
        assert_eq!(fb.event_time_source, TimeSource::Broker);
        assert_eq!(fb.voice, "");
        let e = run(Channel::App, json!({"id": "x", "text": "   "})).unwrap_err();
        assert_eq!(e.reason, R::EmptyFeedback);
        let e = run(Channel::App, json!({"text": "好用"})).unwrap_err();
        assert_eq!(e.reason, R::MissingField);
        let e = run(Channel::App, json!({"id": "x", "text": "好", "stars": 6})).unwrap_err();
        assert_eq!(e.reason, R::OutOfRange);
    }

    #[test]
    fn an_id_or_key_over_the_limit_is_dead_lettered() {
        let long = "x".repeat(60 * 1024);
        let e = run(
            Channel::App,
            json!({"id": "a", "customer_id": long, "text": "好"}),
        )
        .unwrap_err();
        assert_eq!(
            (e.reason, e.field.as_deref()),
            (R::KeyTooLong, Some("customer"))
        );
        let e = run(Channel::App, json!({"id": "好".repeat(257), "text": "好"})).unwrap_err();
        assert_eq!((e.reason, e.field.as_deref()), (R::KeyTooLong, Some("id")));
        // 256 characters (of any width) is still a key.
        assert!(run(
            Channel::App,
            json!({"id": "好".repeat(256), "app_version": "8".repeat(256), "text": "好"})
        )
        .is_ok());
    }
}

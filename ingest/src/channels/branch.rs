//! Branches: comment cards and tablet surveys.

use crate::decode::{nps, DecodeContext, Decoded};
use crate::fields::Fields;
use crate::reason::DecodeError;
use voc_core::Keys;

pub(crate) fn decode(f: &Fields, ctx: &DecodeContext) -> Result<Decoded, DecodeError> {
    Ok(Decoded {
        source_id: f.required_text(&["card_id", "id", "survey_id"])?,
        time: f.time(
            &["time", "created_at", "ts", "survey_time"],
            ctx.zone,
            ctx.now,
        )?,
        keys: Keys {
            customer: f.text(&["customer_id", "cust_id"])?,
            branch: f.text(&["branch_id", "branch"])?,
            city: f.text(&["city"])?,
            product: f.text(&["product"])?,
            journey_node: f.text(&["service_type", "service"])?,
            staff: f.text(&["teller_id", "staff_id"])?,
            ..Keys::default()
        },
        voice: f.text(&["comment", "text", "content"])?.unwrap_or_default(),
        context: String::new(),
        nps_score: nps(f)?,
        star_rating: None,
        wait_minutes: f
            .non_negative(&["wait_minutes", "wait_min", "wait"])?
            .map(|v| v as f32),
        duration_s: None,
        likes: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::decode::test_support::run;
    use crate::reason::DeadLetterReason as R;
    use serde_json::json;
    use voc_core::{Channel, NpsSegment};

    #[test]
    fn decodes_a_comment_card() {
        let fb = run(
            Channel::Branch,
            json!({"card_id": "B-77", "branch_id": "SH-0031", "city": "上海", "time": 1795485785,
                   "teller_id": "T09", "service_type": "开户", "wait_minutes": "45",
                   "score": 2, "comment": "排了四十五分钟，只开一个窗口"}),
        )
        .unwrap();
        assert_eq!(fb.keys.branch.as_deref(), Some("SH-0031"));
        assert_eq!(fb.wait_minutes, Some(45.0));
        assert_eq!(fb.nps_score.unwrap().segment(), NpsSegment::Detractor);
    }

    #[test]
    fn score_only_card_is_kept_and_bad_numbers_are_not() {
        assert!(run(Channel::Branch, json!({"card_id": "B-1", "score": "10"})).is_ok());
        let e = run(
            Channel::Branch,
            json!({"card_id": "B-2", "score": 10, "wait_minutes": -5}),
        )
        .unwrap_err();
        assert_eq!(e.reason, R::OutOfRange);
        let e = run(
            Channel::Branch,
            json!({"card_id": "B-3", "comment": "好", "time": "上周"}),
        )
        .unwrap_err();
        assert_eq!(e.reason, R::BadTime);
    }
}

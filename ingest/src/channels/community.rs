//! Community: posts and comments from the bank's community and public social media.
//! Authors are pseudonymous; the customer key is `platform:author`.

use crate::decode::{DecodeContext, Decoded};
use crate::fields::Fields;
use crate::reason::DecodeError;
use voc_core::Keys;

pub(crate) fn decode(f: &Fields, ctx: &DecodeContext) -> Result<Decoded, DecodeError> {
    let platform = f.text(&["platform", "source"])?;
    let author = f.text(&["author", "author_id", "user"])?;
    let title = f.text(&["title"])?.unwrap_or_default();
    let content = f.text(&["content", "text", "body"])?.unwrap_or_default();
    let voice = match (title.is_empty(), content.is_empty()) {
        (false, false) => format!("{title}。{content}"),
        (false, true) => title,
        _ => content,
    };
    Ok(Decoded {
        source_id: f.required_text(&["post_id", "comment_id", "id"])?,
        time: f.time(
            &["time", "created_at", "ts", "publish_time"],
            ctx.zone,
            ctx.now,
        )?,
        keys: Keys {
            customer: author.map(|a| format!("{}:{a}", platform.as_deref().unwrap_or("community"))),
            product: f.text(&["product"])?,
            platform,
            thread: f.text(&["thread_id", "reply_to"])?,
            ..Keys::default()
        },
        voice,
        context: String::new(),
        nps_score: None,
        star_rating: None,
        wait_minutes: None,
        duration_s: None,
        likes: f
            .integer_in(&["likes", "like_count"], 0, i64::from(u32::MAX))?
            .map(|v| v as u32),
    })
}

#[cfg(test)]
mod tests {
    use crate::decode::test_support::run;
    use crate::reason::DeadLetterReason as R;
    use serde_json::json;
    use voc_core::Channel;

    #[test]
    fn joins_title_and_content() {
        let fb = run(
            Channel::Community,
            json!({"platform": "weibo", "post_id": "p-1", "thread_id": "t-1", "author": "小王不想排队",
                   "time": "2026-11-24T08:00:00Z", "title": "吐槽", "content": "年费说好免的又扣了",
                   "likes": "128", "reply_to": null}),
        )
        .unwrap();
        assert_eq!(fb.voice, "吐槽。年费说好免的又扣了");
        assert_eq!(fb.keys.customer.as_deref(), Some("weibo:小王不想排队"));
        assert_eq!(fb.likes, Some(128));
    }

    #[test]
    fn rejects_bad_likes_and_missing_ids() {
        let e = run(
            Channel::Community,
            json!({"post_id": "p", "content": "x", "likes": -1}),
        )
        .unwrap_err();
        assert_eq!(e.reason, R::OutOfRange);
        let e = run(Channel::Community, json!({"content": "x"})).unwrap_err();
        assert_eq!(e.reason, R::MissingField);
    }
}

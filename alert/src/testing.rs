//! Test helpers for this crate and its users (feature `test-util`): an
//! enriched event with the parts alerting looks at.

use chrono::{TimeZone, Utc};
use voc_core::*;

/// An enriched event of `customer` on `channel` with these tags (ids from
/// the bundled taxonomy), an optional 0-10 score and a sentiment score.
pub fn event(
    id: &str,
    customer: &str,
    channel: Channel,
    tags: &[&str],
    nps: Option<u8>,
    sentiment: f32,
) -> EnrichedEvent {
    let tax = Taxonomy::bundled();
    let tags: Vec<TagScore> = tags
        .iter()
        .map(|id| {
            let d = tax.get(id).unwrap();
            TagScore {
                id: id.to_string(),
                score: 0.9,
                sentiment: -0.5,
                category: d.category_id.clone(),
                polarity: d.polarity,
                department: d.department.clone(),
                journey_stage: d.journey_stage.clone(),
            }
        })
        .collect();
    let departments = tags.iter().map(|t| t.department.clone()).collect();
    let score = nps.and_then(NpsScore::new);
    let segment = score.map(|s| s.segment()).unwrap_or(if sentiment <= -0.9 {
        NpsSegment::Detractor
    } else {
        NpsSegment::Passive
    });
    let t = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap();
    EnrichedEvent {
        schema: "voc.event.v1".into(),
        event_id: id.into(),
        source_id: id.into(),
        channel,
        event_time: t,
        ingest_time: t,
        event_time_source: TimeSource::Payload,
        keys: Keys {
            customer: (!customer.is_empty()).then(|| customer.to_string()),
            ..Keys::default()
        },
        text: "大堂经理很热情，但是卡里的钱被盗刷了".into(),
        context_text: String::new(),
        tokens: Default::default(),
        keywords: vec![],
        sentiment: Sentiment {
            label: if sentiment < -0.2 {
                SentimentLabel::Negative
            } else {
                SentimentLabel::Neutral
            },
            score: sentiment,
            source: SentimentSource::Model,
        },
        tags,
        categories: vec![],
        experience: Experience::default(),
        departments,
        nps: Nps {
            score,
            segment,
            inferred: score.is_none(),
        },
        star_rating: None,
        wait_minutes: None,
        duration_s: None,
        likes: None,
        pii_masked: vec![],
        text_truncated: false,
        source_encoding: "utf-8".into(),
        model_version: "m".into(),
        taxonomy_version: "t".into(),
        lineage: Lineage::default(),
    }
}

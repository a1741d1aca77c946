//! CX facts derived from model outputs and the taxonomy: sentiment label and
//! score, the tags above their thresholds, pain/itch/delight, owning
//! departments, and the NPS segment (explicit, or inferred from sentiment).

use crate::model::{ModelMeta, Prediction};
use serde::{Deserialize, Serialize};
use voc_core::{
    Experience, Nps, NpsScore, NpsSegment, Polarity, Sentiment, SentimentLabel, SentimentSource,
    TagScore, Taxonomy,
};

/// When no 0-10 score was given, how sentiment maps to an inferred NPS segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InferencePolicy {
    /// Negative sentiment with score at or below this is an inferred detractor.
    /// None: the line of the active sentiment model, chosen on validation data
    /// for precision >= 0.97 with 90 % confidence ([`DETRACTOR_AT_OR_BELOW`] for the fast model,
    /// models/README.md; the encoder sidecar's `detractor_lines` when
    /// `enrich.encoder_path` is set, see [`crate::Enricher::new`]).
    pub detractor_at_or_below: Option<f32>,
    /// Positive sentiment with score at or above this is an inferred promoter.
    pub promoter_at_or_above: f32,
    /// At most this many tags per item (highest scores first).
    pub max_tags: usize,
}

/// The fast model's detractor line (models/README.md).
pub const DETRACTOR_AT_OR_BELOW: f32 = -0.8;

impl InferencePolicy {
    /// The detractor line in force: the configured one, else the fast model's.
    pub fn detractor_line(&self) -> f32 {
        self.detractor_at_or_below.unwrap_or(DETRACTOR_AT_OR_BELOW)
    }
}

impl Default for InferencePolicy {
    fn default() -> Self {
        InferencePolicy {
            detractor_at_or_below: None,
            promoter_at_or_above: 0.6,
            max_tags: 5,
        }
    }
}

pub fn sentiment_from_model(p: &Prediction) -> Sentiment {
    let [neg, neu, pos] = p.sentiment;
    let label = if neg >= neu && neg >= pos {
        SentimentLabel::Negative
    } else if pos > neg && pos >= neu {
        SentimentLabel::Positive
    } else {
        SentimentLabel::Neutral
    };
    Sentiment {
        label,
        score: (pos - neg).clamp(-1.0, 1.0),
        source: SentimentSource::Model,
    }
}

/// For items with a score but no words: the score speaks for the customer.
pub fn sentiment_from_score(s: NpsScore) -> Sentiment {
    let (label, score) = match s.segment() {
        NpsSegment::Detractor => (SentimentLabel::Negative, -1.0 + s.get() as f32 / 7.0),
        NpsSegment::Passive => (SentimentLabel::Neutral, 0.0),
        NpsSegment::Promoter => (SentimentLabel::Positive, 0.8 + (s.get() - 9) as f32 * 0.2),
    };
    Sentiment {
        label,
        score,
        source: SentimentSource::Score,
    }
}

/// For wordless reviews with only 1-5 stars: 1-2 negative, 3 neutral, 4-5 positive.
pub fn sentiment_from_stars(stars: u8) -> Sentiment {
    let score = (stars.clamp(1, 5) as f32 - 3.0) / 2.0;
    let label = match stars {
        0..=2 => SentimentLabel::Negative,
        3 => SentimentLabel::Neutral,
        _ => SentimentLabel::Positive,
    };
    Sentiment {
        label,
        score,
        source: SentimentSource::Score,
    }
}

/// Tags at or above their thresholds (and at or above the relative threshold's
/// share of the top tag, when the sidecar sets one), most likely first, at most
/// `max`. When none is, the single most likely tag if it reaches `fallback`: an
/// item that is clearly about something gets its best guess rather than no tag.
/// Each starts with the item's sentiment (`item_sentiment`) until clause
/// analysis refines it.
pub fn tags_from_model(
    p: &Prediction,
    meta: &ModelMeta,
    taxonomy: &Taxonomy,
    max: usize,
    item_sentiment: f32,
) -> Vec<TagScore> {
    let top = p
        .tags
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let top_prob = top.map_or(0.0, |(_, prob)| prob);
    let floor = meta.tag_relative_threshold.map_or(0.0, |r| r * top_prob);
    let passing =
        |(i, (&th, &prob)): (usize, (&f32, &f32))| (prob >= th && prob >= floor).then_some(i);
    let mut chosen: Vec<usize> = meta
        .thresholds
        .iter()
        .zip(&p.tags)
        .enumerate()
        .filter_map(passing)
        .collect();
    if chosen.is_empty() {
        let fallback =
            top.filter(|&(_, prob)| meta.tag_fallback_threshold.is_some_and(|fb| prob >= fb));
        chosen.extend(fallback.map(|(i, _)| i));
    }
    let mut out: Vec<TagScore> = chosen
        .into_iter()
        .filter_map(|i| Some((meta.tag_ids.get(i)?, *p.tags.get(i)?)))
        .filter_map(|(id, prob)| {
            let def = taxonomy.get(id).filter(|d| !d.retired)?;
            Some(TagScore {
                id: id.clone(),
                score: prob,
                sentiment: item_sentiment,
                category: def.category_id.clone(),
                polarity: def.polarity,
                department: def.department.clone(),
                journey_stage: def.journey_stage.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out.truncate(max);
    out
}

/// Categories, pain/itch/delight groups and owning departments of a tag set.
pub fn routing(tags: &[TagScore], taxonomy: &Taxonomy) -> (Vec<String>, Experience, Vec<String>) {
    let mut categories: Vec<String> = Vec::new();
    let mut exp = Experience::default();
    let mut departments: Vec<String> = Vec::new();
    for t in tags {
        if !categories.contains(&t.category) {
            categories.push(t.category.clone());
        }
        match t.polarity {
            Polarity::Pain => exp.pain.push(t.id.clone()),
            Polarity::Itch => exp.itch.push(t.id.clone()),
            Polarity::Delight => exp.delight.push(t.id.clone()),
        }
        if let Some(def) = taxonomy.get(&t.id) {
            for d in taxonomy.departments_for(def) {
                if !departments.iter().any(|x| x == d) {
                    departments.push(d.to_string());
                }
            }
        }
    }
    (categories, exp, departments)
}

pub fn nps(explicit: Option<NpsScore>, sentiment: &Sentiment, policy: &InferencePolicy) -> Nps {
    match explicit {
        Some(score) => Nps {
            score: Some(score),
            segment: score.segment(),
            inferred: false,
        },
        None => {
            let segment = if sentiment.label == SentimentLabel::Negative
                && sentiment.score <= policy.detractor_line()
            {
                NpsSegment::Detractor
            } else if sentiment.label == SentimentLabel::Positive
                && sentiment.score >= policy.promoter_at_or_above
            {
                NpsSegment::Promoter
            } else {
                NpsSegment::Passive
            };
            Nps {
                score: None,
                segment,
                inferred: true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(sent: [f32; 3]) -> Prediction {
        Prediction {
            sentiment: sent,
            tags: vec![],
        }
    }

    #[test]
    fn explicit_scores_win_and_are_not_inferred() {
        let s = sentiment_from_model(&pred([0.0, 0.1, 0.9]));
        let n = nps(NpsScore::new(3), &s, &InferencePolicy::default());
        assert_eq!((n.segment, n.inferred), (NpsSegment::Detractor, false));
    }

    #[test]
    fn inference_needs_strong_sentiment() {
        let p = InferencePolicy::default();
        let strong = sentiment_from_model(&pred([0.95, 0.04, 0.01]));
        assert_eq!(strong.label, SentimentLabel::Negative);
        assert_eq!(nps(None, &strong, &p).segment, NpsSegment::Detractor);
        assert!(nps(None, &strong, &p).inferred);
        let mild = sentiment_from_model(&pred([0.75, 0.2, 0.05])); // score -0.7
        assert_eq!(nps(None, &mild, &p).segment, NpsSegment::Passive);
        let happy = sentiment_from_model(&pred([0.02, 0.08, 0.9]));
        assert_eq!(nps(None, &happy, &p).segment, NpsSegment::Promoter);
    }

    #[test]
    fn the_detractor_line_defaults_to_the_fast_models() {
        assert_eq!(InferencePolicy::default().detractor_line(), -0.8);
        // The constant is the shipped sidecar's line (retraining may move it).
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/voc-text.meta.json");
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let line = meta["detractor_lines"]["detractor_at_or_below"]
            .as_f64()
            .unwrap();
        assert!(
            (line - f64::from(DETRACTOR_AT_OR_BELOW)).abs() < 1e-6,
            "retrained model: set DETRACTOR_AT_OR_BELOW to {line}"
        );
        let s = sentiment_from_model(&pred([0.9, 0.05, 0.05])); // score -0.85
        let stricter = InferencePolicy {
            detractor_at_or_below: Some(-0.9),
            ..InferencePolicy::default()
        };
        assert_eq!(stricter.detractor_line(), -0.9);
        assert_eq!(nps(None, &s, &stricter).segment, NpsSegment::Passive);
    }

    #[test]
    fn tags_respect_thresholds_order_and_routing() {
        let tax = Taxonomy::bundled();
        let ids: Vec<String> = ["c02.t07", "c03.t03", "c10.t02"].map(String::from).to_vec();
        let p = Prediction {
            sentiment: [0.6, 0.2, 0.2],
            tags: vec![0.7, 0.9, 0.2],
        };
        let tags = tags_from_model(&p, &meta(&ids, None), &tax, 5, -0.4);
        assert!(tags.iter().all(|t| t.sentiment == -0.4));
        assert_eq!(
            tags.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            ["c03.t03", "c02.t07"]
        );
        let (cats, exp, depts) = routing(&tags, &tax);
        assert_eq!(cats, ["c03", "c02"]);
        assert_eq!(exp.pain, ["c03.t03"]);
        assert_eq!(exp.delight, ["c02.t07"]);
        assert_eq!(depts, ["运营管理部", "消费者权益保护部", "数字银行部"]);
    }

    fn meta(ids: &[String], fallback: Option<f32>) -> ModelMeta {
        ModelMeta {
            model_version: "test".into(),
            sentiment_labels: vec!["negative".into(), "neutral".into(), "positive".into()],
            tag_ids: ids.to_vec(),
            thresholds: vec![0.5; ids.len()],
            tag_fallback_threshold: fallback,
            tag_relative_threshold: None,
        }
    }

    #[test]
    fn the_top_tag_is_kept_only_when_no_tag_passes_and_it_reaches_the_fallback() {
        let tax = Taxonomy::bundled();
        let ids: Vec<String> = ["c02.t07", "c03.t03", "c10.t02"].map(String::from).to_vec();
        let ids_of = |tags: Vec<TagScore>| tags.into_iter().map(|t| t.id).collect::<Vec<_>>();
        let weak = Prediction {
            sentiment: [0.6, 0.2, 0.2],
            tags: vec![0.1, 0.3, 0.2],
        };
        assert!(tags_from_model(&weak, &meta(&ids, None), &tax, 5, 0.0).is_empty());
        assert_eq!(
            ids_of(tags_from_model(
                &weak,
                &meta(&ids, Some(0.25)),
                &tax,
                5,
                0.0
            )),
            ["c03.t03"]
        );
        assert!(tags_from_model(&weak, &meta(&ids, Some(0.35)), &tax, 5, 0.0).is_empty());
        // A passing tag: the fallback adds nothing.
        let one = Prediction {
            sentiment: [0.6, 0.2, 0.2],
            tags: vec![0.6, 0.45, 0.2],
        };
        assert_eq!(
            ids_of(tags_from_model(&one, &meta(&ids, Some(0.1)), &tax, 5, 0.0)),
            ["c02.t07"]
        );
    }

    #[test]
    fn a_weak_second_tag_beside_a_confident_first_is_dropped_by_the_relative_threshold() {
        let tax = Taxonomy::bundled();
        let ids: Vec<String> = ["c02.t07", "c03.t03", "c10.t02"].map(String::from).to_vec();
        let p = Prediction {
            sentiment: [0.6, 0.2, 0.2],
            tags: vec![0.95, 0.55, 0.1],
        };
        let ids_of = |m: &ModelMeta| {
            tags_from_model(&p, m, &tax, 5, 0.0)
                .into_iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
        };
        let mut m = meta(&ids, None);
        assert_eq!(ids_of(&m), ["c02.t07", "c03.t03"]);
        m.tag_relative_threshold = Some(0.7); // 0.55 < 0.7 * 0.95
        assert_eq!(ids_of(&m), ["c02.t07"]);
        m.tag_relative_threshold = Some(0.5); // 0.55 >= 0.5 * 0.95
        assert_eq!(ids_of(&m), ["c02.t07", "c03.t03"]);
    }

    #[test]
    fn wordless_scores_give_sentiment() {
        assert_eq!(
            sentiment_from_score(NpsScore::new(0).unwrap()).label,
            SentimentLabel::Negative
        );
        assert_eq!(
            sentiment_from_score(NpsScore::new(8).unwrap()).label,
            SentimentLabel::Neutral
        );
        assert_eq!(sentiment_from_score(NpsScore::new(10).unwrap()).score, 1.0);
        assert_eq!(sentiment_from_stars(1).score, -1.0);
        assert_eq!(sentiment_from_stars(4).label, SentimentLabel::Positive);
    }
}

//! [`EnrichedEvent`]: one understood feedback item, the row analysts query and
//! the payload `voc classify` prints. Its JSON shape is documented in
//! docs/enriched-event.md; `schema` names the version.

use crate::{Channel, Keys, Lineage, Nps, Polarity, TimeSource, Tokens};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const EVENT_SCHEMA: &str = "voc.event.v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    Negative,
    Neutral,
    Positive,
}

impl SentimentLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
        }
    }
}

/// What the sentiment was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentimentSource {
    /// The sentiment model read the text.
    Model,
    /// No text: derived from the customer's explicit score.
    Score,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub label: SentimentLabel,
    /// In [-1, 1]: P(positive) - P(negative).
    pub score: f32,
    pub source: SentimentSource,
}

/// One taxonomy tag the item carries, with the model's confidence and the
/// taxonomy facts routing needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagScore {
    pub id: String,
    pub score: f32,
    /// Aspect-level sentiment in [-1, 1]: the sentiment of the clause that
    /// expresses this tag (the item's sentiment when it is a single clause).
    pub sentiment: f32,
    pub category: String,
    pub polarity: Polarity,
    pub department: String,
    pub journey_stage: String,
}

/// Tag ids grouped by pain (痛点), itch (痒点) and delight (悦点).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Experience {
    pub pain: Vec<String>,
    pub itch: Vec<String>,
    pub delight: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedEvent {
    pub schema: String,
    pub event_id: String,
    pub source_id: String,
    pub channel: Channel,
    pub event_time: DateTime<Utc>,
    pub ingest_time: DateTime<Utc>,
    pub event_time_source: TimeSource,
    pub keys: Keys,
    /// Normalized, PII-masked customer voice.
    pub text: String,
    /// Normalized, PII-masked context (agent turns of a call), may be empty.
    pub context_text: String,
    pub tokens: Tokens,
    pub keywords: Vec<String>,
    pub sentiment: Sentiment,
    pub tags: Vec<TagScore>,
    pub categories: Vec<String>,
    pub experience: Experience,
    pub departments: Vec<String>,
    pub nps: Nps,
    pub star_rating: Option<u8>,
    pub wait_minutes: Option<f32>,
    pub duration_s: Option<u32>,
    pub likes: Option<u32>,
    /// Kinds of PII that were masked in text or keys (e.g. "phone", "id_card").
    pub pii_masked: Vec<String>,
    pub text_truncated: bool,
    pub source_encoding: String,
    pub model_version: String,
    pub taxonomy_version: String,
    pub lineage: Lineage,
}

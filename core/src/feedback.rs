//! [`Feedback`]: one decoded item of customer feedback, before enrichment.

use crate::{Channel, NpsScore};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an item came from in Kafka: kept on every row for lineage and replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Lineage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// Whether the event time came from the payload or, when the payload had none,
/// from the broker's message timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    Payload,
    Broker,
}

impl TimeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeSource::Payload => "payload",
            TimeSource::Broker => "broker",
        }
    }
}

/// Business keys analysts group by. Every field is optional because channels
/// carry different subsets; identity-like keys are pseudonymized by `enrich`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Keys {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// App page / journey node, IVR queue, or branch service type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journey_node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Call-centre agent or branch teller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
}

/// One decoded feedback item in the channel-neutral shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub channel: Channel,
    /// The id the source system gave the item (call id, post id, card id...).
    pub source_id: String,
    pub event_time: DateTime<Utc>,
    pub event_time_source: TimeSource,
    pub keys: Keys,
    /// The customer's own words, raw (not yet normalized or masked).
    pub voice: String,
    /// Context that is not the customer's voice (agent turns), raw.
    pub context: String,
    pub nps_score: Option<NpsScore>,
    /// 1-5 stars (app stores, in-app surveys).
    pub star_rating: Option<u8>,
    pub wait_minutes: Option<f32>,
    pub duration_s: Option<u32>,
    pub likes: Option<u32>,
    /// Character encoding the payload arrived in ("utf-8" or "gb18030").
    pub source_encoding: &'static str,
    pub lineage: Lineage,
}

impl Feedback {
    /// A bare item of customer text, without keys or scores (offline
    /// classification, tests, benchmarks). The time counts as the broker's.
    pub fn from_text(
        channel: Channel,
        source_id: impl Into<String>,
        text: impl Into<String>,
        time: DateTime<Utc>,
    ) -> Feedback {
        Feedback {
            channel,
            source_id: source_id.into(),
            event_time: time,
            event_time_source: TimeSource::Broker,
            keys: Keys::default(),
            voice: text.into(),
            context: String::new(),
            nps_score: None,
            star_rating: None,
            wait_minutes: None,
            duration_s: None,
            likes: None,
            source_encoding: "utf-8",
            lineage: Lineage::default(),
        }
    }

    /// The stable idempotency key of this item; see [`event_id`].
    pub fn event_id(&self) -> String {
        event_id(self.channel, &self.source_id)
    }
}

/// Stable event id: 128-bit XXH3 of `channel` + `source_id`, as 32 hex digits.
/// A re-delivered or re-sent item gets the same id, which is what makes storage
/// idempotent. XXH3 is a fixed specification, so ids never change across builds.
pub fn event_id(channel: Channel, source_id: &str) -> String {
    let mut key = Vec::with_capacity(source_id.len() + 16);
    key.extend_from_slice(channel.as_str().as_bytes());
    key.push(0x1f);
    key.extend_from_slice(source_id.as_bytes());
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_is_stable_and_channel_scoped() {
        let a = event_id(Channel::App, "fb-1");
        assert_eq!(a, event_id(Channel::App, "fb-1"));
        assert_eq!(a.len(), 32);
        assert_ne!(a, event_id(Channel::Branch, "fb-1"));
        assert_ne!(a, event_id(Channel::App, "fb-2"));
    }
}

//! Detractor alerts: versioned JSON on the alert topic for alerting and case
//! systems (schema: docs/alert.schema.json).
//!
//! Severity policy (documented in the README):
//! - critical: a fund-safety tag (fraud, stolen funds, frozen account,
//!   identity misuse, leaked data, wrong debits, mistaken transfers);
//! - high: an explicit score of 0-3, or sentiment at or below -0.8;
//! - medium: every other detractor.
//!
//! SLA to first response: critical 2 h, high 24 h, medium 72 h.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use voc_core::{EnrichedEvent, NpsSegment, Polarity, Taxonomy};

pub const ALERT_SCHEMA: &str = "voc.alert.v1";

/// Tags whose presence makes a detractor alert critical.
pub const FUND_SAFETY_TAGS: [&str; 7] = [
    "c03.t04", "c03.t05", "c10.t01", "c10.t02", "c10.t03", "c12.t02", "c12.t04",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    High,
    Medium,
}

impl Severity {
    pub fn sla(self) -> Duration {
        match self {
            Severity::Critical => Duration::hours(2),
            Severity::High => Duration::hours(24),
            Severity::Medium => Duration::hours(72),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTag {
    pub id: String,
    pub name_zh: String,
    pub polarity: Polarity,
    pub department: String,
    pub score: f32,
    /// Aspect-level sentiment of this tag in [-1, 1].
    pub sentiment: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub event_id: String,
    pub channel: String,
    pub event_time: DateTime<Utc>,
    pub customer_key: Option<String>,
    pub branch_id: Option<String>,
    pub product: Option<String>,
    pub journey_node: Option<String>,
    /// First 200 characters of the PII-masked text.
    pub text_excerpt: String,
    pub sentiment_label: String,
    pub sentiment_score: f32,
    pub nps_score: Option<u8>,
    pub nps_inferred: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetractorAlert {
    pub schema: String,
    pub alert_id: String,
    pub kind: String,
    pub severity: Severity,
    pub dedup_key: String,
    pub created_at: DateTime<Utc>,
    pub sla_due: DateTime<Utc>,
    pub event: AlertEvent,
    pub tags: Vec<AlertTag>,
    pub departments: Vec<String>,
    pub work_order_title: String,
}

impl DetractorAlert {
    /// The alert for a detractor event, or None when the event is not one.
    pub fn for_event(e: &EnrichedEvent, taxonomy: &Taxonomy, now: DateTime<Utc>) -> Option<Self> {
        if e.nps.segment != NpsSegment::Detractor {
            return None;
        }
        let severity = if e
            .tags
            .iter()
            .any(|t| FUND_SAFETY_TAGS.contains(&t.id.as_str()))
        {
            Severity::Critical
        } else if e.nps.score.is_some_and(|s| s.get() <= 3) || e.sentiment.score <= -0.8 {
            Severity::High
        } else {
            Severity::Medium
        };
        let tags: Vec<AlertTag> = e
            .tags
            .iter()
            .map(|t| AlertTag {
                id: t.id.clone(),
                name_zh: taxonomy
                    .get(&t.id)
                    .map(|d| d.tag_zh.clone())
                    .unwrap_or_default(),
                polarity: t.polarity,
                department: t.department.clone(),
                score: t.score,
                sentiment: t.sentiment,
            })
            .collect();
        let channel_zh = match e.channel {
            voc_core::Channel::App => "手机银行",
            voc_core::Channel::CallCenter => "客服热线",
            voc_core::Channel::Community => "社区舆情",
            voc_core::Channel::Branch => "网点",
        };
        let issue = tags
            .iter()
            .find(|t| t.polarity == Polarity::Pain)
            .or(tags.first())
            .map(|t| t.name_zh.clone())
            .unwrap_or_else(|| "客户不满".to_string());
        let score = match e.nps.score {
            Some(s) => format!("NPS {}", s.get()),
            None => "情感推断".to_string(),
        };
        Some(DetractorAlert {
            schema: ALERT_SCHEMA.into(),
            alert_id: format!("det-{}", e.event_id),
            kind: "detractor".into(),
            severity,
            dedup_key: format!("detractor:{}", e.event_id),
            created_at: now,
            sla_due: now + severity.sla(),
            event: AlertEvent {
                event_id: e.event_id.clone(),
                channel: e.channel.as_str().into(),
                event_time: e.event_time,
                customer_key: e.keys.customer.clone(),
                branch_id: e.keys.branch.clone(),
                product: e.keys.product.clone(),
                journey_node: e.keys.journey_node.clone(),
                text_excerpt: e.text.chars().take(200).collect(),
                sentiment_label: e.sentiment.label.as_str().into(),
                sentiment_score: e.sentiment.score,
                nps_score: e.nps.score.map(|s| s.get()),
                nps_inferred: e.nps.inferred,
            },
            departments: owning_departments(e, taxonomy),
            tags,
            work_order_title: format!("【{channel_zh}】{issue}（{score}）"),
        })
    }

    /// Kafka key: the customer, so one customer's alerts stay in order.
    pub fn key(&self) -> String {
        self.event
            .customer_key
            .clone()
            .unwrap_or_else(|| self.event.event_id.clone())
    }
}

/// Who must act: the departments of the pain and itch tags (praise goes to a
/// department as feedback, not as a work order); all departments when the
/// item carries only delight tags.
fn owning_departments(e: &EnrichedEvent, taxonomy: &Taxonomy) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in e.tags.iter().filter(|t| t.polarity != Polarity::Delight) {
        if let Some(def) = taxonomy.get(&t.id) {
            for d in taxonomy.departments_for(def) {
                if !out.iter().any(|x| x == d) {
                    out.push(d.to_string());
                }
            }
        }
    }
    if out.is_empty() {
        out = e.departments.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use voc_core::*;

    fn event(tags: &[&str], nps: Option<u8>, sentiment: f32) -> EnrichedEvent {
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
        let segment = score.map(|s| s.segment()).unwrap_or(NpsSegment::Detractor);
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap();
        EnrichedEvent {
            schema: "voc.event.v1".into(),
            event_id: "e1".into(),
            source_id: "s1".into(),
            channel: Channel::App,
            event_time: t,
            ingest_time: t,
            event_time_source: TimeSource::Payload,
            keys: Keys {
                customer: Some("C1".into()),
                ..Keys::default()
            },
            text: "大堂经理很热情，但是卡里的钱被盗刷了".into(),
            context_text: String::new(),
            tokens: vec![],
            keywords: vec![],
            sentiment: Sentiment {
                label: SentimentLabel::Negative,
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

    #[test]
    fn fund_safety_is_critical_and_routes_to_owners_not_praised_teams() {
        let tax = Taxonomy::bundled();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap();
        let a = DetractorAlert::for_event(&event(&["c07.t07", "c10.t02"], None, -0.9), &tax, now)
            .unwrap();
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.sla_due, now + Duration::hours(2));
        assert_eq!(a.departments, ["风险管理部", "消费者权益保护部"]);
        assert!(
            a.work_order_title.contains("盗刷"),
            "{}",
            a.work_order_title
        );
        assert_eq!(a.key(), "C1");
    }

    #[test]
    fn severity_follows_score_and_sentiment() {
        let tax = Taxonomy::bundled();
        let now = Utc::now();
        let high =
            DetractorAlert::for_event(&event(&["c07.t01"], Some(2), -0.3), &tax, now).unwrap();
        assert_eq!(high.severity, Severity::High);
        let medium =
            DetractorAlert::for_event(&event(&["c07.t01"], Some(5), -0.3), &tax, now).unwrap();
        assert_eq!(medium.severity, Severity::Medium);
        assert!(DetractorAlert::for_event(&event(&["c07.t07"], Some(9), 0.9), &tax, now).is_none());
    }
}

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
pub const FUND_SAFETY_TAGS: [&str; 7] = ["c03.t04", "c03.t05", "c10.t01", "c10.t02", "c10.t03", "c12.t02", "c12.t04"];

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
        let severity = if e.tags.iter().any(|t| FUND_SAFETY_TAGS.contains(&t.id.as_str())) {
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
                name_zh: taxonomy.get(&t.id).map(|d| d.tag_zh.clone()).unwrap_or_default(),
                polarity: t.polarity,
                department: t.department.clone(),
                score: t.score,
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
            tags,
            departments: e.departments.clone(),
            work_order_title: format!("【{channel_zh}】{issue}（{score}）"),
        })
    }

    pub fn key(&self) -> String {
        self.event.customer_key.clone().unwrap_or_else(|| self.event.event_id.clone())
    }
}

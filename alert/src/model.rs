//! The alert record (voc.alert.v2, docs/alert.schema.json).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use voc_core::{EnrichedEvent, Polarity, Taxonomy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Detractor,
    RepeatComplainer,
    Spike,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Detractor => "detractor",
            AlertKind::RepeatComplainer => "repeat_complainer",
            AlertKind::Spike => "spike",
        }
    }

    pub fn id_prefix(self) -> &'static str {
        match self {
            AlertKind::Detractor => "det",
            AlertKind::RepeatComplainer => "rep",
            AlertKind::Spike => "spk",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Medium => "medium",
        }
    }

    /// One level up (a high-value customer), capped at critical.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Medium => Severity::High,
            _ => Severity::Critical,
        }
    }

    /// Work-order prefix: 紧急 / 严重 / 一般.
    pub fn zh(self) -> &'static str {
        match self {
            Severity::Critical => "紧急",
            Severity::High => "严重",
            Severity::Medium => "一般",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTag {
    pub id: String,
    pub name_zh: String,
    pub polarity: Polarity,
    pub department: String,
}

impl AlertTag {
    pub fn of(id: &str, taxonomy: &Taxonomy) -> Option<AlertTag> {
        let d = taxonomy.get(id)?;
        Some(AlertTag {
            id: id.to_string(),
            name_zh: d.tag_zh.clone(),
            polarity: d.polarity,
            department: d.department.clone(),
        })
    }
}

/// One event behind an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub event_id: String,
    pub channel: String,
    pub event_time: DateTime<Utc>,
    /// The start of the PII-masked text (`alert.excerpt_chars`).
    pub text_excerpt: String,
    pub sentiment_score: f32,
    pub nps_score: Option<u8>,
    /// Where the source message was ("topic/partition/offset"), when known.
    pub source: Option<String>,
}

impl AlertEvent {
    pub fn of(e: &EnrichedEvent, excerpt_chars: usize) -> AlertEvent {
        AlertEvent {
            event_id: e.event_id.clone(),
            channel: e.channel.as_str().into(),
            event_time: e.event_time,
            text_excerpt: e.text.chars().take(excerpt_chars).collect(),
            sentiment_score: e.sentiment.score,
            nps_score: e.nps.score.map(|s| s.get()),
            source: (!e.lineage.topic.is_empty()).then(|| {
                format!(
                    "{}/{}/{}",
                    e.lineage.topic, e.lineage.partition, e.lineage.offset
                )
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatInfo {
    /// Distinct negative events of the customer in the window.
    pub occasions: u32,
    pub channels: Vec<String>,
    pub window_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpikeInfo {
    /// "channel", "branch", "product" or "app_version".
    pub dimension: String,
    pub value: String,
    pub tag_id: String,
    pub window_minutes: u32,
    pub count: u32,
    /// Expected count in the window from the hour-of-week baseline.
    pub expected: f64,
    /// Poisson upper tail P(X >= count | expected).
    pub p_value: f64,
    /// The threshold it beat: alpha_per_day / (series tested x 1440).
    pub threshold: f64,
    pub series_tested: u32,
}

/// One alert. `revision` 0 is the first occurrence of a dedup key; 1 is the
/// update sent when its suppression window closed with more occurrences
/// (same `alert_id`, higher `occurrences`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub schema: String,
    pub alert_id: String,
    pub revision: u8,
    pub kind: AlertKind,
    pub severity: Severity,
    pub dedup_key: String,
    pub created_at: DateTime<Utc>,
    pub first_seen: DateTime<Utc>,
    pub window_closes_at: DateTime<Utc>,
    /// Occurrences of the dedup key in the window so far (1 at first).
    pub occurrences: u32,
    /// Occurrences that did not raise an alert of their own.
    pub suppressed: u32,
    pub sla_due: DateTime<Utc>,
    /// Pseudonymous customer key (`cust-` and the keyed hash of the customer id), when a customer is known.
    pub customer_key: Option<String>,
    /// Customer value tier from `alert.customer_value_query`, when configured.
    pub customer_tier: Option<String>,
    /// Detractor from sentiment (no explicit score).
    pub inferred: bool,
    pub events: Vec<AlertEvent>,
    pub tags: Vec<AlertTag>,
    pub pain: Vec<String>,
    pub itch: Vec<String>,
    pub delight: Vec<String>,
    pub departments: Vec<String>,
    pub work_order_title: String,
    pub repeat: Option<RepeatInfo>,
    pub spike: Option<SpikeInfo>,
}

impl Alert {
    /// Kafka key: the customer, else the dedup key, so one customer's (or one
    /// series') alerts stay in order on one partition.
    pub fn key(&self) -> String {
        self.customer_key
            .clone()
            .unwrap_or_else(|| self.dedup_key.clone())
    }

    /// The tags split by class, and the owning departments: those of the
    /// pain and itch tags (plus consumer protection where the taxonomy says
    /// so); praise goes to a department as feedback, not as a work order.
    pub fn set_tags(&mut self, ids: &[String], taxonomy: &Taxonomy) {
        self.tags = ids
            .iter()
            .filter_map(|id| AlertTag::of(id, taxonomy))
            .collect();
        let by = |p: Polarity| -> Vec<String> {
            self.tags
                .iter()
                .filter(|t| t.polarity == p)
                .map(|t| t.id.clone())
                .collect()
        };
        self.pain = by(Polarity::Pain);
        self.itch = by(Polarity::Itch);
        self.delight = by(Polarity::Delight);
        let mut deps: Vec<String> = Vec::new();
        for t in self.tags.iter().filter(|t| t.polarity != Polarity::Delight) {
            if let Some(def) = taxonomy.get(&t.id) {
                for d in taxonomy.departments_for(def) {
                    if !deps.iter().any(|x| x == d) {
                        deps.push(d.to_string());
                    }
                }
            }
        }
        self.departments = deps;
    }

    /// A bare alert; the kind modules fill in the rest.
    pub fn new(
        kind: AlertKind,
        severity: Severity,
        dedup_key: String,
        now: DateTime<Utc>,
        sla: Duration,
        window: Duration,
    ) -> Alert {
        Alert {
            schema: crate::ALERT_SCHEMA.into(),
            alert_id: String::new(),
            revision: 0,
            kind,
            severity,
            dedup_key,
            created_at: now,
            first_seen: now,
            window_closes_at: now + window,
            occurrences: 1,
            suppressed: 0,
            sla_due: now + sla,
            customer_key: None,
            customer_tier: None,
            inferred: false,
            events: Vec::new(),
            tags: Vec::new(),
            pain: Vec::new(),
            itch: Vec::new(),
            delight: Vec::new(),
            departments: Vec::new(),
            work_order_title: String::new(),
            repeat: None,
            spike: None,
        }
    }
}

/// Tags whose presence makes an alert critical (fund safety).
pub const FUND_SAFETY_TAGS: [&str; 7] = [
    "c03.t04", "c03.t05", "c10.t01", "c10.t02", "c10.t03", "c12.t02", "c12.t04",
];

pub fn is_fund_safety(tag_id: &str) -> bool {
    FUND_SAFETY_TAGS.contains(&tag_id)
}

/// A stable alert id: the same dedup key and first trigger give the same id,
/// so a re-published alert (crash after publish, before commit) is the same alert.
pub fn alert_id(kind: AlertKind, dedup_key: &str, first_trigger: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_128(format!("{dedup_key}\u{1f}{first_trigger}").as_bytes());
    format!("{}-{h:032x}", kind.id_prefix())
}

//! Alerting options (`[alert]` in the config file; documented in
//! deploy/voc.example.toml and docs/alerting.md).

use crate::model::Severity;
use chrono::Duration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// One alert per dedup key within this window; later occurrences are
    /// counted and reported once when the window closes.
    pub suppress_window_minutes: u32,
    /// At most this many events listed in one alert.
    pub max_events: usize,
    /// Characters of masked text per event excerpt.
    pub excerpt_chars: usize,
    /// SLA to first response per severity, in minutes.
    pub sla_critical_minutes: u32,
    pub sla_high_minutes: u32,
    pub sla_medium_minutes: u32,
    /// Optional customer value lookup: SQL returning (customer_key, tier) with
    /// `{db}` (bound as an identifier) and `{keys}` (one bound value per key,
    /// for `IN ({keys})`) placeholders; a literal `?` is written `??`; empty
    /// disables it.
    pub customer_value_query: String,
    /// Tiers that raise a detractor or repeat alert one severity level.
    pub high_value_tiers: Vec<String>,
    pub detractor: DetractorConfig,
    pub repeat: RepeatConfig,
    pub spike: SpikeConfig,
    pub lookup_index: LookupIndexConfig,
    /// At start the worker reads this many minutes of the alert topic and
    /// records in ClickHouse every alert published there but not recorded
    /// (a crash between the two), before it evaluates anything: a
    /// re-delivered batch then finds its alerts and does not publish them
    /// again; the same, since the last read-back, before the first batch of
    /// a partition new to this worker. 0 turns it off.
    pub recover_published_minutes: u32,
}

impl AlertConfig {
    /// Rows of a customer's history the repeat rule reads: enough to decide
    /// and to list `max_events` (the total comes as a count).
    pub fn repeat_rows_per_customer(&self) -> usize {
        self.max_events
            .max(self.repeat.min_occasions as usize)
            .max(1)
    }
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            suppress_window_minutes: 60,
            max_events: 10,
            excerpt_chars: 120,
            sla_critical_minutes: 120,
            sla_high_minutes: 24 * 60,
            sla_medium_minutes: 72 * 60,
            customer_value_query: String::new(),
            high_value_tiers: vec!["private_banking".into(), "vip".into()],
            detractor: DetractorConfig::default(),
            repeat: RepeatConfig::default(),
            spike: SpikeConfig::default(),
            lookup_index: LookupIndexConfig::default(),
            recover_published_minutes: 60,
        }
    }
}

/// The index of keys ClickHouse holds (voc_alert::index): keys outside
/// it are not looked up per batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LookupIndexConfig {
    /// Seconds between reloads from ClickHouse; 0 turns the index off (every
    /// key is looked up). Rows another worker stored meanwhile are not seen
    /// for up to this long.
    pub refresh_s: u32,
    /// Dedup keys and triggers with occurrences in this many hours are indexed (at least
    /// the suppression window plus an hour). The triggers of events older
    /// than this (by their event time) are looked up as without the index
    /// (unless ClickHouse has no occurrence older than it); a message re-delivered
    /// later than this after it first alerted, with a recent event time, can
    /// alert again.
    pub horizon_hours: u32,
    /// Above this many keys in ClickHouse an index holds "everything" (every
    /// key is looked up) until the keys fit again.
    pub max_keys: usize,
}

impl Default for LookupIndexConfig {
    fn default() -> Self {
        LookupIndexConfig {
            refresh_s: 5,
            horizon_hours: 24,
            max_keys: 2_000_000,
        }
    }
}

impl AlertConfig {
    pub fn sla(&self, s: Severity) -> Duration {
        Duration::minutes(match s {
            Severity::Critical => self.sla_critical_minutes,
            Severity::High => self.sla_high_minutes,
            Severity::Medium => self.sla_medium_minutes,
        } as i64)
    }

    pub fn window(&self) -> Duration {
        Duration::minutes(self.suppress_window_minutes as i64)
    }

    /// How far back the dedup-key index reaches: `lookup_index.horizon_hours`,
    /// but always past the longest suppression window.
    pub fn lookup_horizon(&self) -> Duration {
        Duration::hours(self.lookup_index.horizon_hours as i64)
            .max(self.window() + Duration::hours(1))
    }

    pub fn raise_for(&self, tier: Option<&str>, s: Severity) -> Severity {
        match tier {
            Some(t) if self.high_value_tiers.iter().any(|h| h == t) => s.raised(),
            _ => s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetractorConfig {
    pub enabled: bool,
    /// An explicit score at or below this is high severity (else medium).
    pub high_at_or_below_score: u8,
    /// Without a score, sentiment at or below this is high severity. Unset:
    /// the active model's high line (the worker fills it in from the model's
    /// sidecar), else [`HIGH_AT_OR_BELOW_SENTIMENT`].
    pub high_at_or_below_sentiment: Option<f32>,
}

/// The fast model's high-severity line (models/voc-text.meta.json), for an
/// alerter built without a model.
pub const HIGH_AT_OR_BELOW_SENTIMENT: f32 = -0.95;

impl DetractorConfig {
    /// The sentiment line of high severity in effect.
    pub fn high_sentiment_line(&self) -> f32 {
        self.high_at_or_below_sentiment
            .unwrap_or(HIGH_AT_OR_BELOW_SENTIMENT)
    }
}

impl Default for DetractorConfig {
    fn default() -> Self {
        DetractorConfig {
            enabled: true,
            high_at_or_below_score: 3,
            high_at_or_below_sentiment: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepeatConfig {
    pub enabled: bool,
    /// Negative occasions of one customer within the window that make an alert.
    pub min_occasions: u32,
    pub window_hours: u32,
}

impl Default for RepeatConfig {
    fn default() -> Self {
        RepeatConfig {
            enabled: true,
            min_occasions: 3,
            window_hours: 72,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpikeConfig {
    pub enabled: bool,
    /// Sliding window whose tag volume is tested.
    pub window_minutes: u32,
    /// How often a worker tests all series (one ClickHouse query each time).
    pub evaluate_every_s: u32,
    /// No alert below this many events in the window...
    pub min_count: u32,
    /// ...or below this multiple of the expected count...
    pub min_ratio: f64,
    /// ...or when the Poisson tail is not below
    /// `alpha_per_day / (series tested x 1440)`: Bonferroni over the series and
    /// over the day's per-minute evaluations, so alpha_per_day bounds the
    /// expected false alerts per day under the Poisson model.
    pub alpha_per_day: f64,
    /// History the hour-of-week baseline is learned from.
    pub history_days: u32,
    /// Recent minutes left out of the baseline, so a spike does not raise its own baseline.
    pub exclude_recent_minutes: u32,
    /// Weight (in minutes) of the all-hours rate when the hour-of-week slot has little history.
    pub prior_minutes: f64,
    /// Floor of the expected count per window (a never-seen series is not "infinitely" surprising).
    pub min_expected: f64,
    /// No spike test until the store holds this much history: without a
    /// baseline every busy series would look like a spike (cold start).
    pub min_history_hours: u32,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig {
            enabled: true,
            window_minutes: 10,
            evaluate_every_s: 30,
            min_count: 5,
            min_ratio: 3.0,
            alpha_per_day: 1.0,
            history_days: 28,
            exclude_recent_minutes: 60,
            prior_minutes: 120.0,
            min_expected: 0.5,
            min_history_hours: 24,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_high_line_is_the_shipped_fast_models() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/voc-text.meta.json");
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let line = meta["detractor_lines"]["high_at_or_below_sentiment"]
            .as_f64()
            .unwrap();
        assert!(
            (line - f64::from(HIGH_AT_OR_BELOW_SENTIMENT)).abs() < 1e-6,
            "retrained model: set HIGH_AT_OR_BELOW_SENTIMENT to {line}"
        );
        let d = DetractorConfig::default();
        assert_eq!(d.high_at_or_below_sentiment, None);
        assert_eq!(d.high_sentiment_line(), HIGH_AT_OR_BELOW_SENTIMENT);
        let set = DetractorConfig {
            high_at_or_below_sentiment: Some(-0.97),
            ..d
        };
        assert_eq!(set.high_sentiment_line(), -0.97);
    }
}

//! Repeat complainer: the same customer negative on `repeat.min_occasions`
//! occasions within `repeat.window_hours`, across channels (app + call centre
//! + branch + community): the strongest sign of churn.
//!
//! Workers are partitioned by source message, so one worker never sees all of
//! a customer's events. The count therefore comes from ClickHouse
//! (`negative_touches`, keyed by customer): one query per batch with an IN list
//! of the batch's negative customers, after the batch itself was stored. That
//! is globally correct whichever worker holds which partition; the price is one
//! point-lookup query per batch (docs/alerting.md).
//!
//! Severity: critical when any of the events carries a fund-safety tag, else
//! high; a high-value customer raises high to critical. Dedup key:
//! `repeat:<customer>`; every further negative event within the suppression
//! window is counted, not re-alerted.

use super::title;
use crate::model::{alert_id, is_fund_safety};
use crate::model::{Alert, AlertEvent, AlertKind, RepeatInfo, Severity};
use crate::{AlertConfig, Candidate};
use chrono::{DateTime, Utc};
use clickhouse::Row;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use voc_core::pseudonym::{customer_ref, PseudonymKey};
use voc_core::{EnrichedEvent, NpsSegment, SentimentLabel, Taxonomy};

/// A negative event of a customer, from ClickHouse (`negative_touches`).
#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct Touch {
    pub customer_key: String,
    pub event_time: u32,
    pub event_id: String,
    pub channel: String,
    pub text: String,
    pub tag_ids: Vec<String>,
    pub nps_score: Option<u8>,
    pub sentiment_score: f32,
    /// From ClickHouse: the customer's negative events in the window, of
    /// which only the newest few were fetched; 0 for touches not read there.
    pub history_count: u32,
}

impl Touch {
    pub fn of(e: &EnrichedEvent) -> Touch {
        Touch {
            customer_key: e.keys.customer.clone().unwrap_or_default(),
            event_time: e.event_time.timestamp().max(0) as u32,
            event_id: e.event_id.clone(),
            channel: e.channel.as_str().into(),
            text: e.text.chars().take(200).collect(),
            tag_ids: e.tags.iter().map(|t| t.id.clone()).collect(),
            nps_score: e.nps.score.map(|s| s.get()),
            sentiment_score: e.sentiment.score,
            history_count: 0,
        }
    }

    fn alert_event(&self, excerpt_chars: usize) -> AlertEvent {
        AlertEvent {
            event_id: self.event_id.clone(),
            channel: self.channel.clone(),
            event_time: DateTime::from_timestamp(self.event_time as i64, 0).unwrap_or_default(),
            text_excerpt: self.text.chars().take(excerpt_chars).collect(),
            sentiment_score: self.sentiment_score,
            nps_score: self.nps_score,
            source: None,
        }
    }
}

/// Same rule as the `negative_touches` view: a detractor or negative sentiment.
pub fn is_negative(e: &EnrichedEvent) -> bool {
    e.nps.segment == NpsSegment::Detractor || e.sentiment.label == SentimentLabel::Negative
}

/// The dedup key of a customer's repeat-complainer alerts.
pub fn dedup_key(key: &PseudonymKey, customer: &str) -> String {
    format!("repeat:{}", customer_ref(key, customer))
}

/// The batch's negative event ids per customer, each once, in batch order.
fn triggers_by_customer<'a>(negative: &[&'a EnrichedEvent]) -> BTreeMap<&'a str, Vec<String>> {
    let mut out: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for e in negative {
        if let Some(c) = e.keys.customer.as_deref() {
            let v = out.entry(c).or_default();
            if !v.contains(&e.event_id) {
                v.push(e.event_id.clone());
            }
        }
    }
    out
}

/// Candidates for customers whose repeat-complainer window is open: each
/// negative event is one more occurrence of it (the caller checked the
/// window, so suppression counts them and nothing is published; the alert
/// itself is a placeholder).
pub fn occurrences(
    negative: &[&EnrichedEvent],
    cfg: &AlertConfig,
    key: &PseudonymKey,
    now: DateTime<Utc>,
) -> Vec<Candidate> {
    triggers_by_customer(negative)
        .into_iter()
        .map(|(customer, triggers)| {
            let sev = Severity::High;
            Candidate {
                alert: Alert::new(
                    AlertKind::RepeatComplainer,
                    sev,
                    dedup_key(key, customer),
                    now,
                    cfg.sla(sev),
                    cfg.window(),
                ),
                triggers,
            }
        })
        .collect()
}

pub fn candidates(
    batch_negative: &[&EnrichedEvent],
    history: &[Touch],
    taxonomy: &Taxonomy,
    cfg: &AlertConfig,
    key: &PseudonymKey,
    tiers: &HashMap<String, String>,
    now: DateTime<Utc>,
) -> Vec<Candidate> {
    // Per customer: every distinct negative event (history plus this batch,
    // in case the history read raced the insert), and the batch's triggers.
    let mut touches: BTreeMap<&str, BTreeMap<String, Touch>> = BTreeMap::new();
    let since = (now - chrono::Duration::hours(cfg.repeat.window_hours as i64)).timestamp();
    // The batch's customers, looked up once per touch (a linear scan per touch
    // was quadratic in the batch size: 8 % of the worker's CPU on 5,000-event batches).
    let batch_customers: std::collections::HashSet<&str> = batch_negative
        .iter()
        .filter_map(|e| e.keys.customer.as_deref())
        .collect();
    for t in history
        .iter()
        .filter(|t| t.event_time as i64 >= since)
        .cloned()
        .chain(batch_negative.iter().map(|e| Touch::of(e)))
    {
        let Some(&key) = batch_customers.get(t.customer_key.as_str()) else {
            continue;
        };
        touches
            .entry(key)
            .or_default()
            .entry(t.event_id.clone())
            .or_insert(t);
    }
    let mut triggers = triggers_by_customer(batch_negative);
    let mut out = Vec::new();
    for (customer, by_id) in touches {
        // ClickHouse sent the newest rows and the customer's total. Only when
        // it sent as many rows as asked (so there are more) is the total used,
        // with the events it did not send on top: the total and the rows are
        // read separately, and a batch stored in between (this one, say) is
        // in the total but not in the rows, so it would count twice. (Such a
        // customer has at least `min_occasions` stored touches anyway.)
        let from_store = by_id.values().filter(|t| t.history_count > 0).count();
        let occasions = if from_store >= cfg.repeat_rows_per_customer() {
            let stored = by_id.values().map(|t| t.history_count).max().unwrap_or(0);
            let not_stored = by_id.values().filter(|t| t.history_count == 0).count() as u32;
            (by_id.len() as u32).max(stored + not_stored)
        } else {
            by_id.len() as u32
        };
        if occasions < cfg.repeat.min_occasions {
            continue;
        }
        let mut list: Vec<&Touch> = by_id.values().collect();
        list.sort_by_key(|t| std::cmp::Reverse(t.event_time));
        let channels: Vec<String> = list
            .iter()
            .map(|t| t.channel.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Tags by how often the customer raised them.
        let mut freq: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &list {
            for id in &t.tag_ids {
                *freq.entry(id).or_default() += 1;
            }
        }
        let mut tag_ids: Vec<(&str, usize)> = freq.into_iter().collect();
        tag_ids.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let tag_ids: Vec<String> = tag_ids.into_iter().map(|(t, _)| t.to_string()).collect();
        let tier = tiers.get(customer).map(String::as_str);
        let base = if tag_ids.iter().any(|t| is_fund_safety(t)) {
            Severity::Critical
        } else {
            Severity::High
        };
        let sev = cfg.raise_for(tier, base);
        let cref = customer_ref(key, customer);
        let dedup_key = dedup_key(key, customer);
        let trig = triggers.remove(customer).unwrap_or_default();
        let mut a = Alert::new(
            AlertKind::RepeatComplainer,
            sev,
            dedup_key,
            now,
            cfg.sla(sev),
            cfg.window(),
        );
        a.alert_id = alert_id(
            AlertKind::RepeatComplainer,
            &a.dedup_key,
            trig.first().map(String::as_str).unwrap_or(""),
        );
        a.first_seen = list
            .last()
            .and_then(|t| DateTime::from_timestamp(t.event_time as i64, 0))
            .unwrap_or(now);
        a.customer_key = Some(cref);
        a.customer_tier = tier.map(str::to_string);
        a.events = list
            .iter()
            .take(cfg.max_events)
            .map(|t| t.alert_event(cfg.excerpt_chars))
            .collect();
        a.set_tags(&tag_ids, taxonomy);
        a.work_order_title =
            title::repeat(sev, &a.tags, occasions, cfg.repeat.window_hours, &channels);
        a.repeat = Some(RepeatInfo {
            occasions,
            channels,
            window_hours: cfg.repeat.window_hours,
        });
        out.push(Candidate {
            alert: a,
            triggers: trig,
        });
    }
    out
}

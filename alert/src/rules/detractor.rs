//! Detractor alerts: an explicit 0-6 score, or strongly negative feedback
//! without a score (the enricher's inferred detractor, marked `inferred`).
//!
//! Severity: critical with a fund-safety tag; else high for a score at or
//! below `detractor.high_at_or_below_score` (3) or, without a score, sentiment
//! at or below `detractor.high_at_or_below_sentiment` (unset: the active model's
//! high line, -0.95 for the fast model); else medium.
//! A high-value customer (`alert.customer_value_query`) raises it one level.
//! Dedup key: `detractor:<customer or event>:<main pain/itch tag>`, so one
//! customer complaining about the same thing again within the window adds to
//! the count instead of opening a second work order.

use super::title;
use crate::model::{alert_id, is_fund_safety};
use crate::model::{Alert, AlertEvent, AlertKind, Severity};
use crate::{AlertConfig, Candidate};
use chrono::{DateTime, Utc};
use voc_core::pseudonym::{customer_ref, PseudonymKey};
use voc_core::{EnrichedEvent, NpsSegment, Polarity, Taxonomy};

pub fn is_detractor(e: &EnrichedEvent) -> bool {
    e.nps.segment == NpsSegment::Detractor
}

pub fn severity(e: &EnrichedEvent, cfg: &AlertConfig, tier: Option<&str>) -> Severity {
    if e.tags.iter().any(|t| is_fund_safety(&t.id)) {
        return Severity::Critical;
    }
    let strong = match e.nps.score {
        Some(s) => s.get() <= cfg.detractor.high_at_or_below_score,
        None => e.sentiment.score <= cfg.detractor.high_sentiment_line(),
    };
    let base = if strong {
        Severity::High
    } else {
        Severity::Medium
    };
    cfg.raise_for(tier, base)
}

pub fn candidate(
    e: &EnrichedEvent,
    taxonomy: &Taxonomy,
    cfg: &AlertConfig,
    key: &PseudonymKey,
    tier: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Candidate> {
    if !is_detractor(e) {
        return None;
    }
    let sev = severity(e, cfg, tier);
    let main_tag = e
        .tags
        .iter()
        .find(|t| t.polarity == Polarity::Pain)
        .or_else(|| e.tags.iter().find(|t| t.polarity == Polarity::Itch))
        .map(|t| t.id.as_str())
        .unwrap_or("none");
    let who = e.keys.customer.as_deref().unwrap_or(&e.event_id);
    let dedup_key = format!("detractor:{}:{main_tag}", customer_ref(key, who));
    let mut a = Alert::new(
        AlertKind::Detractor,
        sev,
        dedup_key,
        now,
        cfg.sla(sev),
        cfg.window(),
    );
    a.alert_id = alert_id(AlertKind::Detractor, &a.dedup_key, &e.event_id);
    a.first_seen = e.event_time.min(now);
    a.customer_key = e.keys.customer.as_deref().map(|c| customer_ref(key, c));
    a.customer_tier = tier.map(str::to_string);
    a.inferred = e.nps.inferred;
    a.events = vec![AlertEvent::of(e, cfg.excerpt_chars)];
    let ids: Vec<String> = e.tags.iter().map(|t| t.id.clone()).collect();
    a.set_tags(&ids, taxonomy);
    if a.departments.is_empty() {
        a.departments = e.departments.clone();
    }
    a.work_order_title = title::detractor(
        sev,
        e.channel.as_str(),
        &a.tags,
        e.nps.score.map(|s| s.get()),
    );
    Some(Candidate {
        alert: a,
        triggers: vec![e.event_id.clone()],
    })
}

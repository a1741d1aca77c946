//! The alert engine: one batch of enriched events in (in offset order), the
//! alerts to publish and the occurrences to record out. Rules propose
//! [`Candidate`]s; suppression admits them; what was decided is kept until
//! returned, so a failed evaluation loses nothing.

use crate::history::{AlertHistory, OccurrenceRow};
use crate::rules::{detractor, repeat, spike};
use crate::{index, suppress, Alert, AlertConfig, AlertError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use voc_core::pseudonym::PseudonymKey;
use voc_core::{EnrichedEvent, Taxonomy};

/// Spikes per evaluation that get example events (one query each).
const MAX_SAMPLED_SPIKES: usize = 10;

/// At most this many batches' negative touches are kept in memory waiting
/// for [`Alerting::stored_through`] (a bound in case it is never called).
const MAX_RECENT_BATCHES: usize = 64;

/// Negative touches of evaluated batches not yet confirmed stored in
/// ClickHouse, by batch sequence number: the repeat rule merges them with
/// what ClickHouse returns (a batch is evaluated before, or while, the
/// batches before it are stored).
pub type RecentTouches = Arc<std::sync::Mutex<VecDeque<(u64, Vec<repeat::Touch>)>>>;

/// A would-be alert before suppression: `triggers` are the ids of what made it
/// fire now (event ids for detractor and repeat, a window id for spikes); they
/// are what suppression counts and what makes re-deliveries harmless.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub alert: Alert,
    pub triggers: Vec<String>,
}

/// What one [`AlertEngine::evaluate`] decided: the alerts to publish, and the
/// occurrence rows behind them, to store once the alerts are on the topic
/// ([`Evaluation::record`]; stored earlier, a crash before publishing would
/// make the re-delivered events look already alerted).
#[derive(Debug, Default)]
pub struct Evaluation {
    pub alerts: Vec<Alert>,
    /// Each alert's JSON, in the same order (serialized once: published,
    /// stored in ClickHouse and kept by its suppression window as is).
    payloads: Vec<Arc<str>>,
    pub(crate) occurrences: Vec<OccurrenceRow>,
}

impl Evaluation {
    /// Nothing to publish and nothing to store.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty() && self.occurrences.is_empty()
    }

    /// Store the published alerts and their occurrences, so other workers
    /// and later runs suppress and count them.
    pub async fn record<H: AlertHistory>(&self, history: &H) -> Result<(), AlertError> {
        if !self.is_empty() {
            history
                .record(&self.alerts, &self.payloads, &self.occurrences)
                .await?;
        }
        Ok(())
    }

    /// Each alert with its JSON.
    pub fn encoded(&self) -> impl Iterator<Item = (&Alert, &str)> {
        self.alerts.iter().zip(self.payloads.iter().map(|p| &**p))
    }

    /// Each alert with its JSON and the triggers its window opened with
    /// (none for an update): what the alert topic carries, so that an alert
    /// found there can be recorded as it would have been
    /// ([`Evaluation::recovered`]).
    pub fn with_triggers(&self) -> impl Iterator<Item = (&Alert, &str, Vec<&str>)> {
        self.encoded().map(|(a, json)| {
            let triggers = if a.revision == 0 {
                self.occurrences
                    .iter()
                    .filter(|o| o.alert_id == a.alert_id)
                    .map(|o| o.event_id.as_str())
                    .collect()
            } else {
                Vec::new()
            };
            (a, json, triggers)
        })
    }

    /// Published alerts (alert, JSON as published, the triggers its window
    /// opened with) as the evaluation that published them: recording it
    /// stores the same `alerts` and `alert_occurrences` rows.
    pub fn recovered(found: Vec<(Alert, Arc<str>, Vec<String>)>) -> Evaluation {
        let mut e = Evaluation::default();
        for (a, json, triggers) in found {
            for (i, t) in triggers.iter().enumerate() {
                e.occurrences.push(OccurrenceRow::new(
                    &a.dedup_key,
                    t,
                    &a.alert_id,
                    a.kind.as_str(),
                    a.created_at,
                    i > 0,
                ));
            }
            e.alerts.push(a);
            e.payloads.push(json);
        }
        e
    }

    /// Append another evaluation (the recorder merges what accumulated).
    pub(crate) fn extend(&mut self, more: Evaluation) {
        self.alerts.extend(more.alerts);
        self.payloads.extend(more.payloads);
        self.occurrences.extend(more.occurrences);
    }
}

/// Evaluates batches into alerts; holds the per-worker suppression windows,
/// the spike schedule (or inbox) and the last batches' negative touches.
pub struct AlertEngine<H: AlertHistory> {
    cfg: AlertConfig,
    taxonomy: Arc<Taxonomy>,
    key: PseudonymKey,
    history: H,
    suppressor: suppress::Suppressor,
    last_spike_eval: Option<Instant>,
    /// When set, spikes are detected by a background task ([`AlertService`])
    /// and its candidates wait here; otherwise `evaluate` detects them when due.
    pub(crate) spike_inbox: Option<SpikeInbox>,
    /// Alerts decided but not yet returned (an `evaluate` that failed halfway
    /// returns them on its retry, so nothing decided is lost).
    outbox: Vec<(Alert, Arc<str>)>,
    /// Negative touches of batches not yet stored (see [`RecentTouches`]).
    pub(crate) recent: RecentTouches,
    /// Keys ClickHouse holds: the others are not looked up (none: all are).
    index: Option<Arc<index::LookupIndex>>,
    /// Sequence number of the next batch when the caller gives none.
    next_seq: u64,
}

impl<H: AlertHistory> AlertEngine<H> {
    /// `key` makes the pseudonymous customer keys in alerts (the enricher's key).
    pub fn new(cfg: AlertConfig, taxonomy: Arc<Taxonomy>, key: PseudonymKey, history: H) -> Self {
        AlertEngine {
            suppressor: suppress::Suppressor::new(cfg.suppress_window_minutes),
            cfg,
            taxonomy,
            key,
            history,
            last_spike_eval: None,
            spike_inbox: None,
            outbox: Vec::new(),
            recent: RecentTouches::default(),
            index: None,
            next_seq: 0,
        }
    }

    pub fn history(&self) -> &H {
        &self.history
    }

    /// Look up only the keys `index` may hold (it is kept up to date by the
    /// caller: reloads, and [`AlertEngine::stored_through`] / the recorder).
    pub fn with_index(mut self, index: Arc<index::LookupIndex>) -> Self {
        self.index = Some(index);
        self
    }

    /// The alerts to publish for a batch (its own events, the previous
    /// batches' in memory and the history in ClickHouse): new alerts, and
    /// updates of suppression windows that closed. Batches must come in
    /// offset order; the batch before may still be on its way to ClickHouse.
    /// Record the result ([`Evaluation::record`]) once it is published.
    pub async fn evaluate(
        &mut self,
        events: &[EnrichedEvent],
        now: DateTime<Utc>,
    ) -> Result<Evaluation, AlertError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.evaluate_batch(seq, events, now).await
    }

    /// [`AlertEngine::evaluate`] for the batch numbered `seq` by the caller
    /// (increasing); its negative touches stay in memory until
    /// [`AlertEngine::stored_through`] covers `seq`.
    pub async fn evaluate_batch(
        &mut self,
        seq: u64,
        events: &[EnrichedEvent],
        now: DateTime<Utc>,
    ) -> Result<Evaluation, AlertError> {
        // Each step queries first and changes state last; what it decided is
        // kept in the outbox until returned.
        let t0 = std::time::Instant::now();
        let updates = self.suppressor.close_due(&self.history, now).await?;
        self.outbox.extend(updates.into_iter().map(|a| {
            let json = suppress::encode(&a);
            (a, json)
        }));
        let t_close = t0.elapsed();
        let mut candidates = Vec::new();
        let tiers = self.customer_tiers(events).await?;
        let t_tiers = t0.elapsed();
        if self.cfg.detractor.enabled {
            for e in events {
                let tier = e.keys.customer.as_ref().and_then(|c| tiers.get(c));
                if let Some(c) = detractor::candidate(
                    e,
                    &self.taxonomy,
                    &self.cfg,
                    &self.key,
                    tier.map(String::as_str),
                    now,
                ) {
                    candidates.push(c);
                }
            }
        }
        // Spike candidates from the background detector: copied now, removed
        // from the inbox only once the lookups below succeeded.
        let mut from_inbox = 0;
        if let Some(inbox) = &self.spike_inbox {
            let found = inbox.lock().unwrap_or_else(|p| p.into_inner()).clone();
            from_inbox = found.len();
            candidates.extend(found);
        } else if self.cfg.spike.enabled && self.spike_due() {
            self.last_spike_eval = Some(Instant::now());
            candidates.extend(detect_spikes(&self.history, &self.cfg, &self.taxonomy, now).await?);
        }
        // The customer history for repeat complainers and the suppression
        // lookups (for every key this batch can produce, repeat keys included)
        // are independent: one round trip for both.
        let negative: Vec<&EnrichedEvent> = if self.cfg.repeat.enabled {
            events
                .iter()
                .filter(|e| e.keys.customer.is_some() && repeat::is_negative(e))
                .collect()
        } else {
            Vec::new()
        };
        let customers: Vec<&str> = negative
            .iter()
            .filter_map(|e| e.keys.customer.as_deref())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // The last batches' touches that may not be in ClickHouse yet, copied
        // before the lookup index is asked and ClickHouse is read: a batch
        // stored (forgotten here, indexed) after this copy is in the copy; one
        // stored before it is indexed and visible to the lookup. (Copied after
        // the lookup, a batch stored in between was in neither.)
        let unstored: Vec<repeat::Touch> = if negative.is_empty() {
            Vec::new()
        } else {
            let wanted: std::collections::HashSet<&str> = customers.iter().copied().collect();
            self.recent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .flat_map(|(_, b)| b)
                .filter(|t| wanted.contains(t.customer_key.as_str()))
                .cloned()
                .collect()
        };
        // Keys ClickHouse certainly has no rows for are not looked up. The
        // customers index covers the repeat window by event time (the same
        // rows the history read returns) and the dedup-key index every window
        // open now (created within the horizon, which outlasts a window), for
        // events of any age. Only a trigger can have rows beyond the index:
        // an event older than the horizon (by event time) may have been
        // counted before it, so its (key, trigger) pairs are looked up in
        // full; a recent event was first seen within the horizon. (While
        // ClickHouse has no occurrence older than the horizon, the index
        // holds every trigger: no event is too old for it.)
        let oldest_indexed = now - self.cfg.lookup_horizon();
        let index = self.index.as_deref();
        // (Without an index every pair is looked up: nothing to collect.)
        let old_triggers: HashSet<&str> = if index.is_none_or(|i| i.holds_all_triggers()) {
            HashSet::new()
        } else {
            events
                .iter()
                .filter(|e| e.event_time < oldest_indexed)
                .map(|e| e.event_id.as_str())
                .collect()
        };
        // A customer whose repeat-complainer window is open needs no history:
        // each new negative touch is an occurrence of that window.
        let in_window: BTreeSet<&str> = customers
            .iter()
            .copied()
            .filter(|c| {
                self.suppressor
                    .is_open(&repeat::dedup_key(&self.key, c), now)
            })
            .collect();
        let lookup_customers: Vec<&str> = customers
            .iter()
            .copied()
            .filter(|c| !in_window.contains(c))
            .filter(|c| index.is_none_or(|i| i.customers.may_hold(c)))
            .collect();
        let mut wanted: Vec<(String, Vec<String>)> = candidates
            .iter()
            .map(|c| (c.alert.dedup_key.clone(), c.triggers.clone()))
            .collect();
        for e in &negative {
            if let Some(c) = e.keys.customer.as_deref() {
                wanted.push((repeat::dedup_key(&self.key, c), vec![e.event_id.clone()]));
            }
        }
        if let Some(i) = index {
            wanted.retain_mut(|(k, triggers)| {
                let key_held = i.dedup_keys.may_hold(k);
                triggers.retain(|t| {
                    old_triggers.contains(t.as_str()) || (key_held && i.triggers.may_hold(t))
                });
                key_held || !triggers.is_empty()
            });
        }
        let since = now - chrono::Duration::hours(self.cfg.repeat.window_hours as i64);
        let t_prep = t0.elapsed();
        let history = &self.history;
        let (touches, lookups) = tokio::join!(
            async {
                if lookup_customers.is_empty() {
                    Ok(Vec::new())
                } else {
                    history
                        .recent_negatives(
                            &lookup_customers,
                            since,
                            self.cfg.repeat_rows_per_customer(),
                        )
                        .await
                }
            },
            self.suppressor.lookup(history, &wanted, now)
        );
        let (mut touches, lookups) = (touches?, lookups?);
        let t_lookup = t0.elapsed();
        if let Some(inbox) = &self.spike_inbox {
            inbox
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .drain(..from_inbox);
        }
        if !negative.is_empty() {
            // Duplicates by event id (stored meanwhile) are merged by
            // `repeat::candidates`, ClickHouse's row first.
            touches.extend(unstored);
            let (open, rest): (Vec<&EnrichedEvent>, Vec<&EnrichedEvent>) =
                negative.iter().partition(|e| {
                    e.keys
                        .customer
                        .as_deref()
                        .is_some_and(|c| in_window.contains(c))
                });
            candidates.extend(repeat::occurrences(&open, &self.cfg, &self.key, now));
            candidates.extend(repeat::candidates(
                &rest,
                &touches,
                &self.taxonomy,
                &self.cfg,
                &self.key,
                &tiers,
                now,
            ));
        }
        let decided = self.suppressor.admit(candidates, &lookups, now);
        self.outbox.extend(decided.publish);
        if !negative.is_empty() {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == MAX_RECENT_BATCHES {
                // Never confirmed stored: maybe stored, so indexed.
                if let (Some((_, dropped)), Some(i)) = (recent.pop_front(), &self.index) {
                    i.customers
                        .stored(dropped.iter().map(|t| t.customer_key.as_str()));
                }
            }
            recent.push_back((seq, negative.iter().map(|e| repeat::Touch::of(e)).collect()));
        }
        tracing::debug!(
            close_ms = t_close.as_millis() as u64,
            tiers_ms = (t_tiers - t_close).as_millis() as u64,
            prep_ms = (t_prep - t_tiers).as_millis() as u64,
            lookup_ms = (t_lookup - t_prep).as_millis() as u64,
            decide_ms = (t0.elapsed() - t_lookup).as_millis() as u64,
            lookup_customers = lookup_customers.len(),
            wanted = wanted.len(),
            "alert evaluation"
        );
        let (alerts, payloads) = std::mem::take(&mut self.outbox).into_iter().unzip();
        Ok(Evaluation {
            alerts,
            payloads,
            occurrences: decided.occurrences,
        })
    }

    /// Batches up to `seq` are in ClickHouse: forget their touches.
    pub fn stored_through(&self, seq: u64) {
        forget_through(&self.recent, self.index.as_deref(), seq);
    }

    fn spike_due(&self) -> bool {
        self.last_spike_eval
            .is_none_or(|t| t.elapsed().as_secs_f64() >= self.cfg.spike.evaluate_every_s as f64)
    }

    async fn customer_tiers(
        &self,
        events: &[EnrichedEvent],
    ) -> Result<HashMap<String, String>, AlertError> {
        if self.cfg.customer_value_query.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: BTreeSet<&str> = events
            .iter()
            .filter(|e| detractor::is_detractor(e))
            .filter_map(|e| e.keys.customer.as_deref())
            .collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let keys: Vec<&str> = keys.into_iter().collect();
        Ok(self
            .history
            .customer_tiers(&self.cfg.customer_value_query, &keys)
            .await?)
    }
}

/// Forget the touches of batches up to `seq` (stored now: indexed instead).
pub(crate) fn forget_through(recent: &RecentTouches, index: Option<&index::LookupIndex>, seq: u64) {
    let mut recent = recent.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = index {
        i.customers.stored(
            recent
                .iter()
                .filter(|(s, _)| *s <= seq)
                .flat_map(|(_, b)| b.iter().map(|t| t.customer_key.as_str())),
        );
    }
    recent.retain(|(s, _)| *s > seq);
}

/// Spike candidates found by the background detector, waiting for the next evaluation.
pub type SpikeInbox = Arc<std::sync::Mutex<Vec<Candidate>>>;

/// Spike candidates now: the window's series against their baselines, with
/// example events for the first few.
pub async fn detect_spikes<H: AlertHistory>(
    history: &H,
    cfg: &AlertConfig,
    taxonomy: &Taxonomy,
    now: DateTime<Utc>,
) -> Result<Vec<Candidate>, AlertError> {
    let series = history.spike_series(&cfg.spike, now).await?;
    let mut out = Vec::new();
    for (i, f) in spike::detect(&series, &cfg.spike).iter().enumerate() {
        // Example events for the first spikes only: one query each.
        let sample = if i < MAX_SAMPLED_SPIKES {
            history
                .spike_sample(&f.tag_id, &f.series, now, &cfg.spike)
                .await?
        } else {
            Vec::new()
        };
        out.push(spike::candidate(f, &sample, taxonomy, cfg, now));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests;

//! Alerts (voc.alert.v2): what alerting and case systems act on.
//!
//! Three kinds, one model ([`Alert`], schema docs/alert.schema.json):
//! - [`detractor`]: an explicit 0-6 score, or strongly negative feedback with
//!   no score (marked `inferred`);
//! - [`repeat`]: the same customer negative on N occasions within a window,
//!   across channels (looked up in ClickHouse, so it is global across workers);
//! - [`spike`]: a tag's volume in a sliding window far above its
//!   hour-of-week baseline for a channel, branch, product or app version.
//!
//! Every candidate goes through [`suppress`]: one alert per dedup key and
//! window, plus at most one update carrying the count when the window closes;
//! a re-delivered source message never raises a second alert. The
//! [`Alerter`] ties it together: the worker hands it each enriched batch (in
//! offset order, before the batch is stored: alerts do not wait for the
//! ClickHouse insert), publishes the [`Evaluation`] it returns, then records
//! it ([`Evaluation::record`]).
//! Policy (severity, SLA, suppression) is documented in docs/alerting.md.

pub mod config;
pub mod detractor;
pub mod index;
pub mod model;
pub mod repeat;
pub mod spike;
pub mod spike_eval;
pub mod store;
pub mod suppress;
pub mod title;

pub use config::AlertConfig;
pub use model::{Alert, AlertEvent, AlertKind, AlertTag, RepeatInfo, Severity, SpikeInfo};
pub use store::{AlertHistory, ClickHouseHistory};

use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use voc_core::{EnrichedEvent, Taxonomy};

pub const ALERT_SCHEMA: &str = "voc.alert.v2";

/// Tags whose presence makes an alert critical (fund safety).
pub const FUND_SAFETY_TAGS: [&str; 7] = [
    "c03.t04", "c03.t05", "c10.t01", "c10.t02", "c10.t03", "c12.t02", "c12.t04",
];

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

pub fn is_fund_safety(tag_id: &str) -> bool {
    FUND_SAFETY_TAGS.contains(&tag_id)
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alert history in ClickHouse: {0}")]
    History(#[from] crate::SinkError),
}

/// A would-be alert before suppression: `triggers` are the ids of what made it
/// fire now (event ids for detractor and repeat, a window id for spikes); they
/// are what suppression counts and what makes re-deliveries harmless.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub alert: Alert,
    pub triggers: Vec<String>,
}

/// What one [`Alerter::evaluate`] decided: the alerts to publish, and the
/// occurrence rows behind them, to store once the alerts are on the topic
/// ([`Evaluation::record`]; stored earlier, a crash before publishing would
/// make the re-delivered events look already alerted).
#[derive(Debug, Default)]
pub struct Evaluation {
    pub alerts: Vec<Alert>,
    /// Each alert's JSON, in the same order (serialized once: published,
    /// stored in ClickHouse and kept by its suppression window as is).
    payloads: Vec<Arc<str>>,
    occurrences: Vec<store::OccurrenceRow>,
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

    /// Append another evaluation (the recorder merges what accumulated).
    fn extend(&mut self, more: Evaluation) {
        self.alerts.extend(more.alerts);
        self.payloads.extend(more.payloads);
        self.occurrences.extend(more.occurrences);
    }
}

/// Evaluates batches into alerts; holds the per-worker suppression windows,
/// the spike schedule (or inbox) and the last batches' negative touches.
pub struct Alerter<H: AlertHistory> {
    cfg: AlertConfig,
    taxonomy: Arc<Taxonomy>,
    salt: String,
    history: H,
    suppressor: suppress::Suppressor,
    last_spike_eval: Option<Instant>,
    /// When set, spikes are detected by a background task ([`Alerting`])
    /// and its candidates wait here; otherwise `evaluate` detects them when due.
    spike_inbox: Option<SpikeInbox>,
    /// Alerts decided but not yet returned (an `evaluate` that failed halfway
    /// returns them on its retry, so nothing decided is lost).
    outbox: Vec<(Alert, Arc<str>)>,
    /// Negative touches of batches not yet stored (see [`RecentTouches`]).
    recent: RecentTouches,
    /// Keys ClickHouse holds: the others are not looked up (none: all are).
    index: Option<Arc<index::LookupIndex>>,
    /// Sequence number of the next batch when the caller gives none.
    next_seq: u64,
}

impl<H: AlertHistory> Alerter<H> {
    /// `salt` keys the pseudonymous customer key in alerts (the enricher's salt).
    pub fn new(cfg: AlertConfig, taxonomy: Arc<Taxonomy>, salt: &str, history: H) -> Self {
        Alerter {
            suppressor: suppress::Suppressor::new(cfg.suppress_window_minutes),
            cfg,
            taxonomy,
            salt: salt.to_string(),
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
    /// caller: reloads, and [`Alerter::stored_through`] / the recorder).
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

    /// [`Alerter::evaluate`] for the batch numbered `seq` by the caller
    /// (increasing); its negative touches stay in memory until
    /// [`Alerter::stored_through`] covers `seq`.
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
                    &self.salt,
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
                    .is_open(&repeat::dedup_key(&self.salt, c), now)
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
                wanted.push((repeat::dedup_key(&self.salt, c), vec![e.event_id.clone()]));
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
            candidates.extend(repeat::occurrences(&open, &self.cfg, &self.salt, now));
            candidates.extend(repeat::candidates(
                &rest,
                &touches,
                &self.taxonomy,
                &self.cfg,
                &self.salt,
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
fn forget_through(recent: &RecentTouches, index: Option<&index::LookupIndex>, seq: u64) {
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

/// The background spike detector: every `spike.evaluate_every_s`, its
/// queries (window counts, baselines, samples: the heaviest alerting does)
/// run off the batches' alert lanes; what it finds is admitted (suppressed,
/// published) with the next evaluation, within a second when idle.
async fn spike_loop(
    history: ClickHouseHistory,
    cfg: AlertConfig,
    taxonomy: Arc<Taxonomy>,
    inbox: SpikeInbox,
) {
    let every = std::time::Duration::from_secs(cfg.spike.evaluate_every_s.max(1) as u64);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match detect_spikes(&history, &cfg, &taxonomy, Utc::now()).await {
            Ok(found) => inbox
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(found),
            Err(e) => {
                tracing::warn!(error = %e, "spike detection failed; trying again next period")
            }
        }
    }
}

/// The worker's handle: an [`Alerter`] on ClickHouse, shareable with tasks
/// and retry closures (`evaluate` when a batch is enriched,
/// `record_in_background` after the broker acknowledged its alerts).
/// Recording is a task of its own, so the next evaluation never waits for
/// the previous batch's alerts to reach ClickHouse (this worker's own windows
/// are in memory); it writes what accumulated in one insert per table, at
/// most every [`RECORD_EVERY`], which keeps ClickHouse's part count (and CPU)
/// down under a stream of small batches.
#[derive(Clone)]
pub struct Alerting {
    alerter: Arc<tokio::sync::Mutex<Alerter<ClickHouseHistory>>>,
    recorder: tokio::sync::mpsc::UnboundedSender<Evaluation>,
    /// Evaluations handed to the recorder and not yet in ClickHouse.
    unrecorded: Arc<std::sync::atomic::AtomicUsize>,
    /// The alerter's unstored touches (forgotten without its lock).
    recent: RecentTouches,
    index: Option<Arc<index::LookupIndex>>,
}

/// Shortest time between two writes of the alert recorder.
pub const RECORD_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

impl Alerting {
    /// Needs a tokio runtime (spawns the recorder task).
    pub fn new(
        cfg: AlertConfig,
        clickhouse: crate::ClickHouseConfig,
        taxonomy: Arc<Taxonomy>,
        salt: &str,
    ) -> Self {
        let history = ClickHouseHistory::new(clickhouse.clone());
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let unrecorded = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let index = (cfg.lookup_index.refresh_s > 0)
            .then(|| Arc::new(index::LookupIndex::new(&cfg.lookup_index)));
        tokio::spawn(record_loop(
            ClickHouseHistory::new(clickhouse.clone()),
            rx,
            unrecorded.clone(),
            index.clone(),
        ));
        let mut alerter = Alerter::new(cfg.clone(), taxonomy.clone(), salt, history);
        if let Some(index) = &index {
            alerter = alerter.with_index(index.clone());
            tokio::spawn(index_loop(
                ClickHouseHistory::new(clickhouse.clone()),
                cfg.clone(),
                index.clone(),
            ));
        }
        if cfg.spike.enabled {
            let inbox = SpikeInbox::default();
            alerter.spike_inbox = Some(inbox.clone());
            tokio::spawn(spike_loop(
                ClickHouseHistory::new(clickhouse),
                cfg,
                taxonomy,
                inbox,
            ));
        }
        Alerting {
            recent: alerter.recent.clone(),
            index,
            alerter: Arc::new(tokio::sync::Mutex::new(alerter)),
            recorder: tx,
            unrecorded,
        }
    }

    /// Evaluate batch number `seq` (increasing in offset order), or the
    /// idle check with no events.
    pub async fn evaluate(
        &self,
        seq: u64,
        events: &[EnrichedEvent],
        now: DateTime<Utc>,
    ) -> Result<Evaluation, AlertError> {
        self.alerter
            .lock()
            .await
            .evaluate_batch(seq, events, now)
            .await
    }

    /// Batches up to `seq` were stored in ClickHouse (their touches are
    /// found there now).
    pub fn stored_through(&self, seq: u64) {
        forget_through(&self.recent, self.index.as_deref(), seq);
    }

    /// Record published alerts off the batch's critical path, in the order
    /// they were published (retrying with backoff). The batch's offsets can
    /// be committed meanwhile: the alerts are already on the topic. Lost only
    /// if the process dies in between, which can cost one extra alert for a
    /// key, never a missing one (docs/alerting.md).
    pub fn record_in_background(&self, published: Evaluation) {
        if published.is_empty() {
            return;
        }
        self.unrecorded
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.recorder.send(published).is_err() {
            self.unrecorded
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            tracing::error!("the alert recorder stopped; alerts are on the topic but not recorded");
        }
    }

    /// Wait (at most `limit`) until everything handed to the recorder is in
    /// ClickHouse, at shutdown; past it the process exits and the record is
    /// lost (an extra alert later at worst, see `record_in_background`).
    pub async fn flush(&self, limit: std::time::Duration) {
        let until = std::time::Instant::now() + limit;
        while self.unrecorded.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            if std::time::Instant::now() >= until {
                tracing::warn!("alerts still being recorded in ClickHouse at shutdown; giving up");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// The recorder: waits for published evaluations, merges what accumulated,
/// writes it (retrying with backoff until it is stored), then rests until
/// [`RECORD_EVERY`] has passed since the write began.
async fn record_loop(
    history: ClickHouseHistory,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Evaluation>,
    unrecorded: Arc<std::sync::atomic::AtomicUsize>,
    index: Option<Arc<index::LookupIndex>>,
) {
    while let Some(first) = rx.recv().await {
        let started = std::time::Instant::now();
        let mut merged = first;
        let mut n = 1;
        while let Ok(more) = rx.try_recv() {
            merged.extend(more);
            n += 1;
        }
        tracing::debug!(
            evaluations = n,
            alerts = merged.alerts.len(),
            occurrences = merged.occurrences.len(),
            "recording alerts"
        );
        let mut delay = std::time::Duration::from_millis(200);
        while let Err(e) = merged.record(&history).await {
            tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "recording alerts; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(std::time::Duration::from_secs(10));
        }
        if let Some(i) = &index {
            i.dedup_keys.stored(
                merged
                    .alerts
                    .iter()
                    .map(|a| a.dedup_key.as_str())
                    .chain(merged.occurrences.iter().map(|o| o.dedup_key.as_str())),
            );
            i.triggers
                .stored(merged.occurrences.iter().map(|o| o.event_id.as_str()));
        }
        unrecorded.fetch_sub(n, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(RECORD_EVERY.saturating_sub(started.elapsed())).await;
    }
}

/// Reloads the lookup index every `alert.lookup_index.refresh_s` (the first
/// time at once; until then every key is looked up).
async fn index_loop(history: ClickHouseHistory, cfg: AlertConfig, index: Arc<index::LookupIndex>) {
    let every = std::time::Duration::from_secs(cfg.lookup_index.refresh_s.max(1) as u64);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        index.reload(&history, &cfg, Utc::now()).await;
    }
}

/// The pseudonymous customer key alerts carry: a salted hash, stable per
/// customer, so case systems can group without seeing the bank's id.
pub fn customer_ref(salt: &str, key: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_128(format!("{salt}\u{1f}{key}").as_bytes());
    format!("cust-{:016x}", (h >> 64) as u64)
}

/// A stable alert id: the same dedup key and first trigger give the same id,
/// so a re-published alert (crash after publish, before commit) is the same alert.
pub fn alert_id(kind: AlertKind, dedup_key: &str, first_trigger: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_128(format!("{dedup_key}\u{1f}{first_trigger}").as_bytes());
    format!("{}-{h:032x}", kind.id_prefix())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::store::memory::MemoryHistory;
    use super::*;
    use chrono::{Duration, TimeZone};
    use voc_core::*;

    pub fn event(
        id: &str,
        customer: &str,
        channel: Channel,
        tags: &[&str],
        nps: Option<u8>,
        sentiment: f32,
    ) -> EnrichedEvent {
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
        let segment = score.map(|s| s.segment()).unwrap_or(if sentiment <= -0.5 {
            NpsSegment::Detractor
        } else {
            NpsSegment::Passive
        });
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap();
        EnrichedEvent {
            schema: "voc.event.v1".into(),
            event_id: id.into(),
            source_id: id.into(),
            channel,
            event_time: t,
            ingest_time: t,
            event_time_source: TimeSource::Payload,
            keys: Keys {
                customer: (!customer.is_empty()).then(|| customer.to_string()),
                ..Keys::default()
            },
            text: "大堂经理很热情，但是卡里的钱被盗刷了".into(),
            context_text: String::new(),
            tokens: Default::default(),
            keywords: vec![],
            sentiment: Sentiment {
                label: if sentiment < -0.2 {
                    SentimentLabel::Negative
                } else {
                    SentimentLabel::Neutral
                },
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

    fn alerter(cfg: AlertConfig) -> Alerter<MemoryHistory> {
        Alerter::new(
            cfg,
            Arc::new(Taxonomy::bundled()),
            "salt",
            MemoryHistory::default(),
        )
    }

    fn quiet() -> AlertConfig {
        let mut c = AlertConfig::default();
        c.repeat.enabled = false;
        c.spike.enabled = false;
        c
    }

    pub fn schema_validator() -> jsonschema::Validator {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/alert.schema.json")).unwrap();
        jsonschema::validator_for(&schema).expect("valid JSON schema")
    }

    pub fn assert_valid(v: &jsonschema::Validator, a: &Alert) {
        let j = serde_json::to_value(a).unwrap();
        let errors: Vec<String> = v
            .iter_errors(&j)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{j:#}");
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn detractor_severity_departments_title_and_schema() {
        let v = schema_validator();
        let mut a = alerter(quiet());
        let out = a
            .evaluate(
                &[
                    event(
                        "e1",
                        "C1",
                        Channel::App,
                        &["c07.t07", "c10.t02"],
                        None,
                        -0.9,
                    ),
                    event("e2", "C2", Channel::Branch, &["c07.t01"], Some(2), -0.3),
                    event("e3", "C3", Channel::CallCenter, &["c07.t01"], Some(5), -0.3),
                    event("e4", "C4", Channel::App, &["c07.t01"], Some(9), 0.9),
                    event("e5", "", Channel::Community, &[], None, -0.85),
                ],
                now(),
            )
            .await
            .unwrap();
        assert_eq!(out.alerts.len(), 4, "promoter e4 raises nothing");
        let by = |id: &str| {
            out.alerts
                .iter()
                .find(|a| a.events[0].event_id == id)
                .unwrap()
        };
        let crit = by("e1");
        assert_eq!(crit.severity, Severity::Critical);
        assert_eq!(crit.sla_due, now() + Duration::hours(2));
        assert_eq!(crit.departments, ["风险管理部", "消费者权益保护部"]);
        assert_eq!(crit.pain, ["c10.t02"]);
        assert_eq!(crit.delight, ["c07.t07"]);
        assert!(crit.inferred);
        assert!(
            crit.work_order_title.starts_with("【紧急】手机银行 盗刷"),
            "{}",
            crit.work_order_title
        );
        assert!(crit.customer_key.as_deref().unwrap().starts_with("cust-"));
        assert_ne!(
            crit.customer_key.as_deref(),
            Some("C1"),
            "customer key is pseudonymous"
        );
        assert_eq!(by("e2").severity, Severity::High);
        assert_eq!(by("e2").sla_due, now() + Duration::hours(24));
        assert!(by("e2").work_order_title.contains("评分2分"));
        assert_eq!(by("e3").severity, Severity::Medium);
        assert_eq!(
            by("e5").severity,
            Severity::High,
            "inferred, sentiment -0.85"
        );
        for a in &out.alerts {
            assert_valid(&v, a);
        }
    }

    #[tokio::test]
    async fn high_value_customers_are_raised_one_level() {
        let mut cfg = quiet();
        cfg.customer_value_query =
            "SELECT customer_key, tier FROM {db}.customers WHERE customer_key IN ({keys})".into();
        let mut history = MemoryHistory::default();
        history.tiers.insert("C3".into(), "private_banking".into());
        let mut a = Alerter::new(cfg, Arc::new(Taxonomy::bundled()), "salt", history);
        let out = a
            .evaluate(
                &[event(
                    "e3",
                    "C3",
                    Channel::CallCenter,
                    &["c07.t01"],
                    Some(5),
                    -0.3,
                )],
                now(),
            )
            .await
            .unwrap();
        assert_eq!(out.alerts[0].severity, Severity::High);
        assert_eq!(
            out.alerts[0].customer_tier.as_deref(),
            Some("private_banking")
        );
    }

    #[tokio::test]
    async fn a_window_update_waits_for_its_first_alert_in_clickhouse() {
        let mut a = alerter(quiet());
        let t0 = now();
        let ev = |id: &str| event(id, "C1", Channel::App, &["c03.t02"], Some(1), -0.8);
        let first = a.evaluate(&[ev("e1")], t0).await.unwrap();
        assert_eq!(first.alerts.len(), 1);
        let second = a
            .evaluate(&[ev("e2")], t0 + Duration::minutes(5))
            .await
            .unwrap();
        assert!(second.alerts.is_empty());
        // Closed with two occurrences, but the first alert is not stored
        // yet: no update now, and the key's window is closed all the same.
        let later = t0 + Duration::minutes(61);
        let out = a.evaluate(&[], later).await.unwrap();
        assert!(out.alerts.is_empty(), "{:?}", out.alerts);
        assert_eq!(a.suppressor.open_windows(), 0);
        // Stored: the next evaluation publishes the update.
        first.record(a.history()).await.unwrap();
        let out = a.evaluate(&[], later + Duration::seconds(1)).await.unwrap();
        assert_eq!(out.alerts.len(), 1, "{:?}", out.alerts);
        let u = &out.alerts[0];
        assert_eq!(
            (u.alert_id.as_str(), u.revision, u.occurrences),
            (first.alerts[0].alert_id.as_str(), 1, 2)
        );
        assert!(a
            .evaluate(&[], later + Duration::seconds(2))
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn suppression_counts_and_updates_once_and_ignores_duplicates() {
        let v = schema_validator();
        let mut a = alerter(quiet());
        let t0 = now();
        let first = a
            .evaluate(
                &[event("e1", "C1", Channel::App, &["c03.t02"], Some(1), -0.8)],
                t0,
            )
            .await
            .unwrap();
        assert_eq!(first.alerts.len(), 1);
        first.record(a.history()).await.unwrap();
        // Same customer, same issue, within the window; plus a duplicate of e1.
        for (i, id) in ["e2", "e1", "e3", "e3"].iter().enumerate() {
            let out = a
                .evaluate(
                    &[event(
                        id,
                        "C1",
                        Channel::CallCenter,
                        &["c03.t02"],
                        Some(3),
                        -0.8,
                    )],
                    t0 + Duration::minutes(5 + i as i64),
                )
                .await
                .unwrap();
            assert!(out.alerts.is_empty(), "suppressed: {out:?}");
            out.record(a.history()).await.unwrap();
        }
        // Window closes: exactly one update with the count (e1, e2, e3).
        let later = t0 + Duration::minutes(61);
        let upd = a.evaluate(&[], later).await.unwrap();
        assert_eq!(upd.alerts.len(), 1);
        assert_eq!(upd.alerts[0].alert_id, first.alerts[0].alert_id);
        assert_eq!(
            (
                upd.alerts[0].revision,
                upd.alerts[0].occurrences,
                upd.alerts[0].suppressed
            ),
            (1, 3, 2)
        );
        assert_valid(&v, &upd.alerts[0]);
        upd.record(a.history()).await.unwrap();
        assert!(a
            .evaluate(&[], later + Duration::minutes(1))
            .await
            .unwrap()
            .is_empty());
        // A re-delivered e2 after the window: never a second alert.
        let again = a
            .evaluate(
                &[event(
                    "e2",
                    "C1",
                    Channel::CallCenter,
                    &["c03.t02"],
                    Some(3),
                    -0.8,
                )],
                later + Duration::minutes(2),
            )
            .await
            .unwrap();
        assert!(again.alerts.is_empty(), "{again:?}");
        // A new event after the window opens a new window.
        let new = a
            .evaluate(
                &[event("e9", "C1", Channel::App, &["c03.t02"], Some(3), -0.8)],
                later + Duration::minutes(3),
            )
            .await
            .unwrap();
        assert_eq!(new.alerts.len(), 1);
        assert_ne!(new.alerts[0].alert_id, first.alerts[0].alert_id);
    }

    #[tokio::test]
    async fn a_window_opened_by_another_worker_suppresses_here() {
        let mut one = alerter(quiet());
        let first = one
            .evaluate(
                &[event("e1", "C1", Channel::App, &["c03.t02"], Some(1), -0.8)],
                now(),
            )
            .await
            .unwrap();
        first.record(one.history()).await.unwrap();
        // A second worker with the same (shared) history.
        let shared = MemoryHistory::default();
        *shared.alerts.lock().unwrap() = one.history().alerts.lock().unwrap().clone();
        *shared.occurrences.lock().unwrap() = one.history().occurrences.lock().unwrap().clone();
        let mut two = Alerter::new(quiet(), Arc::new(Taxonomy::bundled()), "salt", shared);
        let out = two
            .evaluate(
                &[event(
                    "e2",
                    "C1",
                    Channel::Branch,
                    &["c03.t02"],
                    Some(2),
                    -0.8,
                )],
                now() + Duration::minutes(1),
            )
            .await
            .unwrap();
        assert!(out.alerts.is_empty());
        out.record(two.history()).await.unwrap();
        let occ = two.history().occurrences.lock().unwrap().clone();
        assert_eq!(occ.last().unwrap().alert_id, first.alerts[0].alert_id);
        assert_eq!(occ.last().unwrap().suppressed, 1);
    }

    /// An alerter whose lookup index was loaded from its (empty) history.
    async fn indexed(cfg: AlertConfig) -> Alerter<MemoryHistory> {
        with_loaded_index(alerter(cfg)).await.0
    }

    /// `a` with a lookup index loaded from its history now.
    async fn with_loaded_index(
        a: Alerter<MemoryHistory>,
    ) -> (Alerter<MemoryHistory>, Arc<index::LookupIndex>) {
        let index = Arc::new(index::LookupIndex::new(&a.cfg.lookup_index));
        index.reload(a.history(), &a.cfg, now()).await;
        (a.with_index(index.clone()), index)
    }

    #[tokio::test]
    async fn the_index_skips_keys_without_rows_until_a_reload_sees_them() {
        let mut one = alerter(quiet());
        let e1 = event("e1", "C1", Channel::App, &["c03.t02"], Some(1), -0.8);
        let first = one.evaluate(&[e1], now()).await.unwrap();
        // Another worker loaded its index before `one` stored its alert.
        let mut two = indexed(quiet()).await;
        first.record(two.history()).await.unwrap();
        let e2 = event("e2", "C1", Channel::Branch, &["c03.t02"], Some(2), -0.8);
        let out = two
            .evaluate(&[e2], now() + Duration::minutes(1))
            .await
            .unwrap();
        assert_eq!(
            out.alerts.len(),
            1,
            "within refresh_s a window stored elsewhere is not seen (documented)"
        );
        // After a reload the key is looked up: a third worker's event is suppressed.
        let mut three = indexed(quiet()).await;
        first.record(three.history()).await.unwrap();
        three
            .index
            .as_ref()
            .unwrap()
            .reload(three.history(), &quiet(), now() + Duration::minutes(1))
            .await;
        let e3 = event("e3", "C1", Channel::Branch, &["c03.t02"], Some(2), -0.8);
        let out = three
            .evaluate(&[e3], now() + Duration::minutes(2))
            .await
            .unwrap();
        assert!(out.alerts.is_empty(), "{:?}", out.alerts);
        assert_eq!(out.occurrences[0].alert_id, first.alerts[0].alert_id);
        // A re-delivered message: its trigger is indexed, so it is looked up
        // and found counted (nothing sent, nothing counted again).
        let e1 = event("e1", "C1", Channel::App, &["c03.t02"], Some(1), -0.8);
        let out = three
            .evaluate(&[e1], now() + Duration::minutes(3))
            .await
            .unwrap();
        assert!(out.is_empty(), "{:?} {:?}", out.alerts, out.occurrences);
    }

    #[tokio::test]
    async fn the_index_holds_the_touches_this_worker_stored() {
        // Without them in the index, the third occasion would not find the
        // first (stored, so no longer in memory) and no alert would fire.
        let mut cfg = quiet();
        cfg.repeat.enabled = true;
        cfg.detractor.enabled = false;
        let mut a = indexed(cfg).await;
        let mut alerts = Vec::new();
        for (i, ch) in [Channel::App, Channel::CallCenter, Channel::Branch]
            .into_iter()
            .enumerate()
        {
            let e = event(&format!("n{i}"), "C5", ch, &["c03.t02"], Some(2), -0.8);
            let out = a
                .evaluate(
                    std::slice::from_ref(&e),
                    now() + Duration::minutes(i as i64),
                )
                .await
                .unwrap();
            alerts.extend(out.alerts);
            if i == 0 {
                a.history()
                    .touches
                    .lock()
                    .unwrap()
                    .push(repeat::Touch::of(&e));
                a.stored_through(0);
            }
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].repeat.as_ref().unwrap().occasions, 3);
    }

    /// A worker alerts on a three-day-old event e1 three days ago.
    async fn alerted_three_days_ago() -> (Alerter<MemoryHistory>, Evaluation, EnrichedEvent) {
        let mut one = alerter(quiet());
        let old = now() - Duration::days(3);
        let mut e1 = event("e1", "C1", Channel::App, &["c03.t02"], Some(1), -0.8);
        e1.event_time = old;
        let first = one.evaluate(std::slice::from_ref(&e1), old).await.unwrap();
        assert_eq!(first.alerts.len(), 1);
        (one, first, e1)
    }

    #[tokio::test]
    async fn events_older_than_the_index_are_looked_up() {
        let (_, first, e1) = alerted_three_days_ago().await;
        // Re-delivered three days later, after the window closed: the index
        // does not hold the key or the trigger (counted three days ago,
        // beyond its horizon), but the event is older than the horizon, so
        // the seen trigger is looked up and found.
        let two = alerter(quiet());
        first.record(two.history()).await.unwrap();
        let (mut two, index) = with_loaded_index(two).await;
        assert!(!index.holds_all_triggers());
        let out = two.evaluate(&[e1], now()).await.unwrap();
        assert!(
            out.alerts.is_empty() && out.occurrences.is_empty(),
            "{:?}",
            out.alerts
        );
    }

    #[tokio::test]
    async fn only_the_old_events_of_a_batch_bypass_the_index() {
        let (mut one, first, e1) = alerted_three_days_ago().await;
        let e2 = event("e2", "C2", Channel::App, &["c03.t02"], Some(1), -0.8);
        let second = one.evaluate(&[e2], now()).await.unwrap();
        assert_eq!((first.alerts.len(), second.alerts.len()), (1, 1));
        // e1 counted three days ago (before `two` loaded its index), C2's
        // alert stored after the load. In one batch: e1 re-delivered (older
        // than the horizon: its trigger is looked up and found) and a new
        // event of C2's key (recent: the index applies, so the window stored
        // since the reload is not seen, the documented gap).
        let two = alerter(quiet());
        first.record(two.history()).await.unwrap();
        let (mut two, _) = with_loaded_index(two).await;
        second.record(two.history()).await.unwrap();
        let e3 = event("e3", "C2", Channel::Branch, &["c03.t02"], Some(2), -0.8);
        let out = two.evaluate(&[e1, e3], now()).await.unwrap();
        let triggered: Vec<&str> = out
            .alerts
            .iter()
            .flat_map(|a| a.events.iter().map(|e| e.event_id.as_str()))
            .collect();
        assert_eq!(triggered, ["e3"], "{:?}", out.alerts);
    }

    #[tokio::test]
    async fn old_events_use_the_index_while_it_holds_every_trigger() {
        let old = now() - Duration::days(3);
        let batch = |n: usize| -> Vec<EnrichedEvent> {
            (0..n)
                .map(|i| {
                    let mut e = event(
                        &format!("o{i}"),
                        "C1",
                        Channel::App,
                        &["c03.t02"],
                        Some(1),
                        -0.8,
                    );
                    e.event_time = old;
                    e
                })
                .collect()
        };
        // Fresh tables: nothing older than the horizon, so the index holds
        // every trigger and three-day-old events are not looked up.
        let cfg = quiet();
        let (mut a, index) = with_loaded_index(alerter(cfg.clone())).await;
        assert!(index.holds_all_triggers());
        let out = a.evaluate(&batch(3), now()).await.unwrap();
        assert_eq!(out.alerts.len(), 1);
        assert_eq!(*a.history().pairs_asked.lock().unwrap(), 0);
        // Once an occurrence older than the horizon exists (a reload sees
        // it), old events are looked up in full again, for good.
        out.record(a.history()).await.unwrap();
        let later = now() + cfg.lookup_horizon() + Duration::hours(1);
        index.reload(a.history(), &cfg, later).await;
        assert!(!index.holds_all_triggers());
        a.evaluate(&batch(3), later).await.unwrap();
        assert_eq!(*a.history().pairs_asked.lock().unwrap(), 3);
        a.history().occurrences.lock().unwrap().clear();
        index.reload(a.history(), &cfg, later).await;
        assert!(!index.holds_all_triggers(), "sticky");
    }

    #[tokio::test]
    async fn repeat_counts_history_beyond_the_rows_it_reads() {
        let mut cfg = quiet();
        cfg.repeat.enabled = true;
        cfg.detractor.enabled = false;
        let per_customer = cfg.repeat_rows_per_customer();
        let a = alerter(cfg);
        let base = Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 0).unwrap();
        a.history()
            .touches
            .lock()
            .unwrap()
            .extend((0..per_customer + 5).map(|i| {
                let mut e = event(
                    &format!("h{i}"),
                    "C6",
                    Channel::App,
                    &["c03.t02"],
                    None,
                    -0.7,
                );
                e.event_time = base + Duration::seconds(i as i64);
                repeat::Touch::of(&e)
            }));
        let mut a = a;
        let out = a
            .evaluate(
                &[event(
                    "b1",
                    "C6",
                    Channel::Branch,
                    &["c07.t01"],
                    Some(1),
                    -0.9,
                )],
                base + Duration::hours(1),
            )
            .await
            .unwrap();
        assert_eq!(out.alerts.len(), 1);
        let r = &out.alerts[0];
        assert_eq!(
            r.repeat.as_ref().unwrap().occasions as usize,
            per_customer + 6,
            "stored history (counted) + the batch's event"
        );
        assert_eq!(r.events.len(), 10, "listed: the newest max_events");
        assert_eq!(
            r.events[0].event_id, "h14",
            "newest stored first; batch event at its own time"
        );
    }

    #[tokio::test]
    async fn repeat_counts_the_previous_batches_before_they_are_stored() {
        // The worker evaluates batch N+1 while N is still being inserted:
        // the history (ClickHouse) has none of this customer's events yet.
        let mut cfg = quiet();
        cfg.repeat.enabled = true;
        cfg.detractor.enabled = false;
        let mut a = alerter(cfg);
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 5, 0, 0).unwrap();
        let channels = [Channel::App, Channel::CallCenter, Channel::Branch];
        let mut alerts = Vec::new();
        for (i, ch) in channels.into_iter().enumerate() {
            let id = format!("n{i}");
            let e = event(&id, "C5", ch, &["c03.t02"], Some(2), -0.8);
            let out = a
                .evaluate(&[e], t + Duration::minutes(i as i64))
                .await
                .unwrap();
            alerts.extend(out.alerts);
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].repeat.as_ref().unwrap().occasions, 3);
        // Kept until the batches are stored; then ClickHouse has them.
        assert_eq!(a.recent.lock().unwrap().len(), 3);
        a.stored_through(1);
        let left: Vec<u64> = a.recent.lock().unwrap().iter().map(|(s, _)| *s).collect();
        assert_eq!(left, [2]);
        // Bounded even if nothing is ever confirmed.
        for i in 0..MAX_RECENT_BATCHES + 5 {
            let e = event(&format!("o{i}"), "O1", Channel::App, &[], Some(2), -0.8);
            a.evaluate(&[e], t).await.unwrap();
        }
        assert_eq!(a.recent.lock().unwrap().len(), MAX_RECENT_BATCHES);
    }

    #[tokio::test]
    async fn repeat_counts_a_batch_stored_while_the_history_is_read() {
        // The storage task inserts the earlier batches and confirms them
        // (they leave memory) after ClickHouse was read and before the
        // evaluation merges what it holds in memory: counted all the same.
        let mut cfg = quiet();
        cfg.repeat.enabled = true;
        cfg.detractor.enabled = false;
        let mut a = alerter(cfg);
        let t = now();
        let mut earlier = Vec::new();
        for i in 0..2 {
            let e = event(
                &format!("r{i}"),
                "C9",
                Channel::App,
                &["c03.t02"],
                Some(2),
                -0.8,
            );
            assert!(a
                .evaluate(std::slice::from_ref(&e), t)
                .await
                .unwrap()
                .alerts
                .is_empty());
            earlier.push(repeat::Touch::of(&e));
        }
        let recent = a.recent.clone();
        *a.history().after_negatives_read.lock().unwrap() = Some(Box::new(move |h| {
            h.touches.lock().unwrap().extend(earlier);
            forget_through(&recent, None, 1);
        }));
        let e = event("r2", "C9", Channel::Branch, &["c03.t02"], Some(2), -0.8);
        let out = a.evaluate(&[e], t).await.unwrap();
        assert!(
            a.history().after_negatives_read.lock().unwrap().is_none(),
            "the race ran"
        );
        assert_eq!(out.alerts.len(), 1, "third occasion");
        assert_eq!(out.alerts[0].repeat.as_ref().unwrap().occasions, 3);
    }

    #[test]
    fn a_total_read_apart_from_the_rows_does_not_count_an_event_twice() {
        // ClickHouse counted two touches (the batch's own event was stored
        // between its two reads) but sent only the older row: two occasions.
        let mut cfg = quiet();
        cfg.repeat.enabled = true;
        let tax = Taxonomy::bundled();
        let old = event("o1", "C7", Channel::App, &["c03.t02"], Some(2), -0.8);
        let now_e = event("o2", "C7", Channel::Branch, &["c03.t02"], Some(2), -0.8);
        let stored = repeat::Touch {
            history_count: 2,
            ..repeat::Touch::of(&old)
        };
        let out = repeat::candidates(
            &[&now_e],
            &[stored],
            &tax,
            &cfg,
            "salt",
            &HashMap::new(),
            now(),
        );
        assert!(
            out.is_empty(),
            "{:?}",
            out.iter().map(|c| &c.alert.repeat).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_customer_in_an_open_repeat_window_is_counted_without_a_history_read() {
        let mut cfg = quiet();
        cfg.repeat.enabled = true;
        cfg.detractor.enabled = false;
        let mut a = alerter(cfg);
        let t = now();
        let mut first = Vec::new();
        for i in 0..3 {
            let e = event(
                &format!("w{i}"),
                "C8",
                Channel::App,
                &["c03.t02"],
                Some(2),
                -0.8,
            );
            first.extend(a.evaluate(&[e], t).await.unwrap().alerts);
        }
        assert_eq!(first.len(), 1);
        let read = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = read.clone();
        *a.history().after_negatives_read.lock().unwrap() = Some(Box::new(move |_| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }));
        let e = event("w3", "C8", Channel::Branch, &["c03.t02"], Some(2), -0.8);
        let out = a.evaluate(&[e], t + Duration::minutes(5)).await.unwrap();
        assert!(out.alerts.is_empty(), "{:?}", out.alerts);
        assert_eq!(out.occurrences.len(), 1);
        assert_eq!(out.occurrences[0].alert_id, first[0].alert_id);
        assert_eq!(out.occurrences[0].event_id, "w3");
        assert!(
            !read.load(std::sync::atomic::Ordering::SeqCst),
            "no history read"
        );
        // Once the window closed, the history is read again (and the fourth
        // occasion opens a new window).
        let e = event("w4", "C8", Channel::App, &["c03.t02"], Some(2), -0.8);
        let later = t + Duration::minutes(cfg_window_minutes() as i64 + 1);
        let out = a.evaluate(&[e], later).await.unwrap();
        assert!(read.load(std::sync::atomic::Ordering::SeqCst));
        assert!(out
            .alerts
            .iter()
            .any(|x| x.kind == AlertKind::RepeatComplainer && x.revision == 0));
    }

    fn cfg_window_minutes() -> u32 {
        AlertConfig::default().suppress_window_minutes
    }

    #[tokio::test]
    async fn repeat_complainer_across_channels() {
        let v = schema_validator();
        let mut cfg = quiet();
        cfg.repeat.enabled = true;
        cfg.detractor.enabled = false;
        let mut a = alerter(cfg);
        let earlier: Vec<EnrichedEvent> = vec![
            event("h1", "C7", Channel::App, &["c03.t02"], None, -0.7),
            event(
                "h2",
                "C7",
                Channel::CallCenter,
                &["c03.t02", "c08.t01"],
                None,
                -0.6,
            ),
            event("x1", "C8", Channel::App, &["c03.t02"], None, -0.7),
        ];
        a.history()
            .touches
            .lock()
            .unwrap()
            .extend(earlier.iter().map(repeat::Touch::of));
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 5, 0, 0).unwrap();
        let out = a
            .evaluate(
                &[
                    event("b1", "C7", Channel::Branch, &["c07.t01"], Some(1), -0.9),
                    event("b2", "C8", Channel::Branch, &["c07.t01"], Some(1), -0.9),
                    event("b3", "C9", Channel::Branch, &["c07.t01"], Some(9), 0.9),
                ],
                t,
            )
            .await
            .unwrap();
        assert_eq!(out.alerts.len(), 1, "only C7 has 3 occasions: {out:?}");
        let r = &out.alerts[0];
        assert_eq!(r.kind, AlertKind::RepeatComplainer);
        let info = r.repeat.as_ref().unwrap();
        assert_eq!(info.occasions, 3);
        assert_eq!(info.channels, ["app", "branch", "call_center"]);
        assert_eq!(r.tags[0].id, "c03.t02", "most frequent issue first");
        assert!(
            r.work_order_title.contains("第3次负面反馈"),
            "{}",
            r.work_order_title
        );
        assert_eq!(r.events.len(), 3);
        assert_valid(&v, r);
    }

    #[tokio::test]
    async fn spikes_from_the_background_detector_are_admitted_once() {
        let mut cfg = quiet();
        cfg.spike.enabled = true;
        cfg.detractor.enabled = false;
        let history = MemoryHistory::default();
        *history.series.lock().unwrap() = vec![spike::SeriesCounts {
            tag_id: "c03.t02".into(),
            series: "channel=app".into(),
            window_count: 9,
            slot_count: 2,
            slot_minutes: 240.0,
            all_count: 100,
            all_minutes: 40320.0,
        }];
        let tax = Taxonomy::bundled();
        let found = detect_spikes(&history, &cfg, &tax, now()).await.unwrap();
        assert_eq!(found.len(), 1);
        let mut a = Alerter::new(cfg, Arc::new(tax), "salt", history);
        let inbox = SpikeInbox::default();
        a.spike_inbox = Some(inbox.clone());
        // The detector ran twice on the same window before an evaluation.
        inbox.lock().unwrap().extend(
            found
                .iter()
                .chain(found.iter())
                .cloned()
                .collect::<Vec<_>>(),
        );
        let out = a.evaluate(&[], now()).await.unwrap();
        assert_eq!(out.alerts.len(), 1, "{out:?}");
        assert_eq!(out.alerts[0].kind, AlertKind::Spike);
        assert!(inbox.lock().unwrap().is_empty());
        // With an inbox, `evaluate` does not query spikes itself.
        assert!(a.evaluate(&[], now()).await.unwrap().alerts.is_empty());
    }

    #[tokio::test]
    async fn spike_alert_from_series_counts() {
        let v = schema_validator();
        let mut cfg = quiet();
        cfg.spike.enabled = true;
        cfg.detractor.enabled = false;
        let mut a = alerter(cfg);
        *a.history().series.lock().unwrap() = vec![spike::SeriesCounts {
            tag_id: "c03.t02".into(),
            series: "app_version=app 8.2".into(),
            window_count: 6,
            slot_count: 2,
            slot_minutes: 240.0,
            all_count: 100,
            all_minutes: 40320.0,
        }];
        let out = a.evaluate(&[], now()).await.unwrap();
        assert_eq!(out.alerts.len(), 1);
        let s = &out.alerts[0];
        assert_eq!(s.kind, AlertKind::Spike);
        assert_eq!(s.dedup_key, "spike:app_version=app 8.2:c03.t02");
        assert!(
            s.work_order_title.contains("手机银行 8.2"),
            "{}",
            s.work_order_title
        );
        assert!(
            s.work_order_title.contains("10分钟内6起"),
            "{}",
            s.work_order_title
        );
        assert_valid(&v, s);
        // Re-evaluated within the same minute: not counted twice, not re-alerted.
        out.record(a.history()).await.unwrap();
        let again = a
            .evaluate(&[], now() + Duration::seconds(40))
            .await
            .unwrap();
        assert!(again.alerts.is_empty());
    }
}

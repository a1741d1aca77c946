//! The worker's handle on alerting ([`AlertService`]): an [`AlertEngine`] on
//! ClickHouse plus the background tasks it owns: the recorder (published
//! alerts into ClickHouse), the lookup-index reloader and the spike detector.
//! [`AlertService::shutdown`] stops them: the loops at once, the recorder
//! after it wrote what it was handed.

use crate::engine::{detect_spikes, forget_through, RecentTouches, SpikeInbox};
use crate::history::ClickHouseHistory;
use crate::{index, AlertConfig, AlertEngine, AlertError, Evaluation};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use voc_core::pseudonym::PseudonymKey;
use voc_core::{EnrichedEvent, Taxonomy};
use voc_sink::Backoff;

/// The worker's handle: an [`AlertEngine`] on ClickHouse, shareable with tasks
/// and retry closures (`evaluate` when a batch is enriched,
/// `record_in_background` after the broker acknowledged its alerts).
/// Recording is a task of its own, so the next evaluation never waits for
/// the previous batch's alerts to reach ClickHouse (this worker's own windows
/// are in memory); it writes what accumulated in one insert per table, at
/// most every [`RECORD_EVERY`], which keeps ClickHouse's part count (and CPU)
/// down under a stream of small batches.
#[derive(Clone)]
pub struct AlertService {
    engine: Arc<tokio::sync::Mutex<AlertEngine<ClickHouseHistory>>>,
    recorder: mpsc::UnboundedSender<Evaluation>,
    /// The engine's unstored touches (forgotten without its lock).
    recent: RecentTouches,
    index: Option<Arc<index::LookupIndex>>,
    /// The background tasks, and the signal that stops them.
    tasks: TaskTracker,
    stop: CancellationToken,
}

/// Shortest time between two writes of the alert recorder.
pub const RECORD_EVERY: Duration = Duration::from_millis(500);

impl AlertService {
    /// Needs a tokio runtime (spawns the background tasks).
    pub fn new(
        cfg: AlertConfig,
        clickhouse: voc_sink::ClickHouseConfig,
        taxonomy: Arc<Taxonomy>,
        key: PseudonymKey,
    ) -> Result<Self, voc_sink::SinkError> {
        let tasks = TaskTracker::new();
        let stop = CancellationToken::new();
        // The only fallible step, before any task is spawned.
        let client = clickhouse.client()?;
        let history = || ClickHouseHistory::with_client(client.clone(), clickhouse.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let index = (cfg.lookup_index.refresh_s > 0)
            .then(|| Arc::new(index::LookupIndex::new(&cfg.lookup_index)));
        tasks.spawn(record_loop(history(), rx, index.clone(), stop.clone()));
        let mut engine = AlertEngine::new(cfg.clone(), taxonomy.clone(), key, history());
        if let Some(index) = &index {
            engine = engine.with_index(index.clone());
            tasks.spawn(index_loop(
                history(),
                cfg.clone(),
                index.clone(),
                stop.clone(),
            ));
        }
        if cfg.spike.enabled {
            let inbox = SpikeInbox::default();
            engine.spike_inbox = Some(inbox.clone());
            tasks.spawn(spike_loop(history(), cfg, taxonomy, inbox, stop.clone()));
        }
        tasks.close();
        Ok(AlertService {
            recent: engine.recent.clone(),
            index,
            engine: Arc::new(tokio::sync::Mutex::new(engine)),
            recorder: tx,
            tasks,
            stop,
        })
    }

    /// Evaluate batch number `seq` (increasing in offset order), or the
    /// idle check with no events.
    pub async fn evaluate(
        &self,
        seq: u64,
        events: &[EnrichedEvent],
        now: DateTime<Utc>,
    ) -> Result<Evaluation, AlertError> {
        self.engine
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
        if self.recorder.send(published).is_err() {
            tracing::error!("the alert recorder stopped; alerts are on the topic but not recorded");
        }
    }

    /// Record the alerts found on the alert topic (JSON as published, the
    /// triggers its window opened with) that ClickHouse does not hold: those
    /// published by a process that died before recording them. Run before
    /// the first evaluation, so a re-delivered batch finds its alerts'
    /// windows and triggers and publishes nothing again. Returns how many
    /// were recorded; a record that is not an alert is skipped.
    pub async fn recover_published(
        &self,
        found: Vec<(Arc<str>, Vec<String>)>,
    ) -> Result<usize, AlertError> {
        let mut alerts = Vec::new();
        for (json, triggers) in found {
            match serde_json::from_str::<crate::Alert>(&json) {
                Ok(a) => alerts.push((a, json, triggers)),
                Err(e) => {
                    tracing::warn!(error = %e, "not a voc.alert.v2 record on the alert topic; skipped")
                }
            }
        }
        let engine = self.engine.lock().await;
        let history = engine.history();
        let ids: Vec<&str> = alerts.iter().map(|(a, ..)| a.alert_id.as_str()).collect();
        let recorded = history.recorded(&ids).await?;
        let mut seen = std::collections::HashSet::new();
        alerts.retain(|(a, ..)| {
            let id = (a.alert_id.clone(), a.revision);
            !recorded.contains(&id) && seen.insert(id)
        });
        let missing = Evaluation::recovered(alerts);
        missing.record(history).await?;
        if let Some(i) = &self.index {
            indexed(i, &missing);
        }
        Ok(missing.alerts.len())
    }

    /// Stop the background tasks, at shutdown once no more batches come:
    /// the index and spike loops at once, the recorder once everything
    /// handed to it is in ClickHouse. Waits at most `limit`; past it the
    /// process exits and the record is lost (an extra alert later at worst,
    /// see `record_in_background`). True when every task ended in time.
    pub async fn shutdown(&self, limit: Duration) -> bool {
        self.stop.cancel();
        let done = tokio::time::timeout(limit, self.tasks.wait()).await.is_ok();
        if !done {
            tracing::warn!("alerts still being recorded in ClickHouse at shutdown; giving up");
        }
        done
    }
}

/// The recorder: waits for published evaluations, merges what accumulated,
/// writes it (retrying with backoff until it is stored), then rests until
/// [`RECORD_EVERY`] has passed since the write began. On `stop` it writes
/// what is queued, then ends.
async fn record_loop(
    history: ClickHouseHistory,
    mut rx: mpsc::UnboundedReceiver<Evaluation>,
    index: Option<Arc<index::LookupIndex>>,
    stop: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            e = rx.recv() => match e {
                Some(e) => e,
                None => return,
            },
            _ = stop.cancelled() => match rx.try_recv() {
                Ok(e) => e,
                Err(_) => return,
            },
        };
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
        let mut backoff = Backoff::standard();
        while let Err(e) = merged.record(&history).await {
            let delay = backoff.delay();
            tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "recording alerts; retrying");
            tokio::time::sleep(delay).await;
        }
        if let Some(i) = &index {
            indexed(i, &merged);
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(RECORD_EVERY.saturating_sub(started.elapsed())) => {}
        }
    }
}

/// What an evaluation stored is in ClickHouse now: into the lookup index.
fn indexed(i: &index::LookupIndex, stored: &Evaluation) {
    i.dedup_keys.stored(
        stored
            .alerts
            .iter()
            .map(|a| a.dedup_key.as_str())
            .chain(stored.occurrences.iter().map(|o| o.dedup_key.as_str())),
    );
    i.triggers
        .stored(stored.occurrences.iter().map(|o| o.event_id.as_str()));
}

/// Run `step` every `every` (the first time at once) until `stop`.
async fn every<F, Fut>(every: Duration, stop: CancellationToken, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = step() => {}
        }
    }
}

/// Reloads the lookup index every `alert.lookup_index.refresh_s` (the first
/// time at once; until then every key is looked up).
async fn index_loop(
    history: ClickHouseHistory,
    cfg: AlertConfig,
    index: Arc<index::LookupIndex>,
    stop: CancellationToken,
) {
    let period = Duration::from_secs(cfg.lookup_index.refresh_s.max(1) as u64);
    every(period, stop, || index.reload(&history, &cfg, Utc::now())).await
}

/// The background spike detector: every `spike.evaluate_every_s`, its
/// queries (window counts, baselines, samples: the heaviest alerting does)
/// run off the batches' alert steps; what it finds is admitted (suppressed,
/// published) with the next evaluation, within a second when idle.
async fn spike_loop(
    history: ClickHouseHistory,
    cfg: AlertConfig,
    taxonomy: Arc<Taxonomy>,
    inbox: SpikeInbox,
    stop: CancellationToken,
) {
    let period = Duration::from_secs(cfg.spike.evaluate_every_s.max(1) as u64);
    every(period, stop, || async {
        match detect_spikes(&history, &cfg, &taxonomy, Utc::now()).await {
            Ok(found) => inbox
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(found),
            Err(e) => {
                tracing::warn!(error = %e, "spike detection failed; trying again next period")
            }
        }
    })
    .await
}

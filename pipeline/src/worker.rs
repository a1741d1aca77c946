//! The worker: consume -> decode -> enrich -> (alert | store) -> commit.
//!
//! Three parts, batches strictly in offset order, so the delivery guarantee
//! is easy to see: a batch's offsets are committed only after ClickHouse
//! acknowledged its rows and the broker acknowledged its dead letters and
//! alerts.
//! - This loop polls the consumer (the only one that does, so messages are
//!   taken in offset order), decodes, and enriches on blocking threads.
//! - The alert step ([`crate::alert_step`]): as soon as a batch is enriched, a
//!   task evaluates and publishes its alerts; steps take the engine in batch
//!   order. Alerts never wait for ClickHouse inserts.
//! - The storage task ([`crate::storage`]): stores, publishes dead letters,
//!   awaits the batch's alert step and commits; batches that queued up meanwhile go into one
//!   insert. The queue is short (backpressure: this loop keeps polling but
//!   stops collecting while it is full).
//!
//! A failing step is retried with backoff while the partitions are paused
//! (bounded memory: nothing more is fetched); a batch is never skipped. On
//! SIGTERM or Ctrl-C the worker stops fetching, delivers what it holds,
//! commits and exits; if a step cannot finish, its offsets stay uncommitted
//! and the messages are re-delivered (storage is idempotent by event id).

use crate::alert_recovery::Recovery;
use crate::alert_step::AlertStep;
use crate::config::WorkerConfig;
use crate::context::WorkerContext;
use crate::decode_step;
use crate::group_watch::GroupWatch;
use crate::metrics::{self, Metrics};
use crate::retry::Retrier;
use crate::stats;
use crate::storage::{Consumed, Enriched, Pacing, Storage};
use anyhow::Context as _;
use chrono::Utc;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use voc_alert::{AlertService, Evaluation};
use voc_core::pseudonym::PseudonymKey;
use voc_core::Taxonomy;
use voc_enrich::Enricher;
use voc_ingest::{BatchEnd, BatchLimits, TopicMap};
use voc_sink::{Backoff, ClickHouseSink, Publisher};

/// Enriched batches waiting for the storage task; while it is full, this
/// loop stops collecting (backpressure), so batches grow instead.
const STORAGE_QUEUE: usize = 2;

pub struct Worker {
    cfg: WorkerConfig,
    zone: chrono_tz::Tz,
    topics: TopicMap,
    consumer: Arc<StreamConsumer<WorkerContext>>,
    retrier: Retrier,
    publisher: Publisher,
    sink: ClickHouseSink,
    /// Shared with the blocking threads that enrich.
    enricher: Arc<std::sync::Mutex<Enricher>>,
    alerting: AlertService,
    recovery: Arc<Recovery>,
    metrics: Arc<Metrics>,
    /// Fires on SIGTERM / Ctrl-C: stop fetching, deliver what is held.
    shutdown: CancellationToken,
    /// The /metrics, /livez and /readyz server (stopped last).
    metrics_server: Option<tokio::task::JoinHandle<()>>,
    metrics_stop: CancellationToken,
    /// Messages received while waiting (retry, full queue); they open the next batch.
    carry: Vec<OwnedMessage>,
    /// Since when the worker has held no partition (see `rejoin_when_unassigned_ms`).
    unassigned_since: Option<Instant>,
    /// Set by the group watch: partitions nobody consumes, re-join the group.
    rejoin: Arc<AtomicBool>,
    /// Stop after this many messages were stored or dead-lettered (0 = never).
    exit_after: u64,
    stats: Arc<std::sync::Mutex<stats::RunStats>>,
    /// Sequence number of the next batch.
    next_batch: u64,
    /// Fires when the last started alert lane has been evaluated.
    evaluated: Option<oneshot::Receiver<()>>,
    /// Alerts decided while idle whose publishing failed (published next time).
    idle_outbox: Option<Evaluation>,
}

impl Worker {
    /// `key` makes the pseudonyms of the enricher and the alerts.
    pub async fn start(
        cfg: WorkerConfig,
        key: PseudonymKey,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Worker> {
        cfg.validate().map_err(anyhow::Error::msg)?;
        let metrics = Metrics::new();
        let metrics_stop = CancellationToken::new();
        let metrics_server = if cfg.metrics.listen.is_empty() {
            None
        } else {
            Some(
                metrics::serve(
                    &cfg.metrics.listen,
                    metrics.clone(),
                    cfg.metrics.limits(),
                    metrics_stop.clone(),
                )
                .await?,
            )
        };
        let taxonomy = Arc::new(Taxonomy::bundled());
        let enricher = Enricher::new(cfg.enrich.clone(), taxonomy.clone(), key.clone())
            .context("loading the enrichment models")?;
        // The alert rule's high-severity line follows the active model unless configured.
        let mut alert_cfg = cfg.alert.clone();
        if alert_cfg.detractor.high_at_or_below_sentiment.is_none() {
            alert_cfg.detractor.high_at_or_below_sentiment = enricher.high_line();
        }
        tracing::info!(
            model = enricher.model_version(),
            detractor_line = enricher.detractor_line(),
            high_line = alert_cfg.detractor.high_sentiment_line(),
            taxonomy = taxonomy.version(),
            "models loaded"
        );
        // Fail fast on what no retry fixes: brokers that refuse the TLS or
        // SASL settings (or cannot be reached), ClickHouse refusing our credentials.
        cfg.kafka
            .check_connection()
            .await
            .context("checking the Kafka connection")?;
        let sink = ClickHouseSink::new(cfg.clickhouse.clone())?;
        sink.check_access()
            .await
            .context("checking the ClickHouse credentials")?;
        let alerting = AlertService::new(alert_cfg, cfg.clickhouse.clone(), taxonomy.clone(), key)?;
        let publisher =
            Publisher::new(&cfg.kafka.producer_config()).context("creating the Kafka producer")?;
        let topics = TopicMap::new(&cfg.kafka.topics);
        let consumer: StreamConsumer<WorkerContext> = cfg
            .kafka
            .consumer_config()
            .create_with_context(WorkerContext::new(metrics.clone()))
            .context("creating the Kafka consumer")?;
        consumer
            .subscribe(&topics.topics())
            .context("subscribing to the raw topics")?;
        tracing::info!(topics = ?topics.topics(), group = %cfg.kafka.group_id, brokers = %cfg.kafka.brokers, "subscribed");
        metrics.health.consumer_ready.store(true, Ordering::Relaxed);
        let retrier = Retrier {
            consumer: Arc::new(consumer),
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            backoff: Backoff::new(
                Duration::from_millis(cfg.batch.retry_initial_ms),
                Duration::from_millis(cfg.batch.retry_max_ms),
            ),
            pausing: Default::default(),
        };
        let recovery = Arc::new(Recovery::new(
            cfg.kafka.consumer_config(),
            &cfg.topics.alerts,
            cfg.alert.recover_published_minutes,
        ));
        Ok(Worker {
            zone: cfg.decode.zone().map_err(anyhow::Error::msg)?,
            cfg,
            topics,
            consumer: retrier.consumer.clone(),
            retrier,
            publisher,
            sink,
            enricher: Arc::new(std::sync::Mutex::new(enricher)),
            alerting,
            recovery,
            metrics,
            shutdown,
            metrics_server,
            metrics_stop,
            carry: Vec::new(),
            unassigned_since: None,
            rejoin: Arc::new(AtomicBool::new(false)),
            exit_after: 0,
            stats: Arc::new(std::sync::Mutex::new(stats::RunStats::default())),
            next_batch: 0,
            evaluated: None,
            idle_outbox: None,
        })
    }

    fn stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Stop once `n` messages were stored or dead-lettered (for benchmarks).
    pub fn exit_after(mut self, n: u64) -> Self {
        self.exit_after = n;
        self
    }

    fn reached_exit_after(&self) -> bool {
        let s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        self.exit_after > 0 && s.stored + s.dead_letters >= self.exit_after
    }

    /// Run until shutdown is signalled (or `exit_after` is reached); returns what was done.
    ///
    /// Shutdown order (the one place it is written down):
    /// 1. the consume loop stops fetching and closes the storage queue;
    /// 2. the storage task delivers the batches it holds (insert, dead
    ///    letters, alert steps) and commits their offsets;
    /// 3. alerting stops: its loops at once, its recorder once the alerts it
    ///    was handed are in ClickHouse (at most 10 s);
    /// 4. the producer flushes (at most 10 s) and the consumer leaves the group;
    /// 5. the metrics server stops.
    ///
    /// A step that cannot finish leaves its offsets uncommitted: the
    /// messages are re-delivered and stored idempotently.
    pub async fn run(mut self) -> anyhow::Result<stats::Summary> {
        // From the start: while ClickHouse is awaited below, the watch is what
        // measures the lag of the (paused) partitions this worker holds.
        let watch = self.spawn_group_watch();
        // Wait for ClickHouse before consuming anything, retrying like any step.
        let sink = self.sink.clone();
        let retrier = self.retrier.clone();
        if retrier
            .run("clickhouse", Some(&mut self.carry), || sink.ping())
            .await
            .is_ok()
        {
            self.metrics
                .health
                .clickhouse_ok
                .store(true, Ordering::Relaxed);
            self.metrics.health.connected.store(true, Ordering::Relaxed);
        }
        if self.cfg.topics.alerts_enabled {
            // Before anything is evaluated: alerts a crashed run published
            // but did not record are recorded, so they are not published again.
            let (recovery, alerting) = (&self.recovery, &self.alerting);
            let _ = retrier
                .run("alert_recovery", Some(&mut self.carry), || {
                    recovery.at_start(alerting)
                })
                .await;
        }
        let (queue, rx) = mpsc::channel(STORAGE_QUEUE);
        let storage = tokio::spawn(
            Storage {
                retrier: self.retrier.clone(),
                sink: self.sink.clone(),
                publisher: self.publisher.clone(),
                dead_letter_topic: self.cfg.topics.dead_letter.clone(),
                lane: self.cfg.topics.alerts_enabled.then(|| self.alert_lane()),
                stats: self.stats.clone(),
                pacing: Pacing::of(&self.cfg.batch),
            }
            .run(rx),
        );
        let result = self.consume(queue).await;
        if let Some(w) = watch {
            w.abort();
        }
        // The queue is closed (dropped): the storage task delivers what it holds.
        let stored = storage
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r)
            .context("storage task");
        self.alerting.shutdown(Duration::from_secs(10)).await;
        tracing::info!("shutting down: flushing producer");
        let publisher = self.publisher.clone();
        let flushed =
            tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(10))).await;
        self.consumer.unsubscribe();
        self.metrics_stop.cancel();
        if let Some(server) = self.metrics_server.take() {
            // Graceful: open scrapes finish; a connection held open longer is cut.
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                tracing::warn!("metrics server still serving at shutdown; stopping anyway");
            }
        }
        tracing::info!("worker stopped");
        flushed??;
        result?;
        stored?;
        let summary = self
            .stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .summary();
        Ok(summary)
    }

    /// The loop: collect, decode, enrich, start the alert lane, queue for storage.
    async fn consume(&mut self, queue: mpsc::Sender<Enriched>) -> anyhow::Result<()> {
        while !self.stopping() {
            if self.reached_exit_after() {
                tracing::info!("reached --exit-after");
                break;
            }
            if queue.is_closed() {
                // The storage task stopped (shutdown mid-delivery).
                break;
            }
            let batch = self.collect().await;
            if batch.is_empty() {
                // Idle for a second: alerts can still be due (spike checks,
                // closing suppression windows) without new input.
                self.idle_alerts().await;
                continue;
            }
            let enriched = self.enrich(batch).await?;
            if !self.queue_for_storage(&queue, enriched).await {
                break;
            }
        }
        Ok(())
    }

    /// Hand a batch to the storage task; while the queue is full, keep
    /// polling the consumer (group liveness: librdkafka leaves the group after
    /// `max_poll_interval_ms` without a poll), keeping what arrives for the
    /// next batches: up to one batch, or without limit while a retry holds
    /// the partitions paused (then only librdkafka's bounded prefetch can
    /// arrive). False when storage is gone.
    async fn queue_for_storage(&mut self, queue: &mpsc::Sender<Enriched>, e: Enriched) -> bool {
        let permit = queue.reserve();
        tokio::pin!(permit);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let room = self.carry.len() < self.cfg.batch.max_events || self.retrier.paused();
            tokio::select! {
                // The loop is alive while it waits (/livez).
                _ = tick.tick() => self.metrics.health.last_turn.store(Utc::now().timestamp(), Ordering::Relaxed),
                p = &mut permit => return match p {
                    Ok(p) => {
                        p.send(e);
                        true
                    }
                    Err(_) => false,
                },
                r = self.consumer.recv(), if room => {
                    if let Ok(m) = r {
                        self.carry.push(m.detach());
                        self.metrics.carried.set(self.carry.len() as i64);
                    }
                }
            }
        }
    }

    /// Gather up to `max_events` messages, closing the batch `max_wait_ms`
    /// after its first; empty after a second without input.
    async fn collect(&mut self) -> Vec<OwnedMessage> {
        let max = self.cfg.batch.max_events;
        // What was kept while waiting opens the batch (at most `max` of it).
        let rest = self.carry.split_off(self.carry.len().min(max));
        let mut batch = std::mem::replace(&mut self.carry, rest);
        self.metrics.carried.set(self.carry.len() as i64);
        self.metrics
            .health
            .last_turn
            .store(Utc::now().timestamp(), Ordering::Relaxed);
        let limits = BatchLimits {
            max_messages: max,
            max_wait: Duration::from_millis(self.cfg.batch.max_wait_ms),
            idle: Duration::from_secs(1),
        };
        if voc_ingest::collect(&self.consumer, &mut batch, limits, &self.shutdown).await
            == BatchEnd::Idle
        {
            self.rejoin_if_starved();
        }
        if self.rejoin.swap(false, Ordering::SeqCst) {
            self.rejoin_group();
        }
        batch
    }

    /// Re-join the group when no partition has been assigned for too long.
    fn rejoin_if_starved(&mut self) {
        let limit = self.cfg.kafka.rejoin_when_unassigned_ms;
        if limit == 0 {
            return;
        }
        let assigned = self.consumer.assignment().map(|a| a.count()).unwrap_or(0);
        if assigned > 0 {
            self.unassigned_since = None;
            return;
        }
        let since = *self.unassigned_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= Duration::from_millis(limit) {
            tracing::warn!(
                after_ms = limit,
                "no partitions assigned; leaving and re-joining the consumer group"
            );
            self.rejoin_group();
            self.unassigned_since = Some(Instant::now());
        }
    }

    /// Leave the group and join it again with a new member id: the
    /// coordinator computes a new assignment over the live members. What
    /// this worker holds in flight is stored; a commit the group refuses
    /// (partition handed to another member meanwhile) is counted, the next
    /// owner re-reads from the last committed offset.
    fn rejoin_group(&self) {
        self.consumer.unsubscribe();
        if let Err(e) = self.consumer.subscribe(&self.topics.topics()) {
            tracing::error!(error = %e, "re-subscribing");
        }
    }

    /// Every `rejoin_when_unowned_ms / 4` (1-15 s), look for partitions of
    /// the raw topics nobody consumes ([`GroupWatch`]); past the limit, and
    /// while this worker is not itself retrying, ask the loop to re-join.
    /// The same look measures the lag of owned partitions librdkafka has no
    /// lag for (paused before their first fetch: ClickHouse down at start).
    fn spawn_group_watch(&self) -> Option<tokio::task::JoinHandle<()>> {
        let after = self.cfg.kafka.rejoin_when_unowned_ms;
        if after == 0 {
            return None;
        }
        let topics = self.topics.topics().iter().map(|t| t.to_string()).collect();
        let mut watch =
            GroupWatch::new(self.consumer.clone(), topics, Duration::from_millis(after));
        let every = Duration::from_millis((after / 4).clamp(1000, 15_000));
        let (metrics, retrier, rejoin, consumer) = (
            self.metrics.clone(),
            self.retrier.clone(),
            self.rejoin.clone(),
            self.consumer.clone(),
        );
        let stop = self.shutdown.clone();
        Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                let Ok((w, looked)) = tokio::task::spawn_blocking(move || {
                    let r = watch.check();
                    (watch, r)
                })
                .await
                else {
                    return;
                };
                watch = w;
                let health = &metrics.health;
                match looked {
                    Ok(crate::group_watch::Look {
                        stuck,
                        oldest,
                        owned_lag,
                    }) => {
                        for (topic, partition, lag) in owned_lag {
                            consumer.context().watched_lag(&topic, partition, lag);
                        }
                        let waited = oldest.map_or(0, |o| o.elapsed().as_secs() as i64);
                        let since = oldest.map_or(0, |_| Utc::now().timestamp() - waited);
                        health.unowned_since.store(since, Ordering::Relaxed);
                        if !stuck.is_empty() && !retrier.paused() {
                            tracing::warn!(partitions = ?stuck, waited_s = waited, "partitions with lag that no group member commits; leaving and re-joining the consumer group");
                            rejoin.store(true, Ordering::SeqCst);
                            watch.reset();
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "group watch"),
                }
            }
        }))
    }

    /// Decode on this task, enrich on a blocking thread, then start the
    /// batch's alert lane (after the previous batch's evaluation, so batches
    /// are evaluated in offset order).
    async fn enrich(&mut self, batch: Vec<OwnedMessage>) -> anyhow::Result<Enriched> {
        let now = Utc::now();
        let started = Instant::now();
        let full = batch.len() >= self.cfg.batch.max_events;
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .consumed();
        let (feedback, mut dead) = decode_step::decode_batch(
            &batch,
            &self.topics,
            &self.cfg.decode,
            self.zone,
            now,
            &self.metrics,
        );
        let consumed = Consumed::of(&batch);

        let enricher = self.enricher.clone();
        let metrics = self.metrics.clone();
        let isolated = tokio::task::spawn_blocking(move || {
            let t1 = Instant::now();
            let mut enricher = enricher
                .lock()
                .map_err(|_| anyhow::anyhow!("an earlier enrichment panicked"))?;
            let isolated =
                crate::isolate::enrich_isolating(feedback, |items| enricher.enrich(items, now))
                    .context("enrichment failed")?;
            metrics
                .stage_seconds
                .with_label_values(&["enrich"])
                .observe(t1.elapsed().as_secs_f64());
            Ok::<_, anyhow::Error>(isolated)
        })
        .await
        .context("enrichment thread")??;
        // An item whose enrichment panicked is dead-lettered from its message.
        dead.extend(decode_step::panicked(
            &batch,
            isolated.panicked,
            &self.topics,
            &self.metrics,
        ));
        // Enriched (dead letters copied what they need): keep only positions.
        drop(batch);
        let events = isolated.events;
        let events = Arc::new(events);
        let seq = self.next_batch;
        self.next_batch += 1;
        let alerts = if self.cfg.topics.alerts_enabled {
            if let Some(previous) = self.evaluated.take() {
                let _ = previous.await;
            }
            let (tx, rx) = oneshot::channel();
            self.evaluated = Some(rx);
            Some(tokio::spawn(self.alert_lane().run(seq, events.clone(), tx)))
        } else {
            None
        };
        Ok(Enriched {
            seq,
            consumed,
            events,
            dead,
            started,
            full,
            alerts,
        })
    }

    fn alert_lane(&self) -> AlertStep {
        AlertStep {
            alerting: self.alerting.clone(),
            publisher: self.publisher.clone(),
            topic: self.cfg.topics.alerts.clone(),
            metrics: self.metrics.clone(),
            recovery: self.recovery.clone(),
        }
    }

    /// Alerts due while no input arrives: spike checks and suppression
    /// windows that closed (nothing to commit). One attempt per idle second;
    /// what was decided but not published is kept and published next time.
    async fn idle_alerts(&mut self) {
        if !self.cfg.topics.alerts_enabled {
            return;
        }
        let lane = self.alert_lane();
        let evaluation = match self.idle_outbox.take() {
            Some(e) => e,
            None => match self
                .alerting
                .evaluate(self.next_batch, &[], Utc::now())
                .await
            {
                Ok(e) => e,
                Err(e) => {
                    self.metrics.retries.with_label_values(&["alerting"]).inc();
                    tracing::warn!(error = %e, "idle alert evaluation failed; trying again in a second");
                    return;
                }
            },
        };
        if evaluation.alerts.is_empty() {
            lane.published(evaluation);
            return;
        }
        match lane.publish(&evaluation).await {
            Ok(()) => lane.published(evaluation),
            Err(e) => {
                self.metrics
                    .retries
                    .with_label_values(&["kafka_alerts"])
                    .inc();
                tracing::warn!(error = %e, "publishing idle alerts failed; trying again in a second");
                self.idle_outbox = Some(evaluation);
            }
        }
    }
}

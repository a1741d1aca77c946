//! The worker: consume -> decode -> enrich -> (store | alert) -> commit.
//!
//! One loop, batches delivered strictly in order, so the delivery guarantee
//! is easy to see: a batch's offsets are committed only after ClickHouse
//! acknowledged its rows and the broker acknowledged its dead letters and
//! alerts. Two batches overlap: while batch N is delivered (stored,
//! committed) on this task, batch N+1 is enriched on blocking threads; only
//! this task polls the consumer, so messages are always taken in offset
//! order. Alerts take a lane of their own: as soon as a batch is enriched,
//! a task evaluates and publishes its alerts (batches in order, through the
//! alerter's lock), without waiting for the ClickHouse insert of this batch
//! or the delivery of the previous one; the batch's commit waits for that
//! task. A failing
//! step is retried with backoff while the partitions are paused (bounded
//! memory: nothing more is fetched); a batch is never skipped. On SIGTERM or
//! Ctrl-C the worker stops fetching, finishes the batch in hand, commits and
//! exits; if a step cannot finish, its offsets stay uncommitted and the
//! messages are re-delivered (storage is idempotent by event id).

mod context;
mod dead_letters;
pub mod stats;

use crate::config::Config;
use crate::metrics::{self, Metrics};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use context::WorkerContext;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::TopicPartitionList;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use voc_core::{Lineage, Taxonomy};
use voc_enrich::Enricher;
use voc_ingest::{decode, DeadLetterReason, DecodeContext, DecodeError, TopicMap};
use voc_sink::{Alerting, ClickHouseSink, DeadLetter, Evaluation, Publisher};

/// The worker stopped (shutdown requested) before a step could finish.
#[derive(Debug)]
struct Stopped;

pub struct Worker {
    cfg: Config,
    zone: chrono_tz::Tz,
    topics: TopicMap,
    consumer: StreamConsumer<WorkerContext>,
    publisher: Publisher,
    sink: ClickHouseSink,
    /// Shared with the blocking thread that enriches the next batch.
    enricher: Arc<std::sync::Mutex<Enricher>>,
    alerting: Alerting,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    /// Messages received while paused for a retry; they open the next batch.
    carry: Vec<OwnedMessage>,
    /// Since when the worker has held no partition (see `rejoin_when_unassigned_ms`).
    unassigned_since: Option<Instant>,
    /// Stop after this many messages were stored or dead-lettered (0 = never).
    exit_after: u64,
    stats: stats::RunStats,
}

/// Summary of one processed batch (for logs and tests).
#[derive(Debug, Default)]
struct BatchOutcome {
    messages: usize,
    stored: usize,
    dead: usize,
    alerts: usize,
}

/// How long `collect` waits for more input while a batch is in flight.
const IN_FLIGHT_COLLECT_WAIT: Duration = Duration::from_millis(10);

/// A batch after the CPU half (decode + enrich), waiting to be delivered.
struct Enriched {
    batch: Vec<OwnedMessage>,
    events: Arc<Vec<voc_core::EnrichedEvent>>,
    dead: Vec<DeadLetter>,
    started: Instant,
    /// The alert lane of this batch (when alerts are enabled).
    alerts: Option<tokio::task::JoinHandle<Lane>>,
}

/// A batch being enriched on a blocking thread.
type Enriching = tokio::task::JoinHandle<anyhow::Result<Enriched>>;

/// How a batch's alert lane ended.
enum Lane {
    /// Evaluated and on the alert topic (this many alerts); recording in
    /// ClickHouse continues in the background.
    Published(usize),
    /// Evaluation failed: re-evaluate (what the alerter decided is kept in
    /// its outbox, nothing decided is lost).
    EvaluateFailed(String),
    /// Publishing failed: publish this evaluation again.
    PublishFailed(Evaluation, String),
}

/// What the alert lane needs, cheap to clone into its task.
#[derive(Clone)]
struct AlertLane {
    alerting: Alerting,
    publisher: Publisher,
    topic: String,
    metrics: Arc<Metrics>,
}

impl AlertLane {
    /// Evaluate a batch's alerts and publish them at once (batches in order:
    /// each waits for the alerter the previous one holds).
    async fn run(self, events: Arc<Vec<voc_core::EnrichedEvent>>) -> Lane {
        let t = Instant::now();
        let evaluation = match self.alerting.evaluate(&events, Utc::now()).await {
            Ok(e) => e,
            Err(e) => return Lane::EvaluateFailed(e.to_string()),
        };
        if let Err(e) = self.publish(&evaluation.alerts).await {
            return Lane::PublishFailed(evaluation, format!("{e:#}"));
        }
        self.metrics
            .stage_seconds
            .with_label_values(&["alert"])
            .observe(t.elapsed().as_secs_f64());
        let n = evaluation.alerts.len();
        self.published(evaluation).await;
        Lane::Published(n)
    }

    async fn publish(&self, alerts: &[voc_sink::Alert]) -> anyhow::Result<()> {
        let records = encode(alerts, |a| a.key())?;
        self.publisher.publish_all(&self.topic, &records).await?;
        Ok(())
    }

    /// After the broker acknowledged: count, and record in ClickHouse in the
    /// background (the next evaluation does not wait for it).
    async fn published(&self, evaluation: Evaluation) {
        for a in &evaluation.alerts {
            self.metrics
                .alerts
                .with_label_values(&[a.kind.as_str(), a.severity.as_str()])
                .inc();
        }
        self.alerting.record_in_background(evaluation).await;
    }
}

impl Worker {
    pub async fn start(cfg: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<Worker> {
        let metrics = Metrics::new();
        if !cfg.metrics.listen.is_empty() {
            metrics::serve(&cfg.metrics.listen, metrics.clone()).await?;
        }
        let taxonomy = Arc::new(Taxonomy::bundled());
        let enricher = Enricher::new(cfg.enrich.clone(), taxonomy.clone())
            .context("loading the enrichment models")?;
        tracing::info!(
            model = enricher.model_version(),
            taxonomy = taxonomy.version(),
            "models loaded"
        );
        let sink = ClickHouseSink::new(cfg.clickhouse.clone());
        let alerting = Alerting::new(
            cfg.alert.clone(),
            cfg.clickhouse.clone(),
            taxonomy.clone(),
            &cfg.enrich.pseudonym_salt,
        );
        let publisher =
            Publisher::new(&cfg.kafka.producer_config()).context("creating the Kafka producer")?;
        let topics = TopicMap::new(&cfg.kafka.topics);
        let consumer: StreamConsumer<WorkerContext> = cfg
            .kafka
            .consumer_config()
            .create_with_context(WorkerContext {
                metrics: metrics.clone(),
            })
            .context("creating the Kafka consumer")?;
        consumer
            .subscribe(&topics.topics())
            .context("subscribing to the raw topics")?;
        tracing::info!(topics = ?topics.topics(), group = %cfg.kafka.group_id, brokers = %cfg.kafka.brokers, "subscribed");
        metrics.health.consumer_ready.store(true, Ordering::Relaxed);
        Ok(Worker {
            zone: cfg.timezone()?,
            cfg,
            topics,
            consumer,
            publisher,
            sink,
            enricher: Arc::new(std::sync::Mutex::new(enricher)),
            alerting,
            metrics,
            shutdown,
            carry: Vec::new(),
            unassigned_since: None,
            exit_after: 0,
            stats: stats::RunStats::default(),
        })
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Stop once `n` messages were stored or dead-lettered (for benchmarks).
    pub fn exit_after(mut self, n: u64) -> Self {
        self.exit_after = n;
        self
    }

    /// Run until shutdown is signalled (or `exit_after` is reached); returns what was done.
    pub async fn run(mut self) -> anyhow::Result<stats::Summary> {
        let mut sink_ready = false;
        let mut in_flight: Option<Enriching> = None;
        while !self.stopping() {
            if !sink_ready {
                // Wait for ClickHouse before consuming anything, retrying like any batch.
                let sink = self.sink.clone();
                if self.retry("clickhouse", || sink.ping()).await.is_err() {
                    break;
                }
                self.metrics
                    .health
                    .clickhouse_ok
                    .store(true, Ordering::Relaxed);
                sink_ready = true;
            }
            // Only wait for a first message when nothing is in flight: an
            // enriched batch must not wait for traffic to be delivered.
            let batch = self.collect(in_flight.is_some()).await;
            if batch.is_empty() && in_flight.is_none() {
                // Idle for a second: alerts can still be due (spike checks,
                // closing suppression windows) without new input.
                if self.idle_alerts().await?.is_err() {
                    break;
                }
                continue;
            }
            let next = if batch.is_empty() {
                None
            } else {
                Some(self.start_enriching(batch))
            };
            if let Some(enriching) = in_flight.take() {
                let done = enriching.await.context("enrichment thread")??;
                if self.deliver_and_report(done).await?.is_err() {
                    // Stopped mid-delivery: the next batch is dropped uncommitted too.
                    if let Some(n) = next {
                        n.abort();
                    }
                    break;
                }
            }
            in_flight = next;
            if self.exit_after > 0 && self.stats.stored + self.stats.dead_letters >= self.exit_after
            {
                tracing::info!(events = self.stats.stored, "reached --exit-after");
                break;
            }
        }
        // Finish the batch in hand (shutdown or --exit-after), as the contract says.
        if let Some(enriching) = in_flight.take() {
            let done = enriching.await.context("enrichment thread")??;
            let _ = self.deliver_and_report(done).await?;
        }
        self.alerting.flush(Duration::from_secs(10)).await;
        tracing::info!("shutting down: flushing producer");
        let publisher = self.publisher.clone();
        tokio::task::spawn_blocking(move || publisher.flush(Duration::from_secs(10))).await??;
        self.consumer.unsubscribe();
        tracing::info!("worker stopped");
        Ok(self.stats.summary())
    }

    /// Gather up to `max_events` messages, closing the batch `max_wait_ms` after
    /// its first. When `bounded` (a batch is in flight), take what is already
    /// fetched and return within [`IN_FLIGHT_COLLECT_WAIT`] (possibly empty):
    /// the in-flight batch is delivered next, and what arrives meanwhile opens
    /// the following batch.
    async fn collect(&mut self, bounded: bool) -> Vec<OwnedMessage> {
        let max = self.cfg.batch.max_events;
        let mut batch = std::mem::take(&mut self.carry);
        let max_wait = Duration::from_millis(self.cfg.batch.max_wait_ms);
        let first_wait = if bounded {
            IN_FLIGHT_COLLECT_WAIT.min(max_wait)
        } else {
            max_wait
        };
        let mut deadline = (bounded || !batch.is_empty()).then(|| Instant::now() + first_wait);
        let mut shutdown = self.shutdown.clone();
        while batch.len() < max && !self.stopping() {
            self.metrics
                .health
                .last_turn
                .store(Utc::now().timestamp(), Ordering::Relaxed);
            let wait = deadline.map_or(Duration::from_secs(1), |d| {
                d.saturating_duration_since(Instant::now())
            });
            tokio::select! {
                _ = shutdown.changed() => break,
                r = tokio::time::timeout(wait, self.consumer.recv()) => match r {
                    Err(_) if batch.is_empty() && !bounded => {
                        self.rejoin_if_starved();
                        break;
                    }
                    Err(_) => break,
                    Ok(Ok(m)) => {
                        if deadline.is_none() {
                            deadline = Some(Instant::now() + max_wait);
                        }
                        batch.push(m.detach());
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "consumer error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
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
            self.consumer.unsubscribe();
            if let Err(e) = self.consumer.subscribe(&self.topics.topics()) {
                tracing::error!(error = %e, "re-subscribing");
            }
            self.unassigned_since = Some(Instant::now());
        }
    }

    /// Decode on this task, then enrich on a blocking thread (returns at once).
    fn start_enriching(&mut self, batch: Vec<OwnedMessage>) -> Enriching {
        let now = Utc::now();
        let started = Instant::now();
        self.stats.consumed();
        let mut feedback = Vec::with_capacity(batch.len());
        let mut dead: Vec<DeadLetter> = Vec::new();
        for m in &batch {
            let channel = self.topics.channel(m.topic());
            let result = match channel {
                None => Err(DecodeError::new(
                    DeadLetterReason::UnknownTopic,
                    format!("no channel is configured for topic {}", m.topic()),
                )),
                Some(c) => {
                    self.metrics.consumed.with_label_values(&[c.as_str()]).inc();
                    let ctx = DecodeContext {
                        zone: self.zone,
                        now,
                        max_payload_bytes: self.cfg.decode.max_payload_bytes,
                        broker_time: m
                            .timestamp()
                            .to_millis()
                            .and_then(DateTime::from_timestamp_millis),
                        lineage: Lineage {
                            topic: m.topic().to_string(),
                            partition: m.partition(),
                            offset: m.offset(),
                        },
                    };
                    decode(c, m.payload(), &ctx)
                }
            };
            match result {
                Ok(f) => feedback.push(f),
                Err(e) => {
                    tracing::debug!(topic = m.topic(), partition = m.partition(), offset = m.offset(), reason = %e.reason, "dead letter");
                    self.metrics
                        .dead_letters
                        .with_label_values(&[e.reason.as_str()])
                        .inc();
                    dead.push(dead_letters::dead_letter(m, channel, &e));
                }
            }
        }
        self.metrics
            .stage_seconds
            .with_label_values(&["decode"])
            .observe(started.elapsed().as_secs_f64());

        let enricher = self.enricher.clone();
        let metrics = self.metrics.clone();
        let lane = self.cfg.topics.alerts_enabled.then(|| self.alert_lane());
        let enriching = tokio::task::spawn_blocking(move || {
            let t1 = Instant::now();
            let events = enricher
                .lock()
                .map_err(|_| anyhow::anyhow!("an earlier enrichment panicked"))?
                .enrich(feedback, now)
                .context("enrichment failed")?;
            metrics
                .stage_seconds
                .with_label_values(&["enrich"])
                .observe(t1.elapsed().as_secs_f64());
            Ok::<_, anyhow::Error>(events)
        });
        tokio::spawn(async move {
            let events = Arc::new(enriching.await.context("enrichment thread")??);
            // The alert lane starts now, whatever the delivery of the previous batch is doing.
            let alerts = lane.map(|l| tokio::spawn(l.run(events.clone())));
            Ok(Enriched {
                batch,
                events,
                dead,
                started,
                alerts,
            })
        })
    }

    fn alert_lane(&self) -> AlertLane {
        AlertLane {
            alerting: self.alerting.clone(),
            publisher: self.publisher.clone(),
            topic: self.cfg.topics.alerts.clone(),
            metrics: self.metrics.clone(),
        }
    }

    async fn deliver_and_report(
        &mut self,
        done: Enriched,
    ) -> anyhow::Result<Result<BatchOutcome, Stopped>> {
        let outcome = self.deliver(done).await?;
        match &outcome {
            Ok(o) => tracing::debug!(
                messages = o.messages,
                stored = o.stored,
                dead = o.dead,
                alerts = o.alerts,
                "batch committed"
            ),
            Err(Stopped) => tracing::warn!("stopped before the batch was acknowledged; its offsets stay uncommitted and will be re-delivered"),
        }
        Ok(outcome)
    }

    /// Store, publish and commit one enriched batch (retrying while paused).
    async fn deliver(&mut self, done: Enriched) -> anyhow::Result<Result<BatchOutcome, Stopped>> {
        let Enriched {
            batch,
            events,
            dead,
            started: t0,
            alerts: lane,
        } = done;
        let sink = self.sink.clone();
        let took = match self.retry("clickhouse", || sink.insert(&events)).await {
            Ok(d) => d,
            Err(s) => return Ok(Err(s)),
        };
        self.metrics
            .health
            .clickhouse_ok
            .store(true, Ordering::Relaxed);
        self.metrics.insert_seconds.observe(took.as_secs_f64());
        // Produce-to-visible latency: broker timestamp -> ClickHouse acknowledgement.
        let acked_ms = Utc::now().timestamp_millis();
        let lineage_ts: std::collections::HashMap<(&str, i32, i64), i64> = batch
            .iter()
            .filter_map(|m| {
                Some((
                    (m.topic(), m.partition(), m.offset()),
                    m.timestamp().to_millis()?,
                ))
            })
            .collect();
        let latencies: Vec<u32> = events
            .iter()
            .filter_map(|e| {
                let ts = lineage_ts.get(&(
                    e.lineage.topic.as_str(),
                    e.lineage.partition,
                    e.lineage.offset,
                ))?;
                Some((acked_ms - ts).max(0) as u32)
            })
            .collect();
        for &l in &latencies {
            self.metrics.visible_seconds.observe(l as f64 / 1000.0);
        }
        self.stats.acknowledged(latencies.into_iter());
        for e in events.iter() {
            self.metrics
                .stored
                .with_label_values(&[e.channel.as_str()])
                .inc();
        }

        let dl_records = encode(&dead, |d| d.key())?;
        let publisher = self.publisher.clone();
        let dl_topic = self.cfg.topics.dead_letter.clone();
        if self
            .retry("kafka_dead_letter", || {
                publisher.publish_all(&dl_topic, &dl_records)
            })
            .await
            .is_err()
        {
            return Ok(Err(Stopped));
        }
        // The alert lane has usually finished by now; if it failed, its step
        // is retried here like any other before the commit.
        let alerts = match lane {
            None => 0,
            Some(task) => {
                let evaluation = match task.await {
                    Ok(Lane::Published(n)) => Ok(n),
                    Ok(Lane::PublishFailed(evaluation, e)) => {
                        tracing::warn!(error = %e, "publishing alerts failed; retrying");
                        Err(Some(evaluation))
                    }
                    Ok(Lane::EvaluateFailed(e)) => {
                        tracing::warn!(error = %e, "alert evaluation failed; retrying");
                        Err(None)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "alert lane task failed; re-evaluating");
                        Err(None)
                    }
                };
                match evaluation {
                    Ok(n) => n,
                    Err(known) => {
                        let evaluation = match known {
                            Some(e) => e,
                            None => {
                                let alerting = self.alerting.clone();
                                match self
                                    .retry("alerting", || alerting.evaluate(&events, Utc::now()))
                                    .await
                                {
                                    Ok(e) => e,
                                    Err(s) => return Ok(Err(s)),
                                }
                            }
                        };
                        let n = evaluation.alerts.len();
                        if let Err(s) = self.publish_alerts(evaluation).await? {
                            return Ok(Err(s));
                        }
                        n
                    }
                }
            }
        };

        self.commit(&batch);
        self.stats.committed(events.len(), dead.len());
        self.metrics.batch_events.observe(batch.len() as f64);
        self.metrics
            .stage_seconds
            .with_label_values(&["total"])
            .observe(t0.elapsed().as_secs_f64());
        Ok(Ok(BatchOutcome {
            messages: batch.len(),
            stored: events.len(),
            dead: dead.len(),
            alerts,
        }))
    }

    /// Publish alerts (retried until done or stopped, partitions paused),
    /// then record them in ClickHouse in the background.
    async fn publish_alerts(
        &mut self,
        evaluation: Evaluation,
    ) -> anyhow::Result<Result<(), Stopped>> {
        let lane = self.alert_lane();
        if evaluation.alerts.is_empty() {
            lane.published(evaluation).await;
            return Ok(Ok(()));
        }
        if let Err(s) = self
            .retry("kafka_alerts", || lane.publish(&evaluation.alerts))
            .await
        {
            return Ok(Err(s));
        }
        lane.published(evaluation).await;
        Ok(Ok(()))
    }

    /// Alerts due while no input arrives: spike checks and suppression
    /// windows that closed (nothing to commit).
    async fn idle_alerts(&mut self) -> anyhow::Result<Result<(), Stopped>> {
        if !self.cfg.topics.alerts_enabled {
            return Ok(Ok(()));
        }
        let alerting = self.alerting.clone();
        let evaluation = match self
            .retry("alerting", || alerting.evaluate(&[], Utc::now()))
            .await
        {
            Ok(e) => e,
            Err(s) => return Ok(Err(s)),
        };
        self.publish_alerts(evaluation).await
    }

    /// Commit the next offset of every partition in the batch.
    fn commit(&self, batch: &[OwnedMessage]) {
        let tpl = voc_ingest::consumer::next_offsets(batch);
        let consumer = &self.consumer;
        match tokio::task::block_in_place(|| consumer.commit(&tpl, CommitMode::Sync)) {
            Ok(()) => self.metrics.last_commit.set(Utc::now().timestamp()),
            Err(e) => {
                // Typically a rebalance moved the partition: the new owner re-reads
                // from the last committed offset and idempotent storage absorbs it.
                self.metrics.commit_failures.inc();
                tracing::warn!(error = %e, "offset commit failed; the batch will be re-delivered");
            }
        }
    }

    /// Run `op` until it succeeds, with exponential backoff. While retrying, the
    /// assigned partitions are paused so nothing more is fetched, and the
    /// consumer keeps being polled so the group does not evict the worker.
    async fn retry<T, E, F, Fut>(&mut self, target: &'static str, mut op: F) -> Result<T, Stopped>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut delay = Duration::from_millis(self.cfg.batch.retry_initial_ms);
        let max = Duration::from_millis(
            self.cfg
                .batch
                .retry_max_ms
                .max(self.cfg.batch.retry_initial_ms),
        );
        let mut paused: Option<TopicPartitionList> = None;
        let mut shutdown = self.shutdown.clone();
        loop {
            match op().await {
                Ok(v) => {
                    if let Some(tpl) = paused {
                        if let Err(e) = self.consumer.resume(&tpl) {
                            tracing::warn!(error = %e, "resuming partitions");
                        }
                        tracing::info!(target, "recovered; consumption resumed");
                    }
                    return Ok(v);
                }
                Err(e) => {
                    self.metrics.retries.with_label_values(&[target]).inc();
                    if target == "clickhouse" {
                        self.metrics
                            .health
                            .clickhouse_ok
                            .store(false, Ordering::Relaxed);
                    }
                    tracing::warn!(target, error = %e, retry_in_ms = delay.as_millis() as u64, "operation failed; retrying");
                    if paused.is_none() {
                        if let Ok(tpl) = self.consumer.assignment() {
                            if self.consumer.pause(&tpl).is_ok() {
                                paused = Some(tpl);
                            }
                        }
                    }
                    let until = tokio::time::Instant::now() + delay;
                    loop {
                        if self.stopping() {
                            return Err(Stopped);
                        }
                        self.metrics
                            .health
                            .last_turn
                            .store(Utc::now().timestamp(), Ordering::Relaxed);
                        tokio::select! {
                            _ = shutdown.changed() => {}
                            r = tokio::time::timeout_at(until, self.consumer.recv()) => match r {
                                Err(_) => break,
                                Ok(Ok(m)) => self.carry.push(m.detach()),
                                Ok(Err(_)) => {}
                            },
                        }
                    }
                    delay = (delay * 2).min(max);
                }
            }
        }
    }
}

fn encode<T: serde::Serialize>(
    items: &[T],
    key: impl Fn(&T) -> String,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    items
        .iter()
        .map(|i| Ok((key(i), serde_json::to_vec(i).context("encoding a record")?)))
        .collect()
}

//! The storage task: enriched batches, in offset order, are stored in
//! ClickHouse, their dead letters published, their alert lanes awaited, and
//! then their offsets committed. What queued up while the previous insert
//! ran goes into one insert (fewer, larger inserts: each one makes a part in
//! the events table and in every materialized view behind it), so the
//! worker's loop can keep collecting small batches for low alert latency
//! while ClickHouse sees large ones.

use super::lane::{AlertLane, Lane};
use super::retry::{Retrier, Stopped};
use super::stats::RunStats;
use chrono::Utc;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;
use voc_core::EnrichedEvent;
use voc_sink::{ClickHouseSink, DeadLetter, Publisher};

/// A batch after the CPU half (decode + enrich), waiting to be stored.
pub struct Enriched {
    /// Batch sequence number (increasing in offset order).
    pub seq: u64,
    /// Where the batch's messages came from (their payloads are dropped once
    /// decoded: a batch waiting for storage holds ~30 bytes per message).
    pub consumed: Consumed,
    pub events: Arc<Vec<EnrichedEvent>>,
    pub dead: Vec<DeadLetter>,
    pub started: Instant,
    /// The alert lane of this batch (when alerts are enabled).
    pub alerts: Option<tokio::task::JoinHandle<Lane>>,
}

/// The positions and broker timestamps of a batch's messages: what the
/// commit and the produce-to-visible latency need once they are decoded.
#[derive(Default)]
pub struct Consumed {
    topics: Vec<String>,
    /// (index into `topics`, partition, offset, broker timestamp in ms).
    at: Vec<(u16, i32, i64, Option<i64>)>,
}

impl Consumed {
    pub fn of(messages: &[OwnedMessage]) -> Self {
        let mut c = Consumed {
            topics: Vec::new(),
            at: Vec::with_capacity(messages.len()),
        };
        for m in messages {
            let t = match c.topics.iter().position(|t| t == m.topic()) {
                Some(i) => i,
                None => {
                    c.topics.push(m.topic().to_string());
                    c.topics.len() - 1
                }
            };
            c.at.push((
                t as u16,
                m.partition(),
                m.offset(),
                m.timestamp().to_millis(),
            ));
        }
        c
    }

    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// (topic, partition, offset) of each message.
    pub fn positions(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.at
            .iter()
            .map(|&(t, p, o, _)| (self.topics[t as usize].as_str(), p, o))
    }

    /// Broker timestamp (ms) by (topic, partition, offset).
    fn timestamps(&self) -> HashMap<(&str, i32, i64), i64> {
        self.at
            .iter()
            .filter_map(|&(t, p, o, ts)| Some(((self.topics[t as usize].as_str(), p, o), ts?)))
            .collect()
    }
}

/// Shortest time between the starts of two inserts: batches arriving
/// sooner are stored together. Each insert makes a part in the events table
/// and in each of its materialized views; fewer, larger parts leave
/// ClickHouse more CPU (alerts do not wait for inserts).
const INSERT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Why a delivery did not finish.
enum Halt {
    /// Shutdown before a step could finish: offsets stay uncommitted.
    Stopped,
    /// A step that retrying cannot fix: the worker exits with this error.
    Failed(anyhow::Error),
}

impl From<Stopped> for Halt {
    fn from(_: Stopped) -> Self {
        Halt::Stopped
    }
}

pub struct Storage {
    pub retrier: Retrier,
    pub sink: ClickHouseSink,
    pub publisher: Publisher,
    pub dead_letter_topic: String,
    /// To redo a failed alert lane (None when alerts are disabled).
    pub lane: Option<AlertLane>,
    pub stats: Arc<Mutex<RunStats>>,
    /// At most this many events per insert (`batch.max_events`).
    pub max_events: usize,
}

impl Storage {
    /// Until the worker's loop closes the queue (everything queued is
    /// delivered first) or a step cannot finish before shutdown; an error
    /// that retrying cannot fix is returned (the batch stays uncommitted).
    pub async fn run(self, mut queue: mpsc::Receiver<Enriched>) -> anyhow::Result<()> {
        let mut last_insert: Option<Instant> = None;
        // A batch received that would have taken an insert past `max_events`:
        // it opens the next insert.
        let mut held: Option<Enriched> = None;
        loop {
            let first = match held.take() {
                Some(b) => b,
                None => match queue.recv().await {
                    Some(b) => b,
                    None => break,
                },
            };
            // Pace inserts (at most one per INSERT_EVERY), taking what queues
            // up meanwhile, up to `max_events`.
            let due = last_insert.map(|t| t + INSERT_EVERY);
            let mut events = first.events.len();
            let mut batches = vec![first];
            while events < self.max_events {
                let next = match due {
                    Some(due) if due > Instant::now() => {
                        match tokio::time::timeout_at(due.into(), queue.recv()).await {
                            Ok(Some(b)) => Some(b),
                            Ok(None) | Err(_) => None,
                        }
                    }
                    _ => queue.try_recv().ok(),
                };
                match next {
                    Some(b) if events + b.events.len() > self.max_events => {
                        held = Some(b);
                        break;
                    }
                    Some(b) => {
                        events += b.events.len();
                        batches.push(b);
                    }
                    None => break,
                }
            }
            last_insert = Some(Instant::now());
            match self.deliver(batches).await {
                Ok(()) => {}
                Err(Halt::Stopped) => {
                    tracing::warn!("stopped before a batch was acknowledged; its offsets stay uncommitted and will be re-delivered");
                    return Ok(());
                }
                Err(Halt::Failed(e)) => return Err(e),
            }
        }
        Ok(())
    }

    fn metrics(&self) -> &crate::metrics::Metrics {
        &self.retrier.metrics
    }

    /// Store, publish and commit batches (retrying while paused).
    async fn deliver(&self, mut batches: Vec<Enriched>) -> Result<(), Halt> {
        let sink = &self.sink;
        let all: Vec<&EnrichedEvent> = batches.iter().flat_map(|b| b.events.iter()).collect();
        let took = self
            .retrier
            .run("clickhouse", None, || sink.insert(&all))
            .await?;
        drop(all);
        if let (Some(lane), Some(last)) = (&self.lane, batches.last()) {
            lane.alerting.stored_through(last.seq);
        }
        let metrics = self.metrics();
        metrics.health.clickhouse_ok.store(true, Ordering::Relaxed);
        metrics.insert_seconds.observe(took.as_secs_f64());
        self.observe_visible(&batches);

        let dead: Vec<&DeadLetter> = batches.iter().flat_map(|b| b.dead.iter()).collect();
        let records = super::encode(&dead, |d| d.key()).map_err(Halt::Failed)?;
        let (publisher, topic) = (&self.publisher, &self.dead_letter_topic);
        self.retrier
            .run("kafka_dead_letter", None, || {
                publisher.publish_all(topic, &records)
            })
            .await?;

        let mut alerts = 0;
        for b in &mut batches {
            if let Some(task) = b.alerts.take() {
                alerts += self.finish_lane(task, b.seq, &b.events).await?;
            }
        }

        self.commit(batches.iter().flat_map(|b| b.consumed.positions()));
        let (stored, dead): (usize, usize) = batches
            .iter()
            .map(|b| (b.events.len(), b.dead.len()))
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .committed(stored, dead);
        for b in &batches {
            metrics.batch_events.observe(b.consumed.len() as f64);
            metrics
                .stage_seconds
                .with_label_values(&["total"])
                .observe(b.started.elapsed().as_secs_f64());
        }
        tracing::debug!(
            batches = batches.len(),
            stored,
            dead,
            alerts,
            "batches committed"
        );
        Ok(())
    }

    /// Produce-to-visible latency: broker timestamp -> ClickHouse acknowledgement.
    fn observe_visible(&self, batches: &[Enriched]) {
        let acked_ms = Utc::now().timestamp_millis();
        let metrics = self.metrics();
        let mut latencies: Vec<u32> = Vec::new();
        for b in batches {
            let lineage_ts = b.consumed.timestamps();
            for e in b.events.iter() {
                metrics
                    .stored
                    .with_label_values(&[e.channel.as_str()])
                    .inc();
                if let Some(ts) = lineage_ts.get(&(
                    e.lineage.topic.as_str(),
                    e.lineage.partition,
                    e.lineage.offset,
                )) {
                    latencies.push((acked_ms - ts).max(0) as u32);
                }
            }
        }
        for &l in &latencies {
            metrics.visible_seconds.observe(l as f64 / 1000.0);
        }
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .acknowledged(latencies.into_iter());
    }

    /// Wait for a batch's alert lane; if it failed, redo its step here,
    /// retried like any other, before the commit. Returns the alert count.
    async fn finish_lane(
        &self,
        task: tokio::task::JoinHandle<Lane>,
        seq: u64,
        events: &[EnrichedEvent],
    ) -> Result<usize, Stopped> {
        let Some(lane) = &self.lane else {
            return Ok(0);
        };
        let known = match task.await {
            Ok(Lane::Published(n)) => return Ok(n),
            Ok(Lane::PublishFailed(evaluation, e)) => {
                tracing::warn!(error = %e, "publishing alerts failed; retrying");
                Some(evaluation)
            }
            Ok(Lane::EvaluateFailed(e)) => {
                tracing::warn!(error = %e, "alert evaluation failed; retrying");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "alert lane task failed; re-evaluating");
                None
            }
        };
        let evaluation = match known {
            Some(e) => e,
            None => {
                self.retrier
                    .run("alerting", None, || {
                        lane.alerting.evaluate(seq, events, Utc::now())
                    })
                    .await?
            }
        };
        let n = evaluation.alerts.len();
        self.retrier
            .run("kafka_alerts", None, || lane.publish(&evaluation))
            .await?;
        lane.published(evaluation);
        Ok(n)
    }

    /// Commit the next offset of every partition in the messages.
    fn commit<'a>(&self, positions: impl IntoIterator<Item = (&'a str, i32, i64)>) {
        let tpl = voc_ingest::consumer::commit_list(positions);
        let consumer = &self.retrier.consumer;
        match tokio::task::block_in_place(|| consumer.commit(&tpl, CommitMode::Sync)) {
            Ok(()) => self.metrics().last_commit.set(Utc::now().timestamp()),
            Err(e) => {
                // Typically a rebalance moved the partition: the new owner re-reads
                // from the last committed offset and idempotent storage absorbs it.
                self.metrics().commit_failures.inc();
                tracing::warn!(error = %e, "offset commit failed; the batch will be re-delivered");
            }
        }
    }
}

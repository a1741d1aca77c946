//! The storage task: enriched batches, in offset order, are stored in
//! ClickHouse, their dead letters published, their alert lanes awaited, and
//! then their offsets committed. What queued up while the previous insert
//! ran goes into one insert (fewer, larger inserts: each one makes a part in
//! the events table and in every materialized view behind it), so the
//! worker's loop can keep collecting small batches for low alert latency
//! while ClickHouse sees large ones.

use crate::alert_step::{AlertOutcome, AlertStep};
use crate::isolate::{refused_row, server_message};
use crate::retry::{GaveUp, Retrier, Stopped};
use crate::stats::RunStats;
use chrono::Utc;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use voc_core::EnrichedEvent;
use voc_ingest::DeadLetter;
use voc_ingest::DeadLetterReason;
use voc_sink::clickhouse::rows::partition_groups;
use voc_sink::{ClickHouseSink, Publisher, SinkError, Verdict};

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
    /// The batch closed at `batch.max_events` (the consumer had more).
    pub full: bool,
    /// The alert lane of this batch (when alerts are enabled).
    pub alerts: Option<tokio::task::JoinHandle<AlertOutcome>>,
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

/// When the storage task inserts (`[batch] insert_*`): at most one insert
/// per `every` while the worker keeps up, per `backlog_every` while it is
/// behind, at most `max_events` rows (a whole batch always goes). Each insert
/// makes a part in the events table and in each of its materialized views:
/// on this project's machine, 20,000-row inserts instead of 5,000-row ones
/// halved ClickHouse's CPU per event (most of it creating part files).
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub every: Duration,
    pub backlog_every: Duration,
    pub max_events: usize,
}

impl Pacing {
    pub fn of(cfg: &crate::config::BatchConfig) -> Self {
        Pacing {
            every: Duration::from_millis(cfg.insert_every_ms),
            backlog_every: Duration::from_millis(cfg.backlog_insert_every_ms),
            max_events: cfg.insert_max_events.max(cfg.max_events),
        }
    }

    /// Gather the batches of the next insert: `first`, then what arrives
    /// until the insert is due (`last` insert start + the pace; at once if
    /// that is past: what is queued already), up to `max_events` rows. The
    /// pace is the backlog one while the latest batch filled up. A batch
    /// that would go past the rows is returned to open the next insert.
    pub async fn gather<B: Rows>(
        &self,
        first: B,
        queue: &mut mpsc::Receiver<B>,
        last: Option<Instant>,
    ) -> Gathered<B> {
        let mut backlog = first.full();
        let mut events = first.rows();
        let mut batches = vec![first];
        while events < self.max_events {
            let pace = if backlog {
                self.backlog_every
            } else {
                self.every
            };
            let next = match last.map(|t| t + pace) {
                Some(due) if due > Instant::now() => {
                    // Timed out: the insert is due with what it has.
                    tokio::time::timeout_at(due.into(), queue.recv())
                        .await
                        .ok()
                        .flatten()
                }
                _ => queue.try_recv().ok(),
            };
            match next {
                Some(b) if events + b.rows() > self.max_events => {
                    return Gathered {
                        batches,
                        held: Some(b),
                        backlog,
                    }
                }
                Some(b) => {
                    // A batch that did not fill up: the backlog is gone.
                    backlog = b.full();
                    events += b.rows();
                    batches.push(b);
                }
                None => break,
            }
        }
        Gathered {
            batches,
            held: None,
            backlog,
        }
    }
}

/// The batches of one insert.
#[derive(Debug, PartialEq)]
pub struct Gathered<B> {
    pub batches: Vec<B>,
    /// A batch that would have taken the insert past its rows: it opens the next.
    pub held: Option<B>,
    /// The latest batch filled up (the insert went at the backlog pace).
    pub backlog: bool,
}

/// What pacing needs to know of a batch.
pub trait Rows {
    /// Events to insert.
    fn rows(&self) -> usize;
    /// The batch closed at `batch.max_events`: more was waiting (a backlog).
    fn full(&self) -> bool;
}

impl Rows for Enriched {
    fn rows(&self) -> usize {
        self.events.len()
    }
    fn full(&self) -> bool {
        self.full
    }
}

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
    pub lane: Option<AlertStep>,
    pub stats: Arc<Mutex<RunStats>>,
    /// When to insert and how much at most.
    pub pacing: Pacing,
}

impl Storage {
    /// Until the worker's loop closes the queue (everything queued is
    /// delivered first) or a step cannot finish before shutdown; an error
    /// that retrying cannot fix is returned (the batch stays uncommitted).
    pub async fn run(self, mut queue: mpsc::Receiver<Enriched>) -> anyhow::Result<()> {
        let mut last_insert: Option<Instant> = None;
        // A batch received that would have taken an insert past the most
        // rows per insert: it opens the next insert.
        let mut held: Option<Enriched> = None;
        loop {
            let first = match held.take() {
                Some(b) => b,
                None => match queue.recv().await {
                    Some(b) => b,
                    None => break,
                },
            };
            let g = self.pacing.gather(first, &mut queue, last_insert).await;
            held = g.held;
            let rows = g.batches.iter().map(|b| b.events.len()).sum::<usize>();
            self.metrics()
                .insert_rows
                .with_label_values(&[if g.backlog { "backlog" } else { "steady" }])
                .observe(rows as f64);
            let batches = g.batches;
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
        let all: Vec<&EnrichedEvent> = batches.iter().flat_map(|b| b.events.iter()).collect();
        let started = Instant::now();
        let refused = self.store(&all).await?;
        let took = started.elapsed();
        let refused_letters: Vec<DeadLetter> = refused
            .iter()
            .map(|(i, message)| refused_row(all[*i], message))
            .collect();
        let refused_ids: HashSet<&str> = refused
            .iter()
            .map(|(i, _)| all[*i].event_id.as_str())
            .collect();
        if let (Some(lane), Some(last)) = (&self.lane, batches.last()) {
            lane.alerting.stored_through(last.seq);
        }
        let metrics = self.metrics();
        metrics.health.clickhouse_ok.store(true, Ordering::Relaxed);
        metrics.insert_seconds.observe(took.as_secs_f64());
        self.observe_visible(&batches, &refused_ids);
        drop(all);
        for _ in &refused_letters {
            metrics
                .dead_letters
                .with_label_values(&[DeadLetterReason::RejectedByClickhouse.as_str()])
                .inc();
        }

        let dead: Vec<&DeadLetter> = batches
            .iter()
            .flat_map(|b| b.dead.iter())
            .chain(refused_letters.iter())
            .collect();
        let records = encode(&dead, |d| d.key()).map_err(Halt::Failed)?;
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
        let (stored, dead) = (stored - refused.len(), dead + refused.len());
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

    /// Insert `rows` (one insert per group of at most
    /// `clickhouse.max_partitions_per_insert` months), retrying transient
    /// failures; an insert the server refuses for its rows (or that timed out
    /// `split_after_timeouts` times in a row) is split in halves until the
    /// refused rows are alone. Returns those: (index into `rows`, the
    /// server's message), every other row is stored.
    async fn store(&self, rows: &[&EnrichedEvent]) -> Result<Vec<(usize, String)>, Stopped> {
        let sink = &self.sink;
        let cfg = sink.config();
        let mut todo = partition_groups(rows, cfg.max_partitions_per_insert, |e| e.event_time);
        todo.reverse();
        let mut refused = Vec::new();
        while let Some(group) = todo.pop() {
            let part: Vec<&EnrichedEvent> = group.iter().map(|&i| rows[i]).collect();
            let mut timeouts = 0;
            let refuse = |e: &SinkError| match e.verdict() {
                Verdict::Rejected(_) => true,
                Verdict::TimedOut => {
                    timeouts += 1;
                    part.len() > 1 && timeouts >= cfg.split_after_timeouts
                }
                Verdict::Retry => false,
            };
            let e = match self
                .retrier
                .run_until("clickhouse", None, || sink.insert(&part), refuse)
                .await
            {
                Ok(_) => continue,
                Err(GaveUp::Stopped) => return Err(Stopped),
                Err(GaveUp::Refused(e)) => e,
            };
            let message = server_message(&e);
            if let [row] = group[..] {
                tracing::warn!(event_id = %rows[row].event_id, error = %message, "ClickHouse refused a row; dead-lettering it");
                refused.push((row, message));
            } else {
                tracing::warn!(rows = group.len(), error = %message, "ClickHouse refused an insert; splitting it");
                let (a, b) = group.split_at(group.len() / 2);
                todo.push(b.to_vec());
                todo.push(a.to_vec());
            }
        }
        Ok(refused)
    }

    /// Produce-to-visible latency: broker timestamp -> ClickHouse acknowledgement.
    fn observe_visible(&self, batches: &[Enriched], refused: &HashSet<&str>) {
        let acked_ms = Utc::now().timestamp_millis();
        let metrics = self.metrics();
        let mut latencies: Vec<u32> = Vec::new();
        for b in batches {
            let lineage_ts = b.consumed.timestamps();
            for e in b
                .events
                .iter()
                .filter(|e| !refused.contains(e.event_id.as_str()))
            {
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
        task: tokio::task::JoinHandle<AlertOutcome>,
        seq: u64,
        events: &[EnrichedEvent],
    ) -> Result<usize, Stopped> {
        let Some(lane) = &self.lane else {
            return Ok(0);
        };
        let known = match task.await {
            Ok(AlertOutcome::Published(n)) => return Ok(n),
            Ok(AlertOutcome::PublishFailed(evaluation, e)) => {
                tracing::warn!(error = %e, "publishing alerts failed; retrying");
                Some(evaluation)
            }
            Ok(AlertOutcome::EvaluateFailed(e)) => {
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

/// Each record with its Kafka key, as JSON.
fn encode<T: serde::Serialize>(
    items: &[T],
    key: impl Fn(&T) -> String,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    items
        .iter()
        .map(|i| {
            Ok((
                key(i),
                anyhow::Context::context(serde_json::to_vec(i), "encoding a record")?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of `.0` rows, full (`.1`) or not.
    #[derive(Debug, PartialEq)]
    struct B(usize, bool);

    impl Rows for B {
        fn rows(&self) -> usize {
            self.0
        }
        fn full(&self) -> bool {
            self.1
        }
    }

    fn pacing() -> Pacing {
        Pacing {
            every: Duration::ZERO,
            backlog_every: Duration::from_secs(30),
            max_events: 20,
        }
    }

    fn send_later(tx: &mpsc::Sender<B>, after_ms: u64, batches: Vec<B>) {
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(after_ms)).await;
            for b in batches {
                let _ = tx.send(b).await;
            }
        });
    }

    #[tokio::test]
    async fn keeping_up_inserts_what_is_queued_without_waiting() {
        let (tx, mut rx) = mpsc::channel(8);
        tx.send(B(5, false)).await.unwrap();
        send_later(&tx, 300, vec![B(5, false)]);
        let g = pacing()
            .gather(B(5, false), &mut rx, Some(Instant::now()))
            .await;
        assert_eq!(g.batches, vec![B(5, false), B(5, false)]);
        assert_eq!((g.held, g.backlog), (None, false));
    }

    #[tokio::test]
    async fn behind_an_insert_waits_for_more_batches_up_to_its_rows() {
        let (tx, mut rx) = mpsc::channel(8);
        send_later(&tx, 200, vec![B(10, true), B(5, true), B(10, true)]);
        let g = pacing()
            .gather(B(5, true), &mut rx, Some(Instant::now()))
            .await;
        // 20 rows reached: the insert goes without waiting out its 30 s.
        assert_eq!(g.batches, vec![B(5, true), B(10, true), B(5, true)]);
        assert_eq!((g.held, g.backlog), (None, true));
        assert_eq!(rx.recv().await, Some(B(10, true)));
    }

    #[tokio::test]
    async fn a_backlog_insert_goes_when_its_pace_is_up() {
        let (_tx, mut rx) = mpsc::channel::<B>(8);
        let p = Pacing {
            backlog_every: Duration::from_millis(150),
            ..pacing()
        };
        let start = Instant::now();
        let g = p.gather(B(5, true), &mut rx, Some(start)).await;
        assert_eq!(g.batches, vec![B(5, true)]);
        assert!(start.elapsed() >= Duration::from_millis(150));
        // The first insert (none before it) does not wait.
        let start = Instant::now();
        p.gather(B(5, true), &mut rx, None).await;
        assert!(start.elapsed() < Duration::from_millis(150));
        // A batch that did not fill up ends the backlog: no more waiting.
        let (tx, mut rx) = mpsc::channel(8);
        send_later(&tx, 50, vec![B(5, false)]);
        let p = Pacing {
            backlog_every: Duration::from_secs(30),
            ..p
        };
        let g = p.gather(B(5, true), &mut rx, Some(Instant::now())).await;
        assert_eq!(g.batches, vec![B(5, true), B(5, false)]);
        assert!(!g.backlog);
    }

    #[tokio::test]
    async fn a_batch_past_the_row_cap_opens_the_next_insert() {
        let (tx, mut rx) = mpsc::channel(8);
        tx.send(B(10, false)).await.unwrap();
        tx.send(B(8, false)).await.unwrap();
        let g = pacing().gather(B(5, false), &mut rx, None).await;
        assert_eq!(g.batches, vec![B(5, false), B(10, false)]);
        assert_eq!(g.held, Some(B(8, false)));
        // A batch larger than the cap still goes, alone.
        let g = pacing().gather(B(50, true), &mut rx, None).await;
        assert_eq!((g.batches, g.held), (vec![B(50, true)], None));
    }
}

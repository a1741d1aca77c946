//! Partitions nobody consumes: a partition of the subscribed topics that
//! this worker does not own, whose committed offset stays put while its
//! high watermark is ahead, has no live consumer. A coordinator should hand
//! a dead member's partitions to the survivors once its session times out;
//! tansu 0.6 expires the member but keeps the group's assignment (a member
//! that re-joins gets its old partitions back), so the dead member's stay
//! unowned until a member joins with a new id. The worker then leaves and
//! re-joins the group (`kafka.rejoin_when_unowned_ms`), which makes the
//! coordinator compute a new assignment over the live members.

use crate::context::WorkerContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(5);

/// What one look found: the partitions past the limit, and since when the
/// oldest partition seen behind without a commit has been so.
pub struct Look {
    pub stuck: Vec<(String, i32)>,
    pub oldest: Option<Instant>,
    /// (topic, partition, lag) of this worker's partitions whose lag
    /// librdkafka does not know (paused before their first fetch).
    pub owned_lag: Vec<(String, i32, i64)>,
}

/// What the watch saw of one partition: its committed offset and since when.
struct Seen {
    committed: i64,
    since: Instant,
}

pub struct GroupWatch {
    pub consumer: Arc<StreamConsumer<WorkerContext>>,
    pub topics: Vec<String>,
    /// How long a partition may sit behind without its commit moving.
    pub after: Duration,
    seen: HashMap<(String, i32), Seen>,
}

impl GroupWatch {
    pub fn new(
        consumer: Arc<StreamConsumer<WorkerContext>>,
        topics: Vec<String>,
        after: Duration,
    ) -> Self {
        GroupWatch {
            consumer,
            topics,
            after,
            seen: HashMap::new(),
        }
    }

    /// Start every clock again (after a re-join: give the group time to settle).
    pub fn reset(&mut self) {
        self.seen.clear();
    }

    /// One look (blocking: run it on a blocking thread). Returns the
    /// partitions this worker does not own that have been behind without a
    /// commit for `after`, and since when the oldest partition seen behind
    /// without a commit at two looks in a row has been so.
    pub fn check(&mut self) -> Result<Look, KafkaError> {
        let mut all = TopicPartitionList::new();
        for topic in &self.topics {
            let md = self.consumer.fetch_metadata(Some(topic), TIMEOUT)?;
            for t in md.topics() {
                for p in t.partitions() {
                    // Own partitions only while a retry holds them paused (their
                    // lag is then unknown to librdkafka, and the look is cheap
                    // next to a stalled worker); never in the normal flow.
                    let ctx = self.consumer.context();
                    let held = ctx.hold.load(std::sync::atomic::Ordering::SeqCst);
                    if !ctx.owns(t.name(), p.id()) || (held && ctx.lag_unknown(t.name(), p.id())) {
                        all.add_partition(t.name(), p.id());
                    }
                }
            }
        }
        let now = Instant::now();
        if all.count() == 0 {
            self.seen.clear();
            return Ok(Look {
                stuck: Vec::new(),
                oldest: None,
                owned_lag: Vec::new(),
            });
        }
        let committed = self.consumer.committed_offsets(all, TIMEOUT)?;
        let mut stuck = Vec::new();
        let mut oldest: Option<Instant> = None;
        let mut keep = HashMap::new();
        let mut owned_lag = Vec::new();
        for e in committed.elements() {
            let key = (e.topic().to_string(), e.partition());
            let (low, high) = self
                .consumer
                .fetch_watermarks(e.topic(), e.partition(), TIMEOUT)?;
            let at = match e.offset() {
                Offset::Offset(n) => n.max(low),
                _ => low,
            };
            if self.consumer.context().owns(e.topic(), e.partition()) {
                owned_lag.push((key.0, key.1, (high - at).max(0)));
                continue;
            }
            if high <= at {
                continue; // nothing to consume
            }
            let since = match self.seen.remove(&key) {
                Some(s) if s.committed == at => {
                    oldest = Some(oldest.map_or(s.since, |o| o.min(s.since)));
                    s.since
                }
                _ => now,
            };
            if now.duration_since(since) >= self.after {
                stuck.push(key.clone());
            }
            keep.insert(
                key,
                Seen {
                    committed: at,
                    since,
                },
            );
        }
        self.seen = keep;
        // Assigned to this worker while looking: not unowned.
        stuck.retain(|(t, p)| !self.consumer.context().owns(t, *p));
        Ok(Look {
            stuck,
            oldest,
            owned_lag,
        })
    }
}

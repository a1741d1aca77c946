//! librdkafka callbacks: rebalances (which partitions this worker owns, and
//! the gauges that describe them) and consumer-lag metrics.

use crate::metrics::Metrics;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Statistics, TopicPartitionList};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct WorkerContext {
    pub metrics: Arc<Metrics>,
    /// The partitions this worker owns (topic, partition).
    pub owned: Mutex<BTreeSet<(String, i32)>>,
    /// A retry holds consumption paused: partitions assigned meanwhile are
    /// paused as they arrive (else a rebalance during an outage, or the
    /// first assignment while ClickHouse is down at start, would fetch the
    /// whole backlog into memory).
    pub hold: AtomicBool,
    /// Owned partitions whose lag librdkafka reported in its last statistics
    /// (a partition paused before its first fetch has none: the group watch
    /// measures it from the broker instead, so a backlog behind a worker
    /// stalled from the start is still seen).
    lag_known: Mutex<BTreeSet<(String, i32)>>,
}

impl WorkerContext {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        WorkerContext {
            metrics,
            owned: Mutex::new(BTreeSet::new()),
            hold: AtomicBool::new(false),
            lag_known: Mutex::new(BTreeSet::new()),
        }
    }

    fn owned(&self) -> std::sync::MutexGuard<'_, BTreeSet<(String, i32)>> {
        self.owned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this worker owns (topic, partition) now.
    pub fn owns(&self, topic: &str, partition: i32) -> bool {
        self.owned().contains(&(topic.to_string(), partition))
    }

    /// Whether this worker owns (topic, partition) and librdkafka does not
    /// know its lag.
    pub fn lag_unknown(&self, topic: &str, partition: i32) -> bool {
        let key = (topic.to_string(), partition);
        self.owned().contains(&key)
            && !self
                .lag_known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&key)
    }

    /// The lag the group watch measured (high watermark - committed offset,
    /// librdkafka's own definition) of an owned partition librdkafka has no
    /// lag for.
    pub fn watched_lag(&self, topic: &str, partition: i32, lag: i64) {
        if self.lag_unknown(topic, partition) {
            self.metrics
                .consumer_lag
                .with_label_values(&[topic, &partition.to_string()])
                .set(lag);
        }
    }

    fn assigned(&self, tpl: &TopicPartitionList) {
        let mut owned = self.owned();
        for e in tpl.elements() {
            owned.insert((e.topic().to_string(), e.partition()));
        }
        self.metrics.assigned_partitions.set(owned.len() as i64);
        // A fresh assignment has not had the time to commit yet.
        self.metrics.health.progressed();
    }

    /// Forget revoked partitions: their gauges go, another member reports them.
    fn revoked(&self, tpl: &TopicPartitionList) {
        let mut owned = self.owned();
        for e in tpl.elements() {
            owned.remove(&(e.topic().to_string(), e.partition()));
            let _ = self
                .metrics
                .consumer_lag
                .remove_label_values(&[e.topic(), &e.partition().to_string()]);
        }
        self.metrics.assigned_partitions.set(owned.len() as i64);
        if owned.is_empty() {
            self.metrics.health.lag.store(0, Ordering::Relaxed);
        }
    }
}

impl ClientContext for WorkerContext {
    fn stats(&self, stats: Statistics) {
        let owned = self.owned();
        let mut known = BTreeSet::new();
        let mut lag = 0;
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                // -1 is librdkafka's "unknown" (partition not assigned / no fetch yet).
                if !owned.contains(&(topic.clone(), *partition)) || p.consumer_lag < 0 {
                    continue;
                }
                known.insert((topic.clone(), *partition));
                lag += p.consumer_lag;
                self.metrics
                    .consumer_lag
                    .with_label_values(&[topic.as_str(), &partition.to_string()])
                    .set(p.consumer_lag);
            }
        }
        drop(owned);
        *self.lag_known.lock().unwrap_or_else(|p| p.into_inner()) = known;
        self.metrics.health.lag.store(lag, Ordering::Relaxed);
        if lag == 0 {
            self.metrics.health.progressed();
        }
        for (name, b) in &stats.brokers {
            for (request, n) in &b.req {
                if *n > 0 {
                    self.metrics
                        .consumer_requests
                        .with_label_values(&[name.as_str(), request.as_str()])
                        .set(*n);
                }
            }
        }
    }
}

impl ConsumerContext for WorkerContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                // Batches of these partitions still in flight are stored and
                // their commit may be refused (counted, never fatal): the next
                // owner re-reads from the last committed offset and storage
                // is idempotent by event id.
                self.revoked(tpl);
                tracing::info!(partitions = tpl.count(), "partitions revoked")
            }
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = tpl.count(), "partitions being assigned")
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.assigned(tpl);
            if self.hold.load(Ordering::SeqCst) && tpl.count() > 0 {
                match consumer.pause(tpl) {
                    Ok(()) => tracing::info!(
                        partitions = tpl.count(),
                        "assigned while a retry holds consumption: paused"
                    ),
                    Err(e) => tracing::warn!(error = %e, "pausing newly assigned partitions"),
                }
            }
            tracing::info!(
                partitions = tpl.count(),
                owned = self.owned().len(),
                "partitions assigned"
            );
        }
    }
}

//! Retrying a failing step: exponential backoff with the assigned partitions
//! paused, so nothing more is fetched while a step cannot finish (bounded
//! memory), and resumed once it does.

use crate::context::WorkerContext;
use crate::metrics::Metrics;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::TopicPartitionList;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use voc_sink::Backoff;

/// The worker stopped (shutdown requested) before a step could finish.
#[derive(Debug)]
pub struct Stopped;

/// Why [`Retrier::run_until`] returned without a result.
#[derive(Debug)]
pub enum GaveUp<E> {
    /// The worker is stopping.
    Stopped,
    /// The caller's classifier said retrying this error cannot help.
    Refused(E),
}

impl<E> From<Stopped> for GaveUp<E> {
    fn from(_: Stopped) -> Self {
        GaveUp::Stopped
    }
}

/// Shared by the worker's loop and its storage task.
#[derive(Clone)]
pub struct Retrier {
    pub consumer: Arc<StreamConsumer<WorkerContext>>,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
    /// The retry schedule (`batch.retry_initial_ms` doubling to `retry_max_ms`).
    pub backoff: Backoff,
    /// Retries that currently hold the assigned partitions paused.
    pub pausing: Arc<AtomicUsize>,
}

impl Retrier {
    pub fn stopping(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Some retry holds the partitions paused: nothing new is fetched, so
    /// polling the consumer yields at most what librdkafka had prefetched
    /// (bounded by `queued.max.messages.kbytes`).
    pub fn paused(&self) -> bool {
        self.pausing.load(Ordering::SeqCst) > 0
    }

    /// Run `op` until it succeeds (or the worker stops). While retrying, the
    /// assigned partitions are paused; with `carry`, the consumer is polled
    /// meanwhile (messages already fetched are kept there for the next batch)
    /// so the group does not evict a worker whose only loop is waiting here.
    pub async fn run<T, E, F, Fut>(
        &self,
        target: &'static str,
        carry: Option<&mut Vec<OwnedMessage>>,
        op: F,
    ) -> Result<T, Stopped>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.run_until(target, carry, op, |_| false).await {
            Ok(v) => Ok(v),
            Err(GaveUp::Stopped) => Err(Stopped),
            Err(GaveUp::Refused(_)) => unreachable!("nothing is refused"),
        }
    }

    /// [`Retrier::run`], except that an error `refuse` picks is returned at
    /// once (partitions resumed): retrying it cannot help, the caller
    /// isolates what caused it.
    pub async fn run_until<T, E, F, Fut>(
        &self,
        target: &'static str,
        mut carry: Option<&mut Vec<OwnedMessage>>,
        mut op: F,
        mut refuse: impl FnMut(&E) -> bool,
    ) -> Result<T, GaveUp<E>>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut backoff = self.backoff.clone();
        let mut paused: Option<TopicPartitionList> = None;
        // Held from the first failure until this returns (/readyz, voc_stalled_seconds).
        let mut _retrying = None;
        let resume = |paused: Option<TopicPartitionList>| {
            // The last retry to finish resumes the whole assignment
            // (partitions assigned while held were paused on arrival).
            if paused.is_some() && self.pausing.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.consumer.context().hold.store(false, Ordering::SeqCst);
                let tpl = self.consumer.assignment().unwrap_or_default();
                if let Err(e) = self.consumer.resume(&tpl) {
                    tracing::warn!(error = %e, "resuming partitions");
                }
                tracing::info!(target, "recovered; consumption resumed");
            }
        };
        loop {
            match op().await {
                Ok(v) => {
                    resume(paused);
                    return Ok(v);
                }
                Err(e) if refuse(&e) => {
                    resume(paused);
                    return Err(GaveUp::Refused(e));
                }
                Err(e) => {
                    let delay = backoff.delay();
                    self.metrics.retries.with_label_values(&[target]).inc();
                    _retrying.get_or_insert_with(|| self.metrics.health.retrying(target));
                    if target == "clickhouse" {
                        self.metrics
                            .health
                            .clickhouse_ok
                            .store(false, Ordering::Relaxed);
                    }
                    tracing::warn!(target, error = %e, retry_in_ms = delay.as_millis() as u64, "operation failed; retrying");
                    if paused.is_none() {
                        // Held from now: partitions assigned later are paused as they come.
                        self.pausing.fetch_add(1, Ordering::SeqCst);
                        self.consumer.context().hold.store(true, Ordering::SeqCst);
                        let tpl = self.consumer.assignment().unwrap_or_default();
                        if let Err(e) = self.consumer.pause(&tpl) {
                            tracing::warn!(error = %e, "pausing partitions");
                        }
                        paused = Some(tpl);
                    }
                    let until = tokio::time::Instant::now() + delay;
                    loop {
                        if self.stopping() {
                            return Err(GaveUp::Stopped);
                        }
                        self.metrics
                            .health
                            .last_turn
                            .store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
                        match carry.as_deref_mut() {
                            Some(carry) => tokio::select! {
                                _ = self.shutdown.cancelled() => {}
                                r = tokio::time::timeout_at(until, self.consumer.recv()) => match r {
                                    Err(_) => break,
                                    Ok(Ok(m)) => {
                                        carry.push(m.detach());
                                        self.metrics.carried.set(carry.len() as i64);
                                    }
                                    Ok(Err(_)) => {}
                                },
                            },
                            None => tokio::select! {
                                _ = self.shutdown.cancelled() => {}
                                _ = tokio::time::sleep_until(until) => break,
                            },
                        }
                    }
                }
            }
        }
    }
}

//! The loop `voc notify` and `voc workorders` share: read a batch from one
//! topic, hand it to a handler that retries until the batch is fully dealt
//! with (delivered, or its failure recorded), then commit its offsets. A crash
//! re-delivers at most the uncommitted batch (at least once). The consumer
//! is polled while the handler works, however long it retries.

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use voc_ingest::{BatchEnd, BatchLimits, KafkaSourceConfig};
use voc_sink::Backoff;

/// Run until `cancel` fires. `handle` must only return once the batch may be
/// committed; it gets the token to stop retrying at shutdown.
pub async fn run<F, Fut>(
    consumer: &StreamConsumer,
    cancel: &CancellationToken,
    max_messages: usize,
    max_wait: Duration,
    mut handle: F,
) -> anyhow::Result<()>
where
    F: FnMut(Vec<OwnedMessage>) -> Fut,
    Fut: Future<Output = anyhow::Result<Vec<OwnedMessage>>>,
{
    let limits = BatchLimits {
        max_messages,
        max_wait,
        idle: Duration::from_secs(1),
    };
    // Messages received while a batch was handled: the next batch's start.
    let mut carry = Vec::new();
    while !cancel.is_cancelled() {
        let mut batch = std::mem::take(&mut carry);
        if voc_ingest::collect(consumer, &mut batch, limits, cancel).await == BatchEnd::Idle {
            continue;
        }
        if batch.is_empty() {
            continue;
        }
        let done = polling(consumer, &mut carry, handle(batch)).await?;
        commit(consumer, &done);
    }
    Ok(())
}

/// Handling a batch for longer than this pauses the assigned partitions.
const PAUSE_AFTER: Duration = Duration::from_secs(1);

/// Await `work` (a batch's handler, which may retry for minutes) while
/// polling the consumer, so the member keeps its place in the group
/// (`max.poll.interval.ms`) and serves rebalances. After [`PAUSE_AFTER`]
/// the assigned partitions are paused (again after a rebalance), so what
/// arrives meanwhile is at most librdkafka's prefetch; it is kept in `carry`
/// for the next batch, never skipped.
async fn polling<T>(
    consumer: &StreamConsumer,
    carry: &mut Vec<OwnedMessage>,
    work: impl Future<Output = T>,
) -> T {
    tokio::pin!(work);
    let pause_at = tokio::time::sleep(PAUSE_AFTER);
    tokio::pin!(pause_at);
    let mut pausing = false;
    let pause = |consumer: &StreamConsumer| match consumer.assignment() {
        Ok(tpl) => {
            if let Err(e) = consumer.pause(&tpl) {
                tracing::warn!(error = %e, "pausing partitions");
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading the assignment"),
    };
    let out = loop {
        tokio::select! {
            biased;
            out = &mut work => break out,
            _ = &mut pause_at, if !pausing => {
                pausing = true;
                pause(consumer);
            }
            m = consumer.recv() => match m {
                Ok(m) => {
                    carry.push(m.detach());
                    // A rebalance assigns partitions unpaused.
                    if pausing {
                        pause(consumer);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    };
    if pausing {
        if let Ok(tpl) = consumer.assignment() {
            if let Err(e) = consumer.resume(&tpl) {
                tracing::warn!(error = %e, "resuming partitions");
            }
        }
    }
    out
}

fn commit(consumer: &StreamConsumer, batch: &[OwnedMessage]) {
    let tpl = voc_ingest::consumer::next_offsets(batch);
    if tpl.count() > 0 {
        if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
            tracing::warn!(error = %e, "offset commit failed; the batch will be re-delivered");
        }
    }
}

/// Retry `op` on the standard [`Backoff`] until it succeeds or shutdown is
/// requested (then the batch stays uncommitted and is re-delivered).
pub async fn retry<T, E, F, Fut>(
    what: &str,
    cancel: &CancellationToken,
    mut op: F,
) -> anyhow::Result<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::standard();
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                if cancel.is_cancelled() {
                    anyhow::bail!("{what}: {e} (stopping; the batch stays uncommitted)");
                }
                let delay = backoff.delay();
                tracing::warn!(what, error = %e, retry_in_ms = delay.as_millis() as u64, "failed; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// A consumer of `topic` in `group` (manual commits, from the earliest
/// offset), once the brokers accepted the connection settings.
pub async fn consumer(
    kafka: &KafkaSourceConfig,
    group: &str,
    topic: &str,
) -> anyhow::Result<StreamConsumer> {
    kafka.check_connection().await?;
    let mut cc = kafka.consumer_config();
    cc.set("group.id", group);
    let c: StreamConsumer = cc.create()?;
    c.subscribe(&[topic])?;
    Ok(c)
}

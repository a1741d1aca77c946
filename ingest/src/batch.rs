//! Collecting a batch from a consumer: up to `max_messages`, closing
//! `max_wait` after its first message. The worker and the side consumers
//! (`voc notify`, `voc workorders`) share it.

use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::message::OwnedMessage;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How big a batch gets and how long it stays open.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_messages: usize,
    /// A batch closes this long after its first message.
    pub max_wait: Duration,
    /// An empty batch is returned after this long without input.
    pub idle: Duration,
}

/// Why [`collect`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchEnd {
    /// `max_messages` reached.
    Full,
    /// `max_wait` passed since the batch's first message.
    Closed,
    /// Nothing arrived for `idle` (the batch is empty).
    Idle,
    /// Shutdown was requested (the batch holds what arrived before).
    Cancelled,
}

/// Add messages to `batch` (which may already hold some: then the batch is
/// open and `max_wait` counts from now). Consumer errors are logged and
/// waited out briefly; they never end the batch.
pub async fn collect<C: ConsumerContext + 'static>(
    consumer: &StreamConsumer<C>,
    batch: &mut Vec<OwnedMessage>,
    limits: BatchLimits,
    cancel: &CancellationToken,
) -> BatchEnd {
    let mut deadline = (!batch.is_empty()).then(|| Instant::now() + limits.max_wait);
    // One cancellation future for the whole batch, not one per message.
    let cancelled = cancel.cancelled();
    tokio::pin!(cancelled);
    while batch.len() < limits.max_messages {
        if cancel.is_cancelled() {
            return BatchEnd::Cancelled;
        }
        let wait = deadline.map_or(limits.idle, |d| d.saturating_duration_since(Instant::now()));
        tokio::select! {
            _ = &mut cancelled => return BatchEnd::Cancelled,
            r = tokio::time::timeout(wait, consumer.recv()) => match r {
                Err(_) if batch.is_empty() => return BatchEnd::Idle,
                Err(_) => return BatchEnd::Closed,
                Ok(Ok(m)) => {
                    deadline.get_or_insert_with(|| Instant::now() + limits.max_wait);
                    batch.push(m.detach());
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    BatchEnd::Full
}

//! The loop `voc notify` and `voc workorders` share: read a batch from one
//! topic, hand it to a handler that retries until the batch is fully dealt
//! with (delivered, or its failure recorded), then commit its offsets. A crash
//! re-delivers at most the uncommitted batch (at least once).

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub struct Batching {
    pub max_messages: usize,
    pub max_wait: Duration,
}

/// Run until `shutdown` turns true. `handle` must only return once the batch
/// may be committed; it gets the shutdown flag to stop retrying.
pub async fn run<F, Fut>(
    consumer: &StreamConsumer,
    mut shutdown: watch::Receiver<bool>,
    batching: Batching,
    mut handle: F,
) -> anyhow::Result<()>
where
    F: FnMut(Vec<OwnedMessage>) -> Fut,
    Fut: Future<Output = anyhow::Result<Vec<OwnedMessage>>>,
{
    while !*shutdown.borrow() {
        let mut batch: Vec<OwnedMessage> = Vec::new();
        let mut deadline: Option<Instant> = None;
        while batch.len() < batching.max_messages {
            let wait = deadline.map_or(Duration::from_secs(1), |d| {
                d.saturating_duration_since(Instant::now())
            });
            tokio::select! {
                _ = shutdown.changed() => break,
                r = tokio::time::timeout(wait, consumer.recv()) => match r {
                    Err(_) if batch.is_empty() => continue,
                    Err(_) => break,
                    Ok(Ok(m)) => {
                        deadline.get_or_insert_with(|| Instant::now() + batching.max_wait);
                        batch.push(m.detach());
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "consumer error");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
            if *shutdown.borrow() {
                break;
            }
        }
        if batch.is_empty() {
            continue;
        }
        let done = handle(batch).await?;
        commit(consumer, &done);
    }
    Ok(())
}

fn commit(consumer: &StreamConsumer, batch: &[OwnedMessage]) {
    let tpl = voc_ingest::consumer::next_offsets(batch);
    if tpl.count() > 0 {
        if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
            tracing::warn!(error = %e, "offset commit failed; the batch will be re-delivered");
        }
    }
}

/// Retry `op` with exponential backoff until it succeeds or shutdown is requested.
pub async fn retry<T, E, F, Fut>(
    what: &str,
    shutdown: &watch::Receiver<bool>,
    mut op: F,
) -> anyhow::Result<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(200);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                if *shutdown.borrow() {
                    anyhow::bail!("{what}: {e} (stopping; the batch stays uncommitted)");
                }
                tracing::warn!(what, error = %e, retry_in_ms = delay.as_millis() as u64, "failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// A consumer of `topic` in `group` (manual commits, from the earliest offset).
pub fn consumer(cfg: &crate::Config, group: &str, topic: &str) -> anyhow::Result<StreamConsumer> {
    let mut cc = cfg.kafka.consumer_config();
    cc.set("group.id", group);
    let c: StreamConsumer = cc.create()?;
    c.subscribe(&[topic])?;
    Ok(c)
}

/// A shutdown flag set by SIGTERM / Ctrl-C.
pub fn shutdown_on_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        super::run::wait_for_signal().await;
        tracing::info!("shutdown requested: finishing the current batch");
        let _ = tx.send(true);
    });
    rx
}

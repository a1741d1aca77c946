//! `voc notify`: deliver alerts from the alert topic to the configured
//! webhooks (`[[notify.webhooks]]`: generic JSON, WeCom, DingTalk, Feishu).
//!
//! A separate consumer of the alert topic, so a slow or failing webhook never
//! blocks the pipeline: the worker's job ends when the broker acknowledged the
//! alert. Here each alert is sent to every webhook that wants it, with
//! timeouts, retries and exponential backoff; the outcome (delivered, or
//! failed after the last attempt) is stored in ClickHouse `alert_deliveries`,
//! and only then is the offset committed. A failed alert is never lost: it
//! stays on the topic and its failure row says which webhook to replay.

use crate::consumer;
use crate::metrics::NotifyMetrics;
use crate::webhook::{deliver, http_client, DeliveryRow, NotifyConfig};
use anyhow::Context as _;
use rdkafka::message::{Message, OwnedMessage};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use voc_alert::Alert;
use voc_ingest::KafkaSourceConfig;
use voc_sink::{ClickHouseConfig, ClickHouseSink};

/// Deliver alerts from `topic` until `cancel` fires.
pub async fn run(
    kafka: &KafkaSourceConfig,
    clickhouse: ClickHouseConfig,
    notify: NotifyConfig,
    topic: &str,
    metrics: Arc<NotifyMetrics>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !notify.webhooks.is_empty(),
        "no [[notify.webhooks]] configured: nothing to deliver to"
    );
    notify.validate()?;
    let consumer = consumer::consumer(kafka, &notify.group_id, topic)
        .await
        .with_context(|| format!("consuming {topic}"))?;
    let sink = ClickHouseSink::new(clickhouse)?;
    let http = http_client(&notify)?;
    metrics.register_webhooks(notify.webhooks.iter().map(|h| h.name.as_str()));
    let notify = Arc::new(notify);
    metrics.set_consuming();
    tracing::info!(%topic, webhooks = notify.webhooks.len(), "notifier started");
    consumer::run(&consumer, &cancel, 100, Duration::from_millis(50), |batch| {
        let (http, notify, sink, cancel) = (http.clone(), notify.clone(), sink.clone(), cancel.clone());
        let metrics = metrics.clone();
        async move {
            let rows = deliver_batch(&http, &notify, &metrics, &batch).await?;
            for r in rows.iter().filter(|r| r.outcome != "delivered") {
                tracing::error!(alert = %r.alert_id, webhook = %r.webhook, attempts = r.attempts, error = %r.error, "delivery failed after the last attempt; recorded in alert_deliveries");
            }
            consumer::retry("recording deliveries", &cancel, || {
                sink.insert_rows("alert_deliveries", &rows)
            })
            .await?;
            Ok(batch)
        }
    })
    .await
}

/// Every alert of the batch to every webhook that wants it, concurrently;
/// one outcome row per (alert, webhook). A record that is not an alert is
/// skipped with a warning (the topic belongs to the worker).
async fn deliver_batch(
    http: &reqwest::Client,
    notify: &Arc<NotifyConfig>,
    metrics: &Arc<NotifyMetrics>,
    batch: &[OwnedMessage],
) -> anyhow::Result<Vec<DeliveryRow>> {
    let mut tasks = JoinSet::new();
    for m in batch {
        let alert: Alert = match serde_json::from_slice(m.payload().unwrap_or_default()) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(offset = m.offset(), partition = m.partition(), error = %e, "not a voc.alert.v2 record; skipped");
                continue;
            }
        };
        let alert = Arc::new(alert);
        for hook in notify.webhooks.iter().filter(|h| h.wants(&alert)) {
            let (http, notify, hook, alert, metrics) = (
                http.clone(),
                notify.clone(),
                hook.clone(),
                alert.clone(),
                metrics.clone(),
            );
            tasks.spawn(async move {
                let o = deliver(&http, &notify, &hook, &alert).await;
                metrics.delivery(&hook.name, o.delivered, o.attempts);
                DeliveryRow::of(&alert, &hook, &o)
            });
        }
    }
    let mut rows = Vec::new();
    while let Some(r) = tasks.join_next().await {
        rows.push(r?);
    }
    Ok(rows)
}

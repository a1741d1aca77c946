//! `voc notify`: deliver alerts from the alert topic to the configured
//! webhooks (`[[notify.webhooks]]`: generic JSON, WeCom, DingTalk, Feishu).
//!
//! A separate consumer of the alert topic, so a slow or failing webhook never
//! blocks the pipeline: the worker's job ends when the broker acknowledged the
//! alert. Here each alert is sent to every webhook that wants it, with
//! timeouts, retries and exponential backoff; the outcome (delivered, or
//! failed after the last attempt) is stored in ClickHouse `alert_deliveries`
//! as soon as it is known, and the batch's offsets are committed once every
//! outcome is stored. A failed alert is never lost: it stays on the topic and
//! its failure row says which webhook to replay.
//!
//! Each (alert id, revision, webhook) is sent once across restarts and
//! rebalances: a delivery whose row is stored is not sent again, and every
//! attempt carries `Idempotency-Key: <alert_id>:<revision>:<webhook>`, so a
//! receiver can drop the copy a crash between its answer and the row's
//! insert re-sends (or a new owner of a partition whose batch was still
//! being sent when a rebalance moved it). The consumer is polled while
//! deliveries and inserts are retried ([`consumer::run`]), so the group
//! never evicts it.

use crate::consumer;
use crate::metrics::NotifyMetrics;
use crate::webhook::{deliver, http_client, DeliveryRow, NotifyConfig};
use anyhow::Context as _;
use clickhouse::Row;
use rdkafka::message::{Message, OwnedMessage};
use serde::Deserialize;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use voc_alert::Alert;
use voc_ingest::KafkaSourceConfig;
use voc_sink::{ClickHouseConfig, ClickHouseSink};

/// Debug builds: pause this many ms after a batch's deliveries were sent and
/// recorded, before its offsets are committed (crash tests kill the process there).
const PAUSE_AFTER_SEND: &str = "VOC_TEST_PAUSE_AFTER_WEBHOOK_SEND_MS";

/// One delivery: (alert id, revision, webhook name).
type DeliveryKey = (String, u8, String);

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
    let client = clickhouse.client()?;
    let sink = ClickHouseSink::new(clickhouse)?;
    let http = http_client(&notify)?;
    metrics.register_webhooks(notify.webhooks.iter().map(|h| h.name.as_str()));
    let notify = Arc::new(notify);
    metrics.set_consuming();
    tracing::info!(%topic, webhooks = notify.webhooks.len(), "notifier started");
    consumer::run(
        &consumer,
        &cancel,
        100,
        Duration::from_millis(50),
        |batch| {
            let (http, notify, sink, client, cancel) = (
                http.clone(),
                notify.clone(),
                sink.clone(),
                client.clone(),
                cancel.clone(),
            );
            let metrics = metrics.clone();
            async move {
                let alerts = alerts_of(&batch);
                let done = consumer::retry("reading recorded deliveries", &cancel, || {
                    recorded(&client, &alerts)
                })
                .await?;
                let rows =
                    deliver_batch(&http, &notify, &metrics, &sink, &cancel, &alerts, done).await?;
                if let Some(pause) = voc_core::test_hook::pause(PAUSE_AFTER_SEND) {
                    if !rows.is_empty() {
                        tracing::warn!(
                            ms = pause.as_millis() as u64,
                            "test hook: pausing after webhook sends"
                        );
                        tokio::time::sleep(pause).await;
                    }
                }
                Ok(batch)
            }
        },
    )
    .await
}

/// The batch's alerts; a record that is not an alert is skipped with a
/// warning (the topic belongs to the worker).
fn alerts_of(batch: &[OwnedMessage]) -> Vec<Arc<Alert>> {
    batch
        .iter()
        .filter_map(|m| match serde_json::from_slice(m.payload().unwrap_or_default()) {
            Ok(a) => Some(Arc::new(a)),
            Err(e) => {
                tracing::warn!(offset = m.offset(), partition = m.partition(), error = %e, "not a voc.alert.v2 record; skipped");
                None
            }
        })
        .collect()
}

#[derive(Row, Deserialize)]
struct Recorded {
    alert_id: String,
    revision: u8,
    webhook: String,
}

/// The deliveries of these alerts already recorded (delivered, or failed
/// after the last attempt): final, never sent again.
async fn recorded(
    client: &clickhouse::Client,
    alerts: &[Arc<Alert>],
) -> Result<HashSet<DeliveryKey>, clickhouse::error::Error> {
    let ids: BTreeSet<&str> = alerts.iter().map(|a| a.alert_id.as_str()).collect();
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!(
        "SELECT DISTINCT alert_id, revision, webhook FROM alert_deliveries WHERE alert_id IN ({})",
        vec!["?"; ids.len()].join(",")
    );
    let rows: Vec<Recorded> = ids
        .into_iter()
        .fold(client.query(&sql), |q, id| q.bind(id))
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.alert_id, r.revision, r.webhook))
        .collect())
}

/// Every alert of the batch to every webhook that wants it, concurrently,
/// except the deliveries in `done` (and a second copy of one in this
/// batch); each outcome row is stored as soon as it is known, so a crash
/// re-sends at most the deliveries whose row was not stored yet.
async fn deliver_batch(
    http: &reqwest::Client,
    notify: &Arc<NotifyConfig>,
    metrics: &Arc<NotifyMetrics>,
    sink: &ClickHouseSink,
    cancel: &CancellationToken,
    alerts: &[Arc<Alert>],
    mut done: HashSet<DeliveryKey>,
) -> anyhow::Result<Vec<DeliveryRow>> {
    let mut tasks = JoinSet::new();
    for alert in alerts {
        for hook in notify.webhooks.iter().filter(|h| h.wants(alert)) {
            let key = (alert.alert_id.clone(), alert.revision, hook.name.clone());
            if !done.insert(key) {
                tracing::info!(alert = %alert.alert_id, revision = alert.revision, webhook = %hook.name, "already delivered (alert_deliveries); not sent again");
                continue;
            }
            let (http, notify, hook, alert, sink, cancel, metrics) = (
                http.clone(),
                notify.clone(),
                hook.clone(),
                alert.clone(),
                sink.clone(),
                cancel.clone(),
                metrics.clone(),
            );
            tasks.spawn(async move {
                let o = deliver(&http, &notify, &hook, &alert).await;
                metrics.delivery(&hook.name, o.delivered, o.attempts);
                let row = DeliveryRow::of(&alert, &hook, &o);
                if !o.delivered {
                    tracing::error!(alert = %row.alert_id, webhook = %row.webhook, attempts = row.attempts, error = %row.error, "delivery failed after the last attempt; recorded in alert_deliveries");
                }
                consumer::retry("recording a delivery", &cancel, || {
                    sink.insert_rows("alert_deliveries", std::slice::from_ref(&row))
                })
                .await?;
                anyhow::Ok(row)
            });
        }
    }
    let mut rows = Vec::new();
    while let Some(r) = tasks.join_next().await {
        rows.push(r??);
    }
    Ok(rows)
}

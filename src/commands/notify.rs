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

use super::{side_consumer, ConfigArgs};
use rdkafka::message::{Message, OwnedMessage};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use voc_sink::webhook::{deliver, http_client, DeliveryRow};
use voc_sink::{Alert, ClickHouseSink};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    super::init_logging(&cfg.log);
    anyhow::ensure!(
        !cfg.notify.webhooks.is_empty(),
        "no [[notify.webhooks]] configured: nothing to deliver to"
    );
    super::runtime()?.block_on(async move {
        let shutdown = side_consumer::shutdown_on_signal();
        let consumer = side_consumer::consumer(&cfg, &cfg.notify.group_id, &cfg.topics.alerts)?;
        let sink = ClickHouseSink::new(cfg.clickhouse.clone());
        let http = http_client(&cfg.notify)?;
        let notify = Arc::new(cfg.notify.clone());
        tracing::info!(topic = %cfg.topics.alerts, webhooks = notify.webhooks.len(), "notifier started");
        let sd = shutdown.clone();
        side_consumer::run(
            &consumer,
            shutdown,
            side_consumer::Batching {
                max_messages: 100,
                max_wait: Duration::from_millis(50),
            },
            |batch: Vec<OwnedMessage>| {
                let (http, notify, sink, sd) = (http.clone(), notify.clone(), sink.clone(), sd.clone());
                async move {
                    let mut tasks = JoinSet::new();
                    for m in &batch {
                        let alert: Alert = match serde_json::from_slice(m.payload().unwrap_or_default()) {
                            Ok(a) => a,
                            Err(e) => {
                                tracing::warn!(offset = m.offset(), partition = m.partition(), error = %e, "not a voc.alert.v2 record; skipped");
                                continue;
                            }
                        };
                        let alert = Arc::new(alert);
                        for hook in notify.webhooks.iter().filter(|h| h.wants(&alert)) {
                            let (http, notify, hook, alert) = (http.clone(), notify.clone(), hook.clone(), alert.clone());
                            tasks.spawn(async move {
                                let o = deliver(&http, &notify, &hook, &alert).await;
                                DeliveryRow::of(&alert, &hook, &o)
                            });
                        }
                    }
                    let mut rows = Vec::new();
                    while let Some(r) = tasks.join_next().await {
                        rows.push(r?);
                    }
                    for r in rows.iter().filter(|r| r.outcome != "delivered") {
                        tracing::error!(alert = %r.alert_id, webhook = %r.webhook, attempts = r.attempts, error = %r.error, "delivery failed after the last attempt; recorded in alert_deliveries");
                    }
                    side_consumer::retry("recording deliveries", &sd, || sink.insert_rows("alert_deliveries", &rows)).await?;
                    Ok(batch)
                }
            },
        )
        .await
    })
}

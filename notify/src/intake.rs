//! `voc workorders`: consume work-order status updates (acknowledged,
//! resolved, verified, reopened; docs/workorder-update.schema.json) from the
//! updates topic into ClickHouse `work_order_updates`, idempotently (the
//! update_id is the key). Invalid updates go to the dead-letter topic with the
//! reason. Free text is PII-masked before it is stored. The saved queries in
//! deploy/clickhouse/queries/workorders/ answer time-to-acknowledge,
//! time-to-resolve per department and whether a fixed pain point's volume fell.

use crate::consumer;
use crate::workorder::{self, WorkOrderRow};
use anyhow::Context as _;
use chrono::Utc;
use rdkafka::message::{Message, OwnedMessage};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use voc_ingest::{DeadLetter, KafkaSourceConfig};
use voc_sink::{ClickHouseConfig, ClickHouseSink, Publisher};

/// `[workorders]`: the consumer of work-order status updates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkOrdersConfig {
    pub group_id: String,
}

impl Default for WorkOrdersConfig {
    fn default() -> Self {
        WorkOrdersConfig {
            group_id: "voc-workorders".into(),
        }
    }
}

/// Take updates from `topic` until `cancel` fires; invalid ones go to `dead_letter_topic`.
pub async fn run(
    kafka: &KafkaSourceConfig,
    clickhouse: ClickHouseConfig,
    cfg: &WorkOrdersConfig,
    topic: &str,
    dead_letter_topic: &str,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    let consumer = consumer::consumer(kafka, &cfg.group_id, topic)
        .await
        .with_context(|| format!("consuming {topic}"))?;
    let sink = ClickHouseSink::new(clickhouse)?;
    let publisher = Publisher::new(&kafka.producer_config())?;
    tracing::info!(%topic, "work-order updates consumer started");
    consumer::run(
        &consumer,
        &cancel,
        1000,
        Duration::from_millis(200),
        |batch| {
            let (sink, publisher, cancel) = (sink.clone(), publisher.clone(), cancel.clone());
            async move {
                let (rows, dead) = split(&batch)?;
                consumer::retry("storing work-order updates", &cancel, || {
                    sink.insert_rows("work_order_updates", &rows)
                })
                .await?;
                consumer::retry("dead-lettering invalid updates", &cancel, || {
                    publisher.publish_all(dead_letter_topic, &dead)
                })
                .await?;
                tracing::debug!(stored = rows.len(), dead = dead.len(), "updates batch");
                Ok(batch)
            }
        },
    )
    .await
}

type Encoded = (String, Vec<u8>);

/// The batch's valid updates as rows (free text masked) and its invalid ones
/// as encoded dead letters.
fn split(batch: &[OwnedMessage]) -> anyhow::Result<(Vec<WorkOrderRow>, Vec<Encoded>)> {
    let now = Utc::now();
    let mut rows = Vec::new();
    let mut dead = Vec::new();
    for m in batch {
        match workorder::parse(m.payload().unwrap_or_default()) {
            Ok(u) => rows.push(WorkOrderRow::of(u, |t| voc_core::pii::mask(t).text, now)),
            Err(e) => {
                tracing::warn!(offset = m.offset(), error = %e, "invalid work-order update; dead-lettered");
                let d = DeadLetter::rejected(m, None, e.reason(), None, e.to_string());
                dead.push((d.key(), serde_json::to_vec(&d)?));
            }
        }
    }
    Ok((rows, dead))
}

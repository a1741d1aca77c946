//! `voc workorders`: consume work-order status updates (acknowledged,
//! resolved, verified, reopened; docs/workorder-update.schema.json) from the
//! updates topic into ClickHouse `work_order_updates`, idempotently (the
//! update_id is the key). Invalid updates go to the dead-letter topic with the
//! reason. Free text is PII-masked before it is stored. The saved queries in
//! deploy/clickhouse/queries/ answer time-to-acknowledge, time-to-resolve per
//! department and whether a fixed pain point's volume fell.

use super::{side_consumer, ConfigArgs};
use chrono::Utc;
use rdkafka::message::{Message, OwnedMessage};
use std::time::Duration;
use voc_sink::dead_letter::SourcePosition;
use voc_sink::workorder::{self, WorkOrderRow};
use voc_sink::{ClickHouseSink, DeadLetter, Publisher, DEAD_LETTER_SCHEMA};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    super::init_logging(&cfg.log);
    super::runtime()?.block_on(async move {
        let shutdown = side_consumer::shutdown_on_signal();
        let topic = cfg.topics.workorder_updates.clone();
        let consumer = side_consumer::consumer(&cfg, &cfg.workorders.group_id, &topic)?;
        let sink = ClickHouseSink::new(cfg.clickhouse.clone());
        let publisher = Publisher::new(&cfg.kafka.producer_config())?;
        let dl_topic = cfg.topics.dead_letter.clone();
        tracing::info!(%topic, "work-order updates consumer started");
        let sd = shutdown.clone();
        side_consumer::run(
            &consumer,
            shutdown,
            side_consumer::Batching {
                max_messages: 1000,
                max_wait: Duration::from_millis(200),
            },
            |batch: Vec<OwnedMessage>| {
                let (sink, publisher, dl_topic, sd) =
                    (sink.clone(), publisher.clone(), dl_topic.clone(), sd.clone());
                async move {
                    let now = Utc::now();
                    let mut rows = Vec::new();
                    let mut dead = Vec::new();
                    for m in &batch {
                        let payload = m.payload().unwrap_or_default();
                        match workorder::parse(payload) {
                            Ok(u) => rows.push(WorkOrderRow::of(
                                u,
                                |t| voc_enrich::pii::mask(t).text,
                                now,
                            )),
                            Err(e) => {
                                tracing::warn!(offset = m.offset(), error = %e, "invalid work-order update; dead-lettered");
                                let d = DeadLetter {
                                    schema: DEAD_LETTER_SCHEMA.into(),
                                    reason: e.reason().into(),
                                    field: None,
                                    detail: e.to_string(),
                                    channel: None,
                                    source: SourcePosition {
                                        topic: m.topic().to_string(),
                                        partition: m.partition(),
                                        offset: m.offset(),
                                        timestamp_ms: m.timestamp().to_millis(),
                                    },
                                    payload_encoding: "utf-8".into(),
                                    payload: voc_enrich::pii::mask(&String::from_utf8_lossy(payload)).text,
                                    dead_lettered_at: now,
                                };
                                dead.push((d.key(), serde_json::to_vec(&d)?));
                            }
                        }
                    }
                    side_consumer::retry("storing work-order updates", &sd, || {
                        sink.insert_rows("work_order_updates", &rows)
                    })
                    .await?;
                    side_consumer::retry("dead-lettering invalid updates", &sd, || {
                        publisher.publish_all(&dl_topic, &dead)
                    })
                    .await?;
                    tracing::debug!(stored = rows.len(), dead = dead.len(), "updates batch");
                    Ok(batch)
                }
            },
        )
        .await
    })
}

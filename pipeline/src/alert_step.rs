//! The alert lane: a batch's alerts are evaluated and published as soon as
//! the batch is enriched, without waiting for its ClickHouse insert (the
//! storage task commits the batch only after its lane finished).
//!
//! Each alert goes out with a `voc-triggers` header (the triggers its window
//! opened with), so that [`recover_published`], run at start, can record in
//! ClickHouse what a crashed process published but did not record: the
//! batches it re-delivers then find their alerts and publish nothing again.

use crate::metrics::Metrics;
use anyhow::Context as _;
use chrono::Utc;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use voc_alert::{AlertService, Evaluation};
use voc_core::EnrichedEvent;
use voc_sink::Publisher;

/// Header of each alert record: the JSON array of triggers (event ids, a
/// spike's window id) its suppression window opened with; empty for an update.
pub const TRIGGERS_HEADER: &str = "voc-triggers";

/// Debug builds: pause this many ms after a batch's alerts were
/// acknowledged, before they are recorded (crash tests kill the process there).
const PAUSE_AFTER_PUBLISH: &str = "VOC_TEST_PAUSE_AFTER_ALERT_PUBLISH_MS";

/// How a batch's alert lane ended.
pub enum AlertOutcome {
    /// Evaluated and on the alert topic (this many alerts); recording in
    /// ClickHouse continues in the background.
    Published(usize),
    /// Evaluation failed: re-evaluate (what the alerter decided is kept in
    /// its outbox, nothing decided is lost).
    EvaluateFailed(String),
    /// Publishing failed: publish this evaluation again.
    PublishFailed(Evaluation, String),
}

/// What the alert lane needs, cheap to clone into its task.
#[derive(Clone)]
pub struct AlertStep {
    pub alerting: AlertService,
    pub publisher: Publisher,
    pub topic: String,
    pub metrics: Arc<Metrics>,
}

impl AlertStep {
    /// Evaluate a batch's alerts and publish them. `evaluated` fires once
    /// the alerter is done with the batch (the worker starts the next
    /// batch's lane after it, so batches are evaluated in offset order).
    pub async fn run(
        self,
        seq: u64,
        events: Arc<Vec<EnrichedEvent>>,
        evaluated: oneshot::Sender<()>,
    ) -> AlertOutcome {
        let t = Instant::now();
        let result = self.alerting.evaluate(seq, &events, Utc::now()).await;
        let _ = evaluated.send(());
        let evaluation = match result {
            Ok(e) => e,
            Err(e) => return AlertOutcome::EvaluateFailed(e.to_string()),
        };
        let took = t.elapsed();
        if let Err(e) = self.publish(&evaluation).await {
            return AlertOutcome::PublishFailed(evaluation, format!("{e:#}"));
        }
        if let Some(pause) = voc_core::test_hook::pause(PAUSE_AFTER_PUBLISH) {
            if !evaluation.alerts.is_empty() {
                tracing::warn!(
                    ms = pause.as_millis() as u64,
                    "test hook: pausing after publishing alerts"
                );
                tokio::time::sleep(pause).await;
            }
        }
        let stages = &self.metrics.stage_seconds;
        stages
            .with_label_values(&["alert_evaluate"])
            .observe(took.as_secs_f64());
        stages
            .with_label_values(&["alert_publish"])
            .observe((t.elapsed() - took).as_secs_f64());
        stages
            .with_label_values(&["alert"])
            .observe(t.elapsed().as_secs_f64());
        let n = evaluation.alerts.len();
        self.published(evaluation);
        AlertOutcome::Published(n)
    }

    /// Publish the evaluation's alerts (their JSON as evaluated).
    pub async fn publish(&self, evaluation: &Evaluation) -> anyhow::Result<()> {
        let records: Vec<(String, &[u8], OwnedHeaders)> = evaluation
            .with_triggers()
            .map(|(a, json, triggers)| {
                let triggers = serde_json::to_vec(&triggers).expect("strings serialize");
                let headers = OwnedHeaders::new().insert(Header {
                    key: TRIGGERS_HEADER,
                    value: Some(&triggers),
                });
                (a.key(), json.as_bytes(), headers)
            })
            .collect();
        self.publisher
            .publish_all_with_headers(&self.topic, &records)
            .await?;
        Ok(())
    }

    /// After the broker acknowledged: count, and record in ClickHouse in the
    /// background (the next evaluation does not wait for it).
    pub fn published(&self, evaluation: Evaluation) {
        for a in &evaluation.alerts {
            self.metrics
                .alerts
                .with_label_values(&[a.kind.as_str(), a.severity.as_str()])
                .inc();
        }
        self.alerting.record_in_background(evaluation);
    }
}

/// Record in ClickHouse the alerts of the last `minutes` on `topic` that it
/// does not hold (published by a process that died before recording them);
/// run before the first batch is evaluated. Returns how many were recorded.
pub async fn recover_published(
    consumer: ClientConfig,
    topic: &str,
    minutes: u32,
    alerting: &AlertService,
) -> anyhow::Result<usize> {
    if minutes == 0 {
        return Ok(0);
    }
    let since = Utc::now() - chrono::Duration::minutes(minutes as i64);
    let t = topic.to_string();
    let found =
        tokio::task::spawn_blocking(move || read_since(consumer, &t, since.timestamp_millis()))
            .await
            .context("reading the alert topic")??;
    let n = found.len();
    let recorded = alerting.recover_published(found).await?;
    tracing::info!(
        on_topic = n,
        recorded,
        minutes,
        "alerts published but not recorded (a crash between the two) recorded"
    );
    Ok(recorded)
}

type Published = (Arc<str>, Vec<String>);

/// Every record of `topic` from `since_ms` (broker time) to its end now:
/// the payload and its [`TRIGGERS_HEADER`].
fn read_since(cfg: ClientConfig, topic: &str, since_ms: i64) -> anyhow::Result<Vec<Published>> {
    const WAIT: Duration = Duration::from_secs(10);
    let c: BaseConsumer = cfg.create()?;
    let md = c.fetch_metadata(Some(topic), WAIT)?;
    let parts: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut ends = HashMap::new();
    let mut wanted = TopicPartitionList::new();
    for p in &parts {
        ends.insert(*p, c.fetch_watermarks(topic, *p, WAIT)?.1);
        wanted.add_partition_offset(topic, *p, Offset::Offset(since_ms))?;
    }
    let mut assign = TopicPartitionList::new();
    for e in c.offsets_for_times(wanted, WAIT)?.elements() {
        let end = ends[&e.partition()];
        // No record at or after the time: nothing to read there.
        let start = match e.offset() {
            Offset::Offset(o) => o,
            _ => end,
        };
        if start < end {
            assign.add_partition_offset(topic, e.partition(), Offset::Offset(start))?;
        } else {
            ends.remove(&e.partition());
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return Ok(out);
    }
    c.assign(&assign)?;
    let mut quiet_since = Instant::now();
    while !ends.is_empty() {
        let Some(m) = c.poll(Duration::from_millis(500)) else {
            anyhow::ensure!(
                quiet_since.elapsed() < 3 * WAIT,
                "the alert topic stopped answering before its end"
            );
            continue;
        };
        let m = m?;
        quiet_since = Instant::now();
        if m.offset() + 1 >= ends.get(&m.partition()).copied().unwrap_or(0) {
            ends.remove(&m.partition());
        }
        let Ok(json) = std::str::from_utf8(m.payload().unwrap_or_default()) else {
            continue;
        };
        let triggers = m
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == TRIGGERS_HEADER))
            .and_then(|h| serde_json::from_slice(h.value?).ok())
            .unwrap_or_default();
        out.push((Arc::from(json), triggers));
    }
    Ok(out)
}

//! The alert lane: a batch's alerts are evaluated and published as soon as
//! the batch is enriched, without waiting for its ClickHouse insert (the
//! storage task commits the batch only after its lane finished).
//!
//! Each alert goes out with a `voc-triggers` header (the triggers its window
//! opened with), so that [`crate::alert_recovery`] can record in ClickHouse
//! what a crashed process published but did not record: the batches it
//! re-delivers then find their alerts and publish nothing again.

use crate::alert_recovery::Recovery;
use crate::metrics::Metrics;
use chrono::Utc;
use rdkafka::message::{Header, OwnedHeaders};
use std::sync::Arc;
use std::time::Instant;
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
    pub recovery: Arc<Recovery>,
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
        self.recovery.before_batch(&events, &self.alerting).await;
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

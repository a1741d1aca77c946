//! Prometheus metrics and the /metrics + /healthz HTTP endpoint.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything the worker reports.
pub struct Metrics {
    pub registry: Registry,
    pub consumed: IntCounterVec,
    pub stored: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub alerts: IntCounterVec,
    pub batch_events: Histogram,
    pub insert_seconds: Histogram,
    /// Rows per ClickHouse insert, by pace ("steady" / "backlog").
    pub insert_rows: HistogramVec,
    pub visible_seconds: Histogram,
    pub stage_seconds: HistogramVec,
    pub retries: IntCounterVec,
    pub commit_failures: IntCounter,
    pub consumer_lag: IntGaugeVec,
    pub consumer_requests: IntGaugeVec,
    pub last_commit: IntGauge,
    pub assigned_partitions: IntGauge,
    /// Resident memory of the process, refreshed at each scrape.
    pub resident_memory: IntGauge,
    pub health: Health,
}

/// Liveness facts /healthz reports.
#[derive(Default)]
pub struct Health {
    pub consumer_ready: AtomicBool,
    pub clickhouse_ok: AtomicBool,
    /// Unix seconds of the last loop turn (proves the loop is not stuck).
    pub last_turn: AtomicI64,
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let r = Registry::new();
        let batch_events = Histogram::with_opts(
            HistogramOpts::new("voc_batch_events", "Messages per processed batch").buckets(vec![
                1.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 20000.0,
            ]),
        )
        .unwrap();
        let insert_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "voc_clickhouse_insert_seconds",
                "Duration of successful ClickHouse inserts",
            )
            .buckets(prometheus::exponential_buckets(0.002, 2.0, 14).unwrap()),
        )
        .unwrap();
        let insert_rows = HistogramVec::new(
            HistogramOpts::new(
                "voc_clickhouse_insert_rows",
                "Rows per ClickHouse insert, by pace: steady (the worker keeps up) or backlog \
                 (its batches fill up: inserts wait longer and grow)",
            )
            .buckets(vec![
                10.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 20000.0, 50000.0,
            ]),
            &["pace"],
        )
        .unwrap();
        let visible_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "voc_produce_to_visible_seconds",
                "Broker timestamp of a message to ClickHouse acknowledging its row",
            )
            .buckets(prometheus::exponential_buckets(0.01, 2.0, 14).unwrap()),
        )
        .unwrap();
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new("voc_stage_seconds", "Time per batch spent in each stage")
                .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).unwrap()),
            &["stage"],
        )
        .unwrap();
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "voc_consumer_lag",
                "Messages behind the high watermark, per partition (librdkafka statistics)",
            ),
            &["topic", "partition"],
        )
        .unwrap();
        let consumer_requests = IntGaugeVec::new(
            Opts::new(
                "voc_consumer_broker_requests",
                "Requests the consumer sent, per broker and request type, since it started \
                 (librdkafka statistics; a counter refreshed every 5 s)",
            ),
            &["broker", "request"],
        )
        .unwrap();
        let commit_failures = IntCounter::new("voc_commit_failures_total", "Offset commits the broker rejected (the batch will be re-delivered; storage is idempotent)").unwrap();
        let last_commit = IntGauge::new(
            "voc_last_commit_timestamp_seconds",
            "Unix time of the last successful offset commit",
        )
        .unwrap();
        let assigned_partitions = IntGauge::new(
            "voc_assigned_partitions",
            "Partitions this worker currently owns",
        )
        .unwrap();
        let resident_memory = IntGauge::new(
            "process_resident_memory_bytes",
            "Resident memory of the worker process (VmRSS), read at each scrape",
        )
        .unwrap();
        for m in [
            Box::new(batch_events.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(insert_seconds.clone()),
            Box::new(insert_rows.clone()),
            Box::new(visible_seconds.clone()),
            Box::new(stage_seconds.clone()),
            Box::new(consumer_lag.clone()),
            Box::new(consumer_requests.clone()),
            Box::new(commit_failures.clone()),
            Box::new(last_commit.clone()),
            Box::new(assigned_partitions.clone()),
            Box::new(resident_memory.clone()),
        ] {
            r.register(m).expect("unique metric");
        }
        Arc::new(Metrics {
            consumed: counter_vec(
                &r,
                "voc_messages_consumed_total",
                "Messages consumed, by channel",
                &["channel"],
            ),
            stored: counter_vec(
                &r,
                "voc_events_stored_total",
                "Enriched events acknowledged by ClickHouse, by channel",
                &["channel"],
            ),
            dead_letters: counter_vec(
                &r,
                "voc_dead_letters_total",
                "Messages dead-lettered, by reason",
                &["reason"],
            ),
            alerts: counter_vec(
                &r,
                "voc_alerts_published_total",
                "Alerts published, by kind and severity",
                &["kind", "severity"],
            ),
            retries: counter_vec(
                &r,
                "voc_retries_total",
                "Retried operations, by target",
                &["target"],
            ),
            registry: r,
            batch_events,
            insert_seconds,
            insert_rows,
            visible_seconds,
            stage_seconds,
            commit_failures,
            consumer_lag,
            consumer_requests,
            last_commit,
            assigned_partitions,
            resident_memory,
            health: Health::default(),
        })
    }

    pub fn render(&self) -> String {
        if let Some(kib) = crate::stats::proc_status_kib("VmRSS") {
            self.resident_memory.set((kib * 1024.0) as i64);
        }
        render_registry(&self.registry)
    }

    /// (healthy, reason) for /healthz.
    pub fn healthy(&self, now: i64) -> (bool, &'static str) {
        let h = &self.health;
        if !h.consumer_ready.load(Ordering::Relaxed) {
            (false, "consumer not started")
        } else if !h.clickhouse_ok.load(Ordering::Relaxed) {
            (false, "clickhouse unreachable: batches are being retried")
        } else if now - h.last_turn.load(Ordering::Relaxed) > 60 {
            (false, "processing loop stalled")
        } else {
            (true, "ok")
        }
    }
}

/// What a voc process shows at /metrics and /healthz (the worker's
/// [`Metrics`]; `voc notify` has its own).
pub trait Exporter: Send + Sync + 'static {
    /// The Prometheus text format.
    fn render(&self) -> String;
    /// (healthy, reason) at unix time `now`.
    fn healthy(&self, now: i64) -> (bool, &'static str);
}

impl Exporter for Metrics {
    fn render(&self) -> String {
        Metrics::render(self)
    }
    fn healthy(&self, now: i64) -> (bool, &'static str) {
        Metrics::healthy(self, now)
    }
}

/// The text format of a registry's metrics.
pub fn render_registry(registry: &Registry) -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .expect("text encoding cannot fail");
    String::from_utf8(buf).unwrap_or_default()
}

async fn metrics(State(m): State<Arc<dyn Exporter>>) -> String {
    m.render()
}

async fn healthz(State(m): State<Arc<dyn Exporter>>) -> (StatusCode, &'static str) {
    match m.healthy(chrono::Utc::now().timestamp()) {
        (true, why) => (StatusCode::OK, why),
        (false, why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

/// Serve /metrics and /healthz until `stop` fires; the returned task ends then.
pub async fn serve(
    listen: &str,
    m: Arc<dyn Exporter>,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("metrics.listen {listen}: {e}"))?;
    tracing::info!(%listen, "serving /metrics and /healthz");
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(m);
    Ok(tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = served.await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics_and_health() {
        let m = Metrics::new();
        m.consumed.with_label_values(&["app"]).inc();
        m.dead_letters
            .with_label_values(&["invalid_json"])
            .inc_by(2);
        let text = m.render();
        assert!(text.contains("voc_messages_consumed_total{channel=\"app\"} 1"));
        let rss: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(rss > 1e6, "{rss}");
        assert!(text.contains("voc_dead_letters_total{reason=\"invalid_json\"} 2"));
        assert!(!m.healthy(0).0);
        m.health.consumer_ready.store(true, Ordering::Relaxed);
        m.health.clickhouse_ok.store(true, Ordering::Relaxed);
        m.health.last_turn.store(100, Ordering::Relaxed);
        assert_eq!(m.healthy(120), (true, "ok"));
        assert!(!m.healthy(1000).0);
    }
}

//! Prometheus metrics and the HTTP endpoint: /metrics, /livez, /readyz
//! (and /healthz, the same as /readyz).
//!
//! - /livez: the process can make progress: its consume loop turned within
//!   `metrics.live_max_turn_ms` (it turns at least once a second, also while
//!   a step is retried or the storage queue is full).
//! - /readyz: connected (consumer subscribed, ClickHouse answered once) and
//!   not stalled: no step retried for longer than `metrics.ready_max_retry_ms`,
//!   and no lag without a commit for longer than `metrics.ready_max_uncommitted_ms`
//!   (on this worker's partitions, or on partitions of the group nobody consumes).
//!
//! `voc_stalled_seconds{reason}` says for how long each stall has held.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Messages received but not yet in a batch (kept while waiting).
    pub carried: IntGauge,
    /// Seconds each stall reason has held (0 when it does not).
    pub stalled_seconds: IntGaugeVec,
    pub health: Health,
}

/// The facts /livez and /readyz report.
#[derive(Default)]
pub struct Health {
    pub consumer_ready: AtomicBool,
    /// ClickHouse answered at least once (the worker waits for it at start).
    pub connected: AtomicBool,
    pub clickhouse_ok: AtomicBool,
    /// Unix seconds of the last loop turn (proves the loop is not stuck).
    pub last_turn: AtomicI64,
    /// Steps being retried now, since when (unix seconds, the first of them), and which.
    retrying: AtomicUsize,
    retry_since: AtomicI64,
    retry_target: Mutex<&'static str>,
    /// Messages behind the high watermark over this worker's partitions
    /// (librdkafka statistics, every 5 s).
    pub lag: AtomicI64,
    /// Unix seconds of the last sign the worker was not falling behind:
    /// start, an assignment, a statistics report without lag (commits are
    /// read from `voc_last_commit_timestamp_seconds`).
    pub progress: AtomicI64,
    /// Since when (unix seconds; 0: not) partitions of the subscribed topics
    /// have lag that no member of the group consumes (see `crate::group_watch`).
    pub unowned_since: AtomicI64,
}

/// Marks a step as being retried while it lives (see [`Health::retrying`]).
pub struct RetryMark<'a>(&'a Health);

impl Drop for RetryMark<'_> {
    fn drop(&mut self) {
        if self.0.retrying.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.retry_since.store(0, Ordering::SeqCst);
        }
    }
}

impl Health {
    /// A step failed and is being retried until the returned mark is dropped.
    pub fn retrying(&self, target: &'static str) -> RetryMark<'_> {
        if self.retrying.fetch_add(1, Ordering::SeqCst) == 0 {
            self.retry_since
                .store(chrono::Utc::now().timestamp(), Ordering::SeqCst);
            *self.retry_target.lock().unwrap_or_else(|p| p.into_inner()) = target;
        }
        RetryMark(self)
    }

    /// Record a sign of progress (an assignment, no lag).
    pub fn progressed(&self) {
        self.progress
            .store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
    }
}

/// When the worker stops being live or ready (`[metrics]` options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthLimits {
    pub live_max_turn_secs: i64,
    pub ready_max_retry_secs: i64,
    pub ready_max_uncommitted_secs: i64,
}

impl Default for HealthLimits {
    fn default() -> Self {
        HealthLimits {
            live_max_turn_secs: 60,
            ready_max_retry_secs: 60,
            ready_max_uncommitted_secs: 120,
        }
    }
}

/// Why the worker is not making progress, with the seconds it has lasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// A step (insert, publish, ClickHouse at start) has been retried this long.
    Retrying(&'static str, i64),
    /// This worker's partitions have lag and nothing was committed this long.
    NoCommit(i64),
    /// Partitions of the subscribed topics have lag nobody in the group consumes.
    UnownedPartitions(i64),
}

/// The label values of `voc_stalled_seconds`.
pub const STALL_REASONS: [&str; 3] = ["retrying", "no_commit", "unowned_partitions"];

impl Stall {
    pub fn reason(&self) -> &'static str {
        match self {
            Stall::Retrying(..) => STALL_REASONS[0],
            Stall::NoCommit(_) => STALL_REASONS[1],
            Stall::UnownedPartitions(_) => STALL_REASONS[2],
        }
    }

    pub fn seconds(&self) -> i64 {
        match *self {
            Stall::Retrying(_, s) | Stall::NoCommit(s) | Stall::UnownedPartitions(s) => s,
        }
    }
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
        let stalled_seconds = IntGaugeVec::new(
            Opts::new(
                "voc_stalled_seconds",
                "How long the worker has not been making progress, by reason: retrying (a \
                 step retried), no_commit (lag on its partitions, no commit), \
                 unowned_partitions (lag on partitions no group member consumes); 0 when not",
            ),
            &["reason"],
        )
        .unwrap();
        for reason in STALL_REASONS {
            stalled_seconds.with_label_values(&[reason]).set(0);
        }
        let carried = IntGauge::new(
            "voc_carried_messages",
            "Messages received while a step was retried or the storage queue was full, \
             kept for the next batches (bounded: partitions are paused while a retry holds)",
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
            Box::new(stalled_seconds.clone()),
            Box::new(carried.clone()),
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
            stalled_seconds,
            carried,
            health: Health {
                progress: AtomicI64::new(chrono::Utc::now().timestamp()),
                ..Health::default()
            },
        })
    }

    pub fn render(&self) -> String {
        self.stalls(chrono::Utc::now().timestamp());
        if let Some(kib) = crate::stats::proc_status_kib("VmRSS") {
            self.resident_memory.set((kib * 1024.0) as i64);
        }
        render_registry(&self.registry)
    }

    /// What keeps the worker from progressing at `now` (unix seconds); also
    /// sets `voc_stalled_seconds`.
    pub fn stalls(&self, now: i64) -> Vec<Stall> {
        let h = &self.health;
        let mut out = Vec::new();
        let since = h.retry_since.load(Ordering::SeqCst);
        if since > 0 {
            let target = *h.retry_target.lock().unwrap_or_else(|p| p.into_inner());
            out.push(Stall::Retrying(target, now - since));
        }
        if h.lag.load(Ordering::Relaxed) > 0 {
            let last = h
                .progress
                .load(Ordering::Relaxed)
                .max(self.last_commit.get());
            out.push(Stall::NoCommit(now - last));
        }
        let unowned = h.unowned_since.load(Ordering::Relaxed);
        if unowned > 0 {
            out.push(Stall::UnownedPartitions(now - unowned));
        }
        for reason in STALL_REASONS {
            let secs = out
                .iter()
                .find(|s| s.reason() == reason)
                .map(Stall::seconds);
            self.stalled_seconds
                .with_label_values(&[reason])
                .set(secs.unwrap_or(0).max(0));
        }
        out
    }

    /// (live, reason) for /livez: the consume loop turned recently.
    pub fn live(&self, now: i64, limits: &HealthLimits) -> (bool, String) {
        let turned = self.health.last_turn.load(Ordering::Relaxed);
        if turned > 0 && now - turned > limits.live_max_turn_secs {
            (
                false,
                format!("processing loop made no turn for {} s", now - turned),
            )
        } else {
            (true, "ok".into())
        }
    }

    /// (ready, reason) for /readyz: connected and not stalled past its limit.
    pub fn ready(&self, now: i64, limits: &HealthLimits) -> (bool, String) {
        let h = &self.health;
        if !h.consumer_ready.load(Ordering::Relaxed) {
            return (false, "consumer not started".into());
        }
        if !h.connected.load(Ordering::Relaxed) {
            return (false, "waiting for ClickHouse".into());
        }
        let (live, why) = self.live(now, limits);
        if !live {
            return (false, why);
        }
        for stall in self.stalls(now) {
            let why = match stall {
                Stall::Retrying(target, s) if s > limits.ready_max_retry_secs => {
                    format!("stalled: {target} retried for {s} s")
                }
                Stall::NoCommit(s) if s > limits.ready_max_uncommitted_secs => {
                    format!("stalled: lag and no commit for {s} s")
                }
                Stall::UnownedPartitions(s) if s > limits.ready_max_uncommitted_secs => {
                    format!("stalled: partitions with lag consumed by no group member for {s} s")
                }
                _ => continue,
            };
            return (false, why);
        }
        (true, "ok".into())
    }
}

/// What a voc process shows at /metrics, /livez and /readyz (the worker's
/// [`Metrics`]; `voc notify` has its own).
pub trait Exporter: Send + Sync + 'static {
    /// The Prometheus text format.
    fn render(&self) -> String;
    /// (live, reason) at unix time `now`: /livez.
    fn live(&self, now: i64, limits: &HealthLimits) -> (bool, String);
    /// (ready, reason) at unix time `now`: /readyz and /healthz.
    fn ready(&self, now: i64, limits: &HealthLimits) -> (bool, String);
}

impl Exporter for Metrics {
    fn render(&self) -> String {
        Metrics::render(self)
    }
    fn live(&self, now: i64, limits: &HealthLimits) -> (bool, String) {
        Metrics::live(self, now, limits)
    }
    fn ready(&self, now: i64, limits: &HealthLimits) -> (bool, String) {
        Metrics::ready(self, now, limits)
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

#[derive(Clone)]
struct Probe {
    metrics: Arc<dyn Exporter>,
    limits: HealthLimits,
}

async fn metrics(State(p): State<Probe>) -> String {
    p.metrics.render()
}

fn answer((ok, why): (bool, String)) -> (StatusCode, String) {
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, why)
}

async fn livez(State(p): State<Probe>) -> (StatusCode, String) {
    answer(p.metrics.live(chrono::Utc::now().timestamp(), &p.limits))
}

async fn readyz(State(p): State<Probe>) -> (StatusCode, String) {
    answer(p.metrics.ready(chrono::Utc::now().timestamp(), &p.limits))
}

/// Serve /metrics, /livez, /readyz and /healthz (= /readyz) until `stop`
/// fires; the returned task ends then.
pub async fn serve(
    listen: &str,
    m: Arc<dyn Exporter>,
    limits: HealthLimits,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("metrics.listen {listen}: {e}"))?;
    tracing::info!(%listen, "serving /metrics, /livez, /readyz");
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/healthz", get(readyz))
        .with_state(Probe { metrics: m, limits });
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
        let limits = HealthLimits::default();
        assert!(!m.ready(0, &limits).0);
        m.health.consumer_ready.store(true, Ordering::Relaxed);
        m.health.connected.store(true, Ordering::Relaxed);
        m.health.last_turn.store(100, Ordering::Relaxed);
        m.health.progress.store(100, Ordering::Relaxed);
        assert_eq!(m.ready(120, &limits), (true, "ok".into()));
        assert!(m.live(120, &limits).0);
        assert!(!m.live(1000, &limits).0);
        assert!(!m.ready(1000, &limits).0);
    }

    #[test]
    fn a_long_retry_or_uncommitted_lag_is_not_ready() {
        let m = Metrics::new();
        let limits = HealthLimits::default();
        let now = chrono::Utc::now().timestamp();
        m.health.consumer_ready.store(true, Ordering::Relaxed);
        m.health.connected.store(true, Ordering::Relaxed);
        m.health.last_turn.store(now + 1000, Ordering::Relaxed);
        {
            let _mark = m.health.retrying("clickhouse");
            let _inner = m.health.retrying("kafka_dead_letters");
            assert!(m.ready(now + 10, &limits).0);
            let (ready, why) = m.ready(now + 61, &limits);
            assert!(!ready && why.contains("clickhouse retried"), "{why}");
            assert!(m
                .render()
                .contains("voc_stalled_seconds{reason=\"retrying\"}"));
        }
        assert!(m.ready(now + 61, &limits).0, "the retry ended");
        assert!(m.stalls(now + 61).is_empty());
        // Lag without a commit: not ready after the limit; a commit clears it.
        m.health.progress.store(now, Ordering::Relaxed);
        m.health.lag.store(500, Ordering::Relaxed);
        assert!(m.ready(now + 100, &limits).0);
        let (ready, why) = m.ready(now + 121, &limits);
        assert!(!ready && why.contains("no commit"), "{why}");
        assert_eq!(
            m.stalled_seconds.with_label_values(&["no_commit"]).get(),
            121
        );
        m.last_commit.set(now + 120);
        assert!(m.ready(now + 121, &limits).0);
        m.health.unowned_since.store(now, Ordering::Relaxed);
        assert!(!m.ready(now + 200, &limits).0);
    }
}

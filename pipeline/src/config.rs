//! The worker's own options (`[topics]`, `[decode]`, `[batch]`, `[metrics]`)
//! and [`WorkerConfig`], everything a worker needs, assembled by the binary
//! from its configuration file.

use serde::{Deserialize, Serialize};
use voc_alert::AlertConfig;
use voc_enrich::EnrichConfig;
use voc_ingest::KafkaSourceConfig;
use voc_sink::ClickHouseConfig;

/// What a worker runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    pub kafka: KafkaSourceConfig,
    pub topics: OutputTopics,
    pub decode: DecodeConfig,
    pub enrich: EnrichConfig,
    pub clickhouse: ClickHouseConfig,
    pub alert: AlertConfig,
    pub batch: BatchConfig,
    pub metrics: MetricsConfig,
}

impl WorkerConfig {
    /// Checks that need no network: a bad value fails at start with the option's name.
    pub fn validate(&self) -> Result<(), String> {
        self.decode.zone()?;
        let d = &self.decode;
        if d.max_key_chars < 16 || d.max_depth < 3 || d.max_fields < 16 || d.max_array_items < 16 {
            return Err(
                "decode.max_key_chars, max_fields and max_array_items must be at least 16, decode.max_depth at least 3".into(),
            );
        }
        self.enrich.validate().map_err(|e| e.to_string())?;
        if self.batch.max_events == 0 {
            return Err("batch.max_events must be at least 1".into());
        }
        if self.batch.backlog_insert_every_ms < self.batch.insert_every_ms {
            return Err(format!(
                "batch.backlog_insert_every_ms ({}) must be at least batch.insert_every_ms ({})",
                self.batch.backlog_insert_every_ms, self.batch.insert_every_ms
            ));
        }
        if self.batch.retry_initial_ms == 0 {
            return Err("batch.retry_initial_ms must be positive".into());
        }
        if self.kafka.brokers.is_empty() {
            return Err("kafka.brokers is empty".into());
        }
        self.kafka.validate().map_err(|e| e.to_string())?;
        self.kafka.check_extra()?;
        self.clickhouse.validate().map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Topics the worker produces to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputTopics {
    pub dead_letter: String,
    pub alerts: String,
    /// Evaluate and publish alerts at all.
    pub alerts_enabled: bool,
    /// Work-order status updates from the case system (`voc workorders` reads it).
    pub workorder_updates: String,
}

impl Default for OutputTopics {
    fn default() -> Self {
        OutputTopics {
            dead_letter: "voc.deadletter".into(),
            alerts: "voc.alerts".into(),
            alerts_enabled: true,
            workorder_updates: "voc.workorder.updates".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeConfig {
    /// IANA zone of zone-less local times in payloads.
    pub timezone: String,
    /// Larger payloads are dead-lettered as payload_too_large.
    pub max_payload_bytes: usize,
    /// Longer ids and keys (customer, branch, product, app version, ...) are
    /// dead-lettered as key_too_long.
    pub max_key_chars: usize,
    /// Deeper JSON is dead-lettered as too_deeply_nested.
    pub max_depth: usize,
    /// An object with more fields is dead-lettered as too_many_fields.
    pub max_fields: usize,
    /// An array with more items is dead-lettered as array_too_large.
    pub max_array_items: usize,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        let limits = voc_ingest::Limits::default();
        DecodeConfig {
            timezone: "Asia/Shanghai".into(),
            max_payload_bytes: 256 * 1024,
            max_key_chars: limits.max_key_chars,
            max_depth: limits.max_depth,
            max_fields: limits.max_fields,
            max_array_items: limits.max_array_items,
        }
    }
}

impl DecodeConfig {
    /// The bounds on a payload's shape.
    pub fn limits(&self) -> voc_ingest::Limits {
        voc_ingest::Limits {
            max_key_chars: self.max_key_chars,
            max_depth: self.max_depth,
            max_fields: self.max_fields,
            max_array_items: self.max_array_items,
        }
    }

    /// `timezone` as a zone.
    pub fn zone(&self) -> Result<chrono_tz::Tz, String> {
        self.timezone
            .parse()
            .map_err(|e| format!("decode.timezone {:?}: {e}", self.timezone))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// A batch closes at this many messages...
    pub max_events: usize,
    /// ...or this long after its first message, whichever comes first.
    pub max_wait_ms: u64,
    /// Shortest time between the starts of two ClickHouse inserts while the
    /// worker keeps up: batches enriched meanwhile go into one insert.
    pub insert_every_ms: u64,
    /// The same while the worker is behind (its batches fill up to
    /// `max_events`: a backlog): longer, so inserts grow. Each insert makes
    /// a part in the events table and in every materialized view behind it;
    /// fewer, larger parts leave ClickHouse (and the disk) more room, which
    /// is what lets a backlog drain. Rows of a backlog are late already.
    pub backlog_insert_every_ms: u64,
    /// Most rows per insert (never fewer than one batch).
    pub insert_max_events: usize,
    /// First retry delay when ClickHouse or Kafka rejects a batch (doubles per try).
    pub retry_initial_ms: u64,
    /// Longest delay between retries. Batches are retried until they succeed or
    /// the worker is stopped: a batch is never skipped.
    pub retry_max_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: 5000,
            max_wait_ms: 100,
            insert_every_ms: 250,
            backlog_insert_every_ms: 1000,
            insert_max_events: 20_000,
            retry_initial_ms: 200,
            retry_max_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the /metrics, /livez, /readyz (and /healthz = /readyz)
    /// endpoint; empty disables it. Loopback by default: the endpoint has no
    /// authentication. In Kubernetes set `0.0.0.0:9464` so the scraper and
    /// the probes can reach the pod.
    pub listen: String,
    /// /livez fails when the consume loop made no turn for this long (it
    /// turns every second, also while retrying or waiting for storage).
    pub live_max_turn_ms: u64,
    /// /readyz fails when a step (insert, publish) has been retried this long.
    pub ready_max_retry_ms: u64,
    /// /readyz fails when partitions have lag and nothing was committed this
    /// long: this worker's, or partitions of the group nobody consumes.
    pub ready_max_uncommitted_ms: u64,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: "127.0.0.1:9464".into(),
            live_max_turn_ms: 60_000,
            ready_max_retry_ms: 60_000,
            ready_max_uncommitted_ms: 120_000,
        }
    }
}

impl MetricsConfig {
    /// The probe limits, in seconds (at least 1).
    pub fn limits(&self) -> crate::metrics::HealthLimits {
        let secs = |ms: u64| (ms.div_ceil(1000).max(1)) as i64;
        crate::metrics::HealthLimits {
            live_max_turn_secs: secs(self.live_max_turn_ms),
            ready_max_retry_secs: secs(self.ready_max_retry_ms),
            ready_max_uncommitted_secs: secs(self.ready_max_uncommitted_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_listen_on_loopback_unless_configured() {
        let addr: std::net::SocketAddr = MetricsConfig::default().listen.parse().unwrap();
        assert!(addr.ip().is_loopback(), "{addr}");
    }
}

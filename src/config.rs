//! The worker's configuration: defaults, then a TOML file, then environment
//! variables `VOC_<SECTION>__<KEY>` (double underscore between levels, e.g.
//! `VOC_KAFKA__BROKERS=10.0.0.5:9092`, `VOC_BATCH__MAX_EVENTS=10000`).
//!
//! deploy/voc.example.toml documents every option with its default; `voc run
//! --help` prints it, and a test keeps it equal to `Config::default()`.

use anyhow::Context;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::Path;
use voc_enrich::EnrichConfig;
use voc_ingest::KafkaSourceConfig;
use voc_sink::webhook::NotifyConfig;
use voc_sink::{AlertConfig, ClickHouseConfig};

pub const EXAMPLE_TOML: &str = include_str!("../deploy/voc.example.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kafka: KafkaSourceConfig,
    pub topics: OutputTopics,
    pub decode: DecodeConfig,
    pub enrich: EnrichConfig,
    pub clickhouse: ClickHouseConfig,
    pub alert: AlertConfig,
    pub notify: NotifyConfig,
    pub workorders: WorkOrdersConfig,
    pub batch: BatchConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
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

/// `voc workorders`: the consumer of work-order status updates.
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeConfig {
    /// IANA zone of zone-less local times in payloads.
    pub timezone: String,
    /// Larger payloads are dead-lettered as payload_too_large.
    pub max_payload_bytes: usize,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            timezone: "Asia/Shanghai".into(),
            max_payload_bytes: 256 * 1024,
        }
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
    /// Address of the /metrics and /healthz endpoint; empty disables it.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: "127.0.0.1:9464".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// "text" for people, "json" for log pipelines.
    pub format: String,
    /// A tracing filter, e.g. "info" or "voc=debug,rdkafka=warn"; RUST_LOG wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Config {
    /// Defaults <- optional TOML file <- `VOC_<SECTION>__<KEY>` environment variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            anyhow::ensure!(
                path.exists(),
                "config file {} does not exist",
                path.display()
            );
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(
            Env::prefixed("VOC_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        let cfg: Config = fig.extract().context("invalid configuration")?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn timezone(&self) -> anyhow::Result<chrono_tz::Tz> {
        self.decode
            .timezone
            .parse()
            .map_err(|e| anyhow::anyhow!("decode.timezone {:?}: {e}", self.decode.timezone))
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.timezone()?;
        anyhow::ensure!(
            self.batch.max_events > 0,
            "batch.max_events must be at least 1"
        );
        anyhow::ensure!(
            self.batch.backlog_insert_every_ms >= self.batch.insert_every_ms,
            "batch.backlog_insert_every_ms ({}) must be at least batch.insert_every_ms ({})",
            self.batch.backlog_insert_every_ms,
            self.batch.insert_every_ms
        );
        anyhow::ensure!(
            self.batch.retry_initial_ms > 0,
            "batch.retry_initial_ms must be positive"
        );
        anyhow::ensure!(
            matches!(self.log.format.as_str(), "text" | "json"),
            "log.format must be \"text\" or \"json\""
        );
        anyhow::ensure!(!self.kafka.brokers.is_empty(), "kafka.brokers is empty");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_documents_exactly_the_defaults() {
        let parsed: Config = toml::from_str(EXAMPLE_TOML).expect("example parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn rejects_unknown_options_and_bad_values() {
        assert!(toml::from_str::<Config>("[batch]\nmax_evnts = 3\n").is_err());
        let mut c = Config::default();
        c.decode.timezone = "Mars/Olympus".into();
        assert!(c.validate().is_err());
    }
}

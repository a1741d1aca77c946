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
use voc_alert::AlertConfig;
use voc_enrich::EnrichConfig;
use voc_ingest::KafkaSourceConfig;
use voc_notify::{NotifyConfig, WorkOrdersConfig};
use voc_pipeline::config::{BatchConfig, DecodeConfig, MetricsConfig, OutputTopics};
use voc_pipeline::WorkerConfig;
use voc_sink::ClickHouseConfig;

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
            check_syntax(path)?;
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(
            Env::prefixed("VOC_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        anyhow::ensure!(
            fig.find_value("enrich.pseudonym_salt").is_err(),
            "enrich.pseudonym_salt is now enrich.pseudonym_key, the secret key of an \
             HMAC-SHA256 (pseudonyms differ from the salted hash's): rename the option \
             and give it a random secret of at least {} bytes",
            voc_core::pseudonym::MIN_KEY_BYTES
        );
        let cfg: Config = fig.extract().context("invalid configuration")?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// What a worker needs of this configuration.
    pub fn worker(&self) -> WorkerConfig {
        WorkerConfig {
            kafka: self.kafka.clone(),
            topics: self.topics.clone(),
            decode: self.decode.clone(),
            enrich: self.enrich.clone(),
            clickhouse: self.clickhouse.clone(),
            alert: self.alert.clone(),
            batch: self.batch.clone(),
            metrics: self.metrics.clone(),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.worker().validate().map_err(anyhow::Error::msg)?;
        self.notify.validate()?;
        anyhow::ensure!(
            matches!(self.log.format.as_str(), "text" | "json"),
            "log.format must be \"text\" or \"json\""
        );
        Ok(())
    }
}

/// A TOML syntax error as its position and reason only: the parser's own
/// message quotes the line, which may hold a secret.
fn check_syntax(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    syntax_error(&text).map_or(Ok(()), |e| {
        Err(anyhow::anyhow!("config file {}: {e}", path.display()))
    })
}

fn syntax_error(text: &str) -> Option<String> {
    let e = toml::from_str::<toml::Table>(text).err()?;
    let at = e.span().map_or(0, |s| s.start).min(text.len());
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    Some(format!(
        "TOML syntax error at line {line}, column {column}: {}",
        e.message().trim_end()
    ))
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

    #[test]
    fn printing_the_configuration_shows_no_webhook_token() {
        let c: Config = toml::from_str(
            "[[notify.webhooks]]\nname = \"ops\"\nkind = \"dingtalk\"\n\
             url = \"https://oapi.dingtalk.com/robot/send?access_token=9f8e7d6c5b4a39281706\"\n\
             secret = \"SEC0123456789abcdef\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        let shown = toml::to_string_pretty(&c).unwrap();
        assert!(!shown.contains("9f8e7d6c5b4a39281706"), "{shown}");
        assert!(!shown.contains("SEC0123456789abcdef"), "{shown}");
        assert!(
            shown.contains("https://oapi.dingtalk.com/robot/send?access_token=***"),
            "{shown}"
        );
        assert!(format!("{c:?}").contains("access_token=***"));
        assert!(!format!("{c:?}").contains("9f8e7d6c5b4a39281706"));
    }

    #[test]
    fn errors_do_not_quote_secrets() {
        let e = syntax_error("[clickhouse]\npassword = \"hunter2\n").unwrap();
        assert!(e.contains("line 2") && !e.contains("hunter2"), "{e}");
        assert_eq!(syntax_error("[clickhouse]\npassword = \"hunter2\"\n"), None);

        let mut c = Config::default();
        c.clickhouse.url = "http://default:hunter2@127.0.0.1:8123".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("clickhouse.url") && !e.contains("hunter2"),
            "{e}"
        );

        let mut c = Config::default();
        c.kafka.extra.insert("sasl.pasword", "hunter2");
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("sasl.pasword") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn a_cluster_is_a_remote_servers_name() {
        let mut c = Config::default();
        c.clickhouse.cluster = "voc_cluster".into();
        c.validate().unwrap();
        c.clickhouse.cluster = "voc' SETTINGS x=1".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("clickhouse.cluster"), "{e}");
    }
}

//! Kafka consumer set-up: which topics carry which channel, and the client
//! settings at-least-once delivery needs (no auto-commit: the worker commits an
//! offset only after ClickHouse acknowledged the rows up to it).

use crate::connect::ConnectError;
use crate::security::{KafkaSasl, KafkaSecurity, KafkaTls, SecurityError};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;
use voc_core::secret::{is_secret_name, Secret, REDACTED};
use voc_core::Channel;

/// The raw topic of each source channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelTopics {
    pub app: String,
    pub call_center: String,
    pub community: String,
    pub branch: String,
}

impl Default for ChannelTopics {
    fn default() -> Self {
        ChannelTopics {
            app: "voc.raw.app".into(),
            call_center: "voc.raw.call_center".into(),
            community: "voc.raw.community".into(),
            branch: "voc.raw.branch".into(),
        }
    }
}

impl ChannelTopics {
    pub fn topic(&self, c: Channel) -> &str {
        match c {
            Channel::App => &self.app,
            Channel::CallCenter => &self.call_center,
            Channel::Community => &self.community,
            Channel::Branch => &self.branch,
        }
    }

    /// All four, each with a copy of `prefix` in front (tests isolate runs this way).
    pub fn with_prefix(prefix: &str) -> Self {
        let d = ChannelTopics::default();
        ChannelTopics {
            app: format!("{prefix}{}", d.app),
            call_center: format!("{prefix}{}", d.call_center),
            community: format!("{prefix}{}", d.community),
            branch: format!("{prefix}{}", d.branch),
        }
    }
}

/// Topic name -> channel, for routing each consumed message to its decoder.
#[derive(Debug, Clone)]
pub struct TopicMap(Vec<(String, Channel)>);

impl TopicMap {
    pub fn new(t: &ChannelTopics) -> Self {
        TopicMap(
            Channel::ALL
                .iter()
                .map(|&c| (t.topic(c).to_string(), c))
                .collect(),
        )
    }

    pub fn channel(&self, topic: &str) -> Option<Channel> {
        self.0.iter().find(|(t, _)| t == topic).map(|(_, c)| *c)
    }

    pub fn topics(&self) -> Vec<&str> {
        self.0.iter().map(|(t, _)| t.as_str()).collect()
    }
}

/// Kafka settings of the worker's consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSourceConfig {
    /// Comma-separated bootstrap brokers.
    pub brokers: String,
    /// Consumer group id; run more workers with the same id to scale out.
    pub group_id: String,
    /// Raw topic per channel.
    pub topics: ChannelTopics,
    /// Where a new group starts: "earliest" (replay everything) or "latest".
    pub auto_offset_reset: String,
    /// Group session timeout.
    pub session_timeout_ms: u32,
    /// How long ClickHouse may be down before the broker considers the worker
    /// stuck; the worker pauses its partitions while it retries, well within this.
    pub max_poll_interval_ms: u32,
    /// Longest time the broker may hold a fetch waiting for data. Low values cut
    /// end-to-end latency (measured with tansu: p50 768 -> 261 ms at 1,000 msg/s
    /// going from librdkafka's 500 ms default to 50 ms).
    pub fetch_wait_max_ms: u32,
    /// If the worker holds no partition for this long, it leaves and re-joins
    /// the group. Guards against a coordinator that completes a rebalance
    /// without giving the survivor the partitions of a crashed member (seen
    /// with tansu). 0 disables (do so when you run more workers than partitions).
    pub rejoin_when_unassigned_ms: u64,
    /// If partitions of the raw topics have had lag without any commit for
    /// this long while this worker makes progress, nobody consumes them (a
    /// coordinator that kept a dead member's assignment: seen with tansu):
    /// the worker leaves and re-joins the group so they are handed out again.
    /// Checked every `rejoin_when_unowned_ms / 4` (at most every 15 s).
    /// 0 disables.
    pub rejoin_when_unowned_ms: u64,
    /// Most kilobytes librdkafka prefetches and holds for the worker
    /// (`queued.max.messages.kbytes`, over all partitions). Part of the
    /// worker's memory bound: what it holds while inserts are retried.
    pub prefetch_max_kbytes: u32,
    /// Most bytes one fetch response may carry (`fetch.max.bytes`; a single
    /// larger message still comes through). Bounds the receive buffers.
    pub fetch_max_bytes: u32,
    /// How long a command waits at start for the brokers to answer (with its
    /// TLS and SASL settings) before it exits with the brokers' last error.
    pub connect_timeout_ms: u64,
    /// TLS to the brokers.
    pub tls: KafkaTls,
    /// SASL authentication.
    pub sasl: KafkaSasl,
    /// Extra librdkafka properties passed through unchanged (tuning). May not
    /// set what voc sets itself (commit, idempotence, security): see
    /// [`KafkaSecurity::validate`].
    pub extra: KafkaProperties,
}

impl Default for KafkaSourceConfig {
    fn default() -> Self {
        KafkaSourceConfig {
            brokers: "127.0.0.1:9092".into(),
            group_id: "voc-worker".into(),
            topics: ChannelTopics::default(),
            auto_offset_reset: "earliest".into(),
            session_timeout_ms: 30_000,
            max_poll_interval_ms: 600_000,
            fetch_wait_max_ms: 50,
            rejoin_when_unassigned_ms: 60_000,
            rejoin_when_unowned_ms: 60_000,
            prefetch_max_kbytes: 8192,
            fetch_max_bytes: 4 * 1024 * 1024,
            connect_timeout_ms: 15_000,
            tls: KafkaTls::default(),
            sasl: KafkaSasl::default(),
            extra: KafkaProperties::default(),
        }
    }
}

impl KafkaSourceConfig {
    /// The TLS and SASL settings together.
    pub fn security(&self) -> KafkaSecurity<'_> {
        KafkaSecurity {
            tls: &self.tls,
            sasl: &self.sasl,
        }
    }

    /// Checks the settings without the network (files, credentials, `extra`).
    pub fn validate(&self) -> Result<(), SecurityError> {
        self.security().validate(self.extra.names())
    }

    /// Fails fast when the brokers cannot be reached or refuse these
    /// settings (see [`crate::connect`]); waits up to `connect_timeout_ms`.
    pub async fn check_connection(&self) -> Result<(), ConnectError> {
        let config = self.producer_config();
        let timeout = Duration::from_millis(self.connect_timeout_ms);
        let check = tokio::task::spawn_blocking(move || crate::connect::check(&config, timeout));
        match check.await {
            Ok(result) => result,
            Err(e) => Err(ConnectError {
                brokers: self.brokers.clone(),
                protocol: self.security().protocol().into(),
                timeout_ms: self.connect_timeout_ms,
                reason: format!("the check did not finish: {e}"),
            }),
        }
    }

    /// `extra`, then the security properties (which `validate` keeps `extra` from overriding).
    fn apply_common(&self, c: &mut ClientConfig) {
        self.extra.apply(c);
        for (k, v) in self.security().properties() {
            c.set(k, v);
        }
    }

    /// librdkafka settings for the consumer: manual commits only.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", &self.auto_offset_reset)
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set(
                "max.poll.interval.ms",
                self.max_poll_interval_ms.to_string(),
            )
            .set("statistics.interval.ms", "5000")
            .set("fetch.wait.max.ms", self.fetch_wait_max_ms.to_string())
            // Bounded prefetch (librdkafka's defaults are 64 MB queued, 50 MB
            // per fetch and 100,000 messages per partition): what the worker
            // holds while it cannot store is this much, not the backlog.
            .set(
                "queued.max.messages.kbytes",
                self.prefetch_max_kbytes.to_string(),
            )
            .set("queued.min.messages", "10000")
            .set("fetch.max.bytes", self.fetch_max_bytes.to_string())
            .set("max.partition.fetch.bytes", "1048576")
            .set("client.id", "voc-worker");
        self.apply_common(&mut c);
        c
    }

    /// librdkafka settings for producers (dead letters, alerts, the generator):
    /// idempotent, so retries never duplicate within a session.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000")
            .set("client.id", "voc-producer");
        self.apply_common(&mut c);
        c
    }

    /// Checks the extra properties without connecting: a name librdkafka
    /// does not know or a value it refuses fails here, with the name and
    /// without the value of a secret (librdkafka's own error shows values).
    pub fn check_extra(&self) -> Result<(), String> {
        let mut c = ClientConfig::new();
        self.extra.apply(&mut c);
        match c.create_native_config() {
            Err(KafkaError::ClientConfig(_, reason, name, value)) => {
                let reason = if is_secret_name(&name) && !value.is_empty() {
                    reason.replace(&value, REDACTED)
                } else {
                    reason
                };
                Err(format!("kafka.extra.\"{name}\": {reason}"))
            }
            Err(e) => Err(format!("kafka.extra: {e}")),
            Ok(_) => Ok(()),
        }
    }
}

/// librdkafka properties from the configuration (`[kafka.extra]`). A value
/// is a string, number or boolean, or, like every secret, `{ env = "NAME" }`
/// or `{ file = "/path" }`. `Debug` and `Serialize` (what `voc config`
/// prints) show `***` for the value of a property whose name marks a secret
/// ([`is_secret_name`]: `sasl.password`, `ssl.key.password`, ...).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties(BTreeMap<String, Secret>);

impl KafkaProperties {
    /// Sets (or replaces) a property.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), Secret::new(value.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The property names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Hands the properties, secrets included, to a librdkafka configuration.
    pub fn apply(&self, c: &mut ClientConfig) {
        for (name, value) in &self.0 {
            c.set(name, value.expose());
        }
    }

    /// The properties as shown: secret values as `***`.
    fn shown(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(name, value)| {
            let shown = if is_secret_name(name) && !value.is_empty() {
                REDACTED
            } else {
                value.expose()
            };
            (name.as_str(), shown)
        })
    }
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.shown()).finish()
    }
}

impl Serialize for KafkaProperties {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.shown())
    }
}

/// A property value as written; secrets are read from their source after
/// the shape is known, so a missing variable or file is reported as such.
#[derive(Deserialize)]
#[serde(untagged)]
enum PropertyValue {
    Text(String),
    Integer(i64),
    Boolean(bool),
    Env { env: String },
    File { file: String },
}

impl<'de> Deserialize<'de> for KafkaProperties {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, PropertyValue>::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "kafka.extra values are strings, numbers, booleans, \
                 { env = \"NAME\" } or { file = \"/path\" }",
            )
        })?;
        let mut out = BTreeMap::new();
        for (name, value) in raw {
            let value = match value {
                PropertyValue::Text(v) => Secret::new(v),
                PropertyValue::Integer(v) => Secret::new(v.to_string()),
                PropertyValue::Boolean(v) => Secret::new(v.to_string()),
                PropertyValue::Env { env } => {
                    Secret::from_env(&env).map_err(serde::de::Error::custom)?
                }
                PropertyValue::File { file } => {
                    Secret::from_file(&file).map_err(serde::de::Error::custom)?
                }
            };
            out.insert(name, value);
        }
        Ok(KafkaProperties(out))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for KafkaProperties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(it: I) -> Self {
        let mut p = KafkaProperties::default();
        for (k, v) in it {
            p.insert(k, v);
        }
        p
    }
}

/// The offsets to commit after `batch` was dealt with: per partition, the
/// next offset after the highest one in the batch.
pub fn next_offsets<'a>(batch: impl IntoIterator<Item = &'a OwnedMessage>) -> TopicPartitionList {
    commit_list(
        batch
            .into_iter()
            .map(|m| (m.topic(), m.partition(), m.offset())),
    )
}

/// [`next_offsets`] of (topic, partition, offset) positions.
pub fn commit_list<'a>(
    positions: impl IntoIterator<Item = (&'a str, i32, i64)>,
) -> TopicPartitionList {
    let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for (topic, partition, offset) in positions {
        let e = next.entry((topic, partition)).or_insert(0);
        *e = (*e).max(offset + 1);
    }
    let mut tpl = TopicPartitionList::new();
    for ((topic, partition), offset) in next {
        if let Err(e) = tpl.add_partition_offset(topic, partition, Offset::Offset(offset)) {
            tracing::error!(error = %e, topic, partition, "building commit list");
        }
    }
    tpl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_topics_to_channels() {
        let m = TopicMap::new(&ChannelTopics::with_prefix("t1."));
        assert_eq!(m.channel("t1.voc.raw.branch"), Some(Channel::Branch));
        assert_eq!(m.channel("voc.raw.branch"), None);
        assert_eq!(m.topics().len(), 4);
    }

    #[test]
    fn secret_properties_are_never_shown() {
        let cfg = KafkaSourceConfig {
            extra: [
                ("security.protocol", "SASL_SSL"),
                ("sasl.password", "hunter2-kafka"),
                ("ssl.key.password", "hunter2-key"),
            ]
            .into_iter()
            .collect(),
            ..KafkaSourceConfig::default()
        };
        let shown = [
            format!("{cfg:?}"),
            serde_json::to_string(&cfg).unwrap(),
            format!("{:?}", cfg.consumer_config()),
        ];
        for s in &shown {
            assert!(!s.contains("hunter2"), "{s}");
        }
        assert!(
            shown[1].contains(r#""sasl.password":"***""#),
            "{}",
            shown[1]
        );
        assert!(shown[1].contains(r#""security.protocol":"SASL_SSL""#));
        // The clients get the values.
        assert_eq!(
            cfg.producer_config().get("sasl.password"),
            Some("hunter2-kafka")
        );
    }

    #[test]
    fn property_values_read_like_secrets() {
        std::env::set_var("VOC_KAFKA_EXTRA_TEST_PASSWORD", "from-env");
        let p: KafkaProperties = serde_json::from_str(
            r#"{"sasl.password": {"env": "VOC_KAFKA_EXTRA_TEST_PASSWORD"}, "socket.timeout.ms": 30000, "enable.ssl.certificate.verification": false}"#,
        )
        .unwrap();
        let mut c = ClientConfig::new();
        p.apply(&mut c);
        assert_eq!(c.get("sasl.password"), Some("from-env"));
        assert_eq!(c.get("socket.timeout.ms"), Some("30000"));
        assert_eq!(c.get("enable.ssl.certificate.verification"), Some("false"));
        let e = serde_json::from_str::<KafkaProperties>(r#"{"sasl.password": 1.5}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("1.5"), "{e}");
        let e = serde_json::from_str::<KafkaProperties>(
            r#"{"sasl.password": {"env": "VOC_KAFKA_EXTRA_NOT_SET_ANYWHERE"}}"#,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("VOC_KAFKA_EXTRA_NOT_SET_ANYWHERE"), "{e}");
    }

    #[test]
    fn bad_extra_properties_fail_without_their_value() {
        let bad = |name: &str, value: &str| {
            let cfg = KafkaSourceConfig {
                extra: [(name, value)].into_iter().collect(),
                ..KafkaSourceConfig::default()
            };
            cfg.check_extra().err().unwrap()
        };
        let e = bad("sasl.pasword", "hunter2-typo");
        assert!(e.contains("sasl.pasword") && !e.contains("hunter2"), "{e}");
        let e = bad("session.timeout.ms", "soon");
        assert!(e.contains("session.timeout.ms"), "{e}");
        assert!(KafkaSourceConfig::default().check_extra().is_ok());
    }

    #[test]
    fn consumer_never_auto_commits() {
        let c = KafkaSourceConfig::default().consumer_config();
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
    }
}

//! Fail fast at start: before a command consumes or produces, [`check`]
//! asks the brokers for metadata with the command's own settings. A wrong
//! CA, a refused certificate, bad SASL credentials or an unreachable broker
//! then end the command with librdkafka's own reason, instead of a client
//! that retries in the background while nothing flows.

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;
use std::sync::Mutex;
use std::time::Duration;

/// Why the brokers could not be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the Kafka brokers {brokers} ({protocol}) within {timeout_ms} ms: {reason}")]
pub struct ConnectError {
    pub brokers: String,
    pub protocol: String,
    pub timeout_ms: u64,
    /// librdkafka's last error (e.g. "SSL handshake failed: ... certificate
    /// verify failed", "SASL authentication error: ..."), else the metadata error.
    pub reason: String,
}

/// Keeps the last error librdkafka reported for this client.
#[derive(Default)]
struct LastError(Mutex<Option<String>>);

impl ClientContext for LastError {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(
            ?level,
            fac,
            log_message,
            "kafka client log during the start check"
        );
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "kafka client error during the start check");
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
    }
}

impl ConsumerContext for LastError {}

/// Fetches the cluster's metadata with `config` (any consumer or producer
/// settings of a command); blocks up to `timeout`.
pub fn check(config: &ClientConfig, timeout: Duration) -> Result<(), ConnectError> {
    let fail = |reason: String| ConnectError {
        brokers: config.get("bootstrap.servers").unwrap_or("").to_string(),
        protocol: config
            .get("security.protocol")
            .unwrap_or("PLAINTEXT")
            .to_string(),
        timeout_ms: timeout.as_millis() as u64,
        reason,
    };
    // A plain client: no group is joined and nothing is produced.
    let mut c = config.clone();
    for k in PRODUCER_ONLY {
        c.remove(k);
    }
    let consumer: BaseConsumer<LastError> = c
        .create_with_context(LastError::default())
        .map_err(|e| fail(e.to_string()))?;
    match consumer.fetch_metadata(None, timeout) {
        Ok(m) if !m.brokers().is_empty() => Ok(()),
        Ok(_) => Err(fail("the cluster reported no brokers".into())),
        Err(e) => {
            let last = consumer
                .context()
                .0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            Err(fail(last.unwrap_or_else(|| e.to_string())))
        }
    }
}

/// Producer properties a consumer would warn about.
const PRODUCER_ONLY: &[&str] = &[
    "enable.idempotence",
    "linger.ms",
    "message.timeout.ms",
    "acks",
    "compression.type",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_broker_is_a_clear_error() {
        let mut c = ClientConfig::new();
        // Port 9 (discard) on loopback: nothing listens there.
        c.set("bootstrap.servers", "127.0.0.1:9");
        let e = check(&c, Duration::from_millis(1500)).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("127.0.0.1:9") && text.contains("PLAINTEXT"),
            "{text}"
        );
        assert!(!e.reason.is_empty());
    }
}

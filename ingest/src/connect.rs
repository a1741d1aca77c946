//! Fail fast at start: before a command consumes or produces, [`check`]
//! asks the brokers for metadata with the command's own settings. A wrong
//! CA, a refused certificate, bad SASL credentials or an unreachable broker
//! then end the command with librdkafka's own reason, instead of a client
//! that retries in the background while nothing flows.

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientConfig;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Why the brokers could not be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the Kafka brokers {brokers} ({protocol}): {reason}")]
pub struct ConnectError {
    pub brokers: String,
    pub protocol: String,
    pub timeout_ms: u64,
    /// librdkafka's last error (e.g. "SSL handshake failed: ... certificate
    /// verify failed", "SASL authentication error: ..."), else the metadata error.
    pub reason: String,
}

/// Keeps the last error librdkafka reported for this client. Connection
/// failures (TLS handshake, SASL) arrive as log lines from librdkafka's own
/// threads (its error events would need a poll loop).
#[derive(Default)]
struct LastError(Mutex<Vec<String>>);

impl LastError {
    fn keep(&self, reason: &str) {
        // The same failure arrives as a log line and as an error, with a
        // thread prefix and a timing suffix that differ: keep it once.
        let reason = match reason.strip_prefix("[thrd:") {
            Some(rest) => rest.split_once("]: ").map_or(reason, |(_, r)| r),
            None => reason,
        };
        let reason = reason.split(" (after ").next().unwrap_or(reason);
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() < 8 && !seen.iter().any(|r| r == reason) {
            seen.push(reason.to_string());
        }
    }

    /// Whether the brokers refused us for good: a certificate or credentials.
    fn refused(&self) -> bool {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter().any(|r| REFUSED.iter().any(|m| r.contains(m)))
    }

    /// What went wrong: the specific reasons (TLS, SASL, refused...) when
    /// there are any, else the generic ones ("1/1 brokers are down").
    fn reason(&self) -> Option<String> {
        let seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let generic = |r: &String| r.contains("brokers are down");
        let specific: Vec<&str> = seen
            .iter()
            .filter(|r| !generic(r))
            .map(String::as_str)
            .collect();
        let chosen: Vec<&str> = if specific.is_empty() {
            seen.iter().map(String::as_str).collect()
        } else {
            specific
        };
        (!chosen.is_empty()).then(|| chosen.join("; "))
    }
}

impl ClientContext for LastError {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(
            ?level,
            fac,
            log_message,
            "kafka client log during the start check"
        );
        if (level as i32) <= RDKafkaLogLevel::Warning as i32 {
            self.keep(log_message);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "kafka client error during the start check");
        self.keep(reason);
    }
}

impl ProducerContext for LastError {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

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
    // A producer that sends nothing: it only asks for metadata, while this
    // thread serves its event queue so that librdkafka's errors and log
    // lines (which say why a connection failed) reach `LastError`.
    let mut c = config.clone();
    c.set_log_level(RDKafkaLogLevel::Warning);
    let producer: BaseProducer<LastError> = c
        .create_with_context(LastError::default())
        .map_err(|e| fail(e.to_string()))?;
    let producer = Arc::new(producer);
    let (tx, rx) = mpsc::channel();
    let asking = producer.clone();
    std::thread::spawn(move || {
        let _ = tx.send(
            asking
                .client()
                .fetch_metadata(None, timeout)
                .map(|m| m.brokers().len()),
        );
    });
    let answer = loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(answer) => break Some(answer),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                producer.poll(Duration::ZERO);
                // A refused certificate or password will not change: stop now.
                if producer.context().refused() {
                    break None;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
        }
    };
    producer.poll(Duration::ZERO);
    let last = || producer.context().reason();
    match answer {
        Some(Ok(brokers)) if brokers > 0 => Ok(()),
        Some(Ok(_)) => Err(fail("the cluster reported no brokers".into())),
        Some(Err(e)) => Err(fail(format!(
            "no answer within {} ms: {}",
            timeout.as_millis(),
            last().unwrap_or_else(|| e.to_string())
        ))),
        None => {
            Err(fail(last().unwrap_or_else(|| {
                "the metadata request did not answer".into()
            })))
        }
    }
}

/// librdkafka's words for failures no retry fixes.
const REFUSED: &[&str] = &[
    "SSL handshake failed",
    "SASL authentication error",
    "Authentication failed",
    "certificate verify failed",
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

//! What `voc notify` reports at /metrics (served by the worker's metrics
//! server, `voc_pipeline::metrics::serve`): final webhook outcomes and the
//! attempts they took, per webhook.

use prometheus::{IntCounterVec, Opts, Registry};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct NotifyMetrics {
    pub registry: Registry,
    /// Final outcome per (alert, webhook): `delivered`, or `failed` after
    /// the last attempt (the failure row is in `alert_deliveries`).
    pub deliveries: IntCounterVec,
    /// HTTP attempts, retries included.
    pub attempts: IntCounterVec,
    consuming: AtomicBool,
}

impl Default for NotifyMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl NotifyMetrics {
    pub fn new() -> NotifyMetrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let deliveries = counter(
            "voc_webhook_deliveries_total",
            "Alerts delivered to a webhook or failed after the last attempt, by webhook and outcome",
            &["webhook", "outcome"],
        );
        let attempts = counter(
            "voc_webhook_attempts_total",
            "HTTP requests to a webhook, retries included",
            &["webhook"],
        );
        NotifyMetrics {
            registry,
            deliveries,
            attempts,
            consuming: AtomicBool::new(false),
        }
    }

    /// Count one final outcome.
    pub fn delivery(&self, webhook: &str, delivered: bool, attempts: u32) {
        let outcome = if delivered { "delivered" } else { "failed" };
        self.deliveries.with_label_values(&[webhook, outcome]).inc();
        self.attempts
            .with_label_values(&[webhook])
            .inc_by(attempts as u64);
    }

    /// Every configured webhook's series at 0, so a rate exists before the
    /// first alert (Prometheus sees an increase from the first failure on).
    pub fn register_webhooks<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        for name in names {
            for outcome in ["delivered", "failed"] {
                self.deliveries.with_label_values(&[name, outcome]);
            }
            self.attempts.with_label_values(&[name]);
        }
    }

    pub fn set_consuming(&self) {
        self.consuming.store(true, Ordering::Relaxed);
    }

    /// (healthy, reason) for /healthz: the alert consumer is running.
    pub fn healthy(&self) -> (bool, &'static str) {
        if self.consuming.load(Ordering::Relaxed) {
            (true, "ok")
        } else {
            (false, "alert consumer not started")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, TextEncoder};

    #[test]
    fn counts_outcomes_and_attempts_per_webhook() {
        let m = NotifyMetrics::new();
        m.register_webhooks(["ops"]);
        m.delivery("ops", true, 1);
        m.delivery("ops", false, 5);
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&m.registry.gather(), &mut buf)
            .unwrap();
        let text = String::from_utf8(buf).unwrap();
        for line in [
            "voc_webhook_deliveries_total{outcome=\"delivered\",webhook=\"ops\"} 1",
            "voc_webhook_deliveries_total{outcome=\"failed\",webhook=\"ops\"} 1",
            "voc_webhook_attempts_total{webhook=\"ops\"} 6",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(!m.healthy().0);
        m.set_consuming();
        assert_eq!(m.healthy(), (true, "ok"));
    }
}

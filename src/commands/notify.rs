//! `voc notify`: deliver alerts from the alert topic to the configured
//! webhooks (the delivery rules are in `voc_notify::notifier`), with its
//! /metrics, /livez, /readyz and /healthz (= /readyz) on `notify.metrics_listen`.

use super::ConfigArgs;
use std::sync::Arc;
use voc_notify::metrics::NotifyMetrics;
use voc_pipeline::metrics::{render_registry, serve, Exporter, HealthLimits};

/// `voc notify`'s metrics, served by the worker's metrics server.
struct NotifyExporter(Arc<NotifyMetrics>);

impl Exporter for NotifyExporter {
    fn render(&self) -> String {
        render_registry(&self.0.registry)
    }
    /// Alive while the process answers; nothing in it can stall on its own.
    fn live(&self, _now: i64, _limits: &HealthLimits) -> (bool, String) {
        (true, "ok".into())
    }
    fn ready(&self, _now: i64, _limits: &HealthLimits) -> (bool, String) {
        let (ready, why) = self.0.healthy();
        (ready, why.into())
    }
}

pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    let cfg = args.load()?;
    super::init_logging(&cfg.log);
    super::runtime()?.block_on(async move {
        let shutdown = super::shutdown_on_signal();
        let metrics = Arc::new(NotifyMetrics::new());
        let server = match cfg.notify.metrics_listen.as_str() {
            "" => None,
            listen => Some(
                serve(
                    listen,
                    Arc::new(NotifyExporter(metrics.clone())),
                    HealthLimits::default(),
                    shutdown.clone(),
                )
                .await?,
            ),
        };
        let done = voc_notify::notifier::run(
            &cfg.kafka,
            cfg.clickhouse.clone(),
            cfg.notify.clone(),
            &cfg.topics.alerts,
            metrics,
            shutdown.clone(),
        )
        .await;
        shutdown.cancel();
        if let Some(server) = server {
            let _ = server.await;
        }
        done
    })
}

//! `voc notify`: deliver alerts from the alert topic to the configured
//! webhooks (the delivery rules are in `voc_notify::notifier`).

use super::ConfigArgs;

pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    let cfg = args.load()?;
    super::init_logging(&cfg.log);
    super::runtime()?.block_on(async move {
        let shutdown = super::shutdown_on_signal();
        voc_notify::notifier::run(
            &cfg.kafka,
            cfg.clickhouse.clone(),
            cfg.notify.clone(),
            &cfg.topics.alerts,
            shutdown,
        )
        .await
    })
}

//! `voc workorders`: work-order status updates from the case system into
//! ClickHouse (the rules are in `voc_notify::intake`).

use super::ConfigArgs;

pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    let cfg = args.load()?;
    super::init_logging(&cfg.log);
    super::runtime()?.block_on(async move {
        let shutdown = super::shutdown_on_signal();
        voc_notify::intake::run(
            &cfg.kafka,
            cfg.clickhouse.clone(),
            &cfg.workorders,
            &cfg.topics.workorder_updates,
            &cfg.topics.dead_letter,
            shutdown,
        )
        .await
    })
}

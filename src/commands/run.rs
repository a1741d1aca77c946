//! `voc run`: the worker process, with graceful shutdown on SIGTERM / Ctrl-C
//! (the order is in `voc_pipeline::Worker::run`).

use super::{ConfigArgs, DemoArgs};
use voc_pipeline::Worker;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub demo: DemoArgs,
    /// Exit after this many messages were stored or dead-lettered and print a
    /// JSON summary (events/s first consume to last commit, CPU seconds, peak
    /// RSS, produce-to-visible latency p50/p99). For benchmarks; 0 = run until stopped.
    #[arg(long, default_value_t = 0)]
    pub exit_after: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    super::init_logging(&cfg.log);
    let key = args.demo.pseudonym_key(&cfg)?;
    super::runtime()?.block_on(async move {
        let shutdown = super::shutdown_on_signal();
        let summary = Worker::start(cfg.worker(), key, shutdown)
            .await?
            .exit_after(args.exit_after)
            .run()
            .await?;
        if args.exit_after > 0 {
            println!("{}", serde_json::to_string(&summary)?);
        }
        Ok(())
    })
}

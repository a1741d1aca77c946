//! `voc run`: the worker process, with graceful shutdown on SIGTERM / Ctrl-C.

use super::ConfigArgs;
use crate::worker::Worker;
use tokio::sync::watch;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Exit after this many messages were stored or dead-lettered and print a
    /// JSON summary (events/s first consume to last commit, CPU seconds, peak
    /// RSS, produce-to-visible latency p50/p99). For benchmarks; 0 = run until stopped.
    #[arg(long, default_value_t = 0)]
    pub exit_after: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    super::init_logging(&cfg.log);
    super::runtime()?.block_on(async move {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested: finishing the current batch");
            let _ = tx.send(true);
        });
        let summary = Worker::start(cfg, rx)
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

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("installing SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

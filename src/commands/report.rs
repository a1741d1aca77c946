//! `voc report`: write the self-contained HTML report.

use super::ConfigArgs;
use crate::analytics::AsOf;
use anyhow::Context;
use std::path::PathBuf;
use voc_sink::ClickHouseSink;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Where to write the HTML file (one file: ECharts and data embedded, opens offline).
    #[arg(long, short = 'o', default_value = "voc-report.html")]
    pub out: PathBuf,
    /// What "now" is: `now` (server clock), `latest` (newest event in the
    /// data) or a UTC time `2026-11-25 12:00:00`.
    #[arg(long, default_value = "now", value_parser = AsOf::parse)]
    pub as_of: AsOf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    let data = super::runtime()?.block_on(async {
        let sink = ClickHouseSink::new(cfg.clickhouse.clone())?;
        crate::report::collect(&sink, &cfg.clickhouse.database, args.as_of).await
    })?;
    let generated = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let html = crate::report::render(&data, &generated);
    std::fs::write(&args.out, html).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("report written to {}", args.out.display());
    Ok(())
}

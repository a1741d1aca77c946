//! Command-line interface: one module per subcommand.

mod bench;
mod bench_queries;
mod classify;
mod gen;
mod notify;
mod peek;
mod query;
mod report;
mod run;
mod schema;
mod spike_eval;
mod topics;
mod workorders;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use voc_core::pseudonym::{PseudonymKey, MIN_KEY_BYTES};

#[derive(Parser)]
#[command(
    name = "voc",
    version,
    about = "Streaming voice-of-customer analytics for retail banking: Kafka in, Chinese NLP, ClickHouse out.",
    long_about = "Streaming voice-of-customer analytics for retail banking.\n\n\
        Raw feedback from four channels (app, call_center, community, branch) is consumed from Kafka, \
        normalized, PII-masked, segmented with jieba, classified by an ONNX sentiment and tag model, \
        and written to ClickHouse; detractors are published as alerts, unusable input goes to a \
        dead-letter topic with the reason.\n\nStart with `voc run --help` for the worker and its full \
        configuration reference."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by commands that read the worker configuration.
#[derive(clap::Args, Clone)]
pub struct ConfigArgs {
    /// TOML configuration file (see deploy/voc.example.toml). Environment
    /// variables VOC_<SECTION>__<KEY> override it.
    #[arg(long, short = 'c', env = "VOC_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    pub fn load(&self) -> anyhow::Result<crate::Config> {
        crate::Config::load(self.config.as_deref())
    }
}

/// The demo switch of the commands that pseudonymize customer identifiers
/// (`run`, `classify`, `bench insert`).
#[derive(clap::Args, Clone)]
pub struct DemoArgs {
    /// Demo on made-up data: pseudonymize with the public demo key
    /// (voc_core::pseudonym::DEMO_KEY; anyone can recompute its pseudonyms)
    /// and warn once. enrich.pseudonym_key must then be unset. Without
    /// --demo the command refuses to start unless enrich.pseudonym_key is a
    /// secret of at least 16 bytes.
    #[arg(long, env = "VOC_DEMO", value_parser = clap::builder::BoolishValueParser::new())]
    pub demo: bool,
}

impl DemoArgs {
    /// The key of this run's pseudonyms: the configured one, or in demo mode
    /// the demo key. Call after logging is set up (demo mode warns).
    pub fn pseudonym_key(&self, cfg: &crate::Config) -> anyhow::Result<PseudonymKey> {
        let configured = &cfg.enrich.pseudonym_key;
        if self.demo {
            anyhow::ensure!(
                configured.is_empty(),
                "--demo (VOC_DEMO) pseudonymizes with the public demo key, but \
                 enrich.pseudonym_key is set too: drop one of them"
            );
            tracing::warn!(
                "demo mode: pseudonyms use the public demo key, which anyone can \
                 recompute; never run this on real customer data"
            );
            return Ok(PseudonymKey::demo());
        }
        PseudonymKey::new(configured).map_err(|e| {
            anyhow::anyhow!(
                "enrich.pseudonym_key: {e}. Set it to a random secret of at least \
                 {MIN_KEY_BYTES} bytes kept out of the config file, e.g. \
                 `pseudonym_key = {{ env = \"VOC_PSEUDONYM_KEY\" }}` in [enrich] \
                 with VOC_PSEUDONYM_KEY=$(openssl rand -hex 32), or \
                 `{{ file = \"/run/secrets/voc-pseudonym-key\" }}`. For a demo on \
                 made-up data, pass --demo (or set VOC_DEMO=1)"
            )
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the worker: consume the raw topics, enrich, store in ClickHouse,
    /// publish alerts and dead letters, commit offsets.
    #[command(after_long_help = concat!("CONFIGURATION REFERENCE (deploy/voc.example.toml):\n\n", include_str!("../../deploy/voc.example.toml")))]
    Run(run::Args),
    /// Classify feedback offline: one item per stdin line (plain text or a
    /// channel's JSON), one enriched JSON line per input line on stdout, in order.
    Classify(classify::Args),
    /// Print model features of text (used by models/train.py; keeps training
    /// and inference tokenization identical).
    Featurize(classify::FeaturizeArgs),
    /// Generate realistic, seeded banking feedback for the four channels and
    /// produce it to Kafka (or print it).
    Gen(gen::Args),
    /// ClickHouse schema: print the DDL, apply the migrations, list what was applied.
    Schema(schema::Args),
    /// List the saved analyst questions (deploy/clickhouse/queries/) or run one.
    Query(query::Args),
    /// Write a self-contained HTML report (NPS trend, channel mix, journey-stage
    /// heatmap, tag ranking, open problems, detractors) from the saved queries.
    Report(report::Args),
    /// Create the raw, dead-letter and alert topics (idempotent).
    Topics(topics::Args),
    /// Print messages of a topic (alerts, dead letters) from the beginning.
    Peek(peek::Args),
    /// Deliver alerts from the alert topic to the configured webhooks (generic
    /// JSON, WeCom, DingTalk, Feishu) with retries; outcomes go to ClickHouse.
    Notify(ConfigArgs),
    /// Consume work-order status updates (acknowledged, resolved, verified)
    /// from the updates topic into ClickHouse, idempotently.
    Workorders(ConfigArgs),
    /// Evaluate the spike test on simulated traffic with and without injected
    /// spikes: detection rate and false alerts per simulated day.
    SpikeEval(spike_eval::Args),
    /// Print the effective configuration (defaults + file + environment) as TOML.
    Config(ConfigArgs),
    /// Benchmarks on the local stack: the consume and insert ceilings
    /// (docs/benchmarks.md) and the saved queries on millions of synthetic
    /// events (docs/analytics.md).
    Bench(bench::Args),
}

/// A panic's message can quote the text being processed (an index out of
/// range prints the string): PII is masked before it reaches stderr, as in
/// every other log line. A panic on one item is caught and dead-lettered by
/// the worker; this hook only decides what is printed.
fn mask_panic_messages() {
    std::panic::set_hook(Box::new(|info| {
        let message = voc_pipeline::isolate::panic_message(info.payload());
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        eprintln!(
            "thread '{}' panicked at {at}:\n{}",
            thread.name().unwrap_or("<unnamed>"),
            voc_core::pii::mask(&message).text
        );
    }));
}

pub fn main() -> ExitCode {
    mask_panic_messages();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Classify(a) => classify::classify(a),
        Command::Featurize(a) => classify::featurize(a),
        Command::Gen(a) => gen::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Query(a) => query::run(a),
        Command::Report(a) => report::run(a),
        Command::Topics(a) => topics::run(a),
        Command::Peek(a) => peek::run(a),
        Command::Bench(a) => bench::run(a),
        Command::SpikeEval(a) => spike_eval::run(a),
        Command::Notify(a) => notify::run(a),
        Command::Workorders(a) => workorders::run(a),
        Command::Config(a) => a
            .load()
            .and_then(|c| Ok(toml::to_string_pretty(&c)?))
            .map(|s| print!("{s}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout carries command output), as text or JSON.
pub fn init_logging(cfg: &crate::config::LogConfig) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// A multi-threaded tokio runtime for the async commands.
/// The one shutdown signal of a long-running command: cancelled on SIGTERM
/// or Ctrl-C. Needs a runtime.
pub fn shutdown_on_signal() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested: finishing the current batch");
        t.cancel();
    });
    token
}

async fn wait_for_signal() {
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

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

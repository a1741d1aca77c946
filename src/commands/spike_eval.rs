//! `voc spike-eval`: evaluate the spike test on simulated traffic with and
//! without injected spikes (voc_alert::spike_eval explains the
//! simulation); prints detection rate per spike size and false alerts per
//! simulated day as a Markdown table (docs/alerting.md keeps the numbers).

use super::ConfigArgs;
use voc_alert::spike_eval::{simulate, EvalReport, SimConfig};

#[derive(clap::Args)]
pub struct Args {
    /// Spike options ([alert.spike]) come from the configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Series (tag x branch/product/app version) simulated.
    #[arg(long, default_value_t = 400)]
    pub series: usize,
    /// Simulated days evaluated (after 28 days of history).
    #[arg(long, default_value_t = 14)]
    pub days: usize,
    /// Spikes injected per simulated day.
    #[arg(long, default_value_t = 6)]
    pub spikes_per_day: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Day-to-day volume noise per series (sd of a log-normal factor; 0 = pure Poisson).
    #[arg(long, default_value_t = 0.25)]
    pub day_noise: f64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.config.load()?;
    let spike = &cfg.alert.spike;
    let sim = SimConfig {
        seed: args.seed,
        series: args.series,
        eval_days: args.days,
        spikes_per_day: args.spikes_per_day,
        suppress_minutes: cfg.alert.suppress_window_minutes as usize,
        day_noise_sd: args.day_noise,
        ..SimConfig::default()
    };
    println!(
        "spike test: window {} min, min_count {}, min_ratio {}, alpha_per_day {} (Bonferroni over series x 1440 evaluations a day), evaluated every minute; \
         {} series, {} history days, {} evaluated days, day-to-day noise sd {}, seed {}\n",
        spike.window_minutes, spike.min_count, spike.min_ratio, spike.alpha_per_day,
        sim.series, sim.history_days, sim.eval_days, sim.day_noise_sd, sim.seed
    );
    let quiet = simulate(spike, &sim, false);
    let with = simulate(spike, &sim, true);
    let flat_sim = SimConfig {
        seasonal: false,
        ..sim.clone()
    };
    let flat_quiet = simulate(spike, &flat_sim, false);
    let flat_with = simulate(spike, &flat_sim, true);
    println!(
        "| baseline | run | spikes injected | detected | detection rate | false alerts / day |"
    );
    println!("|---|---|---|---|---|---|");
    row("hour-of-week", "no spikes", &quiet);
    row("hour-of-week", "with spikes", &with);
    row("flat (no seasonality)", "no spikes", &flat_quiet);
    row("flat (no seasonality)", "with spikes", &flat_with);
    println!(
        "\n| spike size (extra events in 10 min) | injected | detected | rate | mean delay (min) |"
    );
    println!("|---|---|---|---|---|");
    for s in &with.by_size {
        println!(
            "| {} | {} | {} | {:.0} % | {:.1} |",
            s.size,
            s.injected,
            s.detected,
            100.0 * s.detected as f64 / s.injected.max(1) as f64,
            s.delay_minutes as f64 / s.detected.max(1) as f64
        );
    }
    Ok(())
}

fn row(baseline: &str, run: &str, r: &EvalReport) {
    let injected: usize = r.by_size.iter().map(|s| s.injected).sum();
    let detected: usize = r.by_size.iter().map(|s| s.detected).sum();
    let rate = if injected > 0 {
        format!("{:.0} %", 100.0 * r.detection_rate())
    } else {
        "-".into()
    };
    println!(
        "| {baseline} | {run} | {injected} | {detected} | {rate} | {:.2} |",
        r.false_per_day()
    );
}

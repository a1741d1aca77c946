//! Offline evaluation of the spike test (`voc spike-eval`): simulated
//! per-minute tag volumes for many series, with a daily and weekly rhythm and
//! day-to-day noise, evaluated every minute exactly as the worker does
//! (same [`spike::detect`], same suppression window), with and without
//! injected spikes. Reports detection rate per spike size and false alerts
//! per simulated day. Numbers: docs/alerting.md.
//!
//! What it simulates, so the numbers can be judged:
//! - `series` series (tag x branch/product/version), base rates log-uniform
//!   between 0.02 and 3 events per 10 minutes;
//! - an hour-of-week profile (nights at 15 %, office hours up to 140 %,
//!   weekends at 70 %) and a per-series, per-day log-normal factor (sd 0.25),
//!   i.e. more variance than Poisson, as real feeds have;
//! - the baseline is learned from the 28 simulated days before the evaluated
//!   days; a spike adds `size` extra events spread over 10 minutes.

use crate::config::SpikeConfig;
use crate::rules::spike::{detect, SeriesCounts};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub series: usize,
    pub history_days: usize,
    pub eval_days: usize,
    pub spikes_per_day: usize,
    /// Extra events of an injected spike (cycled through).
    pub spike_sizes: Vec<u32>,
    pub suppress_minutes: usize,
    /// Use the hour-of-week baseline (false: one flat rate per series, for comparison).
    pub seasonal: bool,
    /// Standard deviation of the per-series, per-day log-normal volume factor
    /// (0: pure Poisson traffic).
    pub day_noise_sd: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            series: 400,
            history_days: 28,
            eval_days: 14,
            spikes_per_day: 6,
            spike_sizes: vec![4, 6, 8, 12, 20],
            suppress_minutes: 60,
            seasonal: true,
            day_noise_sd: 0.25,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SizeResult {
    pub size: u32,
    pub injected: usize,
    pub detected: usize,
    /// Minutes from spike start to the first alert, summed over detections.
    pub delay_minutes: usize,
}

#[derive(Debug, Clone, Default)]
pub struct EvalReport {
    pub days: usize,
    pub series: usize,
    pub alerts: usize,
    pub false_alerts: usize,
    pub by_size: Vec<SizeResult>,
}

impl EvalReport {
    pub fn false_per_day(&self) -> f64 {
        self.false_alerts as f64 / self.days.max(1) as f64
    }
    pub fn detection_rate(&self) -> f64 {
        let (i, d) = self
            .by_size
            .iter()
            .fold((0, 0), |(i, d), s| (i + s.injected, d + s.detected));
        d as f64 / i.max(1) as f64
    }
}

/// Relative volume in an hour of the week (dow 0 = Monday).
pub fn profile(dow: usize, hour: usize) -> f64 {
    let h = match hour {
        0..=6 => 0.15,
        7..=8 => 0.6,
        9..=11 => 1.4,
        12..=13 => 1.0,
        14..=17 => 1.3,
        18..=21 => 1.0,
        _ => 0.4,
    };
    if dow >= 5 {
        h * 0.7
    } else {
        h
    }
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 40.0 {
        let n = normal(rng) * lambda.sqrt() + lambda;
        return n.round().max(0.0) as u32;
    }
    // Knuth: fine for the small per-minute rates here.
    let l = (-lambda).exp();
    let (mut k, mut p) = (0u32, 1.0);
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Run one simulation: `inject` false gives the no-spike baseline run.
pub fn simulate(cfg: &SpikeConfig, sim: &SimConfig, inject: bool) -> EvalReport {
    let mut rng = ChaCha8Rng::seed_from_u64(sim.seed);
    let minutes_per_day = 1440;
    let total_days = sim.history_days + sim.eval_days;
    let n = total_days * minutes_per_day;
    let mean_profile: f64 = (0..7)
        .flat_map(|d| (0..24).map(move |h| profile(d, h)))
        .sum::<f64>()
        / 168.0;
    // Per-series minute counts.
    let rates: Vec<f64> = (0..sim.series)
        .map(|_| {
            let per10 = (0.02f64.ln() + rng.random::<f64>() * (3.0f64.ln() - 0.02f64.ln())).exp();
            per10 / 10.0
        })
        .collect();
    let mut counts: Vec<Vec<u32>> = Vec::with_capacity(sim.series);
    for &r in &rates {
        let mut v = vec![0u32; n];
        for day in 0..total_days {
            let noise = (normal(&mut rng) * sim.day_noise_sd).exp();
            for m in 0..minutes_per_day {
                let t = day * minutes_per_day + m;
                let lam = r * noise * profile(day % 7, m / 60) / mean_profile;
                v[t] = poisson(&mut rng, lam);
            }
        }
        counts.push(v);
    }
    // Injected spikes: (series, start minute, size).
    let eval_start = sim.history_days * minutes_per_day;
    let mut spikes: Vec<(usize, usize, u32)> = Vec::new();
    if inject {
        let total = sim.spikes_per_day * sim.eval_days;
        for i in 0..total {
            let s = rng.random_range(0..sim.series);
            let start = eval_start + rng.random_range(0..(sim.eval_days * minutes_per_day - 30));
            let size = sim.spike_sizes[i % sim.spike_sizes.len()];
            for _ in 0..size {
                let m = start + rng.random_range(0..10);
                counts[s][m] += 1;
            }
            spikes.push((s, start, size));
        }
    }
    // Baselines from the history days.
    let hist_minutes = (sim.history_days * minutes_per_day) as f64;
    let weeks = sim.history_days as f64 / 7.0;
    let mut slot: Vec<[u64; 168]> = vec![[0; 168]; sim.series];
    let mut all: Vec<u64> = vec![0; sim.series];
    for (s, v) in counts.iter().enumerate() {
        for (t, &c) in v[..eval_start].iter().enumerate() {
            let day = t / minutes_per_day;
            let how = (day % 7) * 24 + (t % minutes_per_day) / 60;
            slot[s][how] += c as u64;
            all[s] += c as u64;
        }
    }
    // Evaluate every minute over the evaluated days.
    let w = cfg.window_minutes as usize;
    let mut window: Vec<u32> = (0..sim.series)
        .map(|s| counts[s][eval_start - w..eval_start].iter().sum())
        .collect();
    let mut last_alert: Vec<Option<usize>> = vec![None; sim.series];
    let mut alerts: Vec<(usize, usize)> = Vec::new();
    for t in eval_start..n {
        for (s, win) in window.iter_mut().enumerate() {
            *win += counts[s][t];
            *win -= counts[s][t - w];
        }
        let day = t / minutes_per_day;
        let how = (day % 7) * 24 + (t % minutes_per_day) / 60;
        let series: Vec<SeriesCounts> = (0..sim.series)
            .filter(|&s| window[s] > 0)
            .map(|s| SeriesCounts {
                tag_id: String::new(),
                series: s.to_string(),
                window_count: window[s],
                slot_count: if sim.seasonal { slot[s][how] } else { 0 },
                slot_minutes: if sim.seasonal { weeks * 60.0 } else { 0.0 },
                all_count: all[s],
                all_minutes: hist_minutes,
            })
            .collect();
        for f in detect(&series, cfg) {
            let s: usize = f.series.parse().unwrap_or(0);
            // Suppression: one alert per series and window.
            if last_alert[s].is_some_and(|a| t - a < sim.suppress_minutes) {
                continue;
            }
            last_alert[s] = Some(t);
            alerts.push((s, t));
        }
    }
    let mut report = EvalReport {
        days: sim.eval_days,
        series: sim.series,
        alerts: alerts.len(),
        ..EvalReport::default()
    };
    let mut explained = vec![false; alerts.len()];
    for size in &sim.spike_sizes {
        let mut r = SizeResult {
            size: *size,
            ..SizeResult::default()
        };
        for &(s, start, _) in spikes.iter().filter(|x| x.2 == *size) {
            r.injected += 1;
            let hit = alerts
                .iter()
                .enumerate()
                .find(|(_, &(as_, at))| as_ == s && at >= start && at < start + 10 + w);
            if let Some((i, &(_, at))) = hit {
                r.detected += 1;
                r.delay_minutes += at - start;
                explained[i] = true;
            }
        }
        if inject {
            report.by_size.push(r);
        }
    }
    // Alerts on a spiked series while the spike is in the window are not false either.
    for (i, &(s, at)) in alerts.iter().enumerate() {
        if spikes
            .iter()
            .any(|&(ss, start, _)| ss == s && at >= start && at < start + 10 + w)
        {
            explained[i] = true;
        }
    }
    report.false_alerts = explained.iter().filter(|e| !**e).count();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_spikes_are_found_and_quiet_days_stay_quiet() {
        let cfg = SpikeConfig::default();
        let sim = SimConfig {
            series: 60,
            eval_days: 3,
            day_noise_sd: 0.0,
            spikes_per_day: 5,
            spike_sizes: vec![20],
            ..SimConfig::default()
        };
        let with = simulate(&cfg, &sim, true);
        assert!(with.detection_rate() >= 0.8, "{with:?}");
        let without = simulate(&cfg, &sim, false);
        // alpha_per_day = 1 bounds false alerts per day under Poisson traffic.
        assert!(without.false_per_day() <= 2.0, "{without:?}");
    }
}

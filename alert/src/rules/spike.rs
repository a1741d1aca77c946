//! Spike alerts: a pain/itch tag's volume in the last `spike.window_minutes`
//! far above its baseline for one series (a channel, branch, product or app
//! version), e.g. "转账或支付失败 in 手机银行 8.2: 6 in 10 minutes".
//!
//! The test (docs/alerting.md has the reasoning and the evaluation):
//! - counts come from ClickHouse (`tag_minute`, uniqExact(event_id) per
//!   minute), so they are global across workers and duplicates count once;
//! - baseline: the expected count in the window from the series' rate in the
//!   same hour of the week over `history_days` (seasonality: nights, lunch,
//!   weekends), shrunk toward its all-hours rate with a weight of
//!   `prior_minutes` when the slot has little history:
//!   `rate = (slot_count + prior_minutes * all_rate) / (slot_minutes + prior_minutes)`,
//!   `expected = max(min_expected, rate * window_minutes)`;
//!   the last `exclude_recent_minutes` are left out so a spike does not feed
//!   its own baseline;
//! - alert when `count >= min_count`, `count >= min_ratio * expected`, and the
//!   Poisson upper tail `P(X >= count | expected) < alpha_per_day / (m * 1440)`,
//!   where m is the number of series with any event in the window: Bonferroni
//!   over the series tested and over the day's per-minute evaluations, because
//!   the test runs all day long and a per-evaluation alpha would add up to
//!   many false alerts a day (the sliding windows overlap, so counting only
//!   non-overlapping windows was measured to be 10x too lenient).
//!
//! Severity: critical for a fund-safety tag; high when the count is at least
//! twice `min_ratio` times the expected count; medium otherwise.

use super::title;
use crate::config::SpikeConfig;
use crate::model::{alert_id, is_fund_safety};
use crate::model::{Alert, AlertEvent, AlertKind, Severity, SpikeInfo};
use crate::{AlertConfig, Candidate};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use voc_core::Taxonomy;

/// Evaluations per series and day the Bonferroni correction counts: the
/// counts change once a minute, and the test sees every minute's window.
pub const TESTS_PER_DAY: f64 = 1440.0;

/// Counts of one (tag, series) the test needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesCounts {
    pub tag_id: String,
    /// "<dimension>=<value>", as in `tag_minute.series`.
    pub series: String,
    pub window_count: u32,
    /// Events in the same hour-of-week slot over the history, and the minutes
    /// of history that slot covers.
    pub slot_count: u64,
    pub slot_minutes: f64,
    /// Events and minutes over the whole history.
    pub all_count: u64,
    pub all_minutes: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub tag_id: String,
    pub series: String,
    pub count: u32,
    pub expected: f64,
    pub p_value: f64,
    pub threshold: f64,
    pub series_tested: u32,
}

/// Expected count in the window for a series.
pub fn expected(s: &SeriesCounts, cfg: &SpikeConfig) -> f64 {
    let all_rate = if s.all_minutes > 0.0 {
        s.all_count as f64 / s.all_minutes
    } else {
        0.0
    };
    let rate = (s.slot_count as f64 + cfg.prior_minutes * all_rate)
        / (s.slot_minutes + cfg.prior_minutes).max(1e-9);
    (rate * cfg.window_minutes as f64).max(cfg.min_expected)
}

/// Run the test over every series seen in the window.
pub fn detect(series: &[SeriesCounts], cfg: &SpikeConfig) -> Vec<Finding> {
    let m = series.iter().filter(|s| s.window_count > 0).count().max(1) as u32;
    let threshold = cfg.alpha_per_day / (m as f64 * TESTS_PER_DAY);
    series
        .iter()
        .filter(|s| s.window_count >= cfg.min_count)
        .filter(|s| s.all_minutes >= cfg.min_history_hours as f64 * 60.0)
        .filter_map(|s| {
            let mu = expected(s, cfg);
            if (s.window_count as f64) < cfg.min_ratio * mu {
                return None;
            }
            let p = poisson_sf(s.window_count, mu);
            (p < threshold).then(|| Finding {
                tag_id: s.tag_id.clone(),
                series: s.series.clone(),
                count: s.window_count,
                expected: mu,
                p_value: p,
                threshold,
                series_tested: m,
            })
        })
        .collect()
}

/// P(X >= k) for X ~ Poisson(mu), summed from k upward (accurate in the far tail).
pub fn poisson_sf(k: u32, mu: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mu <= 0.0 {
        return 0.0;
    }
    if (k as f64) <= mu {
        // Not a tail: 1 - P(X <= k-1), summed from 0.
        let mut term = (-mu).exp();
        let mut cdf = term;
        for i in 1..k {
            term *= mu / i as f64;
            cdf += term;
        }
        return (1.0 - cdf).clamp(0.0, 1.0);
    }
    let mut term = (-mu + k as f64 * mu.ln() - ln_factorial(k)).exp();
    let mut sum = 0.0;
    let mut i = k;
    while term > sum * 1e-16 && i < k + 100_000 {
        sum += term;
        i += 1;
        term *= mu / i as f64;
    }
    sum.min(1.0)
}

fn ln_factorial(k: u32) -> f64 {
    if k < 256 {
        (2..=k).map(|i| (i as f64).ln()).sum()
    } else {
        // Stirling's series; error < 1e-10 at this size.
        let n = k as f64;
        n * n.ln() - n + 0.5 * (2.0 * std::f64::consts::PI * n).ln() + 1.0 / (12.0 * n)
    }
}

/// Minutes of [start, end) that fall in the hour-of-week slot of `at` (UTC;
/// the bank's zone, Asia/Shanghai, has no daylight saving, so the UTC slot is
/// the same local hour every week).
pub fn slot_minutes(start: DateTime<Utc>, end: DateTime<Utc>, at: DateTime<Utc>) -> f64 {
    let (dow, hour) = (at.weekday(), at.hour());
    let mut minutes = 0.0;
    let mut h = start
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(start);
    while h < end {
        let next = h + Duration::hours(1);
        if h.weekday() == dow && h.hour() == hour {
            let from = h.max(start);
            let to = next.min(end);
            minutes += (to - from).num_seconds().max(0) as f64 / 60.0;
        }
        h = next;
    }
    minutes
}

pub fn split_series(series: &str) -> (&str, &str) {
    series.split_once('=').unwrap_or(("series", series))
}

pub fn candidate(
    f: &Finding,
    sample: &[AlertEvent],
    taxonomy: &Taxonomy,
    cfg: &AlertConfig,
    now: DateTime<Utc>,
) -> Candidate {
    let ratio = f.count as f64 / f.expected.max(1e-9);
    let sev = if is_fund_safety(&f.tag_id) {
        Severity::Critical
    } else if ratio >= 2.0 * cfg.spike.min_ratio {
        Severity::High
    } else {
        Severity::Medium
    };
    let dedup_key = format!("spike:{}:{}", f.series, f.tag_id);
    let minute = now.timestamp() / 60 * 60;
    let trigger = format!("{dedup_key}@{minute}");
    let mut a = Alert::new(
        AlertKind::Spike,
        sev,
        dedup_key,
        now,
        cfg.sla(sev),
        cfg.window(),
    );
    a.alert_id = alert_id(AlertKind::Spike, &a.dedup_key, &trigger);
    a.first_seen = now - Duration::minutes(cfg.spike.window_minutes as i64);
    a.events = sample.iter().take(cfg.max_events).cloned().collect();
    a.set_tags(std::slice::from_ref(&f.tag_id), taxonomy);
    let (dimension, value) = split_series(&f.series);
    let tag_zh = a
        .tags
        .first()
        .map(|t| t.name_zh.clone())
        .unwrap_or_else(|| title::raw_value(&f.tag_id));
    a.work_order_title = title::spike(
        sev,
        &tag_zh,
        &title::series_zh(dimension, value),
        f.count,
        cfg.spike.window_minutes,
        f.expected,
    );
    a.spike = Some(SpikeInfo {
        dimension: dimension.to_string(),
        value: value.to_string(),
        tag_id: f.tag_id.clone(),
        window_minutes: cfg.spike.window_minutes,
        count: f.count,
        expected: f.expected,
        p_value: f.p_value,
        threshold: f.threshold,
        series_tested: f.series_tested,
    });
    Candidate {
        alert: a,
        triggers: vec![trigger],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn poisson_tail_matches_closed_forms() {
        // P(X >= 1) = 1 - e^-mu
        assert!((poisson_sf(1, 0.5) - (1.0 - (-0.5f64).exp())).abs() < 1e-12);
        // P(X >= 2 | 1) = 1 - 2/e
        assert!((poisson_sf(2, 1.0) - (1.0 - 2.0 / std::f64::consts::E)).abs() < 1e-12);
        // A far tail: P(X >= 20 | 1) ~ e^-1 / 20! * (1 + 1/21 + ...)
        let p = poisson_sf(20, 1.0);
        assert!(p > 1.5e-19 && p < 1.6e-19, "{p}");
        assert!(poisson_sf(5, 50.0) > 0.999);
    }

    #[test]
    fn slot_minutes_counts_one_hour_per_week() {
        let end = Utc.with_ymd_and_hms(2026, 11, 26, 10, 30, 0).unwrap();
        let start = end - Duration::days(28);
        let m = slot_minutes(start, end, end);
        // Four whole weeks: the Thursday 10:00 slot four times, minus the
        // 30 minutes of it that lie after `end`, plus the 30 before the start.
        assert_eq!(m, 240.0);
    }

    fn series(window: u32, slot: u64, all: u64) -> SeriesCounts {
        SeriesCounts {
            tag_id: "c03.t02".into(),
            series: "app_version=app 8.2".into(),
            window_count: window,
            slot_count: slot,
            slot_minutes: 240.0,
            all_count: all,
            all_minutes: 28.0 * 1440.0,
        }
    }

    #[test]
    fn fires_on_a_real_jump_not_on_a_busy_hour() {
        let cfg = SpikeConfig::default();
        // Quiet series (0.4 per 10 min in this slot): 8 is a spike.
        let quiet = series(8, 10, 1000);
        let f = detect(std::slice::from_ref(&quiet), &cfg);
        assert_eq!(f.len(), 1);
        assert!(f[0].expected < 1.0);
        // The same 8 in an hour that usually has ~8 per 10 minutes is not.
        let busy = series(8, 190, 1000);
        assert!(detect(&[busy], &cfg).is_empty());
        // Below min_count nothing fires, however quiet the baseline.
        assert!(detect(&[series(4, 0, 0)], &cfg).is_empty());
    }

    #[test]
    fn bonferroni_tightens_with_more_series() {
        let cfg = SpikeConfig::default();
        let borderline = series(9, 40, 8000);
        let alone = detect(std::slice::from_ref(&borderline), &cfg);
        let mut many = vec![borderline];
        for i in 0..2000 {
            let mut s = series(1, 40, 8000);
            s.series = format!("branch=B{i}");
            many.push(s);
        }
        let crowded = detect(&many, &cfg);
        assert_eq!(alone.len(), 1, "{alone:?}");
        assert!(crowded.is_empty(), "{crowded:?}");
    }
}

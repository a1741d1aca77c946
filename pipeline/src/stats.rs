//! What one worker run did, for `voc run --exit-after N` (benchmarks): events,
//! time from first consume to last commit, CPU, peak memory, and the latency
//! from each message's broker timestamp to ClickHouse's acknowledgement.

use serde::Serialize;
use std::time::Instant;

const MAX_SAMPLES: usize = 2_000_000;

#[derive(Default)]
pub struct RunStats {
    first_consume: Option<Instant>,
    /// CPU seconds already spent at the first consume (start-up: model load, jieba).
    cpu_at_first_consume: f64,
    last_commit: Option<Instant>,
    pub stored: u64,
    pub dead_letters: u64,
    latencies_ms: Vec<u32>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub events: u64,
    pub dead_letters: u64,
    pub seconds: f64,
    pub events_per_s: f64,
    /// CPU (user + system, all threads) from the first consume on: start-up excluded.
    pub cpu_seconds: f64,
    pub cpu_seconds_per_1000_events: f64,
    pub peak_rss_mb: f64,
    pub latency_ms_p50: u32,
    pub latency_ms_p99: u32,
    pub latency_ms_max: u32,
}

impl RunStats {
    pub fn consumed(&mut self) {
        if self.first_consume.is_none() {
            self.first_consume = Some(Instant::now());
            self.cpu_at_first_consume = process_usage().0;
        }
    }

    pub fn acknowledged(&mut self, latencies_ms: impl Iterator<Item = u32>) {
        let room = MAX_SAMPLES.saturating_sub(self.latencies_ms.len());
        self.latencies_ms.extend(latencies_ms.take(room));
    }

    pub fn committed(&mut self, stored: usize, dead: usize) {
        self.stored += stored as u64;
        self.dead_letters += dead as u64;
        self.last_commit = Some(Instant::now());
    }

    pub fn summary(&mut self) -> Summary {
        let seconds = match (self.first_consume, self.last_commit) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
            _ => 0.0,
        };
        self.latencies_ms.sort_unstable();
        let q = |p: f64| -> u32 {
            if self.latencies_ms.is_empty() {
                return 0;
            }
            let i = ((self.latencies_ms.len() as f64 - 1.0) * p).round() as usize;
            self.latencies_ms[i]
        };
        let (cpu_total, rss) = process_usage();
        let cpu = cpu_total - self.cpu_at_first_consume;
        let events = self.stored + self.dead_letters;
        Summary {
            events: self.stored,
            dead_letters: self.dead_letters,
            seconds,
            events_per_s: if seconds > 0.0 {
                events as f64 / seconds
            } else {
                0.0
            },
            cpu_seconds: cpu,
            cpu_seconds_per_1000_events: if events > 0 {
                cpu * 1000.0 / events as f64
            } else {
                0.0
            },
            peak_rss_mb: rss,
            latency_ms_p50: q(0.5),
            latency_ms_p99: q(0.99),
            latency_ms_max: self.latencies_ms.last().copied().unwrap_or(0),
        }
    }
}

/// (user + system CPU seconds, peak RSS in MiB) of this process, from /proc.
fn process_usage() -> (f64, f64) {
    let ticks = 100.0; // USER_HZ on Linux
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are 14th and 15th.
            let rest = s.rsplit(')').next()?.split_whitespace().collect::<Vec<_>>();
            Some((rest.get(11)?.parse::<f64>().ok()? + rest.get(12)?.parse::<f64>().ok()?) / ticks)
        })
        .unwrap_or(0.0);
    let rss = proc_status_kib("VmHWM").unwrap_or(0.0) / 1024.0;
    (cpu, rss)
}

/// A `kB` field of /proc/self/status (`VmRSS`, `VmHWM`, ...), in KiB.
pub fn proc_status_kib(field: &str) -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_usage() {
        let mut s = RunStats::default();
        s.consumed();
        s.acknowledged((1..=100).map(|x| x as u32));
        s.committed(100, 2);
        let sum = s.summary();
        assert_eq!((sum.events, sum.dead_letters), (100, 2));
        assert_eq!(sum.latency_ms_p50, 51);
        assert_eq!(sum.latency_ms_p99, 99);
        assert_eq!(sum.latency_ms_max, 100);
        assert!(sum.peak_rss_mb > 0.0);
    }
}

//! Suppression: one alert per dedup key and window, not a flood.
//!
//! What is emitted for a dedup key (docs/alerting.md):
//! 1. the first occurrence, immediately (`revision` 0, `occurrences` = the
//!    triggers seen in that batch, usually 1); its window closes
//!    `alert.suppress_window_minutes` later;
//! 2. occurrences inside the window are counted (ClickHouse
//!    `alert_occurrences`), not published;
//! 3. when the window closes with more occurrences than the first alert
//!    carried, exactly one update: same `alert_id`, `revision` 1, the total
//!    `occurrences` (across all workers) and `suppressed` = occurrences - 1.
//!    It goes out with the first batch the owning worker processes after the
//!    window closed. A later occurrence opens a new window (a new alert).
//!
//! A trigger (event id, or a spike's window id) already counted under a key,
//! in memory or in ClickHouse, is dropped: a re-delivered or duplicated source
//! message never raises or counts a second time. Windows opened by another
//! worker (or an earlier run) are found in ClickHouse (`alerts`), so they
//! suppress here too; the worker that opened a window sends its update.

use crate::history::{AlertHistory, OccurrenceRow};
use crate::{Alert, AlertError, Candidate};
use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// An open suppression window, kept until it closes (an hour by default: one
/// per alerted dedup key, so hundreds of thousands at high alert rates), so
/// it holds little: no copy of the alert (read back from ClickHouse when the
/// window closes with more occurrences than it carried) and its triggers as
/// 64-bit hashes.
struct Window {
    alert_id: String,
    closes_at: DateTime<Utc>,
    /// When this worker opened the window: the occurrences its first alert carried.
    owned: Option<u32>,
    /// Hashes of the triggers counted here, ascending (a key can collect
    /// thousands in its hour: looked up by binary search).
    triggers: Vec<u64>,
}

impl Window {
    fn has(&self, trigger: &str) -> bool {
        self.triggers.binary_search(&trigger_hash(trigger)).is_ok()
    }

    fn add(&mut self, trigger: &str) {
        let h = trigger_hash(trigger);
        if let Err(i) = self.triggers.binary_search(&h) {
            self.triggers.insert(i, h);
        }
    }
}

fn trigger_hash(t: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(t.as_bytes())
}

pub struct Suppressor {
    window: Duration,
    open: HashMap<String, Window>,
    /// Closed windows of this worker that counted more than their first
    /// alert, whose first alert was not readable in ClickHouse yet (the
    /// recorder still writing it): their update is tried again.
    pending: Vec<Closed>,
}

/// A closed window of this worker, waiting for its update to be decided.
#[derive(Clone)]
struct Closed {
    alert_id: String,
    first_occurrences: u32,
    triggers: u32,
}

/// ClickHouse's view of some dedup keys: windows open elsewhere (key ->
/// alert id, closes at) and (key, trigger) pairs already counted.
#[derive(Debug, Default)]
pub struct Lookups {
    pub elsewhere: HashMap<String, (String, DateTime<Utc>)>,
    pub seen: HashSet<(String, String)>,
}

/// What to publish now, and the occurrence rows to store once published.
#[derive(Debug, Default)]
pub struct Decision {
    /// New alerts with their JSON (published and stored as is).
    pub publish: Vec<(Alert, Arc<str>)>,
    pub occurrences: Vec<OccurrenceRow>,
}

/// An alert's JSON, as published, stored and kept.
pub fn encode(a: &Alert) -> Arc<str> {
    serde_json::to_string(a)
        .expect("an alert serializes")
        .into()
}

impl Suppressor {
    pub fn new(window_minutes: u32) -> Self {
        Suppressor {
            window: Duration::minutes(window_minutes as i64),
            open: HashMap::new(),
            pending: Vec::new(),
        }
    }

    /// Open windows (for tests and metrics).
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    /// A window for `key` is known here and still open at `now`.
    pub fn is_open(&self, key: &str, now: DateTime<Utc>) -> bool {
        self.open.get(key).is_some_and(|w| w.closes_at > now)
    }

    /// What ClickHouse knows about these dedup keys and their triggers
    /// (windows opened elsewhere, triggers already counted): two lookups at
    /// once. Keys may be a superset of the candidates' (prefetching).
    pub async fn lookup<H: AlertHistory>(
        &self,
        history: &H,
        wanted: &[(String, Vec<String>)],
        now: DateTime<Utc>,
    ) -> Result<Lookups, AlertError> {
        let unknown: Vec<&str> = wanted
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !self.open.contains_key(*k))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let pairs: Vec<(&str, &str)> = wanted
            .iter()
            .flat_map(|(k, ts)| ts.iter().map(move |t| (k.as_str(), t.as_str())))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let (elsewhere, seen) = tokio::join!(
            history.open_windows(&unknown, now),
            history.seen_triggers(&pairs)
        );
        Ok(Lookups {
            elsewhere: elsewhere?,
            seen: seen?,
        })
    }

    pub fn admit(
        &mut self,
        candidates: Vec<Candidate>,
        lookups: &Lookups,
        now: DateTime<Utc>,
    ) -> Decision {
        // Windows of other workers that closed are forgotten; our own wait for close_due.
        self.open
            .retain(|_, w| w.owned.is_some() || w.closes_at > now);
        // Several candidates of one key in a batch: one, with every trigger,
        // represented by the most severe.
        let mut merged: Vec<Candidate> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        for c in candidates {
            match at.get(&c.alert.dedup_key) {
                Some(&i) => {
                    let m = &mut merged[i];
                    for t in c.triggers {
                        if !m.triggers.contains(&t) {
                            m.triggers.push(t);
                        }
                    }
                    if c.alert.severity > m.alert.severity {
                        m.alert = c.alert;
                    }
                }
                None => {
                    at.insert(c.alert.dedup_key.clone(), merged.len());
                    merged.push(c);
                }
            }
        }
        let elsewhere = &lookups.elsewhere;
        // Borrowed, so a trigger is checked without copying its key.
        let seen: HashSet<(&str, &str)> = lookups
            .seen
            .iter()
            .map(|(k, t)| (k.as_str(), t.as_str()))
            .collect();

        let mut out = Decision::default();
        for c in merged {
            let key = c.alert.dedup_key.clone();
            let known = self.open.get(&key);
            let fresh: Vec<String> = c
                .triggers
                .into_iter()
                .filter(|t| !seen.contains(&(key.as_str(), t.as_str())))
                .filter(|t| known.is_none_or(|w| !w.has(t)))
                .collect();
            if fresh.is_empty() {
                continue;
            }
            if !self.open.contains_key(&key) {
                if let Some((alert_id, closes_at)) = elsewhere.get(&key) {
                    self.open.insert(
                        key.clone(),
                        Window {
                            alert_id: alert_id.clone(),
                            closes_at: *closes_at,
                            owned: None,
                            triggers: Vec::new(),
                        },
                    );
                }
            }
            let kind = c.alert.kind.as_str();
            match self.open.get_mut(&key) {
                Some(w) => {
                    for t in fresh {
                        out.occurrences.push(OccurrenceRow::new(
                            &key,
                            &t,
                            &w.alert_id,
                            kind,
                            now,
                            true,
                        ));
                        w.add(&t);
                    }
                }
                None => {
                    let mut a = c.alert;
                    a.occurrences = fresh.len() as u32;
                    a.suppressed = a.occurrences - 1;
                    a.created_at = now;
                    a.window_closes_at = now + self.window;
                    for (i, t) in fresh.iter().enumerate() {
                        out.occurrences.push(OccurrenceRow::new(
                            &key,
                            t,
                            &a.alert_id,
                            kind,
                            now,
                            i > 0,
                        ));
                    }
                    let json = encode(&a);
                    let mut w = Window {
                        alert_id: a.alert_id.clone(),
                        closes_at: a.window_closes_at,
                        owned: Some(a.occurrences),
                        triggers: Vec::with_capacity(fresh.len()),
                    };
                    for t in &fresh {
                        w.add(t);
                    }
                    self.open.insert(key, w);
                    out.publish.push((a, json));
                }
            }
        }
        out
    }

    /// Updates for this worker's windows that closed with more occurrences
    /// than their first alert carried (counted across all workers). The
    /// first alert is read back from ClickHouse (windows keep no copy); one
    /// not readable yet is tried again at the next call. Windows are closed
    /// only once the lookups succeeded.
    pub async fn close_due<H: AlertHistory>(
        &mut self,
        history: &H,
        now: DateTime<Utc>,
    ) -> Result<Vec<Alert>, AlertError> {
        let due: Vec<String> = self
            .open
            .iter()
            .filter(|(_, w)| w.owned.is_some() && w.closes_at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        if due.is_empty() && self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let mut closed: Vec<Closed> = due
            .iter()
            .filter_map(|k| self.open.get(k))
            .filter_map(|w| {
                Some(Closed {
                    alert_id: w.alert_id.clone(),
                    first_occurrences: w.owned?,
                    triggers: w.triggers.len() as u32,
                })
            })
            .collect();
        closed.extend(self.pending.iter().cloned());
        let ids: Vec<&str> = closed.iter().map(|c| c.alert_id.as_str()).collect();
        let counts = history.occurrence_counts(&ids).await?;
        let total = |c: &Closed| {
            counts
                .get(&c.alert_id)
                .copied()
                .unwrap_or(0)
                .max(c.triggers)
        };
        let grown: Vec<&Closed> = closed
            .iter()
            .filter(|c| total(c) > c.first_occurrences)
            .collect();
        let wanted: Vec<&str> = grown.iter().map(|c| c.alert_id.as_str()).collect();
        let firsts = if wanted.is_empty() {
            HashMap::new()
        } else {
            history.first_alerts(&wanted).await?
        };
        let mut out = Vec::new();
        let mut pending = Vec::new();
        for c in grown {
            let first = firsts
                .get(&c.alert_id)
                .and_then(|json| serde_json::from_str::<Alert>(json).ok());
            let Some(mut update) = first else {
                pending.push(c.clone());
                continue;
            };
            let n = total(c);
            update.revision = 1;
            update.created_at = now;
            update.occurrences = n;
            update.suppressed = n - 1;
            out.push(update);
        }
        if !pending.is_empty() {
            tracing::warn!(
                windows = pending.len(),
                "closing suppression windows: first alert not readable in ClickHouse yet; trying again"
            );
        }
        for k in &due {
            self.open.remove(k);
        }
        self.pending = pending;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_each_trigger_once() {
        let mut w = Window {
            alert_id: "a".into(),
            closes_at: Utc::now(),
            owned: Some(1),
            triggers: Vec::new(),
        };
        let ids: Vec<String> = (0..2000).rev().map(|i| format!("e{i}")).collect();
        for t in ids.iter().chain(ids.iter().take(10)) {
            w.add(t);
        }
        assert_eq!(w.triggers.len(), 2000);
        assert!(w.triggers.windows(2).all(|p| p[0] < p[1]));
        assert!(ids.iter().all(|t| w.has(t)) && !w.has("e2000"));
    }
}

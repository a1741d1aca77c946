//! Which keys ClickHouse may hold rows for: a negative cache in front of the
//! per-batch alert lookups.
//!
//! Most keys an evaluation asks about are new: a customer's first negative
//! touch in the repeat window, the first alert of a dedup key. ClickHouse
//! answers "nothing" for them only after reading every granule such a key
//! could sort into, and a batch's keys are spread over the whole table, so
//! each lookup reads most of the table, ever more as it grows (at 2,000
//! events/s these lookups were most of ClickHouse's CPU and of an alert's
//! latency). A [`KeyIndex`] holds 64-bit hashes of the keys that have rows:
//! everything ClickHouse returned at the last reload (every
//! `alert.lookup_index.refresh_s`), plus what this worker stored since. A
//! key outside it is not looked up; a key inside it (or a hash collision) is.
//!
//! What it cannot see: rows another worker stored after the last reload (a
//! gap of up to `refresh_s`, like the other worker's batches that are not
//! stored yet, which no lookup sees either). Until its first reload, and when
//! ClickHouse holds more than `max_keys` keys, it holds "everything": every
//! key is looked up, as without an index.

use crate::config::LookupIndexConfig;
use crate::{AlertConfig, AlertHistory};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashSet;
use std::sync::Mutex;

#[derive(Default)]
struct Sets {
    /// The last reload's answer.
    loaded: HashSet<u64>,
    /// Keys this worker stored since the current (or last) reload began.
    stored: HashSet<u64>,
    /// Keys stored before the running reload began: in its answer, so
    /// dropped when it succeeds.
    stored_before_reload: HashSet<u64>,
    /// A reload succeeded with at most `max_keys` keys.
    usable: bool,
}

pub struct KeyIndex {
    name: &'static str,
    max_keys: usize,
    sets: Mutex<Sets>,
}

fn hash(key: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key.as_bytes())
}

impl KeyIndex {
    /// `name` labels log lines ("customers", "dedup keys").
    pub fn new(name: &'static str, max_keys: usize) -> Self {
        KeyIndex {
            name,
            max_keys,
            sets: Mutex::new(Sets::default()),
        }
    }

    fn sets(&self) -> std::sync::MutexGuard<'_, Sets> {
        self.sets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// False only when ClickHouse certainly had no row for `key` at the last
    /// reload and this worker stored none since.
    pub fn may_hold(&self, key: &str) -> bool {
        let s = self.sets();
        if !s.usable {
            return true;
        }
        let h = hash(key);
        s.loaded.contains(&h) || s.stored.contains(&h) || s.stored_before_reload.contains(&h)
    }

    /// Rows with these keys were just stored (the insert returned).
    pub fn stored<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let mut s = self.sets();
        s.stored.extend(keys.into_iter().map(hash));
    }

    /// A reload's query is about to start: everything stored until now will
    /// be in its answer.
    pub fn reload_started(&self) {
        let mut s = self.sets();
        let stored = std::mem::take(&mut s.stored);
        s.stored_before_reload.extend(stored);
    }

    /// The reload's answer (`Err`: it failed, the index stays as it was).
    pub fn reload_finished<E: std::fmt::Display>(&self, answer: Result<Vec<String>, E>) {
        let mut s = self.sets();
        match answer {
            Ok(keys) if keys.len() > self.max_keys => {
                if s.usable {
                    tracing::warn!(
                        index = self.name,
                        keys = keys.len(),
                        max_keys = self.max_keys,
                        "alert lookup index over alert.lookup_index.max_keys: every key is looked up"
                    );
                }
                s.usable = false;
                s.loaded = HashSet::new();
                s.stored_before_reload.clear();
            }
            Ok(keys) => {
                s.loaded = keys.iter().map(|k| hash(k)).collect();
                s.stored_before_reload.clear();
                s.usable = true;
            }
            Err(e) => {
                tracing::warn!(index = self.name, error = %e, "reloading the alert lookup index failed; keeping the last one");
                let before = std::mem::take(&mut s.stored_before_reload);
                s.stored.extend(before);
            }
        }
    }

    /// Keys held (loaded and stored since), for metrics and tests.
    pub fn len(&self) -> usize {
        let s = self.sets();
        s.loaded.len() + s.stored.len() + s.stored_before_reload.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The two indexes alerting looks up through.
pub struct LookupIndex {
    /// Customers with negative touches in the repeat window.
    pub customers: KeyIndex,
    /// Dedup keys with occurrences or alerts within the horizon.
    pub dedup_keys: KeyIndex,
    /// Triggers (event ids, spike window ids) with occurrences within the
    /// horizon: a (dedup key, trigger) pair is looked up only when both may
    /// have rows (a re-delivered or duplicated message).
    pub triggers: KeyIndex,
    /// What `triggers` holds: `TRIGGERS_UNKNOWN` until a reload found out,
    /// `TRIGGERS_ALL` while ClickHouse had no occurrence older than the
    /// horizon (a young deployment: the index holds every trigger ever
    /// counted, so events of any age can use it), then `TRIGGERS_RECENT` for
    /// good (older rows never become younger).
    triggers_reach: std::sync::atomic::AtomicU8,
    reloads: std::sync::atomic::AtomicU64,
}

const TRIGGERS_UNKNOWN: u8 = 0;
const TRIGGERS_ALL: u8 = 1;
const TRIGGERS_RECENT: u8 = 2;

impl LookupIndex {
    pub fn new(cfg: &LookupIndexConfig) -> Self {
        LookupIndex {
            customers: KeyIndex::new("customers", cfg.max_keys),
            dedup_keys: KeyIndex::new("dedup keys", cfg.max_keys),
            triggers: KeyIndex::new("triggers", cfg.max_keys),
            triggers_reach: std::sync::atomic::AtomicU8::new(TRIGGERS_UNKNOWN),
            reloads: Default::default(),
        }
    }

    /// The triggers index holds every trigger ClickHouse has (no occurrence
    /// is older than the horizon), not only the horizon's: an event older
    /// than the horizon needs no lookup beyond it either.
    pub fn holds_all_triggers(&self) -> bool {
        self.triggers_reach
            .load(std::sync::atomic::Ordering::Relaxed)
            == TRIGGERS_ALL
    }

    /// Reload both from ClickHouse (one query each, at once).
    pub async fn reload<H: AlertHistory>(
        &self,
        history: &H,
        cfg: &AlertConfig,
        now: DateTime<Utc>,
    ) {
        self.customers.reload_started();
        self.dedup_keys.reload_started();
        self.triggers.reload_started();
        let customers_since = now - Duration::hours(cfg.repeat.window_hours as i64);
        let since = now - cfg.lookup_horizon();
        // The customers index serves only the repeat rule: without it, no
        // query (an empty answer; the index is never asked).
        let reach = self
            .triggers_reach
            .load(std::sync::atomic::Ordering::Relaxed);
        let (customers, keys, triggers, older) = tokio::join!(
            async {
                if cfg.repeat.enabled {
                    history.customers_with_touches(customers_since).await
                } else {
                    Ok(Vec::new())
                }
            },
            history.dedup_keys_since(since),
            history.triggers_since(since),
            async {
                // Asked until the first occurrence older than the horizon.
                if reach == TRIGGERS_RECENT {
                    Ok(true)
                } else {
                    history.occurrences_before(since).await
                }
            }
        );
        let ok = customers.is_ok() && keys.is_ok() && triggers.is_ok() && older.is_ok();
        // Asked with the triggers' `since`: rows added meanwhile are younger.
        match (&older, &triggers) {
            (Ok(true), _) => self
                .triggers_reach
                .store(TRIGGERS_RECENT, std::sync::atomic::Ordering::Relaxed),
            (Ok(false), Ok(_)) => self
                .triggers_reach
                .store(TRIGGERS_ALL, std::sync::atomic::Ordering::Relaxed),
            _ => {}
        }
        self.customers.reload_finished(customers);
        self.dedup_keys.reload_finished(keys);
        self.triggers.reload_finished(triggers);
        if ok {
            let n = self
                .reloads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (customers, dedup_keys, triggers) = (
                self.customers.len(),
                self.dedup_keys.len(),
                self.triggers.len(),
            );
            if n == 0 {
                tracing::info!(customers, dedup_keys, triggers, "alert lookup index loaded");
            } else {
                tracing::debug!(
                    customers,
                    dedup_keys,
                    triggers,
                    "alert lookup index reloaded"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_everything_until_the_first_reload() {
        let i = KeyIndex::new("t", 10);
        assert!(i.may_hold("a"));
        i.reload_started();
        i.reload_finished(Err::<Vec<String>, _>("down"));
        assert!(i.may_hold("a"), "a failed first reload leaves it unusable");
        i.reload_started();
        i.reload_finished(Ok::<_, String>(vec!["a".into()]));
        assert!(i.may_hold("a") && !i.may_hold("b"));
    }

    #[test]
    fn keys_stored_here_are_held_until_a_reload_that_began_after_them() {
        let i = KeyIndex::new("t", 10);
        i.reload_started();
        i.reload_finished(Ok::<_, String>(vec![]));
        i.stored(["x"]);
        assert!(i.may_hold("x"));
        // Stored before this reload began: its answer has it.
        i.reload_started();
        i.stored(["y"]); // stored while the reload runs: maybe not in its answer
        assert!(i.may_hold("x") && i.may_hold("y"));
        i.reload_finished(Ok::<_, String>(vec!["x".into()]));
        assert!(i.may_hold("x") && i.may_hold("y"));
        // A reload that fails keeps what was stored for the next one.
        i.reload_started();
        i.reload_finished(Err::<Vec<String>, _>("down"));
        assert!(i.may_hold("x") && i.may_hold("y"));
        i.reload_started();
        i.reload_finished(Ok::<_, String>(vec!["y".into()]));
        assert!(
            !i.may_hold("x") && i.may_hold("y"),
            "x has no rows any more"
        );
    }

    #[test]
    fn too_many_keys_make_it_hold_everything_until_they_fit_again() {
        let i = KeyIndex::new("t", 2);
        i.reload_started();
        i.reload_finished(Ok::<_, String>(vec!["a".into(), "b".into(), "c".into()]));
        assert!(i.may_hold("zzz") && i.is_empty());
        i.reload_started();
        i.reload_finished(Ok::<_, String>(vec!["a".into()]));
        assert!(!i.may_hold("zzz") && i.may_hold("a") && i.len() == 1);
    }
}

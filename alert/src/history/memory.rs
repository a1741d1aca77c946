//! An in-memory [`AlertHistory`] for unit tests.

use super::*;
use std::sync::Mutex;

/// Runs once, right after a `recent_negatives` read (a race in a test).
pub type Hook = Box<dyn FnOnce(&MemoryHistory) + Send>;

#[derive(Default)]
pub struct MemoryHistory {
    pub touches: Mutex<Vec<Touch>>,
    pub series: Mutex<Vec<SeriesCounts>>,
    pub alerts: Mutex<Vec<Alert>>,
    pub occurrences: Mutex<Vec<OccurrenceRow>>,
    pub tiers: HashMap<String, String>,
    pub after_negatives_read: Mutex<Option<Hook>>,
    /// (dedup key, trigger) pairs looked up so far.
    pub pairs_asked: Mutex<usize>,
}

fn distinct(keys: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = keys.collect();
    out.sort();
    out.dedup();
    out
}

impl AlertHistory for MemoryHistory {
    async fn recent_negatives(
        &self,
        customers: &[&str],
        since: DateTime<Utc>,
        per_customer: usize,
    ) -> Result<Vec<Touch>, SinkError> {
        let mut all: Vec<Touch> = self
            .touches
            .lock()
            .unwrap()
            .iter()
            .filter(|t| {
                customers.contains(&t.customer_key.as_str())
                    && t.event_time as i64 >= since.timestamp()
            })
            .cloned()
            .collect();
        all.sort_by_key(|t| std::cmp::Reverse(t.event_time));
        let mut out: Vec<Touch> = Vec::new();
        for c in customers {
            let mine: Vec<&Touch> = all.iter().filter(|t| t.customer_key == *c).collect();
            let n = mine.len() as u32;
            out.extend(mine.into_iter().take(per_customer).map(|t| Touch {
                history_count: n,
                ..t.clone()
            }));
        }
        let hook = self.after_negatives_read.lock().unwrap().take();
        if let Some(f) = hook {
            f(self);
        }
        Ok(out)
    }
    async fn spike_series(
        &self,
        _: &SpikeConfig,
        _: DateTime<Utc>,
    ) -> Result<Vec<SeriesCounts>, SinkError> {
        Ok(self.series.lock().unwrap().clone())
    }
    async fn spike_sample(
        &self,
        _: &str,
        _: &str,
        _: DateTime<Utc>,
        _: &SpikeConfig,
    ) -> Result<Vec<AlertEvent>, SinkError> {
        Ok(Vec::new())
    }
    async fn customer_tiers(
        &self,
        _: &str,
        keys: &[&str],
    ) -> Result<HashMap<String, String>, SinkError> {
        Ok(self
            .tiers
            .iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    async fn open_windows(
        &self,
        keys: &[&str],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, (String, DateTime<Utc>)>, SinkError> {
        Ok(self
            .alerts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| {
                a.revision == 0 && keys.contains(&a.dedup_key.as_str()) && a.window_closes_at > now
            })
            .map(|a| {
                (
                    a.dedup_key.clone(),
                    (a.alert_id.clone(), a.window_closes_at),
                )
            })
            .collect())
    }
    async fn seen_triggers(
        &self,
        pairs: &[(&str, &str)],
    ) -> Result<HashSet<(String, String)>, SinkError> {
        *self.pairs_asked.lock().unwrap() += pairs.len();
        let occ = self.occurrences.lock().unwrap();
        Ok(pairs
            .iter()
            .filter(|(k, e)| occ.iter().any(|o| o.dedup_key == *k && o.event_id == *e))
            .map(|(k, e)| (k.to_string(), e.to_string()))
            .collect())
    }
    async fn customers_with_touches(&self, since: DateTime<Utc>) -> Result<Vec<String>, SinkError> {
        Ok(distinct(
            self.touches
                .lock()
                .unwrap()
                .iter()
                .filter(|t| t.event_time as i64 >= since.timestamp())
                .map(|t| t.customer_key.clone()),
        ))
    }
    async fn dedup_keys_since(&self, since: DateTime<Utc>) -> Result<Vec<String>, SinkError> {
        let alerts = self.alerts.lock().unwrap();
        Ok(distinct(
            self.occurrences
                .lock()
                .unwrap()
                .iter()
                .filter(|o| o.seen_at as i64 >= since.timestamp())
                .map(|o| o.dedup_key.clone())
                .chain(
                    alerts
                        .iter()
                        .filter(|a| a.created_at >= since)
                        .map(|a| a.dedup_key.clone()),
                ),
        ))
    }
    async fn triggers_since(&self, since: DateTime<Utc>) -> Result<Vec<String>, SinkError> {
        Ok(distinct(
            self.occurrences
                .lock()
                .unwrap()
                .iter()
                .filter(|o| o.seen_at as i64 >= since.timestamp())
                .map(|o| o.event_id.clone()),
        ))
    }
    async fn occurrences_before(&self, since: DateTime<Utc>) -> Result<bool, SinkError> {
        Ok(self
            .occurrences
            .lock()
            .unwrap()
            .iter()
            .any(|o| (o.seen_at as i64) < since.timestamp()))
    }
    async fn first_alerts(&self, ids: &[&str]) -> Result<HashMap<String, String>, SinkError> {
        Ok(self
            .alerts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.revision == 0 && ids.contains(&a.alert_id.as_str()))
            .map(|a| (a.alert_id.clone(), serde_json::to_string(a).unwrap()))
            .collect())
    }
    async fn occurrence_counts(&self, ids: &[&str]) -> Result<HashMap<String, u32>, SinkError> {
        let occ = self.occurrences.lock().unwrap();
        let mut out: HashMap<String, HashSet<String>> = HashMap::new();
        for o in occ.iter().filter(|o| ids.contains(&o.alert_id.as_str())) {
            out.entry(o.alert_id.clone())
                .or_default()
                .insert(o.event_id.clone());
        }
        Ok(out.into_iter().map(|(k, v)| (k, v.len() as u32)).collect())
    }
    async fn record(
        &self,
        alerts: &[Alert],
        _: &[std::sync::Arc<str>],
        occ: &[OccurrenceRow],
    ) -> Result<(), SinkError> {
        self.alerts.lock().unwrap().extend(alerts.iter().cloned());
        self.occurrences.lock().unwrap().extend(occ.iter().cloned());
        Ok(())
    }
}

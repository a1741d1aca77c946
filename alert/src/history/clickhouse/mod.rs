//! [`AlertHistory`] on ClickHouse: one query per call, lists chunked to
//! stay under the server's query size.

mod answers;
mod sql;

use super::{AlertHistory, AlertRow, OccurrenceRow};
use crate::config::SpikeConfig;
use crate::model::{Alert, AlertEvent};
use crate::rules::repeat::Touch;
use crate::rules::spike::{self, SeriesCounts};
use answers::*;
use chrono::{DateTime, Duration, Utc};
use clickhouse::query::Query;
use clickhouse::{Client, Row};
use serde::Deserialize;
use sql::{bind_all, pair_placeholders, placeholders};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use voc_sink::{ClickHouseConfig, SinkError};

/// Items per IN list: keeps every query well under ClickHouse's
/// max_query_size (256 KiB) however large a batch is.
const CHUNK: usize = 1000;

/// Baselines change slowly: cached per (tag, series) for the current hour-of-week slot.
#[derive(Default)]
struct BaselineCache {
    slot_start: i64,
    history_start: Option<DateTime<Utc>>,
    by_series: HashMap<(String, String), (u64, u64)>,
}

pub struct ClickHouseHistory {
    client: Client,
    cfg: ClickHouseConfig,
    baselines: Mutex<BaselineCache>,
}

impl ClickHouseHistory {
    pub fn new(cfg: ClickHouseConfig) -> Result<Self, SinkError> {
        Ok(ClickHouseHistory::with_client(cfg.client()?, cfg))
    }

    /// On a client already made from `cfg` (one client, and one read of
    /// its CA file, for every history of a service).
    pub fn with_client(client: Client, cfg: ClickHouseConfig) -> Self {
        ClickHouseHistory {
            client,
            cfg,
            baselines: Mutex::new(BaselineCache::default()),
        }
    }

    fn err(&self, source: clickhouse::error::Error) -> SinkError {
        SinkError::ClickHouse {
            url: self.cfg.url.clone(),
            source,
        }
    }

    fn db(&self) -> &str {
        &self.cfg.database
    }

    /// A query on the configured database (the client's default): values
    /// are bound to `?` placeholders, never spliced into the text.
    fn query(&self, sql: &str) -> Query {
        self.client.query(sql)
    }

    async fn fetch<T>(&self, q: Query) -> Result<Vec<T>, SinkError>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        match tokio::time::timeout(
            std::time::Duration::from_millis(self.cfg.timeout_ms),
            q.fetch_all::<T>(),
        )
        .await
        {
            Ok(r) => r.map_err(|e| self.err(e)),
            Err(_) => Err(SinkError::Timeout {
                url: self.cfg.url.clone(),
                ms: self.cfg.timeout_ms,
            }),
        }
    }

    /// An operator's query template, filled: see [`sql::template`].
    fn template_query(&self, template: &str, keys: &[&str]) -> Query {
        sql::template(template, self.db(), keys, |sql| self.query(sql))
    }

    /// The `key` column of a query's rows.
    async fn fetch_keys(&self, q: Query) -> Result<Vec<String>, SinkError> {
        let rows: Vec<KeyRow> = self.fetch(q).await?;
        Ok(rows.into_iter().map(|r| r.key).collect())
    }

    /// One query per CHUNK items, results concatenated.
    async fn fetch_chunked<I, T>(
        &self,
        items: &[I],
        query: impl Fn(&[I]) -> Query,
    ) -> Result<Vec<T>, SinkError>
    where
        T: clickhouse::RowOwned + clickhouse::RowRead,
    {
        let mut out = Vec::new();
        for part in items.chunks(CHUNK) {
            out.extend(self.fetch::<T>(query(part)).await?);
        }
        Ok(out)
    }

    async fn baselines(
        &self,
        wanted: &[(String, String)],
        cfg: &SpikeConfig,
        now: DateTime<Utc>,
    ) -> Result<(HashMap<(String, String), (u64, u64)>, f64, f64), SinkError> {
        let hist_end = now - Duration::minutes(cfg.exclude_recent_minutes as i64);
        let slot_start = hist_end.timestamp() / 3600;
        let (missing, history_start) = {
            let mut c = self.baselines.lock().unwrap_or_else(|p| p.into_inner());
            if c.slot_start != slot_start {
                *c = BaselineCache {
                    slot_start,
                    ..BaselineCache::default()
                };
            }
            let missing: Vec<(String, String)> = wanted
                .iter()
                .filter(|k| !c.by_series.contains_key(*k))
                .cloned()
                .collect();
            (missing, c.history_start)
        };
        let earliest = now - Duration::days(cfg.history_days as i64);
        let history_start = match history_start {
            Some(h) => h,
            None => {
                #[derive(Row, Deserialize)]
                struct Min {
                    t: u32,
                }
                let rows: Vec<Min> = self
                    .fetch(
                        self.query(
                            "SELECT toUInt32(min(minute)) AS t FROM tag_minute WHERE minute >= ?",
                        )
                        .bind(earliest.timestamp()),
                    )
                    .await?;
                let t = rows
                    .first()
                    .map(|r| r.t as i64)
                    .filter(|t| *t > 0)
                    .and_then(|t| DateTime::from_timestamp(t, 0))
                    .unwrap_or(hist_end)
                    .max(earliest);
                self.baselines
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .history_start = Some(t);
                t
            }
        };
        let all_minutes = (hist_end - history_start).num_seconds().max(0) as f64 / 60.0;
        // Not enough history for any baseline: the test will not run, skip the query.
        let missing = if all_minutes < cfg.min_history_hours as f64 * 60.0 {
            Vec::new()
        } else {
            missing
        };
        for missing in missing.chunks(CHUNK) {
            let sql = format!(
                "SELECT tag_id, series, \
                   sumIf(n, toDayOfWeek(minute) = ? AND toHour(minute) = ?) AS slot, \
                   sum(n) AS all \
                 FROM (SELECT tag_id, series, minute, uniqExactMerge(events) AS n \
                       FROM tag_minute \
                       WHERE (tag_id, series) IN ({}) AND minute >= ? AND minute < ? \
                       GROUP BY tag_id, series, minute) \
                 GROUP BY tag_id, series",
                pair_placeholders(missing.len())
            );
            let q = self
                .query(&sql)
                .bind(chrono::Datelike::weekday(&now).number_from_monday())
                .bind(chrono::Timelike::hour(&now));
            let q = bind_all(
                q,
                missing.iter().flat_map(|(t, s)| [t.as_str(), s.as_str()]),
            )
            .bind(history_start.timestamp())
            .bind(hist_end.timestamp());
            let rows: Vec<BaselineRow> = self.fetch(q).await?;
            let mut c = self.baselines.lock().unwrap_or_else(|p| p.into_inner());
            for k in missing {
                c.by_series.insert(k.clone(), (0, 0));
            }
            for r in rows {
                c.by_series.insert((r.tag_id, r.series), (r.slot, r.all));
            }
        }
        let c = self.baselines.lock().unwrap_or_else(|p| p.into_inner());
        let out = wanted
            .iter()
            .map(|k| (k.clone(), c.by_series.get(k).copied().unwrap_or((0, 0))))
            .collect();
        let slot_minutes = spike::slot_minutes(history_start, hist_end, now);
        Ok((out, slot_minutes, all_minutes))
    }

    /// Which revisions of these alerts are recorded in `alerts`.
    pub async fn recorded(&self, alert_ids: &[&str]) -> Result<HashSet<(String, u8)>, SinkError> {
        let rows: Vec<RevisionRow> = self
            .fetch_chunked(alert_ids, |part| {
                let sql = format!(
                    "SELECT DISTINCT alert_id, revision FROM alerts WHERE alert_id IN ({})",
                    placeholders(part.len())
                );
                bind_all(self.query(&sql), part.iter().copied())
            })
            .await?;
        Ok(rows.into_iter().map(|r| (r.alert_id, r.revision)).collect())
    }
}

impl AlertHistory for ClickHouseHistory {
    async fn recent_negatives(
        &self,
        customers: &[&str],
        since: DateTime<Utc>,
        per_customer: usize,
    ) -> Result<Vec<Touch>, SinkError> {
        if customers.is_empty() {
            return Ok(Vec::new());
        }
        // Only the newest few rows per customer cross the wire (a busy
        // customer's history grows without bound), with the count beside them.
        // Both joined subqueries are named: current ClickHouse releases require it.
        self.fetch_chunked(customers, |part| {
            let list = placeholders(part.len());
            let sql = format!(
                "SELECT customer_key, event_time, event_id, channel, text, tag_ids, nps_score, \
                 sentiment_score, history_count FROM \
                 (SELECT customer_key, toUInt32(event_time) AS event_time, event_id, channel, text, \
                  tag_ids, nps_score, sentiment_score FROM negative_touches \
                  WHERE customer_key IN ({list}) AND event_time >= ? \
                  ORDER BY customer_key, event_time DESC LIMIT ? BY customer_key) AS recent \
                 ANY LEFT JOIN \
                 (SELECT customer_key, toUInt32(uniqExact(event_id)) AS history_count \
                  FROM negative_touches \
                  WHERE customer_key IN ({list}) AND event_time >= ? GROUP BY customer_key) \
                 AS counts USING customer_key"
            );
            let q = bind_all(self.query(&sql), part.iter().copied())
                .bind(since.timestamp())
                .bind(per_customer as u64);
            bind_all(q, part.iter().copied()).bind(since.timestamp())
        })
        .await
    }

    async fn spike_series(
        &self,
        cfg: &SpikeConfig,
        now: DateTime<Utc>,
    ) -> Result<Vec<SeriesCounts>, SinkError> {
        let from = now - Duration::minutes(cfg.window_minutes as i64);
        let q = self
            .query(
                "SELECT tag_id, series, uniqExactMerge(events) AS n FROM tag_minute \
                 WHERE minute >= ? GROUP BY tag_id, series",
            )
            // Whole minutes: the window's first minute is counted from its start.
            .bind(from.timestamp() / 60 * 60 + 60);
        let window: Vec<WindowCountRow> = self.fetch(q).await?;
        let wanted: Vec<(String, String)> = window
            .iter()
            .map(|r| (r.tag_id.clone(), r.series.clone()))
            .collect();
        let (base, slot_minutes, all_minutes) = self.baselines(&wanted, cfg, now).await?;
        Ok(window
            .into_iter()
            .map(|r| {
                let (slot, all) = base
                    .get(&(r.tag_id.clone(), r.series.clone()))
                    .copied()
                    .unwrap_or((0, 0));
                SeriesCounts {
                    tag_id: r.tag_id,
                    series: r.series,
                    window_count: r.n as u32,
                    slot_count: slot,
                    slot_minutes,
                    all_count: all,
                    all_minutes,
                }
            })
            .collect())
    }

    async fn spike_sample(
        &self,
        tag_id: &str,
        series: &str,
        now: DateTime<Utc>,
        cfg: &SpikeConfig,
    ) -> Result<Vec<AlertEvent>, SinkError> {
        let (dimension, value) = spike::split_series(series);
        // The series' filter: a fixed column list, its values bound.
        let (filter, values): (&str, Vec<&str>) = match dimension {
            "channel" => ("channel = ?", vec![value]),
            "branch" => ("branch_id = ?", vec![value]),
            "product" => ("product = ?", vec![value]),
            "app_version" => match value.split_once(' ') {
                Some((c, v)) => ("channel = ? AND app_version = ?", vec![c, v]),
                None => ("app_version = ?", vec![value]),
            },
            _ => ("1", vec![]),
        };
        let from = now - Duration::minutes(cfg.window_minutes as i64 + 1);
        let sql = format!(
            // LIMIT BY inside, LIMIT outside: on a cluster's Distributed table
            // ClickHouse 18.16 cuts each shard at the LIMIT before LIMIT BY.
            "SELECT * FROM (SELECT event_id, channel, toUInt32(event_time) AS event_time, substringUTF8(text, 1, 200) AS text, \
             sentiment_score, nps_score, kafka_topic, kafka_partition, kafka_offset \
             FROM feedback_events WHERE event_time >= ? AND toDate(event_time) >= toDate(?) \
             AND (has(pain_tags, ?) OR has(itch_tags, ?)) AND {filter} \
             ORDER BY event_time DESC LIMIT 1 BY event_id) ORDER BY event_time DESC LIMIT 10"
        );
        let q = self
            .query(&sql)
            .bind(from.timestamp())
            .bind(from.timestamp())
            .bind(tag_id)
            .bind(tag_id);
        let rows: Vec<SampleRow> = self.fetch(bind_all(q, values)).await?;
        Ok(rows
            .into_iter()
            .map(|r| AlertEvent {
                event_id: r.event_id,
                channel: r.channel,
                event_time: DateTime::from_timestamp(r.event_time as i64, 0).unwrap_or_default(),
                text_excerpt: r.text,
                sentiment_score: r.sentiment_score,
                nps_score: r.nps_score,
                source: Some(format!(
                    "{}/{}/{}",
                    r.kafka_topic, r.kafka_partition, r.kafka_offset
                )),
            })
            .collect())
    }

    async fn customer_tiers(
        &self,
        query: &str,
        keys: &[&str],
    ) -> Result<HashMap<String, String>, SinkError> {
        let rows: Vec<TierRow> = self
            .fetch_chunked(keys, |part| self.template_query(query, part))
            .await?;
        Ok(rows.into_iter().map(|r| (r.customer_key, r.tier)).collect())
    }

    async fn open_windows(
        &self,
        keys: &[&str],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, (String, DateTime<Utc>)>, SinkError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<WindowRow> = self
            .fetch_chunked(keys, |part| {
                let sql = format!(
                    "SELECT dedup_key, argMax(alert_id, created_at) AS alert_id, \
                     toUInt32(max(window_closes_at)) AS closes_at FROM alerts \
                     WHERE dedup_key IN ({}) AND revision = 0 AND window_closes_at > ? \
                     GROUP BY dedup_key",
                    placeholders(part.len())
                );
                bind_all(self.query(&sql), part.iter().copied()).bind(now.timestamp())
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let t = DateTime::from_timestamp(r.closes_at as i64, 0).unwrap_or(now);
                (r.dedup_key, (r.alert_id, t))
            })
            .collect())
    }

    async fn seen_triggers(
        &self,
        pairs: &[(&str, &str)],
    ) -> Result<HashSet<(String, String)>, SinkError> {
        if pairs.is_empty() {
            return Ok(HashSet::new());
        }
        let rows: Vec<PairRow> = self
            .fetch_chunked(pairs, |part| {
                let sql = format!(
                    "SELECT dedup_key, event_id FROM alert_occurrences \
                     WHERE (dedup_key, event_id) IN ({})",
                    pair_placeholders(part.len())
                );
                bind_all(self.query(&sql), part.iter().flat_map(|(k, e)| [*k, *e]))
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.dedup_key, r.event_id))
            .collect())
    }

    async fn customers_with_touches(&self, since: DateTime<Utc>) -> Result<Vec<String>, SinkError> {
        self.fetch_keys(
            self.query(
                "SELECT DISTINCT customer_key AS key FROM negative_touches WHERE event_time >= ?",
            )
            .bind(since.timestamp()),
        )
        .await
    }

    async fn dedup_keys_since(&self, since: DateTime<Utc>) -> Result<Vec<String>, SinkError> {
        self.fetch_keys(
            self.query(
                "SELECT DISTINCT key FROM \
                 (SELECT dedup_key AS key FROM alert_occurrences WHERE seen_at >= ? \
                  UNION ALL SELECT dedup_key AS key FROM alerts WHERE created_at >= ?)",
            )
            .bind(since.timestamp())
            .bind(since.timestamp()),
        )
        .await
    }

    async fn triggers_since(&self, since: DateTime<Utc>) -> Result<Vec<String>, SinkError> {
        self.fetch_keys(
            self.query("SELECT DISTINCT event_id AS key FROM alert_occurrences WHERE seen_at >= ?")
                .bind(since.timestamp()),
        )
        .await
    }

    async fn occurrences_before(&self, since: DateTime<Utc>) -> Result<bool, SinkError> {
        // LIMIT 1: stops at the first such row.
        let rows: Vec<AnyRow> = self
            .fetch(
                self.query(
                    "SELECT toUInt8(count() > 0) AS found FROM \
                     (SELECT 1 FROM alert_occurrences WHERE seen_at < ? LIMIT 1)",
                )
                .bind(since.timestamp()),
            )
            .await?;
        Ok(rows.first().is_some_and(|r| r.found > 0))
    }

    async fn first_alerts(&self, alert_ids: &[&str]) -> Result<HashMap<String, String>, SinkError> {
        let rows: Vec<PayloadRow> = self
            .fetch_chunked(alert_ids, |part| {
                let sql = format!(
                    "SELECT alert_id, any(payload) AS payload FROM alerts \
                     WHERE alert_id IN ({}) AND revision = 0 GROUP BY alert_id",
                    placeholders(part.len())
                );
                bind_all(self.query(&sql), part.iter().copied())
            })
            .await?;
        Ok(rows.into_iter().map(|r| (r.alert_id, r.payload)).collect())
    }

    async fn occurrence_counts(
        &self,
        alert_ids: &[&str],
    ) -> Result<HashMap<String, u32>, SinkError> {
        if alert_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<CountRow> = self
            .fetch_chunked(alert_ids, |part| {
                let sql = format!(
                    "SELECT alert_id, uniqExact(event_id) AS n FROM alert_occurrences \
                     WHERE alert_id IN ({}) GROUP BY alert_id",
                    placeholders(part.len())
                );
                bind_all(self.query(&sql), part.iter().copied())
            })
            .await?;
        Ok(rows.into_iter().map(|r| (r.alert_id, r.n as u32)).collect())
    }

    async fn record(
        &self,
        alerts: &[Alert],
        payloads: &[std::sync::Arc<str>],
        occurrences: &[OccurrenceRow],
    ) -> Result<(), SinkError> {
        let timeout = std::time::Duration::from_millis(self.cfg.timeout_ms);
        let occ = async {
            if !occurrences.is_empty() {
                let mut ins = self
                    .client
                    .insert::<OccurrenceRow>("alert_occurrences")
                    .await
                    .map_err(|e| self.err(e))?;
                for o in occurrences {
                    ins.write(o).await.map_err(|e| self.err(e))?;
                }
                ins.end().await.map_err(|e| self.err(e))?;
            }
            Ok::<(), SinkError>(())
        };
        let published = async {
            if !alerts.is_empty() {
                let mut ins = self
                    .client
                    .insert::<AlertRow<'_>>("alerts")
                    .await
                    .map_err(|e| self.err(e))?;
                debug_assert_eq!(alerts.len(), payloads.len());
                for (a, p) in alerts.iter().zip(payloads) {
                    ins.write(&AlertRow::of(a, p))
                        .await
                        .map_err(|e| self.err(e))?;
                }
                ins.end().await.map_err(|e| self.err(e))?;
            }
            Ok::<(), SinkError>(())
        };
        // Two tables, two inserts at once.
        let work = async {
            let (a, b) = tokio::join!(occ, published);
            a.and(b)
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(SinkError::Timeout {
                    url: self.cfg.url.clone(),
                    ms: self.cfg.timeout_ms,
                })
            })
    }
}

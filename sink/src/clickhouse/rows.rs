//! The rows voc writes: one [`FeedbackRow`] per enriched event (the worker's
//! inserts) and the taxonomy table.
//!
//! Rows go as RowBinary over HTTP with validation off: ClickHouse 18.16 lacks
//! RowBinaryWithNamesAndTypes. The structs must therefore match the column
//! names of the schema (sink/schema/), which tests check.

use super::{ClickHouseSink, SinkError};
use clickhouse::Row;
use serde::Serialize;
use std::time::{Duration, Instant};
use voc_core::EnrichedEvent;

/// One row of the `taxonomy` table.
#[derive(Debug, Row, Serialize)]
pub struct TaxonomyRow<'a> {
    pub tag_id: &'a str,
    pub category_id: &'a str,
    pub category_zh: &'a str,
    pub category_en: &'a str,
    pub tag_zh: &'a str,
    pub tag_en: &'a str,
    pub journey_stage: &'a str,
    pub department: &'a str,
    pub polarity: &'a str,
    pub retired: u8,
    pub taxonomy_version: &'a str,
}

/// One row of `feedback_events`, borrowed from an [`EnrichedEvent`].
#[derive(Debug, Row, Serialize)]
pub struct FeedbackRow<'a> {
    pub event_id: &'a str,
    pub source_id: &'a str,
    pub channel: &'a str,
    pub event_time: u32,
    pub ingest_time: u32,
    pub event_time_source: &'a str,
    pub customer_key: &'a str,
    pub device_key: &'a str,
    pub branch_id: &'a str,
    pub city: &'a str,
    pub product: &'a str,
    pub journey_node: &'a str,
    pub app_version: &'a str,
    pub os: &'a str,
    pub staff_id: &'a str,
    pub platform: &'a str,
    pub thread_id: &'a str,
    pub text: &'a str,
    pub context_text: &'a str,
    pub tokens: &'a voc_core::Tokens,
    pub keywords: &'a [String],
    pub sentiment_label: &'a str,
    pub sentiment_score: f32,
    pub sentiment_source: &'a str,
    pub tag_ids: Vec<&'a str>,
    pub tag_scores: Vec<f32>,
    pub tag_polarities: Vec<&'a str>,
    /// Aspect-level sentiment per tag (clause analysis).
    pub tag_sentiments: Vec<f32>,
    pub categories: &'a [String],
    pub pain_tags: &'a [String],
    pub itch_tags: &'a [String],
    pub delight_tags: &'a [String],
    pub departments: &'a [String],
    pub nps_score: Option<u8>,
    pub nps_segment: &'a str,
    pub nps_inferred: u8,
    pub star_rating: Option<u8>,
    pub wait_minutes: Option<f32>,
    pub duration_s: Option<u32>,
    pub likes: Option<u32>,
    pub pii_masked: &'a [String],
    pub text_truncated: u8,
    pub source_encoding: &'a str,
    pub model_version: &'a str,
    pub taxonomy_version: &'a str,
    pub kafka_topic: &'a str,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
}

fn key(k: &Option<String>) -> &str {
    k.as_deref().unwrap_or("")
}

fn epoch(t: chrono::DateTime<chrono::Utc>) -> u32 {
    t.timestamp().clamp(0, u32::MAX as i64) as u32
}

impl<'a> FeedbackRow<'a> {
    pub fn from_event(e: &'a EnrichedEvent) -> Self {
        FeedbackRow {
            event_id: &e.event_id,
            source_id: &e.source_id,
            channel: e.channel.as_str(),
            event_time: epoch(e.event_time),
            ingest_time: epoch(e.ingest_time),
            event_time_source: e.event_time_source.as_str(),
            customer_key: key(&e.keys.customer),
            device_key: key(&e.keys.device),
            branch_id: key(&e.keys.branch),
            city: key(&e.keys.city),
            product: key(&e.keys.product),
            journey_node: key(&e.keys.journey_node),
            app_version: key(&e.keys.app_version),
            os: key(&e.keys.os),
            staff_id: key(&e.keys.staff),
            platform: key(&e.keys.platform),
            thread_id: key(&e.keys.thread),
            text: &e.text,
            context_text: &e.context_text,
            tokens: &e.tokens,
            keywords: &e.keywords,
            sentiment_label: e.sentiment.label.as_str(),
            sentiment_score: e.sentiment.score,
            sentiment_source: match e.sentiment.source {
                voc_core::SentimentSource::Model => "model",
                voc_core::SentimentSource::Score => "score",
            },
            tag_ids: e.tags.iter().map(|t| t.id.as_str()).collect(),
            tag_scores: e.tags.iter().map(|t| t.score).collect(),
            tag_polarities: e.tags.iter().map(|t| t.polarity.as_str()).collect(),
            tag_sentiments: e.tags.iter().map(|t| t.sentiment).collect(),
            categories: &e.categories,
            pain_tags: &e.experience.pain,
            itch_tags: &e.experience.itch,
            delight_tags: &e.experience.delight,
            departments: &e.departments,
            nps_score: e.nps.score.map(|s| s.get()),
            nps_segment: e.nps.segment.as_str(),
            nps_inferred: e.nps.inferred as u8,
            star_rating: e.star_rating,
            wait_minutes: e.wait_minutes,
            duration_s: e.duration_s,
            likes: e.likes,
            pii_masked: &e.pii_masked,
            text_truncated: e.text_truncated as u8,
            source_encoding: &e.source_encoding,
            model_version: &e.model_version,
            taxonomy_version: &e.taxonomy_version,
            kafka_topic: &e.lineage.topic,
            kafka_partition: e.lineage.partition,
            kafka_offset: e.lineage.offset,
        }
    }
}

/// The items (indices into `items`) grouped so that no group spans more
/// than `max_partitions` partitions of the events table (months of the
/// event time `time` gives). A UTC month can fall into two months of the
/// server's time zone, so a group holds at most half as many UTC months.
/// Items of at most that many months stay one group, in their order.
pub fn partition_groups<T>(
    items: &[T],
    max_partitions: usize,
    time: impl Fn(&T) -> chrono::DateTime<chrono::Utc>,
) -> Vec<Vec<usize>> {
    use chrono::Datelike;
    let per_group = (max_partitions / 2).max(1);
    let month = |i: usize| {
        let t = time(&items[i]);
        (t.year(), t.month())
    };
    let mut months: Vec<(i32, u32)> = (0..items.len()).map(month).collect();
    months.sort_unstable();
    months.dedup();
    if months.len() <= per_group {
        return vec![(0..items.len()).collect()];
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| month(i));
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut seen = 0;
    let mut last = None;
    for i in order {
        let m = month(i);
        if last != Some(m) {
            last = Some(m);
            seen += 1;
            if seen > per_group || groups.is_empty() {
                groups.push(Vec::new());
                seen = 1;
            }
        }
        groups.last_mut().expect("a group").push(i);
    }
    groups
}

impl ClickHouseSink {
    /// Insert all events in one statement (several batches can go in one);
    /// returns the time it took. With `shards` configured, shard-local
    /// ([`super::shard`]).
    pub async fn insert<E>(&self, events: &[E]) -> Result<Duration, SinkError>
    where
        E: std::borrow::Borrow<EnrichedEvent> + Sync,
    {
        if self.shards.is_empty() {
            self.insert_into(&self.cfg.table, events).await
        } else {
            self.insert_sharded(events).await
        }
    }

    /// Insert events into `table` of this server in one statement.
    pub(crate) async fn insert_into<E>(
        &self,
        table: &str,
        events: &[E],
    ) -> Result<Duration, SinkError>
    where
        E: std::borrow::Borrow<EnrichedEvent> + Sync,
    {
        let start = Instant::now();
        if events.is_empty() {
            return Ok(start.elapsed());
        }
        self.timed(async {
            let mut insert = self
                .client
                .insert::<FeedbackRow<'_>>(table)
                .await
                .map_err(|e| self.err(e))?;
            for e in events {
                insert
                    .write(&FeedbackRow::from_event(e.borrow()))
                    .await
                    .map_err(|e| self.err(e))?;
            }
            insert.end().await.map_err(|e| self.err(e))
        })
        .await?;
        Ok(start.elapsed())
    }

    /// (Re)load the taxonomy rows; ReplacingMergeTree keeps one per tag id.
    pub async fn load_taxonomy(&self, taxonomy: &voc_core::Taxonomy) -> Result<(), SinkError> {
        self.timed(async {
            let mut insert = self
                .client
                .insert::<TaxonomyRow<'_>>("taxonomy")
                .await
                .map_err(|e| self.err(e))?;
            for t in taxonomy.tags() {
                let row = TaxonomyRow {
                    tag_id: &t.id,
                    category_id: &t.category_id,
                    category_zh: &t.category_zh,
                    category_en: &t.category_en,
                    tag_zh: &t.tag_zh,
                    tag_en: &t.tag_en,
                    journey_stage: &t.journey_stage,
                    department: &t.department,
                    polarity: t.polarity.as_str(),
                    retired: t.retired as u8,
                    taxonomy_version: taxonomy.version(),
                };
                insert.write(&row).await.map_err(|e| self.err(e))?;
            }
            insert.end().await.map_err(|e| self.err(e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn no_insert_spans_more_months_than_allowed() {
        let month = |i: u32| {
            Utc.with_ymd_and_hms(2010 + (i / 12) as i32, i % 12 + 1, 15, 0, 0, 0)
                .unwrap()
        };
        // 150 months, three events each, interleaved.
        let times: Vec<_> = (0..450).map(|i| month(i % 150)).collect();
        let groups = partition_groups(&times, 100, |t| *t);
        assert_eq!(groups.len(), 3);
        let mut all: Vec<usize> = groups.concat();
        all.sort_unstable();
        assert_eq!(all, (0..450).collect::<Vec<_>>());
        for g in &groups {
            let mut months: Vec<_> = g.iter().map(|&i| times[i]).collect();
            months.sort();
            months.dedup();
            assert!(months.len() <= 50, "{}", months.len());
        }
        // A batch of a few months is one insert, in its order.
        let few: Vec<_> = (0..10).map(|i| month(i % 3)).collect();
        assert_eq!(
            partition_groups(&few, 100, |t| *t),
            vec![(0..10).collect::<Vec<_>>()]
        );
    }
}

//! ClickHouse: the schema (deploy/clickhouse/*.sql) and the row writer.
//!
//! Rows go as RowBinary over HTTP with validation off: ClickHouse 18.16, the
//! server available here, lacks RowBinaryWithNamesAndTypes. The struct below
//! must therefore match the column names in 001_feedback_events.sql, which a
//! test against the real server checks.

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use voc_core::EnrichedEvent;

/// The migrations, in order; `{db}` is replaced by the configured database.
pub const SCHEMA: [(&str, &str); 11] = [
    (
        "001_feedback_events",
        include_str!("../../deploy/clickhouse/001_feedback_events.sql"),
    ),
    (
        "002_feedback_view",
        include_str!("../../deploy/clickhouse/002_feedback_view.sql"),
    ),
    (
        "003_taxonomy",
        include_str!("../../deploy/clickhouse/003_taxonomy.sql"),
    ),
    // Alerting (issue 6): 020-039.
    (
        "020_alerts",
        include_str!("../../deploy/clickhouse/020_alerts.sql"),
    ),
    (
        "021_alert_occurrences",
        include_str!("../../deploy/clickhouse/021_alert_occurrences.sql"),
    ),
    (
        "022_negative_touches",
        include_str!("../../deploy/clickhouse/022_negative_touches.sql"),
    ),
    (
        "023_negative_touches_mv",
        include_str!("../../deploy/clickhouse/023_negative_touches_mv.sql"),
    ),
    (
        "024_tag_minute",
        include_str!("../../deploy/clickhouse/024_tag_minute.sql"),
    ),
    (
        "025_tag_minute_mv",
        include_str!("../../deploy/clickhouse/025_tag_minute_mv.sql"),
    ),
    (
        "026_work_order_updates",
        include_str!("../../deploy/clickhouse/026_work_order_updates.sql"),
    ),
    (
        "027_alert_deliveries",
        include_str!("../../deploy/clickhouse/027_alert_deliveries.sql"),
    ),
];

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

/// ClickHouse connection settings (`[clickhouse]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP endpoint.
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
    /// Table the worker inserts into (the `feedback` view reads it deduplicated).
    pub table: String,
    /// Compress inserts with LZ4.
    pub lz4: bool,
    /// Per-request timeout.
    pub timeout_ms: u64,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "voc".into(),
            user: "default".into(),
            password: String::new(),
            table: "feedback_events".into(),
            lz4: true,
            timeout_ms: 30_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("ClickHouse at {url}: {source}")]
    ClickHouse {
        url: String,
        #[source]
        source: clickhouse::error::Error,
    },
    #[error("ClickHouse at {url}: request timed out after {ms} ms")]
    Timeout { url: String, ms: u64 },
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
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
    pub tokens: &'a [String],
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

/// Inserts batches of enriched events; one call is one INSERT statement.
#[derive(Clone)]
pub struct ClickHouseSink {
    client: Client,
    cfg: ClickHouseConfig,
}

impl ClickHouseSink {
    pub fn new(cfg: ClickHouseConfig) -> Self {
        let mut client = Client::default()
            .with_url(&cfg.url)
            .with_user(&cfg.user)
            .with_database(&cfg.database)
            .with_validation(false);
        if !cfg.password.is_empty() {
            client = client.with_password(&cfg.password);
        }
        if cfg.lz4 {
            client = client.with_compression(clickhouse::Compression::Lz4);
        }
        ClickHouseSink { client, cfg }
    }

    fn err(&self, source: clickhouse::error::Error) -> SinkError {
        SinkError::ClickHouse {
            url: self.cfg.url.clone(),
            source,
        }
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, SinkError>>,
    ) -> Result<T, SinkError> {
        tokio::time::timeout(Duration::from_millis(self.cfg.timeout_ms), f)
            .await
            .unwrap_or_else(|_| {
                Err(SinkError::Timeout {
                    url: self.cfg.url.clone(),
                    ms: self.cfg.timeout_ms,
                })
            })
    }

    /// Insert all events in one statement; returns the time it took.
    pub async fn insert(&self, events: &[EnrichedEvent]) -> Result<Duration, SinkError> {
        let start = Instant::now();
        if events.is_empty() {
            return Ok(start.elapsed());
        }
        self.timed(async {
            let mut insert = self
                .client
                .insert::<FeedbackRow<'_>>(&self.cfg.table)
                .await
                .map_err(|e| self.err(e))?;
            for e in events {
                insert
                    .write(&FeedbackRow::from_event(e))
                    .await
                    .map_err(|e| self.err(e))?;
            }
            insert.end().await.map_err(|e| self.err(e))
        })
        .await?;
        Ok(start.elapsed())
    }

    /// Insert rows of any table in one statement (alerting side tables).
    pub async fn insert_rows<R>(&self, table: &str, rows: &[R]) -> Result<(), SinkError>
    where
        R: clickhouse::RowWrite + clickhouse::RowOwned,
    {
        if rows.is_empty() {
            return Ok(());
        }
        self.timed(async {
            let mut insert = self
                .client
                .insert::<R>(table)
                .await
                .map_err(|e| self.err(e))?;
            for r in rows {
                insert.write(r).await.map_err(|e| self.err(e))?;
            }
            insert.end().await.map_err(|e| self.err(e))
        })
        .await
    }

    /// The DDL statements for `database`, in order.
    pub fn schema_statements(database: &str) -> Vec<(String, String)> {
        let mut out = vec![(
            "000_database".to_string(),
            format!("CREATE DATABASE IF NOT EXISTS {database}"),
        )];
        out.extend(
            SCHEMA
                .iter()
                .map(|(name, sql)| (name.to_string(), sql.replace("{db}", database))),
        );
        out
    }

    /// Create the database, tables and views if missing and load the
    /// taxonomy (idempotent).
    pub async fn apply_schema(&self, taxonomy: &voc_core::Taxonomy) -> Result<(), SinkError> {
        // The database may not exist yet: run DDL without a default database.
        let admin = self.client.clone().with_database("default");
        for (_, stmt) in Self::schema_statements(&self.cfg.database) {
            self.timed(async { admin.query(&stmt).execute().await.map_err(|e| self.err(e)) })
                .await?;
        }
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

    /// Server reachable? (`SELECT 1`), for readiness checks.
    pub async fn ping(&self) -> Result<(), SinkError> {
        self.timed(async {
            self.client
                .query("SELECT 1")
                .fetch_one::<u8>()
                .await
                .map(|_| ())
                .map_err(|e| self.err(e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_every_row_column_in_order() {
        let ddl = SCHEMA[0].1;
        let cols: Vec<&str> = ddl
            .lines()
            .map(str::trim)
            .filter(|l| l.ends_with(',') || l.starts_with("kafka_offset"))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(cols, <FeedbackRow<'_> as Row>::COLUMN_NAMES);
    }

    #[test]
    fn statements_target_the_configured_database() {
        let s = ClickHouseSink::schema_statements("voc_test_1");
        assert!(s.iter().all(|(_, sql)| !sql.contains("{db}")));
        assert!(s[1].1.contains("voc_test_1.feedback_events"));
    }
}

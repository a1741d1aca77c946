//! ClickHouse: the schema (deploy/clickhouse/*.sql, applied as migrations)
//! and the row writer.
//!
//! Rows go as RowBinary over HTTP with validation off: ClickHouse 18.16, the
//! server available here, lacks RowBinaryWithNamesAndTypes. The struct below
//! must therefore match the column names in 001_feedback_events.sql, which a
//! test against the real server checks.

use crate::migrate::{self, Applied, MigrationError, ServerVersion, Step};
use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use voc_core::EnrichedEvent;

/// The migrations (deploy/clickhouse/NNN_name*.sql), run in name order by
/// [`ClickHouseSink::migrate`]; `{db}` is replaced by the configured database.
/// Entries sharing a name are variants of one migration, gated by a
/// `-- voc:min_server X.Y` header (see [`crate::migrate`]).
pub const SCHEMA: &[(&str, &str)] = &[
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
    (
        "004_event_tags",
        include_str!("../../deploy/clickhouse/004_event_tags.sql"),
    ),
    (
        "004_event_tags",
        include_str!("../../deploy/clickhouse/004_event_tags.modern.sql"),
    ),
    (
        "005_rollups",
        include_str!("../../deploy/clickhouse/005_rollups.sql"),
    ),
    (
        "005_rollups",
        include_str!("../../deploy/clickhouse/005_rollups.modern.sql"),
    ),
    (
        "006_customers",
        include_str!("../../deploy/clickhouse/006_customers.sql"),
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

/// Where applied migrations are recorded (created by the runner itself).
pub const MIGRATIONS_TABLE: &str = "schema_migrations";

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

impl ClickHouseConfig {
    /// A client for this server and database (RowBinary without type
    /// validation: 18.16 lacks RowBinaryWithNamesAndTypes).
    pub fn client(&self) -> Client {
        let client = Client::default()
            .with_url(&self.url)
            .with_user(&self.user)
            .with_database(&self.database)
            .with_validation(false);
        if self.password.is_empty() {
            client
        } else {
            client.with_password(&self.password)
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
    #[error("ClickHouse answered an unreadable version {0:?}")]
    Version(String),
    #[error(transparent)]
    Plan(#[from] MigrationError),
    #[error("migration {name} ({variant}), statement {statement}: {source}")]
    Migration {
        name: String,
        variant: String,
        statement: usize,
        #[source]
        source: Box<SinkError>,
    },
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// What `migrate` did with one migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationOutcome {
    pub name: String,
    /// The variant applied now (empty when skipped).
    pub variant: String,
    pub applied: bool,
}

#[derive(Debug, Row, Deserialize)]
struct AppliedRow {
    name: String,
    variant: String,
    checksum: String,
    applied_at: String,
    server_version: String,
}

fn migrations_table_ddl(db: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{MIGRATIONS_TABLE} \
         (name String, variant String, checksum String, applied_at DateTime, server_version String) \
         ENGINE = MergeTree ORDER BY name"
    )
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

/// Inserts batches of enriched events; one call is one INSERT statement.
#[derive(Clone)]
pub struct ClickHouseSink {
    pub(crate) client: Client,
    pub(crate) cfg: ClickHouseConfig,
}

impl ClickHouseSink {
    pub fn new(cfg: ClickHouseConfig) -> Self {
        let mut client = cfg.client();
        if cfg.lz4 {
            client = client.with_compression(clickhouse::Compression::Lz4);
        }
        ClickHouseSink { client, cfg }
    }

    pub(crate) fn err(&self, source: clickhouse::error::Error) -> SinkError {
        SinkError::ClickHouse {
            url: self.cfg.url.clone(),
            source,
        }
    }

    pub(crate) async fn timed<T>(
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

    /// Insert all events in one statement (several batches can go in one);
    /// returns the time it took.
    pub async fn insert<E>(&self, events: &[E]) -> Result<Duration, SinkError>
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
                .insert::<FeedbackRow<'_>>(&self.cfg.table)
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

    /// The DDL for `database` as the given server would get it: every
    /// migration's selected variant, split into statements, in order.
    pub fn schema_statements(
        database: &str,
        server: ServerVersion,
    ) -> Result<Vec<(String, String)>, SinkError> {
        let mut out = vec![
            (
                "000_database".to_string(),
                format!("CREATE DATABASE IF NOT EXISTS {database}"),
            ),
            (
                "000_schema_migrations".to_string(),
                migrations_table_ddl(database),
            ),
        ];
        for m in migrate::migrations(SCHEMA)? {
            let v = m.select(server)?;
            for stmt in v.statements(database) {
                out.push((format!("{} ({})", m.name, v.label()), stmt));
            }
        }
        Ok(out)
    }

    /// `SELECT version()`, parsed.
    pub async fn server_version(&self) -> Result<ServerVersion, SinkError> {
        let v: String = self
            .timed(async {
                self.client
                    .clone()
                    .with_database("default")
                    .query("SELECT version()")
                    .fetch_one::<String>()
                    .await
                    .map_err(|e| self.err(e))
            })
            .await?;
        ServerVersion::parse(&v).ok_or(SinkError::Version(v))
    }

    /// Run one statement that returns no rows (DDL, INSERT ... SELECT, OPTIMIZE).
    pub async fn execute(&self, sql: &str) -> Result<(), SinkError> {
        let admin = self.client.clone().with_database("default");
        // Sent verbatim: a `?` in a DDL comment is not a bind placeholder.
        let sql = &sql.replace('?', "??");
        self.timed(async { admin.query(sql).execute().await.map_err(|e| self.err(e)) })
            .await
    }

    /// The migrations recorded in `schema_migrations` (first record per name).
    pub async fn applied_migrations(&self) -> Result<Vec<Applied>, SinkError> {
        let db = &self.cfg.database;
        let sql = format!(
            "SELECT name, any(variant), any(checksum), toString(min(applied_at)), any(server_version) \
             FROM {db}.{MIGRATIONS_TABLE} GROUP BY name ORDER BY name"
        );
        let rows: Vec<AppliedRow> = self
            .timed(async {
                self.client
                    .query(&sql)
                    .fetch_all::<AppliedRow>()
                    .await
                    .map_err(|e| self.err(e))
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Applied {
                name: r.name,
                variant: r.variant,
                checksum: r.checksum,
                applied_at: r.applied_at,
                server_version: r.server_version,
            })
            .collect())
    }

    /// Apply the migrations not applied yet, in name order, recording each;
    /// refuse (before changing anything) when an applied one was edited.
    /// Then load the taxonomy (idempotent).
    pub async fn migrate(
        &self,
        taxonomy: &voc_core::Taxonomy,
    ) -> Result<Vec<MigrationOutcome>, SinkError> {
        let db = &self.cfg.database;
        let server = self.server_version().await?;
        self.execute(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
            .await?;
        self.execute(&migrations_table_ddl(db)).await?;
        let applied = self.applied_migrations().await?;
        let all = migrate::migrations(SCHEMA)?;
        // Plan everything first: a changed migration stops the run before any DDL.
        let mut steps = Vec::new();
        for m in &all {
            let a = applied.iter().find(|a| a.name == m.name);
            steps.push((m, migrate::plan(m, a, server)?));
        }
        let mut out = Vec::new();
        for (m, step) in steps {
            match step {
                Step::Skip { newer } => {
                    if let Some(v) = newer {
                        tracing::warn!(migration = m.name, available = %v.label(), server = %server,
                            "an applied migration has a variant for this newer server; it is not applied automatically (write a new migration to move to it)");
                    }
                    out.push(MigrationOutcome {
                        name: m.name.to_string(),
                        variant: String::new(),
                        applied: false,
                    });
                }
                Step::Apply(v) => {
                    tracing::info!(migration = m.name, variant = %v.label(), server = %server, "applying migration");
                    for (i, stmt) in v.statements(db).iter().enumerate() {
                        self.execute(stmt).await.map_err(|e| SinkError::Migration {
                            name: m.name.to_string(),
                            variant: v.label(),
                            statement: i + 1,
                            source: Box::new(e),
                        })?;
                    }
                    if m.name == "003_taxonomy" {
                        // Later migrations (views joining the taxonomy) need its rows.
                        self.load_taxonomy(taxonomy).await?;
                    }
                    let record = format!(
                        "INSERT INTO {db}.{MIGRATIONS_TABLE} (name, variant, checksum, applied_at, server_version) \
                         VALUES ('{}', '{}', '{}', now(), '{server}')",
                        m.name,
                        v.label(),
                        v.checksum()
                    );
                    self.execute(&record).await?;
                    out.push(MigrationOutcome {
                        name: m.name.to_string(),
                        variant: v.label(),
                        applied: true,
                    });
                }
            }
        }
        self.load_taxonomy(taxonomy).await?;
        Ok(out)
    }

    /// Kept for callers of the old name: same as [`Self::migrate`].
    pub async fn apply_schema(&self, taxonomy: &voc_core::Taxonomy) -> Result<(), SinkError> {
        self.migrate(taxonomy).await.map(|_| ())
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
        let s =
            ClickHouseSink::schema_statements("voc_test_1", ServerVersion::new(18, 16, 1)).unwrap();
        assert!(s.iter().all(|(_, sql)| !sql.contains("{db}")));
        assert!(s[2].1.contains("voc_test_1.feedback_events"));
    }

    #[test]
    fn old_servers_get_portable_ddl_and_new_ones_low_cardinality() {
        let ddl = |v| {
            ClickHouseSink::schema_statements("d", v)
                .unwrap()
                .into_iter()
                .map(|(_, s)| s)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let old = ddl(ServerVersion::new(18, 16, 1));
        assert!(!old.contains("LowCardinality") && !old.contains("TTL"));
        let new = ddl(ServerVersion::new(24, 8, 0));
        assert!(new.contains("LowCardinality(String)") && new.contains("TTL minute"));
    }

    #[test]
    fn every_migration_has_a_portable_variant_and_a_unique_number() {
        let all = migrate::migrations(SCHEMA).unwrap();
        for m in &all {
            assert!(
                m.variants.iter().any(|v| v.min_server.is_none()),
                "{} has no portable variant",
                m.name
            );
        }
        let mut numbers: Vec<&str> = all.iter().map(|m| &m.name[..3]).collect();
        numbers.dedup();
        assert_eq!(numbers.len(), all.len(), "two migrations share a number");
    }
}

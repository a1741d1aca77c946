//! The schema as migrations: the files in sink/schema/ (the one source),
//! applied in name order by [`ClickHouseSink::migrate`], each recorded in
//! `schema_migrations`; the pure planning is in [`super::migrate`].

use super::cluster;
use super::migrate::{self, Applied, ServerVersion, Step};
use super::{ClickHouseSink, SinkError};
use clickhouse::Row;
use serde::{Deserialize, Serialize};

/// The migrations (sink/schema/NNN_name*.sql), run in name order by
/// [`ClickHouseSink::migrate`]; `{db}` is replaced by the configured database.
/// Entries sharing a name are variants of one migration, gated by a
/// `-- voc:min_server X.Y` header (see [`super::migrate`]).
pub const SCHEMA: &[(&str, &str)] = &[
    (
        "001_feedback_events",
        include_str!("../../schema/001_feedback_events.sql"),
    ),
    (
        "002_feedback_view",
        include_str!("../../schema/002_feedback_view.sql"),
    ),
    (
        "003_taxonomy",
        include_str!("../../schema/003_taxonomy.sql"),
    ),
    (
        "004_event_tags",
        include_str!("../../schema/004_event_tags.sql"),
    ),
    (
        "004_event_tags",
        include_str!("../../schema/004_event_tags.modern.sql"),
    ),
    ("005_rollups", include_str!("../../schema/005_rollups.sql")),
    (
        "005_rollups",
        include_str!("../../schema/005_rollups.modern.sql"),
    ),
    (
        "006_customers",
        include_str!("../../schema/006_customers.sql"),
    ),
    // Alerting: 020-039.
    ("020_alerts", include_str!("../../schema/020_alerts.sql")),
    (
        "021_alert_occurrences",
        include_str!("../../schema/021_alert_occurrences.sql"),
    ),
    (
        "022_negative_touches",
        include_str!("../../schema/022_negative_touches.sql"),
    ),
    (
        "023_negative_touches_mv",
        include_str!("../../schema/023_negative_touches_mv.sql"),
    ),
    (
        "024_tag_minute",
        include_str!("../../schema/024_tag_minute.sql"),
    ),
    (
        "025_tag_minute_mv",
        include_str!("../../schema/025_tag_minute_mv.sql"),
    ),
    (
        "026_work_order_updates",
        include_str!("../../schema/026_work_order_updates.sql"),
    ),
    (
        "027_alert_deliveries",
        include_str!("../../schema/027_alert_deliveries.sql"),
    ),
];

/// Where applied migrations are recorded (created by the runner itself).
pub const MIGRATIONS_TABLE: &str = "schema_migrations";

/// What `migrate` did with one migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationOutcome {
    pub name: String,
    /// The variant applied now (empty when skipped).
    pub variant: String,
    pub applied: bool,
}

/// One row of `schema_migrations` as written.
#[derive(Debug, Row, Serialize)]
struct MigrationRecord {
    name: String,
    variant: String,
    checksum: String,
    applied_at: u32,
    server_version: String,
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

impl ClickHouseSink {
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
        self.run_migrations(taxonomy, None).await
    }

    /// [`Self::migrate`] for the cluster `cluster` (a `remote_servers`
    /// name of the server this sink talks to): every migration's cluster
    /// form ([`super::cluster`]), `ON CLUSTER`, recorded in a migrations
    /// table replicated to every server. The applied variant and checksum
    /// are the source's, so a changed file is refused as on one server;
    /// `server_version` says which cluster it was applied on.
    pub async fn migrate_cluster(
        &self,
        cluster: &str,
        taxonomy: &voc_core::Taxonomy,
    ) -> Result<Vec<MigrationOutcome>, SinkError> {
        self.run_migrations(taxonomy, Some(cluster)).await
    }

    /// One line per server of `cluster`: shard, replica, address, and how
    /// many tables and views of `database` it has out of `expected` (or
    /// why it did not answer). Asked through this server (`remote()`).
    pub async fn cluster_tables(
        &self,
        cluster: &str,
        database: &str,
        expected: usize,
    ) -> Result<Vec<String>, SinkError> {
        let name_ok = |n: &str| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok(cluster) || !name_ok(database) {
            return Err(SinkError::Config {
                what: format!("cluster {cluster:?} / database {database:?}: letters, digits, _"),
            });
        }
        let hosts = self
            .query_table(&format!(
                "SELECT shard_num, replica_num, host_name, port FROM system.clusters \
                 WHERE cluster = '{cluster}' ORDER BY shard_num, replica_num"
            ))
            .await?;
        if hosts.rows.is_empty() {
            return Err(SinkError::Config {
                what: format!(
                    "cluster {cluster:?}: the server at {} has no such cluster (remote_servers)",
                    self.cfg.url
                ),
            });
        }
        let mut out = Vec::new();
        for h in &hosts.rows {
            let [shard, replica, host, port] =
                [0, 1, 2, 3].map(|i| super::read::Table::text(&h[i]));
            let answer = self
                .query_table(&format!(
                    "SELECT count() FROM remote('{host}:{port}', system.tables) WHERE database = '{database}'"
                ))
                .await;
            let state = match answer {
                Ok(t) => {
                    let n = t
                        .rows
                        .first()
                        .and_then(|r| super::read::Table::number(&r[0]))
                        .unwrap_or(0.0) as usize;
                    let verdict = if n >= expected {
                        "ok"
                    } else {
                        "MISSING TABLES"
                    };
                    format!("{n}/{expected} tables and views {verdict}")
                }
                Err(e) => format!(
                    "unreachable: {}",
                    e.to_string().lines().next().unwrap_or("")
                ),
            };
            out.push(format!(
                "cluster {cluster}\tshard {shard}\treplica {replica}\t{host}:{port}\t{state}"
            ));
        }
        Ok(out)
    }

    async fn run_migrations(
        &self,
        taxonomy: &voc_core::Taxonomy,
        cluster: Option<&str>,
    ) -> Result<Vec<MigrationOutcome>, SinkError> {
        let db = &self.cfg.database;
        let server = self.server_version().await?;
        let (setup, cluster_forms) = match cluster {
            None => (
                vec![
                    format!("CREATE DATABASE IF NOT EXISTS {db}"),
                    migrations_table_ddl(db),
                ],
                Vec::new(),
            ),
            Some(c) => (
                cluster::setup_statements(db, c)
                    .into_iter()
                    .map(|(_, s)| s)
                    .collect(),
                cluster::cluster_migrations(db, c, server)?,
            ),
        };
        for stmt in &setup {
            self.execute(stmt).await?;
        }
        let applied = self.applied_migrations().await?;
        let all = migrate::migrations(SCHEMA)?;
        // Plan everything first: a changed migration stops the run before any DDL.
        let mut steps = Vec::new();
        for m in &all {
            let a = applied.iter().find(|a| a.name == m.name);
            steps.push((m, migrate::plan(m, a, server)?));
        }
        let recorded_server = match cluster {
            None => server.to_string(),
            Some(c) => format!("{server} cluster {c}"),
        };
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
                    tracing::info!(migration = m.name, variant = %v.label(), server = %server, cluster = cluster.unwrap_or(""), "applying migration");
                    let statements = match cluster {
                        None => v.statements(db),
                        // Generated for the variant `plan` chose (both select by `server`).
                        Some(_) => cluster_forms
                            .iter()
                            .find(|c| c.name == m.name)
                            .map(|c| c.statements.clone())
                            .unwrap_or_default(),
                    };
                    for (i, stmt) in statements.iter().enumerate() {
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
                    let record = MigrationRecord {
                        name: m.name.to_string(),
                        variant: v.label(),
                        checksum: v.checksum(),
                        applied_at: chrono::Utc::now().timestamp().clamp(0, u32::MAX as i64) as u32,
                        server_version: recorded_server.clone(),
                    };
                    self.insert_rows(MIGRATIONS_TABLE, &[record]).await?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clickhouse::FeedbackRow;

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

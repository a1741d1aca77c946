//! The cluster variant of every migration, generated from the one source
//! (sink/schema/): the same tables, views and names for the worker and the
//! saved queries, on a cluster of shards with replicas.
//!
//! - A table `T` becomes `T_local` (`Replicated*MergeTree`, one ZooKeeper
//!   path per shard) plus `T` itself as a `Distributed` table over it,
//!   sharded by `sipHash64(event_id)` when its ORDER BY key holds the event
//!   id, else by a hash of that key: copies of one row (a re-delivered
//!   event, a re-recorded alert) land on one shard, where
//!   ReplacingMergeTree and FINAL see them together.
//! - Dimensions ([`DIMENSIONS`]) are copied whole to every shard (one
//!   ZooKeeper path for all), so joins run locally on each shard.
//! - Materialized views read and write the local tables: each shard derives
//!   the rows of its own events.
//! - Plain views and the database get `ON CLUSTER`; backfills
//!   (`INSERT ... SELECT`) are left out: a new cluster has nothing to backfill.
//!
//! Insert through the Distributed tables with `insert_distributed_sync = 1`
//! so an insert is acknowledged only once the shards wrote it, or, for the
//! events, shard-local ([`super::shard`]): ClickHouse 18.16 fails the
//! materialized views that JOIN (tags, tag rollups) for the rows a
//! Distributed insert writes on the receiving server itself.

use super::migrate::{self, ServerVersion};
use super::schema::{MIGRATIONS_TABLE, SCHEMA};
use super::SinkError;
use regex::Regex;
use std::sync::LazyLock;

/// The sharding key of every table keyed by event: [`super::shard::shard_of`]
/// computes the same shard in the worker.
pub const SHARD_BY_EVENT: &str = "sipHash64(event_id)";

/// Tables copied whole to every shard.
pub const DIMENSIONS: [&str; 2] = ["taxonomy", "customers"];

static CREATE_TABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)^(?P<head>.*?CREATE TABLE IF NOT EXISTS \{db\}\.)(?P<name>\w+)(?P<body>.*?)\bENGINE\s*=\s*(?P<engine>\w*MergeTree)(?:\((?P<args>[^)]*)\))?(?P<rest>.*)$").unwrap()
});
static ORDER_BY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"ORDER BY\s+(\((?P<list>[^\n]*)\)|(?P<one>[^\s;]+))").unwrap());
static MATERIALIZED_VIEW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)^(?P<head>.*?CREATE MATERIALIZED VIEW IF NOT EXISTS \{db\}\.\w+)\s+TO \{db\}\.(?P<to>\w+)(?P<rest>.*)$").unwrap()
});
static VIEW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)^(?P<head>.*?CREATE VIEW IF NOT EXISTS \{db\}\.\w+)(?P<rest>\s+AS\b.*)$")
        .unwrap()
});
static FROM_TABLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bFROM \{db\}\.(?P<t>\w+)").unwrap());
static INSERT_SELECT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)^(\s*--[^\n]*\n)*\s*INSERT INTO\b").unwrap());

/// One migration's cluster form: the source variant it was generated from
/// (what `schema_migrations` records) and its cluster statements.
#[derive(Debug, Clone)]
pub struct ClusterMigration {
    pub name: &'static str,
    pub variant: migrate::Variant,
    pub statements: Vec<String>,
}

/// What a cluster needs before any migration: the database and the
/// migrations table, replicated to every server (one ZooKeeper path), so a
/// migration recorded through any server is seen by all.
pub fn setup_statements(database: &str, cluster: &str) -> Vec<(String, String)> {
    let on = on_cluster(cluster);
    vec![
        (
            "000_database".to_string(),
            format!("CREATE DATABASE IF NOT EXISTS {database} {on}"),
        ),
        (
            "000_schema_migrations".to_string(),
            format!(
                "CREATE TABLE IF NOT EXISTS {database}.{MIGRATIONS_TABLE} {on} \
                 (name String, variant String, checksum String, applied_at DateTime, server_version String) \
                 ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{database}/{MIGRATIONS_TABLE}', '{{replica}}') \
                 ORDER BY name"
            ),
        ),
    ]
}

fn on_cluster(cluster: &str) -> String {
    format!("ON CLUSTER '{cluster}'")
}

/// Every migration's cluster form for `database` on cluster `cluster`, for
/// a server of version `server`, in name order.
pub fn cluster_migrations(
    database: &str,
    cluster: &str,
    server: ServerVersion,
) -> Result<Vec<ClusterMigration>, SinkError> {
    let on = on_cluster(cluster);
    let mut sharded: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for m in migrate::migrations(SCHEMA)? {
        let v = m.select(server)?;
        let mut statements = Vec::new();
        for stmt in migrate::split_statements(v.sql) {
            let cluster_form =
                cluster_statement(&stmt, &on, &mut sharded).map_err(|what| SinkError::Cluster {
                    migration: m.name.to_string(),
                    what,
                })?;
            statements.extend(
                cluster_form
                    .into_iter()
                    .map(|s| s.replace("{db}", database)),
            );
        }
        out.push(ClusterMigration {
            name: m.name,
            variant: v.clone(),
            statements,
        });
    }
    Ok(out)
}

/// The cluster DDL for `database` on cluster `cluster`, for a server of
/// version `server`: one entry per statement, named by its migration.
pub fn cluster_statements(
    database: &str,
    cluster: &str,
    server: ServerVersion,
) -> Result<Vec<(String, String)>, SinkError> {
    let mut out = setup_statements(database, cluster);
    for m in cluster_migrations(database, cluster, server)? {
        for s in m.statements {
            out.push((format!("{} (cluster)", m.name), s));
        }
    }
    Ok(out)
}

/// One statement of the source as cluster statements (still with `{db}`).
/// `sharded` collects the sharded tables seen so far (views refer to them).
fn cluster_statement(
    stmt: &str,
    on: &str,
    sharded: &mut Vec<String>,
) -> Result<Vec<String>, String> {
    if let Some(c) = CREATE_TABLE.captures(stmt) {
        let name = &c["name"];
        let engine = &c["engine"];
        let args = c.name("args").map_or("", |a| a.as_str()).trim();
        let rest = &c["rest"];
        let with_args = |path: String| {
            let mut a = format!("'{path}', '{{replica}}'");
            if !args.is_empty() {
                a.push_str(", ");
                a.push_str(args);
            }
            a
        };
        if DIMENSIONS.contains(&name) {
            let args = with_args(format!("/clickhouse/tables/all/{{db}}/{name}"));
            return Ok(vec![format!(
                "{}{name} {on}{}ENGINE = Replicated{engine}({args}){rest}",
                &c["head"], &c["body"]
            )]);
        }
        let local = format!("{name}_local");
        let key = ORDER_BY
            .captures(rest)
            .and_then(|o| o.name("list").or(o.name("one")))
            .map(|k| k.as_str().trim().to_string())
            .ok_or_else(|| format!("table {name} has no ORDER BY to shard by"))?;
        let args = with_args(format!("/clickhouse/tables/{{shard}}/{{db}}/{local}"));
        sharded.push(name.to_string());
        // Rows of one event (its copies, its tags, its alert occurrences)
        // share a shard, the one the worker's shard-local writes pick.
        let shard_by = if key.split(',').any(|k| k.trim() == "event_id") {
            SHARD_BY_EVENT.to_string()
        } else {
            format!("cityHash64({key})")
        };
        let cluster = on.trim_start_matches("ON CLUSTER ");
        return Ok(vec![
            format!(
                "{}{local} {on}{}ENGINE = Replicated{engine}({args}){rest}",
                &c["head"], &c["body"]
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {{db}}.{name} {on} AS {{db}}.{local}\n\
                 ENGINE = Distributed({cluster}, '{{db}}', '{local}', {shard_by})"
            ),
        ]);
    }
    let local = |t: &str| {
        if sharded.iter().any(|s| s == t) {
            format!("{t}_local")
        } else {
            t.to_string()
        }
    };
    if let Some(c) = MATERIALIZED_VIEW.captures(stmt) {
        let rest = FROM_TABLE.replace_all(&c["rest"], |f: &regex::Captures| {
            format!("FROM {{db}}.{}", local(&f["t"]))
        });
        return Ok(vec![format!(
            "{} {on} TO {{db}}.{}{rest}",
            &c["head"],
            local(&c["to"])
        )]);
    }
    if let Some(c) = VIEW.captures(stmt) {
        return Ok(vec![format!("{} {on}{}", &c["head"], &c["rest"])]);
    }
    if INSERT_SELECT.is_match(stmt) {
        return Ok(Vec::new());
    }
    Err(format!(
        "no cluster form for the statement starting {:?}",
        stmt.lines()
            .find(|l| !l.trim_start().starts_with("--"))
            .unwrap_or("")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ddl(server: ServerVersion) -> Vec<(String, String)> {
        cluster_statements("voc", "voc_cluster", server).unwrap()
    }

    #[test]
    fn every_migration_has_a_cluster_form() {
        for server in [ServerVersion::new(18, 16, 1), ServerVersion::new(24, 8, 0)] {
            let out = ddl(server);
            for m in migrate::migrations(SCHEMA).unwrap() {
                assert!(
                    out.iter().any(|(n, _)| n.starts_with(m.name)),
                    "{} has no cluster statements",
                    m.name
                );
            }
            for (name, sql) in &out {
                assert!(sql.contains("ON CLUSTER 'voc_cluster'"), "{name}: {sql}");
                assert!(!sql.contains("{db}"), "{name}");
                assert!(
                    !sql.contains("ENGINE = MergeTree")
                        && !sql.contains("ENGINE = ReplacingMergeTree")
                        && !sql.contains("ENGINE = AggregatingMergeTree")
                        && !sql.contains("ENGINE = SummingMergeTree"),
                    "{name}: a table is not replicated: {sql}"
                );
                assert!(
                    !sql.contains("INSERT INTO"),
                    "{name}: backfills are left out"
                );
            }
        }
    }

    #[test]
    fn events_shard_by_their_key_and_views_read_the_local_tables() {
        let all = ddl(ServerVersion::new(18, 16, 1));
        let find = |needle: &str| {
            all.iter()
                .map(|(_, s)| s.as_str())
                .find(|s| s.contains(needle))
                .unwrap_or_else(|| panic!("no statement with {needle:?}"))
        };
        let local = find("CREATE TABLE IF NOT EXISTS voc.feedback_events_local");
        assert!(local.contains(
            "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/voc/feedback_events_local', '{replica}', ingest_time)"
        ));
        let dist = find("CREATE TABLE IF NOT EXISTS voc.feedback_events ON CLUSTER");
        assert!(dist.contains(
            "Distributed('voc_cluster', 'voc', 'feedback_events_local', sipHash64(event_id))"
        ));
        let tags_mv = find("feedback_event_tags_mv");
        assert!(tags_mv.contains("TO voc.feedback_event_tags_local"));
        assert!(tags_mv.contains("FROM voc.feedback_events_local"));
        // The taxonomy join stays on the (replicated, whole) dimension.
        assert!(tags_mv.contains("FROM voc.taxonomy FINAL"));
        let taxonomy = find("CREATE TABLE IF NOT EXISTS voc.taxonomy");
        assert!(taxonomy.contains("'/clickhouse/tables/all/voc/taxonomy'"));
        // Alerting tables are sharded like the rest.
        find("CREATE TABLE IF NOT EXISTS voc.alerts_local");
        find("CREATE TABLE IF NOT EXISTS voc.alert_deliveries ON CLUSTER");
    }

    #[test]
    fn an_unknown_statement_is_an_error_not_a_silent_gap() {
        let mut sharded = Vec::new();
        let e = cluster_statement(
            "ALTER TABLE {db}.x ADD COLUMN y UInt8",
            "ON CLUSTER 'c'",
            &mut sharded,
        )
        .unwrap_err();
        assert!(e.contains("ALTER TABLE"), "{e}");
    }
}

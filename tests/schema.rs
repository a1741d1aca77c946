//! The schema on the real ClickHouse: migrations are idempotent, recorded and
//! guarded against edits, backfill an older installation, and the generated
//! cluster variant parses.

mod dataset;

use dataset::Dataset;
use voc_core::Taxonomy;
use voc_sink::clickhouse::read::Table;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_is_idempotent_records_versions_and_refuses_edited_migrations() {
    let d = Dataset::empty("migrate");
    // Dataset::empty migrated once; a second run applies nothing.
    let before = dataset::voc(&["schema", "status"], &d.config);
    dataset::voc(&["schema", "migrate"], &d.config);
    let status = dataset::voc(&["schema", "status"], &d.config);
    let lines: Vec<&str> = status.lines().collect();
    let names: Vec<&str> = lines
        .iter()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert!(names.contains(&"001_feedback_events") && names.contains(&"006_customers"));
    assert_eq!(status, before, "re-running migrate recorded nothing new");
    for l in &lines {
        let cols: Vec<&str> = l.split('\t').collect();
        assert_eq!(cols.len(), 5, "{l}");
        assert_eq!(
            cols[1], "portable",
            "ClickHouse 18.16 gets the portable variants: {l}"
        );
        assert_eq!(cols[2].len(), 16);
        assert!(!cols[4].is_empty(), "server version recorded: {l}");
    }

    // Someone edited an applied migration: pretend the recorded checksum differs.
    let fresh = Dataset::empty("migrate_edit");
    let db = &fresh.database;
    fresh
        .sink
        .execute(&format!("DROP TABLE {db}.schema_migrations"))
        .await
        .unwrap();
    fresh
        .sink
        .execute(&format!(
            "CREATE TABLE {db}.schema_migrations (name String, variant String, checksum String, applied_at DateTime, server_version String) ENGINE = MergeTree ORDER BY name"
        ))
        .await
        .unwrap();
    fresh
        .sink
        .execute(&format!(
            "INSERT INTO {db}.schema_migrations VALUES ('005_rollups', 'portable', '0123456789abcdef', now(), '18.16.1')"
        ))
        .await
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voc"))
        .args([
            "schema",
            "migrate",
            "--config",
            fresh.config.to_str().unwrap(),
        ])
        .env_remove("VOC_CLICKHOUSE__URL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "an edited migration must fail: {err}"
    );
    assert!(
        err.contains("005_rollups") && err.contains("0123456789abcdef") && err.contains("checksum"),
        "{err}"
    );
    d.drop().await;
    fresh.drop().await;
}

/// The cluster variant cannot run here (one server, no ZooKeeper, no cluster
/// macros): this proves ClickHouse 18.16 parses every generated statement,
/// i.e. any error it gives comes after parsing (no cluster, no ZooKeeper).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_variant_parses_on_clickhouse() {
    let d = Dataset::empty("cluster");
    // A database that does not exist: nothing can be created by accident.
    let statements = voc_sink::clickhouse::cluster::cluster_statements(
        "voc_cluster_syntax_check",
        "voc_cluster",
        voc_sink::clickhouse::migrate::ServerVersion::new(18, 16, 1),
    )
    .unwrap();
    for (name, stmt) in &statements {
        match d.sink.execute(stmt).await {
            Ok(()) => panic!("{name}: ran without a cluster?\n{stmt}"),
            Err(e) => {
                let msg = format!("{e:#}");
                assert!(
                    !msg.contains("Syntax error"),
                    "{name}: does not parse: {msg}\n{stmt}"
                );
            }
        }
    }
    assert!(statements.len() >= 30, "{}", statements.len());
    d.drop().await;
}

/// An installation from before the analytics migrations (001-003 only, events
/// already stored) gets its tag table and rollups backfilled by `migrate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_a_database_with_events_backfills_tags_and_rollups() {
    let database = dataset::unique_name("backfill");
    let sink = voc_sink::ClickHouseSink::new(voc_sink::ClickHouseConfig {
        url: dataset::clickhouse_url(),
        database: database.clone(),
        ..Default::default()
    })
    .unwrap();
    let old = voc_sink::ClickHouseSink::schema_statements(
        &database,
        voc_sink::clickhouse::migrate::ServerVersion::new(18, 16, 1),
    )
    .unwrap();
    for (name, stmt) in old.iter().filter(|(n, _)| n.as_str() < "004") {
        if !name.contains("schema_migrations") {
            sink.execute(stmt).await.unwrap();
        }
    }
    sink.load_taxonomy(&Taxonomy::bundled()).await.unwrap();
    let events = dataset::enriched(1500, 21, "backfill", 72);
    sink.insert(&events).await.unwrap();
    // Before: no tag table. Then the real command.
    assert!(sink
        .query_table(&format!(
            "SELECT count() FROM {database}.feedback_event_tags"
        ))
        .await
        .is_err());
    let dir = std::env::temp_dir().join(format!("voc-it-{database}"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("voc.toml");
    std::fs::write(
        &config,
        format!(
            "[clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\n",
            dataset::clickhouse_url()
        ),
    )
    .unwrap();
    dataset::voc(&["schema", "migrate"], &config);

    let mut seen = std::collections::HashSet::new();
    let unique: Vec<_> = events
        .into_iter()
        .filter(|e| seen.insert(e.event_id.clone()))
        .collect();
    let tag_hits: u64 = unique.iter().map(|e| e.tags.len() as u64).sum();
    let scalar = |sql: String| {
        let sink = sink.clone();
        async move {
            let t = sink.query_table(&sql).await.unwrap();
            Table::number(&t.rows[0][0]).unwrap() as u64
        }
    };
    let db = &database;
    assert_eq!(
        scalar(format!(
            "SELECT uniqExact(event_id, tag_id) FROM {db}.feedback_event_tags"
        ))
        .await,
        tag_hits
    );
    assert_eq!(
        scalar(format!(
            "SELECT uniqExactMerge(events) FROM {db}.feedback_rollup_day"
        ))
        .await,
        unique.len() as u64
    );
    assert_eq!(
        scalar(format!(
            "SELECT uniqExactMerge(events) FROM {db}.feedback_rollup_minute"
        ))
        .await,
        unique.len() as u64
    );
    assert_eq!(
        scalar(format!(
            "SELECT sum(c) FROM (SELECT uniqExactMerge(events) AS c FROM {db}.tag_rollup_day GROUP BY day, tag_id)"
        ))
        .await,
        tag_hits
    );
    sink.execute(&format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .ok();
}

//! The cluster schema on a real ClickHouse cluster: two shards with two
//! replicas each and ZooKeeper, started by deploy/local/cluster.sh (ports
//! 18301-18304 unless VOC_CLUSTER_HTTP_PORT_BASE says otherwise), beside the
//! single-server stack of deploy/stack.sh.
//!
//! One stream of generated feedback (with source-side duplicates) is drained
//! twice from the same topics: by one worker into the single server, and by
//! two workers into the cluster (events shard-local, the rest through the
//! Distributed tables) while the second replica of shard 2 is killed with
//! `kill -9` and brought back. Afterwards every event is on the cluster exactly once, on one shard,
//! on both of its replicas; every saved query, the rollups and `voc report`
//! give the single server's answers.
//!
//! Run: `source deploy/local/env.sh && deploy/stack.sh start && cargo test --test
//! cluster -- --ignored` (`deploy/test.sh` runs it after the rest of the suite); the test starts
//! the cluster itself, `deploy/local/cluster.sh stop` stops it.

mod common;

use chrono::{TimeZone, Utc};
use common::{stop, Env};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};
use voc::analytics::{AsOf, SAVED_QUERIES};
use voc_gen::{Expectation, GenConfig, Generated, Generator};
use voc_sink::clickhouse::read::Table;
use voc_sink::{ClickHouseConfig, ClickHouseSink};

const CLUSTER: &str = "voc_cluster";
/// The server killed and restarted: shard 2, replica 2 (no worker talks to it).
const VICTIM: &str = "4";

fn cluster_sh(args: &[&str]) -> String {
    let out = Command::new(format!(
        "{}/deploy/local/cluster.sh",
        env!("CARGO_MANIFEST_DIR")
    ))
    .args(args)
    .output()
    .expect("running deploy/local/cluster.sh");
    assert!(
        out.status.success(),
        "cluster.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The HTTP URLs of servers 1-4 (shard 1 replicas 1-2, shard 2 replicas 1-2).
fn server_urls() -> Vec<String> {
    let env = cluster_sh(&["env"]);
    env.lines()
        .find_map(|l| l.strip_prefix("VOC_CLUSTER_URLS="))
        .expect("cluster.sh env names the servers")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Brings the killed server back if the test fails while it is down.
struct Restart;
impl Drop for Restart {
    fn drop(&mut self) {
        let _ = Command::new(format!(
            "{}/deploy/local/cluster.sh",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(["start-server", VICTIM])
        .output();
    }
}

fn sink(url: &str, database: &str) -> ClickHouseSink {
    ClickHouseSink::new(ClickHouseConfig {
        url: url.into(),
        database: database.into(),
        ..ClickHouseConfig::default()
    })
    .unwrap()
}

async fn table(s: &ClickHouseSink, db: &str, sql: &str) -> Table {
    s.query_table(&sql.replace("{db}", db))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn scalar(s: &ClickHouseSink, db: &str, sql: &str) -> u64 {
    let t = table(s, db, sql).await;
    t.rows
        .first()
        .and_then(|r| Table::number(&r[0]))
        .unwrap_or(0.0) as u64
}

/// Rows as text, numbers rounded to 6 significant digits (float sums may
/// add in another order on the cluster).
fn canonical(t: &Table) -> Vec<Vec<String>> {
    t.rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    serde_json::Value::Number(n) => format!("{:.6e}", n.as_f64().unwrap_or(0.0)),
                    v => Table::text(v),
                })
                .collect()
        })
        .collect()
}

fn generate(seed: u64, run_id: &str, count: usize, spread_hours: i64) -> Vec<Generated> {
    let mut g = Generator::new(GenConfig {
        seed,
        run_id: run_id.into(),
        duplicate_ratio: 0.03,
        spread_hours,
        now: as_of(),
        ..GenConfig::default()
    });
    (0..count).map(|_| g.next_message()).collect()
}

fn as_of() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

/// Wait until `sql` answers `want` on `s`, or panic after `secs`.
async fn wait_for(env: &Env, s: &ClickHouseSink, db: &str, sql: &str, want: u64, secs: u64) {
    let start = Instant::now();
    loop {
        let n = scalar(s, db, sql).await;
        if n == want {
            return;
        }
        env.assert_workers_alive();
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {want} from `{sql}`, have {n}; logs in {}",
            env.dir.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every saved query gives the same rows on both.
async fn same_answers(single: &ClickHouseSink, cluster: &ClickHouseSink, db: &str) {
    let now = AsOf::At(as_of());
    for q in SAVED_QUERIES {
        let sql = q.render(db, now);
        let (a, b) = (
            table(single, db, &sql).await,
            table(cluster, db, &sql).await,
        );
        assert!(
            !a.rows.is_empty(),
            "{}: no rows on the single server",
            q.name
        );
        assert_eq!(a.columns, b.columns, "{}", q.name);
        assert_eq!(canonical(&b), canonical(&a), "{}", q.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts a 4-server ClickHouse cluster with ZooKeeper (2-4 min): cargo test --test cluster -- --ignored"]
async fn two_workers_fill_the_cluster_through_a_replica_crash_and_it_answers_like_one_server() {
    cluster_sh(&["start"]);
    let urls = server_urls();
    let env = Env::new("cluster", 500).await;
    let db = env.database.clone();
    env.voc(&["gen", "customers"]);

    // The cluster workers: same topics, their own group, one per shard.
    let single_config = std::fs::read_to_string(&env.config).unwrap();
    // Shard-local writes; worker 1 tries the victim first for shard 2.
    let cluster_config = |url: &str, order: [usize; 4]| {
        let [a, b, c, d] = order.map(|i| &urls[i]);
        single_config
            .replace(
                &format!("url = \"{}\"", common::clickhouse_url()),
                &format!(
                    "url = \"{url}\"\ncluster = \"{CLUSTER}\"\n\
                     shards = [[\"{a}\", \"{b}\"], [\"{c}\", \"{d}\"]]"
                ),
            )
            .replace("-worker\"", "-cluster\"")
    };
    let c1 = env.dir.join("cluster-1.toml");
    let c2 = env.dir.join("cluster-2.toml");
    std::fs::write(&c1, cluster_config(&urls[0], [0, 1, 3, 2])).unwrap();
    std::fs::write(&c2, cluster_config(&urls[2], [1, 0, 2, 3])).unwrap();
    let voc_c = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["--config", c1.to_str().unwrap()]);
        let out = Command::new(common::voc_bin())
            .args(&full)
            .env_remove("VOC_CLICKHOUSE__URL")
            .env_remove("VOC_KAFKA__BROKERS")
            .env("VOC_DEMO", common::DEMO)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "voc {args:?} on the cluster: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    voc_c(&["schema", "migrate"]);
    // Idempotent, and every server has every table.
    voc_c(&["schema", "migrate"]);
    let status = voc_c(&["schema", "status"]);
    assert_eq!(
        status.lines().filter(|l| l.ends_with(" ok")).count(),
        4,
        "{status}"
    );
    voc_c(&["gen", "customers"]);

    // History over 28 days and the last 36 hours (for the "today" questions),
    // in three parts: before, during and after the replica's outage.
    let mut messages = generate(7, "hist", 2400, 28 * 24);
    messages.extend(generate(8, "recent", 1200, 36));
    let expected: BTreeSet<String> = messages
        .iter()
        .filter_map(|m| match &m.expect {
            Expectation::Valid { event_id, .. } => Some(event_id.clone()),
            _ => None,
        })
        .collect();
    let third = messages.len() / 3;
    let single = sink(&common::clickhouse_url(), &db);
    let cluster = sink(&urls[0], &db);
    let count = "SELECT uniqExact(event_id) FROM {db}.feedback_events";

    env.produce(&messages[..third]).await;
    let started = Instant::now();
    let w_single = env.spawn_worker("single");
    let w1 = env.spawn_worker_with("cluster-1", &c1);
    let w2 = env.spawn_worker_with("cluster-2", &c2);
    // The first rows are on the cluster: kill a replica.
    let t0 = Instant::now();
    while scalar(&cluster, &db, count).await == 0 {
        env.assert_workers_alive();
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no rows on the cluster"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let restart = Restart;
    cluster_sh(&["kill", VICTIM]);
    env.produce_paced(&messages[third..2 * third], 400).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during_outage = scalar(&cluster, &db, count).await;
    cluster_sh(&["start-server", VICTIM]);
    drop(restart);
    env.produce(&messages[2 * third..]).await;

    let want = expected.len() as u64;
    wait_for(&env, &cluster, &db, count, want, 240).await;
    let drained = started.elapsed();
    wait_for(&env, &single, &db, count, want, 240).await;
    for w in [w_single, w1, w2] {
        assert!(
            stop(w).success(),
            "a worker failed; logs in {}",
            env.dir.display()
        );
    }
    eprintln!(
        "cluster: {want} events ({} messages) drained by 2 workers in {:.1} s, {:.0} events/s \
         (a third produced up front, a third at 400/s during the outage, {during_outage} stored by its end)",
        messages.len(),
        drained.as_secs_f64(),
        want as f64 / drained.as_secs_f64()
    );
    assert!(
        during_outage > 0,
        "the workers wrote while the replica was down"
    );

    // Each event exactly once: the ids are the generated ones, FINAL leaves
    // one row per id, and the shards hold disjoint sets.
    let ids = table(
        &cluster,
        &db,
        "SELECT DISTINCT event_id FROM {db}.feedback_events",
    )
    .await;
    let ids: BTreeSet<String> = ids.rows.iter().map(|r| Table::text(&r[0])).collect();
    assert_eq!(
        ids, expected,
        "the cluster holds exactly the generated events"
    );
    assert_eq!(
        scalar(
            &cluster,
            &db,
            "SELECT count() FROM {db}.feedback_events FINAL"
        )
        .await,
        want
    );
    assert_eq!(
        scalar(&cluster, &db, "SELECT count() FROM {db}.feedback FINAL").await,
        want,
        "the feedback view"
    );
    // Both replicas of each shard converge to the same rows; the shards add up.
    let local = "SELECT count() FROM {db}.feedback_events_local FINAL";
    let mut per_shard = Vec::new();
    for pair in urls.chunks(2) {
        let first = scalar(&sink(&pair[0], &db), &db, local).await;
        let second = sink(&pair[1], &db);
        wait_for(&env, &second, &db, local, first, 120).await;
        per_shard.push(first);
    }
    assert_eq!(per_shard.iter().sum::<u64>(), want, "shards {per_shard:?}");
    assert!(
        per_shard.iter().all(|&n| n > want / 4),
        "both shards get events: {per_shard:?}"
    );
    // Every saved query, before the merge: the single server's answer.
    same_answers(&single, &cluster, &db).await;

    // Merged, one row per event is left. OPTIMIZE runs on each shard's
    // leader (18.16 fails OPTIMIZE ON CLUSTER and forwarded from a follower).
    for url in &urls {
        let s = sink(url, &db);
        let leader = "SELECT is_leader FROM system.replicas WHERE database = '{db}' AND table = 'feedback_events_local'";
        if scalar(&s, &db, leader).await == 1 {
            s.execute(&format!("OPTIMIZE TABLE {db}.feedback_events_local FINAL"))
                .await
                .unwrap();
        }
    }
    for url in &urls {
        let s = sink(url, &db);
        let rows = "SELECT count() FROM {db}.feedback_events_local";
        let merged = scalar(&s, &db, &format!("{rows} FINAL")).await;
        wait_for(&env, &s, &db, rows, merged, 60).await;
    }
    assert_eq!(
        scalar(&cluster, &db, "SELECT count() FROM {db}.feedback_events").await,
        want
    );

    // Rollups: exact, and the single server's.
    let rollups = [
        "SELECT day, channel, sentiment_label, nps_segment, uniqExactMerge(events) FROM {db}.feedback_rollup_day GROUP BY day, channel, sentiment_label, nps_segment ORDER BY day, channel, sentiment_label, nps_segment",
        "SELECT minute, channel, uniqExactMerge(events) FROM {db}.feedback_rollup_minute GROUP BY minute, channel ORDER BY minute, channel",
        "SELECT day, tag_id, journey_stage, uniqExactMerge(events) FROM {db}.tag_rollup_day GROUP BY day, tag_id, journey_stage ORDER BY day, tag_id, journey_stage",
        "SELECT minute, tag_id, uniqExactMerge(events) FROM {db}.tag_rollup_minute GROUP BY minute, tag_id ORDER BY minute, tag_id",
        "SELECT tag_id, series, uniqExactMerge(events) FROM {db}.tag_minute GROUP BY tag_id, series ORDER BY tag_id, series",
        "SELECT tag_id, department, count() FROM {db}.feedback_event_tags FINAL GROUP BY tag_id, department ORDER BY tag_id, department",
        "SELECT customer_key, uniqExact(event_id) FROM {db}.negative_touches GROUP BY customer_key ORDER BY customer_key",
    ];
    for sql in rollups {
        let (a, b) = (
            table(&single, &db, sql).await,
            table(&cluster, &db, sql).await,
        );
        assert!(!a.rows.is_empty(), "{sql}: no rows");
        assert_eq!(canonical(&b), canonical(&a), "{sql}");
    }
    let by_day = "SELECT toDate(event_time, 'Asia/Shanghai') AS day, channel, sentiment_label, nps_segment, uniqExact(event_id) FROM {db}.feedback_events GROUP BY day, channel, sentiment_label, nps_segment ORDER BY day, channel, sentiment_label, nps_segment";
    assert_eq!(
        canonical(&table(&cluster, &db, rollups[0]).await),
        canonical(&table(&cluster, &db, by_day).await),
        "the daily rollup counts each event once"
    );

    // Every saved query, merged too: the single server's answer.
    same_answers(&single, &cluster, &db).await;
    // The work-order questions run on the cluster too.
    for f in [
        "time_to_acknowledge_resolve.sql",
        "pain_point_after_fix.sql",
    ] {
        let sql = std::fs::read_to_string(format!(
            "{}/deploy/clickhouse/queries/workorders/{f}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        table(&cluster, &db, &sql).await;
    }
    // Alerts were looked up and recorded through the Distributed tables, once each.
    let alerts = scalar(&cluster, &db, "SELECT count() FROM {db}.alerts FINAL").await;
    assert!(alerts > 0, "the cluster workers recorded alerts");
    assert_eq!(
        alerts,
        scalar(
            &cluster,
            &db,
            "SELECT uniqExact(alert_id, revision) FROM {db}.alerts"
        )
        .await
    );
    // The report draws from the cluster.
    let report = env.dir.join("cluster-report.html");
    voc_c(&[
        "report",
        "--as-of",
        "2026-11-25 12:00:00",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(std::fs::metadata(&report).unwrap().len() > 10_000);

    // Server by server, best effort: a loaded machine can take a minute.
    for url in &urls {
        let s = ClickHouseSink::new(ClickHouseConfig {
            url: url.clone(),
            timeout_ms: 180_000,
            ..ClickHouseConfig::default()
        })
        .unwrap();
        if let Err(e) = s.execute(&format!("DROP DATABASE IF EXISTS {db}")).await {
            eprintln!("dropping {db} on {url}: {e}");
        }
    }
    env.drop_database().await;
}

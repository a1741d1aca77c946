//! Chaos on the real broker and ClickHouse: workers killed, ClickHouse and
//! the broker stopped mid-stream, workers added and removed while
//! producing. After each, every event is stored exactly once (events, raw
//! rows, rollups) and every offset is committed. Tests that stop the broker
//! or ClickHouse run their own stack ([`Stack`]), so the tests sharing the
//! local stack are not disturbed.

mod common;

use common::traffic::{assert_exact, traffic, Traffic};
use common::{free_addr, rss_mb, stop, Env, Stack, Worker};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The worker's memory bound in every outage.
const RSS_LIMIT_MB: u64 = 300;

const STORED: &str = "SELECT uniqExact(event_id) FROM {db}.feedback_events";

/// A copy of the environment's config with text replaced (metrics address,
/// thresholds), for one worker.
fn variant(env: &Env, tag: &str, edits: &[(&str, String)]) -> PathBuf {
    let mut text = std::fs::read_to_string(&env.config).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from} not in the config");
        text = text.replacen(from, to, 1);
    }
    let path = env.dir.join(format!("{tag}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A worker serving its probes on a free port, with short stall limits and
/// without alerting (its history tables would multiply ClickHouse's parts;
/// alerts have their own tests).
fn probed(env: &Env, tag: &str) -> (PathBuf, String) {
    let addr = free_addr();
    let cfg = variant(
        env,
        tag,
        &[
            (
                "listen = \"\"",
                format!("listen = \"{addr}\"\nready_max_retry_ms = 5000"),
            ),
            (
                "[kafka]\n",
                "[kafka]\nrejoin_when_unowned_ms = 10000\n".into(),
            ),
        ],
    );
    (cfg, addr)
}

/// Wait until `path` of the worker at `addr` answers `status`; the body.
async fn wait_status(env: &Env, addr: &str, path: &str, status: u16, secs: u64) -> String {
    let start = Instant::now();
    loop {
        let (s, body) = env.get(addr, path).await;
        if s == status {
            return body;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{path} did not answer {status} within {secs} s (last: {s} {body}); logs in {}",
            env.dir.display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A gauge of the worker at `addr` (0 when absent).
async fn gauge(env: &Env, addr: &str, name: &str) -> i64 {
    let (_, text) = env.get(addr, "/metrics").await;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as i64)
}

/// Produce `t` at `per_sec` in the background.
fn produce(env: &Arc<Env>, t: &Traffic, per_sec: usize) -> tokio::task::JoinHandle<()> {
    let (env, msgs) = (env.clone(), t.messages.clone());
    tokio::spawn(async move { env.produce_paced(&msgs, per_sec).await })
}

/// Everything stored exactly once and every offset committed.
async fn settle(env: &Env, t: &Traffic, secs: u64, when: &str) {
    env.wait_for_count(STORED, t.expected.len() as u64, secs)
        .await;
    let produced = t.messages.len() as i64;
    let start = Instant::now();
    while env.worker_committed() < produced {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "committed {} of {produced} offsets {when}",
            env.worker_committed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_exact(env, &t.expected, when).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_kill_9s_with_commits_advancing_between_them() {
    let env = Arc::new(Env::new("kill3", 200).await);
    let t = traffic(&env.name, 31, 9000, 0);
    let want = t.expected.len() as u64;
    let (cfg, _) = probed(&env, "probed");
    let producer = produce(&env, &t, 300);
    let mut committed = 0;
    for round in 1..=3 {
        let worker = env.spawn_worker_with(&format!("k{round}"), &cfg);
        // Commits advance past the last kill's, then the worker dies mid-stream.
        let start = Instant::now();
        while env.worker_committed() <= committed + 300 {
            env.assert_workers_alive();
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "round {round}: commits did not advance past {committed}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        worker.kill_9();
        let now = env.worker_committed();
        assert!(now > committed, "round {round}: {now} <= {committed}");
        committed = now;
    }
    let stored = env.scalar(STORED).await;
    assert!(
        stored < want,
        "the last kill came too late to test anything ({stored} of {want} stored)"
    );
    let worker = env.spawn_worker_with("last", &cfg);
    producer.await.unwrap();
    settle(&env, &t, 240, "after three kill -9").await;
    assert!(stop(worker).success());
    env.drop_database_later().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30s_clickhouse_outage_mid_stream_is_not_ready_then_ready_within_the_memory_bound() {
    let stack = Stack::start("ch-outage");
    let env = Arc::new(Env::on(&stack, "chout", 500).await);
    let (cfg, addr) = probed(&env, "probed");
    let t = traffic(&env.name, 32, 12_000, 0);
    let worker = env.spawn_worker_with("w", &cfg);
    let producer = produce(&env, &t, 300);
    env.wait_for_count(STORED, 1000, 120).await;
    wait_status(&env, &addr, "/readyz", 200, 30).await;

    stack.run("stop-clickhouse");
    let down = Instant::now();
    let (mut not_ready, mut peak) = (None, 0);
    while down.elapsed() < Duration::from_secs(30) {
        let (status, body) = env.get(&addr, "/readyz").await;
        if status == 503 && not_ready.is_none() {
            not_ready = Some((down.elapsed().as_secs(), body));
        }
        assert_eq!(env.get(&addr, "/livez").await.0, 200, "live while retrying");
        peak = peak.max(rss_mb(worker.pid()).0);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let retried = gauge(&env, &addr, "voc_stalled_seconds{reason=\"retrying\"}").await;
    stack.run("start-clickhouse");
    let (after, why) = not_ready.expect("/readyz stayed 200 during a 30 s outage");
    assert!(why.contains("retried"), "{why}");
    assert!(retried >= 20, "voc_stalled_seconds retrying = {retried}");
    wait_status(&env, &addr, "/readyz", 200, 90).await;
    producer.await.unwrap();
    settle(&env, &t, 240, "after a 30 s ClickHouse outage").await;
    let hwm = rss_mb(worker.pid()).1;
    assert!(
        hwm <= RSS_LIMIT_MB,
        "peak RSS {hwm} MB (during the outage {peak} MB)"
    );
    eprintln!("not ready {after} s into the outage; RSS during it <= {peak} MB, peak {hwm} MB");
    assert!(stop(worker).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_at_start_under_a_backlog_holds_little_then_drains() {
    let stack = Stack::start("ch-down");
    let env = Arc::new(Env::on(&stack, "chdown", 5000).await);
    let (cfg, addr) = probed(&env, "probed");
    let t = traffic(&env.name, 33, 30_000, 0);
    env.produce(&t.messages).await;
    stack.run("stop-clickhouse");
    let worker = env.spawn_worker_with("w", &cfg);
    // Partitions arrive while the worker waits for ClickHouse: they are
    // paused on arrival, so it holds what was prefetched, not the backlog.
    let start = Instant::now();
    while gauge(&env, &addr, "voc_assigned_partitions").await < 12 {
        assert!(start.elapsed() < Duration::from_secs(60), "no assignment");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let carried = gauge(&env, &addr, "voc_carried_messages").await;
    let (status, why) = env.get(&addr, "/readyz").await;
    assert_eq!(status, 503, "{why}");
    let (rss, _) = rss_mb(worker.pid());
    assert!(rss <= RSS_LIMIT_MB, "RSS {rss} MB while ClickHouse is down");
    assert!(
        carried < (t.messages.len() / 4) as i64,
        "{carried} of {} messages held while ClickHouse is down",
        t.messages.len()
    );
    stack.run("start-clickhouse");
    wait_status(&env, &addr, "/readyz", 200, 90).await;
    settle(&env, &t, 240, "after ClickHouse came up").await;
    let hwm = rss_mb(worker.pid()).1;
    assert!(hwm <= RSS_LIMIT_MB, "peak RSS {hwm} MB");
    eprintln!("held {carried} messages, RSS {rss} MB while down; peak {hwm} MB");
    assert!(stop(worker).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_nothing() {
    let stack = Stack::start("broker");
    let env = Arc::new(Env::on(&stack, "brk", 500).await);
    let t = traffic(&env.name, 34, 8000, 0);
    let (cfg, _) = probed(&env, "probed");
    let worker = env.spawn_worker_with("w", &cfg);
    let producer = produce(&env, &t, 400);
    env.wait_for_count(STORED, 1500, 120).await;
    stack.run("stop-broker");
    tokio::time::sleep(Duration::from_secs(5)).await;
    stack.run("start-broker");
    producer.await.unwrap();
    settle(&env, &t, 240, "after a broker restart").await;
    assert!(stop(worker).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_three_to_one_workers_while_producing() {
    let env = Arc::new(Env::new("scale", 500).await);
    let t = traffic(&env.name, 35, 15_000, 0);
    let configs: Vec<(PathBuf, String)> = (1..=3).map(|i| probed(&env, &format!("p{i}"))).collect();
    let spawn = |i: usize| -> Worker { env.spawn_worker_with(&format!("w{i}"), &configs[i - 1].0) };
    let addr = |i: usize| configs[i - 1].1.clone();
    let w1 = spawn(1);
    let producer = produce(&env, &t, 300);
    env.wait_for_count(STORED, 1000, 120).await;
    let (w2, w3) = (spawn(2), spawn(3));
    // All three hold partitions.
    let start = Instant::now();
    loop {
        let mut held = Vec::new();
        for i in 1..=3 {
            held.push(gauge(&env, &addr(i), "voc_assigned_partitions").await);
        }
        if held.iter().all(|&n| n > 0) && held.iter().sum::<i64>() == 12 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "partitions held: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // One leaves cleanly; once the other two share the partitions, one dies.
    assert!(stop(w2).success());
    let start = Instant::now();
    loop {
        let (a, c) = (
            gauge(&env, &addr(1), "voc_assigned_partitions").await,
            gauge(&env, &addr(3), "voc_assigned_partitions").await,
        );
        if a > 0 && c > 0 && a + c == 12 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "after SIGTERM: {a} + {c}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Past the first rebalance's settling: with tansu the dead member's
    // partitions then stay assigned to it (docs/reliability.md).
    tokio::time::sleep(Duration::from_secs(15)).await;
    w3.kill_9();
    producer.await.unwrap();
    // The survivor ends up with all partitions and drains them.
    settle(&env, &t, 240, "after 1 -> 3 -> 1 workers").await;
    assert_eq!(gauge(&env, &addr(1), "voc_assigned_partitions").await, 12);
    assert!(stop(w1).success());
    env.drop_database_later().await;
}

//! Crashes around alert delivery, on the real local stack (`voc run` and
//! `voc notify` as processes, killed with SIGKILL inside the window a
//! debug-build test hook holds open):
//! - the worker killed after its alerts are on the alert topic but before
//!   they are recorded in ClickHouse: after a restart each alert is on the
//!   topic once (by alert id and revision) and recorded once; the same
//!   when a running worker takes over the killed worker's partitions;
//! - `voc notify` killed after a batch's webhook sends, before its offsets
//!   are committed: after a restart each (alert, revision, webhook) reached
//!   the receiver once, with a stable `Idempotency-Key`;
//! - `voc notify` retrying a webhook for longer than its
//!   `max.poll.interval.ms` stays in its group and commits.

mod common;

use common::{stop, Env};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use voc_core::Channel;

/// Detractor messages of distinct customers (one alert each).
const ALERTS: usize = 6;

fn detractors(env_name: &str) -> Vec<(String, Vec<u8>)> {
    detractors_n(env_name, ALERTS)
}

fn detractors_n(env_name: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    app_messages(
        env_name,
        n,
        "d",
        0,
        "升级以后转账失败，一直提示交易异常，太失望了",
    )
}

/// `n` app messages from promoters: no alert under [`DETRACTORS_ONLY`].
fn promoters_n(env_name: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    app_messages(env_name, n, "p", 10, "转账秒到，界面清爽，很好用")
}

/// `n` app messages of distinct customers, ids `<env>-<prefix><i>`, each with
/// this NPS and text.
fn app_messages(
    env_name: &str,
    n: usize,
    prefix: &str,
    nps: u8,
    text: &str,
) -> Vec<(String, Vec<u8>)> {
    let now = chrono::Utc::now().timestamp();
    (0..n)
        .map(|i| {
            let id = format!("{env_name}-{prefix}{i}");
            let body = json!({"id": id, "time": now, "customer_id": format!("C{prefix}{i}"),
                "app_version": "8.1.0", "os": "iOS", "page": "transfer/confirm", "nps": nps,
                "text": text});
            (id, body.to_string().into_bytes())
        })
        .collect()
}

/// These tests kill processes inside timing windows between two workers or
/// a worker and `voc notify`: one at a time, so that a loaded machine does not
/// move a window (a rebalance landing before the kill would skip what the test
/// is about).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Only detractor alerts: one per message, nothing else in flight.
const DETRACTORS_ONLY: &str = "[alert.repeat]\nenabled = false\n[alert.spike]\nenabled = false\n";

/// How many times each (alert id, revision) is on the topic.
fn by_id(alerts: &[Value]) -> BTreeMap<(String, u64), usize> {
    let mut n = BTreeMap::new();
    for a in alerts {
        let id = (
            a["alert_id"].as_str().unwrap().to_string(),
            a["revision"].as_u64().unwrap(),
        );
        *n.entry(id).or_insert(0) += 1;
    }
    n
}

/// Whether a process's log (colour codes removed) contains `text`.
/// A process's log without its colour codes.
fn plain_log(env: &Env, tag: &str) -> String {
    let log =
        std::fs::read_to_string(env.dir.join(format!("worker-{tag}.log"))).unwrap_or_default();
    let mut plain = String::with_capacity(log.len());
    let mut rest = log.as_str();
    while let Some(at) = rest.find('\u{1b}') {
        plain.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = rest.find('m').map_or("", |m| &rest[m + 1..]);
    }
    plain.push_str(rest);
    plain
}

fn log_has(env: &Env, tag: &str, text: &str) -> bool {
    plain_log(env, tag).contains(text)
}

/// (assignment changes logged so far, partitions owned after the last one).
fn assignment(env: &Env, tag: &str) -> (usize, usize) {
    let (mut changes, mut owned) = (0, 0);
    for line in plain_log(env, tag).lines() {
        if line.contains("partitions revoked") || line.contains("no partitions assigned") {
            changes += 1;
            owned = 0;
        } else if line.contains("partitions assigned") {
            changes += 1;
            owned = line
                .split("owned=")
                .nth(1)
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    (changes, owned)
}

/// Waits until every worker in `tags` owns partitions and no assignment has
/// changed for `quiet_secs`: a group still rebalancing would move the
/// partitions a test is about between its workers.
async fn wait_for_stable_group(env: &Env, tags: &[&str], quiet_secs: u64, secs: u64) {
    let start = Instant::now();
    let mut last = Vec::new();
    let mut since = Instant::now();
    loop {
        env.assert_workers_alive();
        let now: Vec<_> = tags.iter().map(|t| assignment(env, t)).collect();
        if now != last {
            last = now;
            since = Instant::now();
        } else if last.iter().all(|&(_, owned)| owned > 0)
            && since.elapsed() >= Duration::from_secs(quiet_secs)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "the group of {tags:?} did not settle within {secs} s ({last:?}); logs in {}",
            env.dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_for_log(env: &Env, tag: &str, text: &str, secs: u64) {
    let start = Instant::now();
    while !log_has(env, tag, text) {
        env.assert_workers_alive();
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "no `{text}` in worker-{tag}.log within {secs} s; logs in {}",
            env.dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_between_alert_publish_and_record_publishes_nothing_again() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let env = Env::new("alertcrash", 500).await;
    env.add_config(DETRACTORS_ONLY);
    env.produce_raw(env.topic(Channel::App), &detractors(&env.name))
        .await;
    // The hook holds every batch's alerts between their publish and their record.
    let first = env.spawn_worker_env(
        "1",
        &env.config,
        &[("VOC_TEST_PAUSE_AFTER_ALERT_PUBLISH_MS", "120000")],
    );
    wait_for_log(&env, "1", "test hook: pausing after publishing alerts", 90).await;
    let published = env.read_topic(&env.alerts, ALERTS, 30).await;
    assert_eq!(
        published.len(),
        ALERTS,
        "all alerts on the topic before the kill"
    );
    assert_eq!(
        env.scalar("SELECT count() FROM {db}.alerts").await,
        0,
        "killed before any alert was recorded"
    );
    first.kill_9();

    let second = env.spawn_worker("2");
    env.wait_for_count(
        "SELECT count() FROM {db}.feedback_events",
        ALERTS as u64,
        90,
    )
    .await;
    env.wait_for_count("SELECT count() FROM {db}.alerts", ALERTS as u64, 60)
        .await;
    // The re-delivered batch was evaluated (and its alerts published) before
    // its offsets were committed.
    let app = env.topic(Channel::App).to_string();
    env.wait_committed(&format!("{}-worker", env.name), &app, ALERTS as i64, 60)
        .await;
    assert!(stop(second).success());
    let after = env.read_topic(&env.alerts, ALERTS, 30).await;
    let counts = by_id(&after);
    assert_eq!(
        counts.len(),
        ALERTS,
        "one alert per detractor: {counts:?}; logs in {}",
        env.dir.display()
    );
    assert!(
        counts.values().all(|&n| n == 1),
        "an alert was published again after the restart: {counts:?}; logs in {}",
        env.dir.display()
    );
    assert_eq!(
        env.scalar("SELECT count() FROM {db}.alerts").await,
        ALERTS as u64,
        "each alert recorded once"
    );
    assert_eq!(
        env.scalar("SELECT count() FROM {db}.alert_occurrences")
            .await,
        ALERTS as u64,
        "each trigger counted once"
    );
    assert!(
        log_has(&env, "2", "recorded=6"),
        "the restart recovered them"
    );
    env.drop_database().await;
}

/// The `Idempotency-Key` of each request a receiver accepted, in order.
type Keys = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A webhook receiver on 127.0.0.1 that accepts everything and notes each
/// request's `Idempotency-Key`.
async fn counting_receiver() -> (Keys, u16) {
    let keys = Keys::default();
    let seen = keys.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |h: axum::http::HeaderMap| async move {
            let key = h
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            seen.lock().unwrap().push(key);
            axum::http::StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (keys, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voc_notify_killed_after_a_send_sends_nothing_again() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let env = Env::new("notifycrash", 500).await;
    let (keys, port) = counting_receiver().await;
    env.add_config(&format!(
        "{DETRACTORS_ONLY}[notify]\ngroup_id = \"{}-notify\"\nmetrics_listen = \"\"\n\
         [[notify.webhooks]]\nname = \"ops\"\nkind = \"generic\"\nurl = \"http://127.0.0.1:{port}/hook\"\n",
        env.name
    ));
    let worker = env.spawn_worker("w");
    env.produce_raw(env.topic(Channel::App), &detractors(&env.name))
        .await;
    env.wait_for_count("SELECT count() FROM {db}.alerts", ALERTS as u64, 90)
        .await;
    // The hook holds the first batch after its sends were recorded, before
    // its offsets are committed.
    let first = env.spawn_command_env(
        "notify",
        "notify-1",
        &[("VOC_TEST_PAUSE_AFTER_WEBHOOK_SEND_MS", "120000")],
    );
    wait_for_log(
        &env,
        "notify-1",
        "test hook: pausing after webhook sends",
        90,
    )
    .await;
    let sent = keys.lock().unwrap().len();
    assert!(sent >= 1, "the first batch was sent before the kill");
    assert_eq!(
        env.scalar("SELECT count() FROM {db}.alert_deliveries")
            .await,
        sent as u64,
        "each send recorded before the kill"
    );
    first.kill_9();

    let second = env.spawn_command("notify");
    env.wait_committed(
        &format!("{}-notify", env.name),
        &env.alerts,
        ALERTS as i64,
        90,
    )
    .await;
    assert!(stop(second).success());
    let keys = keys.lock().unwrap().clone();
    let mut per_key = BTreeMap::new();
    for k in &keys {
        *per_key.entry(k.clone()).or_insert(0) += 1;
    }
    let alerts = env.read_topic(&env.alerts, ALERTS, 30).await;
    let want: std::collections::BTreeSet<String> = alerts
        .iter()
        .map(|a| format!("{}:{}:ops", a["alert_id"].as_str().unwrap(), a["revision"]))
        .collect();
    assert_eq!(
        per_key
            .keys()
            .cloned()
            .collect::<std::collections::BTreeSet<_>>(),
        want,
        "every alert reached the webhook under its Idempotency-Key"
    );
    assert!(
        per_key.values().all(|&n| n == 1),
        "a delivery was sent again after the restart ({sent} sent before the kill): {per_key:?}; logs in {}",
        env.dir.display()
    );
    assert_eq!(
        env.scalar("SELECT count() FROM {db}.alert_deliveries WHERE outcome = 'delivered'")
            .await,
        ALERTS as u64
    );
    assert!(stop(worker).success());
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voc_notify_stays_in_its_group_while_a_webhook_is_retried() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    let env = Env::new("notifypoll", 500).await;
    // Fails the first four requests: ~14 s of backoff, over twice the
    // notifier's max.poll.interval.ms below.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || async move {
            if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 4 {
                axum::http::StatusCode::SERVICE_UNAVAILABLE
            } else {
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    env.add_config(&format!(
        "{DETRACTORS_ONLY}[notify]\ngroup_id = \"{}-notify\"\nmetrics_listen = \"\"\nmax_attempts = 6\nretry_initial_ms = 2500\nretry_max_ms = 4000\n\
         [[notify.webhooks]]\nname = \"slow\"\nkind = \"generic\"\nurl = \"http://127.0.0.1:{port}/hook\"\n",
        env.name
    ));
    let worker = env.spawn_worker("w");
    env.produce_raw(env.topic(Channel::App), &detractors(&env.name)[..1])
        .await;
    env.wait_for_count("SELECT count() FROM {db}.alerts", 1, 90)
        .await;
    let notify = env.spawn_command_env(
        "notify",
        "notify",
        &[("VOC_KAFKA__MAX_POLL_INTERVAL_MS", "6000")],
    );
    env.wait_committed(&format!("{}-notify", env.name), &env.alerts, 1, 90)
        .await;
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        5,
        "four failures, then delivered"
    );
    assert!(stop(notify).success());
    for evicted in ["offset commit failed", "maximum poll interval", "MAXPOLL"] {
        assert!(
            !log_has(&env, "notify", evicted),
            "the notifier left its group while retrying (`{evicted}` in its log); logs in {}",
            env.dir.display()
        );
    }
    assert!(stop(worker).success());
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_taking_over_from_a_killed_one_publishes_nothing_again() {
    let _one_at_a_time = ONE_AT_A_TIME.lock().await;
    // Enough messages that every partition of the app topic holds some.
    const N: usize = 24;
    let env = Env::new("alerttakeover", 500).await;
    env.add_config(DETRACTORS_ONLY);
    let hooked = env.spawn_worker_env(
        "1",
        &env.config,
        &[("VOC_TEST_PAUSE_AFTER_ALERT_PUBLISH_MS", "120000")],
    );
    // One member at a time: two joining together can keep tansu's group
    // rebalancing for minutes. Then the group must have settled on two
    // members that each own partitions.
    wait_for_stable_group(&env, &["1"], 3, 90).await;
    let survivor = env.spawn_worker("2");
    wait_for_stable_group(&env, &["1", "2"], 8, 120).await;
    // Each worker reads its partitions once before the detractors come: a
    // worker's first batch on a partition reads the alert topic back (a
    // partition maybe taken over from a crashed worker), and the survivor's
    // would then record the paused worker's alerts before the kill.
    let app = env.topic(Channel::App).to_string();
    let group = format!("{}-worker", env.name);
    env.produce_raw(&app, &promoters_n(&env.name, N)).await;
    env.wait_committed(&group, &app, N as i64, 90).await;
    env.produce_raw(&app, &detractors_n(&env.name, N)).await;
    wait_for_log(&env, "1", "test hook: pausing after publishing alerts", 90).await;
    let published = env.read_topic(&env.alerts, N, 60).await;
    assert_eq!(
        published.len(),
        N,
        "every alert on the topic before the kill"
    );
    let recorded = env.scalar("SELECT count() FROM {db}.alerts").await;
    assert!(
        recorded < N as u64,
        "the killed worker's alerts were not recorded"
    );
    hooked.kill_9();

    env.wait_committed(&group, &app, 2 * N as i64, 90).await;
    assert!(stop(survivor).success());
    let counts = by_id(&env.read_topic(&env.alerts, N, 30).await);
    assert_eq!(counts.len(), N, "one alert per detractor");
    assert!(
        counts.values().all(|&n| n == 1),
        "the survivor published the killed worker's alerts again: {counts:?}; logs in {}",
        env.dir.display()
    );
    assert_eq!(
        env.scalar("SELECT count() FROM (SELECT DISTINCT alert_id, revision FROM {db}.alerts)")
            .await,
        N as u64,
        "every alert recorded"
    );
    env.drop_database().await;
}

//! End-to-end tests on the real local stack (deploy/stack.sh start): a
//! Kafka-protocol broker (tansu) and ClickHouse, with `voc run` as a process.

mod common;

use common::traffic::{assert_stored_exactly_once, traffic};
use common::{stop, Env};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use voc_gen::MALFORMED_KINDS;

/// No digits that look like phones, IDs or cards, no e-mail, in any stored text column.
const PII_LEAK_SQL: &str = "SELECT count() FROM {db}.feedback_events WHERE \
    match(text, '1[3-9][0-9]{9}') OR match(text, '[0-9]{15,}') OR match(text, '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+') \
    OR match(context_text, '1[3-9][0-9]{9}') OR match(context_text, '[0-9]{15,}') \
    OR match(customer_key, '1[3-9][0-9]{9}') OR match(source_id, '1[3-9][0-9]{9}') \
    OR arrayExists(t -> match(t, '[0-9]{11,}'), tokens) OR arrayExists(t -> match(t, '[0-9]{11,}'), keywords)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_channels_end_to_end() {
    let env = Env::new("e2e", 5000).await;
    let t = traffic(&env.name, 7, 2100, 45);
    assert!(
        t.expected.len() >= 2000,
        "want >= 2000 valid events, have {}",
        t.expected.len()
    );
    assert!(t.dead.values().sum::<usize>() >= 30);
    assert!(
        t.dead.len() >= 10,
        "at least 10 kinds of malformed input: {:?}",
        t.dead
    );

    let worker = env.spawn_worker("1");
    env.produce(&t.messages).await;
    let want = t.expected.len() as u64;
    env.wait_for_count(
        "SELECT uniqExact(event_id) FROM {db}.feedback_events",
        want,
        240,
    )
    .await;
    // Exactly once by event id, through the analysts' view.
    let stored: HashSet<String> = env
        .query("SELECT event_id FROM {db}.feedback")
        .await
        .into_iter()
        .collect();
    assert_eq!(
        env.scalar("SELECT count() FROM {db}.feedback").await,
        want,
        "view must count each event once"
    );
    assert!(
        stored == t.expected,
        "stored event ids differ: {} missing, {} unexpected",
        t.expected.difference(&stored).count(),
        stored.difference(&t.expected).count()
    );

    // Every malformed message is dead-lettered with its reason.
    let total_dead: usize = t.dead.values().sum();
    let dls = env.read_topic(&env.dead_letter, total_dead, 60).await;
    let mut got: BTreeMap<String, usize> = BTreeMap::new();
    for d in &dls {
        assert_eq!(d["schema"], "voc.deadletter.v1");
        assert!(d["source"]["offset"].as_i64().is_some());
        assert!(!d["detail"].as_str().unwrap_or_default().is_empty());
        *got.entry(d["reason"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let want_dead: BTreeMap<String, usize> =
        t.dead.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    assert_eq!(got, want_dead, "dead letters by reason");

    // Detractors are on the alert topic.
    let detractors: HashSet<String> = env
        .query("SELECT event_id FROM {db}.feedback WHERE nps_segment = 'detractor'")
        .await
        .into_iter()
        .collect();
    assert!(
        detractors.len() > 100,
        "generated traffic has many detractors, found {}",
        detractors.len()
    );
    // Every detractor raised or fed (suppression) exactly the detractor alerts.
    let counted: HashSet<String> = env
        .query("SELECT DISTINCT event_id FROM {db}.alert_occurrences WHERE kind = 'detractor'")
        .await
        .into_iter()
        .collect();
    let missing: Vec<_> = detractors.difference(&counted).collect();
    let extra: Vec<_> = counted.difference(&detractors).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "detractors without alert: {missing:?}; alerts for non-detractors: {extra:?}"
    );
    let windows = env
        .scalar("SELECT uniqExact(alert_id) FROM {db}.alert_occurrences WHERE kind = 'detractor'")
        .await as usize;
    let alerts = env.read_topic(&env.alerts, windows, 60).await;
    let first: HashSet<&str> = alerts
        .iter()
        .filter(|a| a["kind"] == "detractor" && a["revision"] == 0)
        .map(|a| a["alert_id"].as_str().unwrap())
        .collect();
    assert_eq!(first.len(), windows, "one alert per suppression window");
    for a in &alerts {
        assert_eq!(a["schema"], "voc.alert.v2");
        assert!(a["work_order_title"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
        for e in a["events"].as_array().unwrap() {
            assert!(!voc_core::pii::contains_pii(
                e["text_excerpt"].as_str().unwrap()
            ));
            if a["kind"] == "detractor" {
                assert!(detractors.contains(e["event_id"].as_str().unwrap()));
            }
        }
    }

    // PII: masked wherever it was, leaked nowhere.
    assert_eq!(
        env.scalar(PII_LEAK_SQL).await,
        0,
        "PII pattern found in stored columns"
    );
    let masked = env
        .scalar("SELECT count() FROM {db}.feedback WHERE notEmpty(pii_masked)")
        .await;
    assert!(
        masked as usize >= t.with_pii,
        "masked {masked} items, generated {} with PII",
        t.with_pii
    );
    for row in env
        .query("SELECT text, context_text, customer_key FROM {db}.feedback")
        .await
    {
        assert!(
            !voc_core::pii::contains_pii(&row),
            "unmasked PII in row: {row}"
        );
    }

    // Enrichment filled what analysts group by.
    let channels = env
        .query("SELECT channel, count() FROM {db}.feedback GROUP BY channel ORDER BY channel")
        .await;
    assert_eq!(channels.len(), 4, "{channels:?}");
    let tagged = env
        .scalar("SELECT countIf(notEmpty(tag_ids)) FROM {db}.feedback")
        .await;
    assert!(
        tagged > want / 2,
        "most generated feedback carries an issue; tagged {tagged} of {want}"
    );

    assert!(stop(worker).success(), "worker exits 0 on SIGTERM");
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_nothing_and_counts_nothing_twice() {
    // Small batches, paced input: the kill lands between many commits.
    let env = std::sync::Arc::new(Env::new("restart", 100).await);
    let t = traffic(&env.name, 11, 3000, 0);
    let want = t.expected.len() as u64;
    let worker = env.spawn_worker("1");
    let producer = {
        let (env, msgs) = (env.clone(), t.messages.clone());
        tokio::spawn(async move { env.produce_paced(&msgs, 600).await })
    };
    // Let part of the stream land, then kill without warning.
    env.wait_for_count("SELECT count() FROM {db}.feedback_events", want / 4, 180)
        .await;
    worker.kill_9();
    let before = env
        .scalar("SELECT uniqExact(event_id) FROM {db}.feedback_events")
        .await;
    assert!(
        before < want,
        "the kill came too late to test anything ({before} of {want} stored)"
    );

    let worker = env.spawn_worker("2");
    producer.await.unwrap();
    env.wait_for_count(
        "SELECT uniqExact(event_id) FROM {db}.feedback_events",
        want,
        240,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_stored_exactly_once(&env, &t.expected, "after the restart").await;
    assert!(stop(worker).success());
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_outage_pauses_and_resumes_without_skipping() {
    // The first worker points at a port where no ClickHouse listens.
    let env = Env::new("outage", 5000).await;
    let bad_cfg = env.dir.join("bad.toml");
    let text = std::fs::read_to_string(&env.config).unwrap().replace(
        &format!("url = \"{}\"", common::clickhouse_url()),
        "url = \"http://127.0.0.1:9\"\ntimeout_ms = 2000",
    );
    assert!(text.contains("127.0.0.1:9\""));
    std::fs::write(&bad_cfg, text).unwrap();
    let t = traffic(&env.name, 13, 300, 0);
    env.produce(&t.messages).await;
    let bad = env.spawn_worker_with("bad", &bad_cfg);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        env.scalar("SELECT count() FROM {db}.feedback_events").await,
        0
    );
    // It keeps retrying and exits cleanly on SIGTERM without committing.
    assert!(stop(bad).success());
    let logs = std::fs::read_to_string(env.dir.join("worker-bad.log")).unwrap();
    assert!(
        logs.contains("retrying"),
        "worker should log its retries:\n{logs}"
    );

    let good = env.spawn_worker("good");
    env.wait_for_count(
        "SELECT uniqExact(event_id) FROM {db}.feedback_events",
        t.expected.len() as u64,
        180,
    )
    .await;
    assert_eq!(
        env.scalar("SELECT count() FROM {db}.feedback").await,
        t.expected.len() as u64
    );
    assert!(stop(good).success());
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_drains_in_larger_inserts_within_the_row_cap() {
    // The input waits before the worker starts: its batches fill up (a
    // backlog), so inserts go at the backlog pace, up to insert_max_events.
    // The pace is 3 s so that several batches queue behind an insert even on
    // an idle machine (where a 500-event batch takes about as long to enrich
    // in a debug build as 1 s of pace).
    let env = Env::new("backlog", 500).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = std::fs::read_to_string(&env.config)
        .unwrap()
        .replace("listen = \"\"", &format!("listen = \"127.0.0.1:{port}\""))
        .replace(
            "max_events = 500",
            "max_events = 500\ninsert_max_events = 2000\nbacklog_insert_every_ms = 3000",
        );
    assert!(text.contains("insert_max_events = 2000") && text.contains(&port.to_string()));
    std::fs::write(&env.config, text).unwrap();
    let t = traffic(&env.name, 17, 6000, 0);
    env.produce(&t.messages).await;
    let worker = env.spawn_worker("1");
    let want = t.expected.len() as u64;
    env.wait_for_count(
        "SELECT uniqExact(event_id) FROM {db}.feedback_events",
        want,
        180,
    )
    .await;
    let metrics = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let backlog_inserts: f64 = metrics
        .lines()
        .find(|l| l.starts_with("voc_clickhouse_insert_rows_count{pace=\"backlog\"}"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0.0);
    assert!(
        backlog_inserts >= 1.0,
        "no insert at the backlog pace:\n{metrics}"
    );
    // Every insert makes one part per partition (level 0, kept listed after
    // merges): none holds more than the cap, and nothing is lost or doubled.
    let biggest = env
        .scalar("SELECT max(rows) FROM system.parts WHERE database = '{db}' AND table = 'feedback_events' AND level = 0")
        .await;
    assert!(
        biggest > 500 && biggest <= 2000,
        "largest insert {biggest} rows"
    );
    assert_stored_exactly_once(&env, &t.expected, "after the backlog").await;
    assert!(stop(worker).success());
    env.drop_database().await;
}

#[test]
fn malformed_kinds_cover_at_least_ten_reasons() {
    let reasons: HashSet<&str> = MALFORMED_KINDS.iter().map(|(_, r)| *r).collect();
    assert!(MALFORMED_KINDS.len() >= 10 && reasons.len() >= 9);
}

/// One poison message (200 KB of control bytes, under the decode limit, over
/// 1 MB once escaped in JSON) is dead-lettered with a capped payload, and the
/// messages behind it on every channel are stored: the stream goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_and_the_stream_goes_on() {
    let env = Env::new("poison", 200).await;
    let poison: Vec<u8> = (0..200_000).map(|i| (i % 31 + 1) as u8).collect();
    env.produce_raw(
        env.topic(voc_core::Channel::App),
        &[("poison".to_string(), poison)],
    )
    .await;
    let t = traffic(&env.name, 23, 200, 0);
    env.produce(&t.messages).await;
    let worker = env.spawn_worker("1");
    env.wait_for_count(
        "SELECT uniqExact(event_id) FROM {db}.feedback_events",
        t.expected.len() as u64,
        120,
    )
    .await;
    let dls = env.read_topic(&env.dead_letter, 1, 60).await;
    let d = dls
        .iter()
        .find(|d| d["payload_bytes"] == 200_000)
        .expect("the poison message's dead letter");
    assert_eq!(d["payload_truncated"], true);
    assert_eq!(d["payload_sha256"].as_str().map(str::len), Some(64));
    assert!(serde_json::to_vec(d).unwrap().len() < 100_000);
    assert_stored_exactly_once(&env, &t.expected, "behind a poison message").await;
    env.assert_workers_alive();
    assert!(stop(worker).success());
    env.drop_database().await;
}

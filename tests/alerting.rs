//! Alerting on the real local stack (tansu + ClickHouse, `voc run`, `voc
//! notify`, `voc workorders` as processes): every alert kind, suppression
//! and duplicate source messages, webhook retries against a local HTTP
//! receiver, hostile receivers (redirect, huge answer, no answer) with the
//! tokens of their URLs kept out of errors, logs and `voc config`, and the
//! work-order status loop with the saved queries.

mod common;

use common::{stop, Env};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use voc_core::{event_id, Channel};

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn app(id: &str, customer: &str, version: &str, nps: Option<u8>, text: &str, t: i64) -> Vec<u8> {
    let mut o = json!({"id": id, "time": t, "customer_id": customer, "app_version": version,
        "os": "iOS", "page": "transfer/confirm", "text": text});
    if let Some(n) = nps {
        o["nps"] = json!(n);
    }
    o.to_string().into_bytes()
}

fn branch(id: &str, customer: &str, score: u8, text: &str, t: i64) -> Vec<u8> {
    json!({"card_id": id, "branch_id": "BR0007", "city": "上海", "time": t, "customer_id": customer,
        "teller_id": "T001", "service_type": "存取款", "wait_minutes": 40, "score": score, "comment": text})
    .to_string()
    .into_bytes()
}

fn call(id: &str, customer: &str, text: &str, t: i64) -> Vec<u8> {
    json!({"call_id": id, "start_time": t, "customer_id": customer, "agent_id": "A0001",
        "duration_s": 60, "ivr_path": ["手机银行", "人工"],
        "turns": [{"speaker": "agent", "start_ms": 0, "end_ms": 2000, "text": "您好，请问有什么可以帮您", "confidence": 0.9},
                  {"speaker": "customer", "start_ms": 2500, "end_ms": 6000, "text": text, "confidence": 0.9}]})
    .to_string()
    .into_bytes()
}

fn rec(id: &str, payload: Vec<u8>) -> (String, Vec<u8>) {
    (id.to_string(), payload)
}

fn validator() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("../docs/alert.schema.json")).expect("schema JSON");
    jsonschema::validator_for(&schema).expect("valid schema")
}

fn has_event(a: &Value, id: &str) -> bool {
    a["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event_id"] == id)
}

/// Read the alert topic until `done` holds (or panic after `secs`).
async fn alerts_until(env: &Env, secs: u64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let a = env.read_topic(&env.alerts, 1, 20).await;
        if done(&a) {
            return a;
        }
        env.assert_workers_alive();
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "alerts never satisfied the condition; have {}: {:#?}; logs in {}",
            a.len(),
            a.iter()
                .map(|x| (
                    x["kind"].clone(),
                    x["dedup_key"].clone(),
                    x["revision"].clone()
                ))
                .collect::<Vec<_>>(),
            env.dir.display()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

const TRANSFER_FAIL: &str = "升级以后转账失败，一直提示交易异常";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_kind_suppression_and_duplicates() {
    let env = Env::new("alerting", 500).await;
    env.add_config("[alert]\nsuppress_window_minutes = 1\n[alert.spike]\nevaluate_every_s = 1\nmin_history_hours = 0\n");
    let worker = env.spawn_worker("1");
    let t = now_s();
    let (a, b, c) = (
        env.topic(Channel::App).to_string(),
        env.topic(Channel::Branch).to_string(),
        env.topic(Channel::CallCenter).to_string(),
    );
    // Repeat complainer: one customer, three channels, three hours.
    env.produce_raw(
        &a,
        &[rec(
            "r1",
            app(
                "it-r-app",
                "CR1",
                "8.1.0",
                Some(1),
                "手机银行转账一直失败，提示系统繁忙，钱转不出去",
                t - 7200,
            ),
        )],
    )
    .await;
    env.produce_raw(
        &c,
        &[rec(
            "r2",
            call(
                "it-r-call",
                "CR1",
                "转账又失败了 打客服也没用 气死了",
                t - 3600,
            ),
        )],
    )
    .await;
    env.produce_raw(
        &b,
        &[rec(
            "r3",
            branch(
                "it-r-branch",
                "CR1",
                2,
                "网点办转账还是失败，排了一个小时",
                t,
            ),
        )],
    )
    .await;
    // Fund safety: critical. Suppression customer: a message and its duplicate.
    let s1 = app("it-s-1", "CS1", "8.1.0", Some(1), TRANSFER_FAIL, t);
    env.produce_raw(
        &a,
        &[
            rec(
                "f1",
                app(
                    "it-f-1",
                    "CF1",
                    "8.1.0",
                    Some(0),
                    "卡里的钱被盗刷了，莫名其妙被转走两万，要报警",
                    t,
                ),
            ),
            rec("s1", s1.clone()),
            rec("s1", s1),
        ],
    )
    .await;
    // Spike: eight customers, one app version, one issue, within a minute.
    let spike: Vec<(String, Vec<u8>)> = (0..8)
        .map(|i| {
            rec(
                &format!("k{i}"),
                app(
                    &format!("it-k-{i}"),
                    &format!("CK{i}"),
                    "9.9.1",
                    None,
                    TRANSFER_FAIL,
                    t,
                ),
            )
        })
        .collect();
    env.produce_raw(&a, &spike).await;

    let id = |c: Channel, s: &str| event_id(c, s);
    let (r_app, r_call, r_branch) = (
        id(Channel::App, "it-r-app"),
        id(Channel::CallCenter, "it-r-call"),
        id(Channel::Branch, "it-r-branch"),
    );
    let (f1, s1_id) = (id(Channel::App, "it-f-1"), id(Channel::App, "it-s-1"));
    let alerts = alerts_until(&env, 120, |a| {
        a.iter().any(|x| x["kind"] == "repeat_complainer")
            && a.iter()
                .any(|x| x["kind"] == "spike" && x["spike"]["value"] == "app 9.9.1")
            && a.iter().any(|x| has_event(x, &f1))
            && a.iter().any(|x| has_event(x, &s1_id))
    })
    .await;
    let v = validator();
    for x in &alerts {
        let errors: Vec<String> = v.iter_errors(x).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{x:#}");
    }
    // Repeat complainer across app + call centre + branch.
    let rep: Vec<&Value> = alerts
        .iter()
        .filter(|x| x["kind"] == "repeat_complainer")
        .collect();
    assert_eq!(rep.len(), 1, "{rep:#?}");
    let r = rep[0];
    assert_eq!(r["repeat"]["occasions"], 3);
    assert_eq!(
        r["repeat"]["channels"],
        json!(["app", "branch", "call_center"])
    );
    for e in [&r_app, &r_call, &r_branch] {
        assert!(has_event(r, e), "repeat alert lists {e}");
    }
    assert!(r["work_order_title"]
        .as_str()
        .unwrap()
        .contains("第3次负面反馈"));
    assert_ne!(r["customer_key"], "CR1", "customer key is pseudonymous");
    // Critical detractor routed to risk and consumer protection.
    let f = alerts.iter().find(|x| has_event(x, &f1)).unwrap();
    assert_eq!(
        (f["kind"].as_str(), f["severity"].as_str()),
        (Some("detractor"), Some("critical"))
    );
    let deps: Vec<&str> = f["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert!(
        deps.contains(&"风险管理部") && deps.contains(&"消费者权益保护部"),
        "{deps:?}"
    );
    assert!(f["work_order_title"]
        .as_str()
        .unwrap()
        .starts_with("【紧急】"));
    // Spike on the app version.
    let sp = alerts
        .iter()
        .find(|x| x["dedup_key"] == "spike:app_version=app 9.9.1:c03.t02")
        .expect("spike alert for 转账或支付失败 in app 9.9.1");
    assert!(sp["spike"]["count"].as_u64().unwrap() >= 5, "{sp:#}");
    assert!(sp["work_order_title"]
        .as_str()
        .unwrap()
        .contains("手机银行 9.9.1"));
    // The duplicated source message raised one alert with one occurrence.
    let s_alerts: Vec<&Value> = alerts
        .iter()
        .filter(|x| x["kind"] == "detractor" && has_event(x, &s1_id))
        .collect();
    assert_eq!(s_alerts.len(), 1);
    assert_eq!(s_alerts[0]["occurrences"], 1);
    let s_key = s_alerts[0]["dedup_key"].as_str().unwrap().to_string();
    let s_alert_id = s_alerts[0]["alert_id"].as_str().unwrap().to_string();
    // One first alert per dedup key: no flood.
    let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for x in alerts.iter().filter(|x| x["revision"] == 0) {
        *per_key.entry(x["dedup_key"].as_str().unwrap()).or_default() += 1;
    }
    assert!(per_key.values().all(|n| *n == 1), "{per_key:?}");
    // Stored in ClickHouse, as published.
    let stored: HashSet<String> = env
        .query("SELECT alert_id FROM {db}.alerts WHERE revision = 0")
        .await
        .into_iter()
        .collect();
    let published: HashSet<String> = alerts
        .iter()
        .filter(|x| x["revision"] == 0)
        .map(|x| x["alert_id"].as_str().unwrap().to_string())
        .collect();
    env.wait_for_count(
        "SELECT count() FROM {db}.alerts WHERE revision = 0",
        published.len() as u64,
        30,
    )
    .await;
    assert!(published.is_subset(&stored) || published.len() <= stored.len());
    // The stored payload is the published alert (serialized once).
    for line in env
        .query("SELECT payload FROM {db}.alerts WHERE revision = 0 FORMAT JSONEachRow")
        .await
    {
        let row: Value = serde_json::from_str(&line).unwrap();
        let payload: Value = serde_json::from_str(row["payload"].as_str().unwrap()).unwrap();
        let same = alerts
            .iter()
            .find(|x| x["alert_id"] == payload["alert_id"] && x["revision"] == 0);
        assert_eq!(
            same,
            Some(&payload),
            "stored payload differs from the published alert"
        );
    }

    // Suppression: a second occurrence within the window is counted, not sent;
    // when the window closes, exactly one update carries the count.
    env.produce_raw(
        &a,
        &[rec(
            "s2",
            app("it-s-2", "CS1", "8.1.0", Some(1), TRANSFER_FAIL, now_s()),
        )],
    )
    .await;
    let s2 = id(Channel::App, "it-s-2");
    env.wait_for_count(
        &format!("SELECT uniqExact(event_id) FROM {{db}}.alert_occurrences WHERE alert_id = '{s_alert_id}'"),
        2,
        60,
    )
    .await;
    let mid = env.read_topic(&env.alerts, alerts.len(), 10).await;
    assert!(
        !mid.iter().any(|x| has_event(x, &s2)),
        "suppressed occurrence must not be published"
    );
    // Let the 1-minute window close, then give the worker a batch to run in.
    tokio::time::sleep(Duration::from_secs(62)).await;
    env.produce_raw(
        &a,
        &[rec(
            "z1",
            app(
                "it-z-1",
                "CZ1",
                "8.1.0",
                Some(10),
                "很好用，转账很快，点赞",
                now_s(),
            ),
        )],
    )
    .await;
    let done = alerts_until(&env, 90, |a| {
        a.iter()
            .any(|x| x["alert_id"] == s_alert_id.as_str() && x["revision"] == 1)
    })
    .await;
    let updates: Vec<&Value> = done.iter().filter(|x| x["revision"] == 1).collect();
    let upd = updates
        .iter()
        .find(|x| x["alert_id"] == s_alert_id.as_str())
        .unwrap();
    assert_eq!(
        (upd["occurrences"].as_u64(), upd["suppressed"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(upd["dedup_key"], s_key.as_str());
    let errors: Vec<String> = v.iter_errors(upd).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        updates
            .iter()
            .filter(|x| x["alert_id"] == s_alert_id.as_str())
            .count(),
        1,
        "at most one update per window"
    );
    assert!(stop(worker).success());
    env.drop_database().await;
}

/// A restarted worker finds what the first one stored (an open suppression
/// window, a customer's earlier negative touches) through the lookup index
/// it loads from ClickHouse at start, so it neither alerts twice nor misses
/// a repeat complainer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_worker_finds_the_history_through_its_lookup_index() {
    let env = Env::new("alertindex", 500).await;
    env.add_config("[alert.spike]\nenabled = false\n");
    let (a, b, c) = (
        env.topic(Channel::App).to_string(),
        env.topic(Channel::Branch).to_string(),
        env.topic(Channel::CallCenter).to_string(),
    );
    let t = now_s();
    let first = env.spawn_worker("1");
    env.produce_raw(
        &a,
        &[
            rec(
                "x1",
                app("it-x-1", "CX1", "8.1.0", Some(1), TRANSFER_FAIL, t),
            ),
            rec(
                "q1",
                app(
                    "it-q-1",
                    "CQ1",
                    "8.1.0",
                    Some(2),
                    "转账一直失败，气死了",
                    t - 60,
                ),
            ),
        ],
    )
    .await;
    env.produce_raw(
        &c,
        &[rec(
            "q2",
            call("it-q-2", "CQ1", "转账又失败了 打客服也没用 气死了", t - 30),
        )],
    )
    .await;
    let x1 = event_id(Channel::App, "it-x-1");
    let alerts = alerts_until(&env, 90, |a| a.iter().any(|x| has_event(x, &x1))).await;
    let x_alert = alerts.iter().find(|x| has_event(x, &x1)).unwrap().clone();
    let x_id = x_alert["alert_id"].as_str().unwrap().to_string();
    // Everything the first worker knows is in ClickHouse before it stops.
    env.wait_for_count(
        &format!("SELECT count() FROM {{db}}.alerts WHERE alert_id = '{x_id}'"),
        1,
        30,
    )
    .await;
    env.wait_for_count(
        "SELECT count() FROM {db}.negative_touches WHERE customer_key = 'CQ1'",
        2,
        30,
    )
    .await;
    assert!(stop(first).success());

    let second = env.spawn_worker("2");
    let log = env.dir.join("worker-2.log");
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("alert lookup index loaded") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the index never loaded: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    env.produce_raw(
        &a,
        &[rec(
            "x2",
            app("it-x-2", "CX1", "8.1.0", Some(1), TRANSFER_FAIL, now_s()),
        )],
    )
    .await;
    env.produce_raw(
        &b,
        &[rec(
            "q3",
            branch(
                "it-q-3",
                "CQ1",
                2,
                "网点办转账还是失败，排了一个小时",
                now_s(),
            ),
        )],
    )
    .await;
    let q3 = event_id(Channel::Branch, "it-q-3");
    let alerts = alerts_until(&env, 90, |a| {
        a.iter()
            .any(|x| x["kind"] == "repeat_complainer" && has_event(x, &q3))
    })
    .await;
    let rep = alerts
        .iter()
        .find(|x| x["kind"] == "repeat_complainer")
        .unwrap();
    assert_eq!(rep["repeat"]["occasions"], 3, "{rep:#}");
    // The second detractor of CX1 is counted under the first alert, not sent.
    env.wait_for_count(
        &format!(
            "SELECT uniqExact(event_id) FROM {{db}}.alert_occurrences WHERE alert_id = '{x_id}'"
        ),
        2,
        60,
    )
    .await;
    let x2 = event_id(Channel::App, "it-x-2");
    let again = env.read_topic(&env.alerts, alerts.len(), 5).await;
    assert!(
        !again.iter().any(|x| has_event(x, &x2)),
        "a window the first worker opened suppresses the restarted one"
    );
    assert!(stop(second).success());
    env.drop_database().await;
}

/// One request the receiver saw: route, headers, body.
type Hit = (String, axum::http::HeaderMap, Vec<u8>);

#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
}

async fn receiver(fail_first: usize) -> (Receiver, u16) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    let r = Receiver::default();
    let app = axum::Router::new()
        .route(
            "/flaky",
            post(
                move |State(r): State<Receiver>, h: HeaderMap, body: axum::body::Bytes| async move {
                    let mut hits = r.hits.lock().unwrap();
                    hits.push(("flaky".into(), h, body.to_vec()));
                    let n = hits.iter().filter(|x| x.0 == "flaky").count();
                    if n <= fail_first {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                },
            ),
        )
        .route(
            "/dead",
            post(
                |State(r): State<Receiver>, h: HeaderMap, body: axum::body::Bytes| async move {
                    r.hits
                        .lock()
                        .unwrap()
                        .push(("dead".into(), h, body.to_vec()));
                    StatusCode::INTERNAL_SERVER_ERROR
                },
            ),
        )
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_retry_record_failures_and_commit() {
    let env = Env::new("webhook", 500).await;
    let (rx, port) = receiver(2).await;
    env.add_config(&format!(
        "[alert.repeat]\nenabled = false\n[notify]\ngroup_id = \"{}-notify\"\nmax_attempts = 4\nretry_initial_ms = 100\nretry_max_ms = 400\ntimeout_ms = 2000\nmetrics_listen = \"\"\n\
         [[notify.webhooks]]\nname = \"flaky\"\nkind = \"generic\"\nurl = \"http://127.0.0.1:{port}/flaky\"\nsecret = \"k3y\"\n\
         [[notify.webhooks]]\nname = \"dead\"\nkind = \"wecom\"\nurl = \"http://127.0.0.1:{port}/dead?key=x\"\n",
        env.name
    ));
    let worker = env.spawn_worker("1");
    let notify = env.spawn_command("notify");
    env.produce_raw(
        env.topic(Channel::App),
        &[rec(
            "w1",
            app(
                "it-w-1",
                "CW1",
                "8.1.0",
                Some(0),
                "卡里的钱被盗刷了，莫名其妙被转走两万，要报警",
                now_s(),
            ),
        )],
    )
    .await;
    env.wait_for_count("SELECT count() FROM {db}.alert_deliveries", 2, 120)
        .await;
    let rows = env
        .query("SELECT webhook, outcome, attempts, http_status FROM {db}.alert_deliveries ORDER BY webhook")
        .await;
    assert_eq!(
        rows,
        ["dead\tfailed\t4\t500", "flaky\tdelivered\t3\t200"],
        "delivery outcomes"
    );
    let hits = rx.hits.lock().unwrap().clone();
    let flaky: Vec<_> = hits.iter().filter(|h| h.0 == "flaky").collect();
    assert_eq!(flaky.len(), 3, "two failures, then success");
    let alert: Value = serde_json::from_slice(&flaky[2].2).unwrap();
    assert_eq!(alert["schema"], "voc.alert.v2");
    assert_eq!(alert["severity"], "critical");
    let ts: i64 = flaky[2].1["x-voc-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        flaky[2].1["x-voc-signature"].to_str().unwrap(),
        voc_notify::webhook::sign::generic("k3y", ts, &flaky[2].2)
    );
    let dead: Vec<_> = hits.iter().filter(|h| h.0 == "dead").collect();
    assert_eq!(dead.len(), 4);
    let wecom: Value = serde_json::from_slice(&dead[0].2).unwrap();
    assert_eq!(wecom["msgtype"], "markdown");
    // The failure never blocked the pipeline and the alert stays on the topic.
    assert_eq!(env.read_topic(&env.alerts, 1, 10).await.len(), 1);
    // Outcomes were recorded, then committed: a restarted notifier sends nothing again.
    assert!(stop(notify).success());
    let notify = env.spawn_command("notify");
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        rx.hits.lock().unwrap().len(),
        7,
        "nothing re-sent after restart"
    );
    assert!(stop(notify).success());
    assert!(stop(worker).success());
    env.drop_database().await;
}

/// Tokens in the hostile receivers' URLs: none may appear in a stored
/// error, a log line or `voc config`.
const TOKENS: [&str; 4] = [
    "wecomkey7f3a9c",
    "dingtoken5e2b8d",
    "4b1d9e07-feishu-hook",
    "chatkey1c6e0f",
];

/// A receiver that redirects (WeCom path), answers 1 MiB (DingTalk path),
/// never answers (Feishu path), and one that accepts and keeps the body.
async fn hostile_receiver() -> (Arc<Mutex<Vec<Vec<u8>>>>, u16) {
    use axum::http::{header, StatusCode};
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let kept: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let k = kept.clone();
    let to = format!("http://127.0.0.1:{port}/elsewhere?key={}", TOKENS[0]);
    let app = axum::Router::new()
        .route(
            "/cgi-bin/webhook/send",
            post(move || async move { (StatusCode::FOUND, [(header::LOCATION, to)]) }),
        )
        .route("/robot/send", post(|| async { vec![b'x'; 1 << 20] }))
        .route(
            "/open-apis/bot/v2/hook/{id}",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                StatusCode::OK
            }),
        )
        .route(
            "/chat",
            post(move |body: axum::body::Bytes| async move {
                k.lock().unwrap().push(body.to_vec());
                r#"{"errcode":0,"errmsg":"ok"}"#
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (kept, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_refuse_redirects_huge_and_hanging_receivers_and_hide_tokens() {
    let env = Env::new("webhook_hostile", 500).await;
    let (kept, port) = hostile_receiver().await;
    let base = format!("http://127.0.0.1:{port}");
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.add_config(&format!(
        "[notify]\ngroup_id = \"{}-notify\"\nmax_attempts = 2\nretry_initial_ms = 100\nretry_max_ms = 200\n\
         connect_timeout_ms = 1000\ntimeout_ms = 1500\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n\
         [[notify.webhooks]]\nname = \"redirect\"\nkind = \"wecom\"\nurl = \"{base}/cgi-bin/webhook/send?key={}\"\n\
         [[notify.webhooks]]\nname = \"huge\"\nkind = \"dingtalk\"\nurl = \"{base}/robot/send?access_token={}\"\n\
         [[notify.webhooks]]\nname = \"hang\"\nkind = \"feishu\"\nurl = \"{base}/open-apis/bot/v2/hook/{}\"\n\
         [[notify.webhooks]]\nname = \"chat\"\nkind = \"wecom\"\nurl = \"{base}/chat?key={}\"\n",
        env.name, TOKENS[0], TOKENS[1], TOKENS[2], TOKENS[3]
    ));
    // An alert whose customer text tries links, mentions and markup.
    let now = chrono::Utc::now();
    let mut a = voc_alert::Alert::new(
        voc_alert::AlertKind::Detractor,
        voc_alert::Severity::High,
        format!("{}:hostile", env.name),
        now,
        chrono::Duration::hours(24),
        chrono::Duration::hours(1),
    );
    a.alert_id = format!("det-{}", env.name);
    a.work_order_title = "【严重】手机银行 <@all> 转账失败".into();
    a.events.push(voc_alert::AlertEvent {
        event_id: "e1".into(),
        channel: "app".into(),
        event_time: now,
        text_excerpt: "退款请点[官方客服](https://evil.example.com/x) @所有人 <at user_id=\"all\">所有人</at>\n# 假通知".into(),
        sentiment_score: -0.9,
        nps_score: Some(0),
        source: None,
    });
    env.produce_raw(&env.alerts, &[(a.key(), serde_json::to_vec(&a).unwrap())])
        .await;
    let notify = env.spawn_command("notify");
    env.wait_for_count("SELECT count() FROM {db}.alert_deliveries", 4, 60)
        .await;
    let rows = env
        .query("SELECT webhook, outcome, attempts, http_status, error FROM {db}.alert_deliveries ORDER BY webhook")
        .await;
    let row = |name: &str| -> Vec<String> {
        let r = rows
            .iter()
            .find(|r| r.starts_with(&format!("{name}\t")))
            .unwrap();
        r.split('\t').map(str::to_string).collect()
    };
    assert_eq!(row("chat")[1..4], ["delivered", "1", "200"], "{rows:#?}");
    let redirect = row("redirect");
    assert_eq!(redirect[1..4], ["failed", "1", "302"], "{rows:#?}");
    assert!(
        redirect[4].contains("redirect refused: HTTP 302"),
        "{rows:#?}"
    );
    assert!(
        redirect[4].contains("/cgi-bin/webhook/send?key=***"),
        "{rows:#?}"
    );
    let huge = row("huge");
    assert_eq!(huge[1..4], ["failed", "1", "200"], "{rows:#?}");
    assert!(
        huge[4].contains("response larger than 65536 bytes"),
        "{rows:#?}"
    );
    let hang = row("hang");
    assert_eq!(hang[1..4], ["failed", "2", "0"], "{rows:#?}");
    assert!(
        hang[4].contains("no complete response within 1500 ms"),
        "{rows:#?}"
    );
    assert!(hang[4].contains("/open-apis/bot/v2/hook/***"), "{rows:#?}");
    // The customer's text reached the chat, inert.
    let body: Value = serde_json::from_slice(&kept.lock().unwrap()[0]).unwrap();
    let md = body["markdown"]["content"].as_str().unwrap();
    assert!(md.contains("退款请点"), "{md}");
    for bad in ["](", "://", "@", "<", "\n#"] {
        assert!(!md.contains(bad), "{bad:?} in {md}");
    }
    // The same outcomes at voc notify's /metrics (what the webhook-failure
    // alerting rule reads), per webhook name, never its URL.
    let metrics = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "voc_webhook_deliveries_total{outcome=\"delivered\",webhook=\"chat\"} 1",
        "voc_webhook_deliveries_total{outcome=\"failed\",webhook=\"chat\"} 0",
        "voc_webhook_deliveries_total{outcome=\"failed\",webhook=\"redirect\"} 1",
        "voc_webhook_deliveries_total{outcome=\"failed\",webhook=\"huge\"} 1",
        "voc_webhook_deliveries_total{outcome=\"failed\",webhook=\"hang\"} 1",
        "voc_webhook_attempts_total{webhook=\"hang\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    for t in TOKENS {
        assert!(!metrics.contains(t), "{t} in /metrics");
    }
    assert!(stop(notify).success());
    let log = std::fs::read_to_string(env.dir.join("worker-notify.log")).unwrap();
    assert!(log.contains("webhook delivery failed"), "{log}");
    let config = env.voc(&["config"]);
    assert!(config.contains("/robot/send?access_token=***"), "{config}");
    for t in TOKENS {
        assert!(!rows.iter().any(|r| r.contains(t)), "{t} stored: {rows:#?}");
        assert!(!log.contains(t), "{t} logged");
        assert!(!config.contains(t), "{t} in voc config");
    }
    env.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_order_updates_close_the_loop() {
    let env = Env::new("workorders", 500).await;
    env.add_config(&format!("[workorders]\ngroup_id = \"{}-wo\"\n", env.name));
    let alert_id = "det-0123456789abcdef0123456789abcdef";
    env.query(&format!(
        "INSERT INTO {{db}}.alerts (alert_id, revision, kind, severity, dedup_key, created_at, sla_due, tag_ids) \
         VALUES ('{alert_id}', 0, 'detractor', 'high', 'detractor:x:c03.t02', toDateTime('2026-11-24 02:00:00'), toDateTime('2026-11-25 02:00:00'), ['c03.t02'])"
    ))
    .await;
    // The pain point's volume: 6 events in the 14 days before the fix, none after.
    env.query(
        "INSERT INTO {db}.feedback_events (event_id, channel, event_time, pain_tags) VALUES \
         ('p1','app',toDateTime('2026-11-14 03:00:00'),['c03.t02']),('p2','app',toDateTime('2026-11-16 03:00:00'),['c03.t02']),\
         ('p3','app',toDateTime('2026-11-18 03:00:00'),['c03.t02']),('p4','app',toDateTime('2026-11-20 03:00:00'),['c03.t02']),\
         ('p5','app',toDateTime('2026-11-22 03:00:00'),['c03.t02']),('p6','app',toDateTime('2026-11-23 03:00:00'),['c03.t02']),\
         ('p6','app',toDateTime('2026-11-23 03:00:00'),['c03.t02'])",
    )
    .await;
    let upd = |id: &str, status: &str, at: &str, note: &str| {
        rec(id, json!({"schema": "voc.workorder.update.v1", "update_id": id, "alert_id": alert_id,
            "work_order_id": "WO-1", "status": status, "department": "运营管理部", "at": at, "note": note})
            .to_string().into_bytes())
    };
    let workorders = env.spawn_command("workorders");
    env.produce_raw(
        &env.updates,
        &[
            upd(
                "u1",
                "acknowledged",
                "2026-11-24T10:30:00+08:00",
                "已联系客户 13812345678",
            ),
            upd(
                "u1",
                "acknowledged",
                "2026-11-24T10:30:00+08:00",
                "已联系客户 13812345678",
            ),
            upd("u2", "resolved", "2026-11-24T07:00:00Z", "已修复"),
            upd("u3", "verified", "2026-11-24T08:00:00Z", ""),
            rec("bad", b"{not json".to_vec()),
        ],
    )
    .await;
    env.wait_for_count(
        "SELECT uniqExact(update_id) FROM {db}.work_order_updates",
        3,
        90,
    )
    .await;
    let dl = env.read_topic(&env.dead_letter, 1, 30).await;
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0]["reason"], "invalid_json");
    let notes = env
        .query("SELECT note FROM {db}.work_order_updates WHERE update_id = 'u1'")
        .await;
    assert!(
        notes.iter().all(|n| !n.contains("13812345678")),
        "PII masked: {notes:?}"
    );
    // The saved questions, as analysts run them.
    let q = |f: &str| {
        std::fs::read_to_string(format!(
            "{}/deploy/clickhouse/queries/workorders/{f}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let ttr = env.query(&q("time_to_acknowledge_resolve.sql")).await;
    // Acknowledged 30 min and resolved 5 h after the alert; the duplicate changes nothing.
    assert_eq!(ttr.len(), 1, "{ttr:?}");
    let cols: Vec<&str> = ttr[0].split('\t').collect();
    assert_eq!(
        &cols[..5],
        ["运营管理部", "high", "1", "1", "1"],
        "{cols:?}"
    );
    assert_eq!((cols[5], cols[7]), ("30", "5"), "{cols:?}");
    let fell = env.query(&q("pain_point_after_fix.sql")).await;
    let row: Vec<&str> = fell
        .iter()
        .find(|l| l.starts_with("c03.t02"))
        .expect("c03.t02 fixed")
        .split('\t')
        .collect();
    let (before, after): (f64, f64) = (row[4].parse().unwrap(), row[5].parse().unwrap());
    assert!((before - 6.0 / 14.0).abs() < 0.01, "{row:?}");
    assert!(after < before, "volume fell after the fix: {row:?}");
    assert!(stop(workorders).success());
    env.drop_database().await;
}

/// The alert history binds every value it looks up: keys holding quotes,
/// backslashes, `?` and SQL fragments find exactly their own rows, on the
/// built-in lookups and on an operator's customer-value template.
#[tokio::test]
async fn history_lookups_bind_hostile_keys() {
    use voc_alert::AlertHistory;
    let env = Env::new("hostile", 100).await;
    let keys = [
        "cust-'a",
        "cust-\\b",
        "cust-?c",
        "x') OR 1=1 --",
        "普通客户",
    ];
    let now = chrono::Utc::now();
    let t = now.format("%Y-%m-%d %H:%M:%S").to_string();
    let customers: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            json!({"customer_key": k, "segment": "s", "asset_tier": format!("tier{i}"),
                "tenure_years": 1, "high_value": 0, "city": "上海", "updated_at": t})
            .to_string()
        })
        .chain([
            json!({"customer_key": "bystander", "segment": "s", "asset_tier": "vip",
            "tenure_years": 1, "high_value": 1, "city": "上海", "updated_at": t})
            .to_string(),
        ])
        .collect();
    env.query(&format!(
        "INSERT INTO {{db}}.customers FORMAT JSONEachRow {}",
        customers.join("\n")
    ))
    .await;
    let occurrences: Vec<String> = keys
        .iter()
        .map(|k| {
            json!({"dedup_key": k, "event_id": format!("e{k}"), "alert_id": "a1",
                "kind": "detractor", "seen_at": t, "suppressed": 0})
            .to_string()
        })
        .collect();
    env.query(&format!(
        "INSERT INTO {{db}}.alert_occurrences FORMAT JSONEachRow {}",
        occurrences.join("\n")
    ))
    .await;

    let history = voc_alert::ClickHouseHistory::new(voc_sink::ClickHouseConfig {
        url: common::clickhouse_url(),
        database: env.database.clone(),
        ..Default::default()
    })
    .unwrap();
    let template = "SELECT customer_key, asset_tier AS tier FROM {db}.customers FINAL \
                    WHERE customer_key IN ({keys}) AND city != '??'";
    let tiers = history.customer_tiers(template, &keys).await.unwrap();
    assert_eq!(tiers.len(), keys.len(), "{tiers:?}");
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(tiers[*k], format!("tier{i}"), "{k}");
    }
    assert!(
        !tiers.contains_key("bystander"),
        "an injected OR matched every row"
    );

    let pairs: Vec<(String, String)> = keys
        .iter()
        .map(|k| (k.to_string(), format!("e{k}")))
        .collect();
    let mut wanted: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, e)| (k.as_str(), e.as_str()))
        .collect();
    wanted.push(("cust-'a", "ecust-\\b"));
    let seen = history.seen_triggers(&wanted).await.unwrap();
    assert_eq!(seen.len(), keys.len(), "{seen:?}");
    assert!(!seen.contains(&("cust-'a".to_string(), "ecust-\\b".to_string())));

    let counts = history
        .occurrence_counts(&["a1", "a1' OR '1'='1"])
        .await
        .unwrap();
    assert_eq!(counts.get("a1"), Some(&(keys.len() as u32)));
    assert_eq!(counts.len(), 1);
    env.drop_database().await;
}

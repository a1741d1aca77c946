//! A real Prometheus (Debian's `prometheus`, installed by deploy/install.sh)
//! scrapes a running `voc run` worker on 127.0.0.1 and evaluates
//! deploy/prometheus/rules.yml: `VocWorkerStalled` fires when the worker has
//! lag and stores nothing, and is gone once a worker drains the backlog.
//! Only the rules' `for:` durations are shortened (to 1 s); every
//! expression is the file's.

mod common;

use common::{stop, Env};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use voc_gen::{GenConfig, Generated, Generator};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn messages(run_id: &str, seed: u64, count: usize) -> Vec<Generated> {
    let mut g = Generator::new(GenConfig {
        seed,
        run_id: run_id.into(),
        ..GenConfig::default()
    });
    (0..count).map(|_| g.next_message()).collect()
}

/// The Prometheus server, killed when the test ends.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    base: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// rules.yml with every `for:` set to 1 s; nothing else changes.
fn rules_for_the_test(rules: &str) -> String {
    let mut changed = 0;
    let out: Vec<String> = rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => {
                changed += 1;
                format!("{}for: 1s", &l[..l.len() - l.trim_start().len()])
            }
            None => l.to_string(),
        })
        .collect();
    assert!(changed >= 5, "{changed} `for:` lines");
    out.join("\n") + "\n"
}

impl Prometheus {
    fn start(dir: &Path, target: &str) -> Prometheus {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let rules = std::fs::read_to_string(root().join("deploy/prometheus/rules.yml")).unwrap();
        std::fs::write(dir.join("rules.yml"), rules_for_the_test(&rules)).unwrap();
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - rules.yml\n\
                 scrape_configs:\n  - job_name: voc-worker\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("running prometheus (deploy/install.sh installs Debian's prometheus)");
        Prometheus {
            child,
            dir: dir.to_path_buf(),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let r = reqwest::get(format!("{}{path}", self.base)).await.ok()?;
        r.json().await.ok()
    }

    async fn query(&self, promql: &str) -> Value {
        let url = format!("{}/api/v1/query", self.base);
        reqwest::Client::new()
            .get(url)
            .query(&[("query", promql)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The `VocWorkerStalled` alerts as /api/v1/alerts lists them.
    async fn stalled(&self) -> Vec<Value> {
        let Some(v) = self.get("/api/v1/alerts").await else {
            return Vec::new();
        };
        v["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == "VocWorkerStalled")
            .collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

/// Sum of a metric's samples in a /metrics text (None when absent).
fn sample_sum(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

async fn scrape(port: u16) -> String {
    match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Poll the worker's /metrics until `ok` holds (at most `secs`).
async fn wait_metrics(port: u16, secs: u64, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let text = scrape(port).await;
        if ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {secs} s; /metrics:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_worker_fires_voc_worker_stalled_on_a_real_prometheus() {
    let started = Instant::now();
    let env = Env::new("prometheus", 200).await;
    let port = free_port();
    let good_cfg = env.dir.join("voc.toml");
    let text = std::fs::read_to_string(&good_cfg)
        .unwrap()
        .replace("listen = \"\"", &format!("listen = \"127.0.0.1:{port}\""));
    assert!(text.contains(&format!("127.0.0.1:{port}")));
    std::fs::write(&good_cfg, &text).unwrap();
    // The stalled worker's ClickHouse is a closed port: every insert fails
    // and is retried with its partitions paused.
    let stalled_cfg = env.dir.join("stalled.toml");
    let stalled_text = text.replace(
        &format!("url = \"{}\"", common::clickhouse_url()),
        "url = \"http://127.0.0.1:9\"\ntimeout_ms = 2000",
    );
    assert!(stalled_text.contains("127.0.0.1:9\""));
    std::fs::write(&stalled_cfg, stalled_text).unwrap();

    // 1. A worker stores a first batch and commits (librdkafka reports a
    //    partition's lag only once the group has committed an offset).
    env.produce(&messages(&env.name, 1, 200)).await;
    let good = env.spawn_worker("good");
    wait_metrics(port, 90, "first commit, no lag", |m| {
        sample_sum(m, "voc_last_commit_timestamp_seconds").unwrap_or(0.0) > 0.0
            && sample_sum(m, "voc_consumer_lag") == Some(0.0)
    })
    .await;
    assert!(stop(good).success());

    // 2. More input; the worker that takes over cannot store any of it.
    env.produce(&messages(&format!("{}b", env.name), 2, 2000))
        .await;
    let stalled = env.spawn_worker_with("stalled", &stalled_cfg);
    let before = wait_metrics(port, 60, "lag, partitions and ClickHouse retries", |m| {
        sample_sum(m, "voc_consumer_lag").unwrap_or(0.0) > 0.0
            && sample_sum(m, "voc_assigned_partitions").unwrap_or(0.0) > 0.0
            && sample_sum(m, "voc_retries_total").unwrap_or(0.0) > 0.0
    })
    .await;
    // It consumes nothing more while it retries.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = scrape(port).await;
    eprintln!(
        "stalled worker: consumed {:?}, lag {:?}, retries {:?}",
        sample_sum(&after, "voc_messages_consumed_total"),
        sample_sum(&after, "voc_consumer_lag"),
        sample_sum(&after, "voc_retries_total")
    );
    let consumed = |m: &str| sample_sum(m, "voc_messages_consumed_total").unwrap_or(0.0);
    assert_eq!(
        consumed(&before),
        consumed(&after),
        "the worker kept consuming while ClickHouse was unreachable"
    );

    // 3. Prometheus scrapes it and evaluates the rules every second.
    let prom = Prometheus::start(&env.dir.join("prometheus"), &format!("127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let firing = loop {
        let alerts = prom.stalled().await;
        if let Some(a) = alerts.iter().find(|a| a["state"] == "firing") {
            break a.clone();
        }
        assert!(
            Instant::now() < deadline,
            "VocWorkerStalled not firing within 60 s: {alerts:?}\nlog:\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(firing["labels"]["instance"], format!("127.0.0.1:{port}"));
    assert_eq!(firing["labels"]["severity"], "critical");

    // Every expression of the operations dashboard runs on this Prometheus;
    // those about what this worker did return data.
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/voc-operations.json")).unwrap(),
    )
    .unwrap();
    for p in dashboard["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let must = [
                "voc_consumer_lag",
                "process_resident_memory_bytes",
                "voc_assigned_partitions",
                "rate(voc_retries_total",
            ]
            .iter()
            .any(|m| expr.contains(m));
            // A rate needs two scrapes in its window: wait for them.
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let v = prom.query(expr).await;
                assert_eq!(v["status"], "success", "{expr}: {v}");
                if !must || !v["data"]["result"].as_array().unwrap().is_empty() {
                    break;
                }
                assert!(Instant::now() < deadline, "{expr}: no data: {v}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    // 4. A worker that can store drains the backlog: the alert goes away
    //    while Prometheus sees its lag at 0.
    assert!(stop(stalled).success());
    let good = env.spawn_worker("drain");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let lag = prom
            .query(&format!(
                "sum(voc_consumer_lag{{instance=\"127.0.0.1:{port}\"}})"
            ))
            .await;
        let drained = lag["data"]["result"][0]["value"][1] == "0";
        let alerts = prom.stalled().await;
        if drained && alerts.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "backlog not drained or VocWorkerStalled still listed: {lag} {alerts:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(stop(good).success());
    drop(prom);
    env.drop_database().await;
    eprintln!("done in {:.0} s", started.elapsed().as_secs_f64());
}

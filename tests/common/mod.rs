//! Shared harness of the integration tests: every test runs against the real
//! local stack (tansu + ClickHouse started by deploy/stack.sh), in its own
//! topics and its own ClickHouse database, so tests can run in parallel and
//! re-run without cleanup.

#![allow(dead_code)]

pub mod stack;
pub mod traffic;

pub use stack::Stack;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use voc_gen::Generated;

pub fn brokers() -> String {
    std::env::var("VOC_KAFKA__BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn clickhouse_url() -> String {
    std::env::var("VOC_CLICKHOUSE__URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// One isolated test environment: topic prefix, database, config file.
pub struct Env {
    pub name: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub database: String,
    pub topics: voc_ingest::consumer::ChannelTopics,
    pub dead_letter: String,
    pub alerts: String,
    pub updates: String,
    /// The broker and ClickHouse this environment uses.
    pub brokers: String,
    pub clickhouse: String,
    http: reqwest::Client,
}

/// `VOC_DEMO` of the voc commands the tests run: a demo, since all their
/// data is generated (pseudonyms under the public demo key).
pub const DEMO: &str = "1";

pub fn voc_bin() -> &'static str {
    env!("CARGO_BIN_EXE_voc")
}

impl Env {
    /// Creates topics and schema; the worker closes batches at `max_events`.
    pub async fn new(test: &str, max_events: usize) -> Env {
        Env::at(test, max_events, brokers(), clickhouse_url()).await
    }

    /// The same on a test's own [`Stack`].
    pub async fn on(stack: &Stack, test: &str, max_events: usize) -> Env {
        Env::at(test, max_events, stack.brokers(), stack.clickhouse_url()).await
    }

    async fn at(test: &str, max_events: usize, brokers: String, clickhouse: String) -> Env {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("t{}_{}_{}", test, std::process::id(), nanos % 1_000_000_000);
        let dir = std::env::temp_dir().join(format!("voc-it-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let prefix = format!("{name}.");
        let topics = voc_ingest::consumer::ChannelTopics::with_prefix(&prefix);
        let database = format!("voc_{name}");
        let dead_letter = format!("{prefix}voc.deadletter");
        let alerts = format!("{prefix}voc.alerts");
        let updates = format!("{prefix}voc.workorder.updates");
        let root = env!("CARGO_MANIFEST_DIR");
        let config = dir.join("voc.toml");
        std::fs::write(
            &config,
            format!(
                r#"[kafka]
brokers = "{}"
group_id = "{name}-worker"
session_timeout_ms = 6000
rejoin_when_unassigned_ms = 10000
[kafka.topics]
app = "{}"
call_center = "{}"
community = "{}"
branch = "{}"
[topics]
dead_letter = "{dead_letter}"
alerts = "{alerts}"
workorder_updates = "{updates}"
[clickhouse]
url = "{}"
database = "{database}"
[enrich]
model_path = "{root}/models/voc-text.onnx"
[metrics]
listen = ""
[batch]
max_wait_ms = 100
max_events = {max_events}
"#,
                brokers,
                topics.app,
                topics.call_center,
                topics.community,
                topics.branch,
                clickhouse
            ),
        )
        .unwrap();
        let env = Env {
            name,
            dir,
            config,
            database,
            topics,
            dead_letter,
            alerts,
            updates,
            brokers,
            clickhouse,
            http: reqwest::Client::new(),
        };
        env.voc(&["topics", "create", "--local", "--partitions", "3"]);
        env.voc(&["schema", "apply"]);
        env
    }

    /// Append TOML sections to this environment's config (before workers start).
    pub fn add_config(&self, toml: &str) {
        let mut c = std::fs::read_to_string(&self.config).unwrap();
        c.push_str(toml);
        std::fs::write(&self.config, c).unwrap();
    }

    /// Start `voc <command>` (notify, workorders) as a process, logs in the test dir.
    pub fn spawn_command(&self, command: &str) -> Worker {
        self.spawn_command_env(command, command, &[])
    }

    /// [`Env::spawn_command`] with extra environment variables (test hooks);
    /// its log is `worker-<tag>.log`.
    pub fn spawn_command_env(&self, command: &str, tag: &str, vars: &[(&str, &str)]) -> Worker {
        let log = std::fs::File::create(self.dir.join(format!("worker-{tag}.log"))).unwrap();
        Worker(Some(
            Command::new(voc_bin())
                .args([command, "--config", self.config.to_str().unwrap()])
                .env_remove("VOC_KAFKA__BROKERS")
                .env_remove("VOC_CLICKHOUSE__URL")
                .env("RUST_LOG", "info")
                .envs(vars.iter().copied())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawning voc"),
        ))
    }

    /// Produce raw payloads to a topic (key, payload) and wait for acks.
    pub async fn produce_raw(&self, topic: &str, records: &[(String, Vec<u8>)]) {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", "true")
            .create()
            .unwrap();
        for (k, p) in records {
            producer
                .send(
                    FutureRecord::to(topic)
                        .key(k.as_bytes())
                        .payload(p.as_slice()),
                    Duration::from_secs(10),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }

    /// Run a voc subcommand with this environment's config; panics on failure.
    pub fn voc(&self, args: &[&str]) -> String {
        let mut full: Vec<&str> = args.to_vec();
        let cfg = self.config.to_str().unwrap();
        full.extend(["--config", cfg]);
        let out = Command::new(voc_bin())
            .args(&full)
            .env_remove("VOC_KAFKA__BROKERS")
            .env_remove("VOC_CLICKHOUSE__URL")
            .env("VOC_DEMO", DEMO)
            .output()
            .expect("running voc");
        assert!(
            out.status.success(),
            "voc {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Start a worker process (logs in the test dir).
    pub fn spawn_worker(&self, tag: &str) -> Worker {
        self.spawn_worker_with(tag, &self.config)
    }

    pub fn spawn_worker_with(&self, tag: &str, config: &std::path::Path) -> Worker {
        self.spawn_worker_env(tag, config, &[])
    }

    /// A worker with extra environment variables (test hooks).
    pub fn spawn_worker_env(
        &self,
        tag: &str,
        config: &std::path::Path,
        vars: &[(&str, &str)],
    ) -> Worker {
        let log = std::fs::File::create(self.dir.join(format!("worker-{tag}.log"))).unwrap();
        Worker(Some(
            Command::new(voc_bin())
                .args(["run", "--config", config.to_str().unwrap()])
                // The config file is the whole truth for test workers.
                .env_remove("VOC_KAFKA__BROKERS")
                .env_remove("VOC_CLICKHOUSE__URL")
                .env("VOC_DEMO", DEMO)
                .env("RUST_LOG", "info")
                .envs(vars.iter().copied())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawning voc run"),
        ))
    }

    pub fn topic(&self, c: voc_core::Channel) -> &str {
        self.topics.topic(c)
    }

    /// Produce generated messages to their channel topics and wait for acks.
    /// A message the broker refused (it was restarting) is sent again with a
    /// new producer, for up to a minute: the messages may then be on the
    /// topic twice, which the worker stores once.
    pub async fn produce(&self, msgs: &[Generated]) {
        let start = Instant::now();
        let mut todo: Vec<&Generated> = msgs.iter().collect();
        while !todo.is_empty() {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", &self.brokers)
                .set("enable.idempotence", "true")
                .create()
                .unwrap();
            let mut pending = Vec::new();
            for m in todo {
                let rec = FutureRecord::to(self.topic(m.channel))
                    .key(m.key.as_bytes())
                    .payload(m.payload.as_slice());
                pending.push((m, producer.send_result(rec).map_err(|(e, _)| e).unwrap()));
            }
            let mut failed = Vec::new();
            for (m, p) in pending {
                if let Err(e) = p.await.unwrap().map_err(|(e, _)| e) {
                    assert!(start.elapsed() < Duration::from_secs(60), "producing: {e}");
                    failed.push(m);
                }
            }
            if !failed.is_empty() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            todo = failed;
        }
    }

    /// Produce at about `per_sec` messages per second (in the background of a test).
    pub async fn produce_paced(&self, msgs: &[Generated], per_sec: usize) {
        for chunk in msgs.chunks((per_sec / 10).max(1)) {
            self.produce(chunk).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A ClickHouse query answered as TSV lines.
    pub async fn query(&self, sql: &str) -> Vec<String> {
        let resp = self
            .http
            .post(&self.clickhouse)
            .body(sql.replace("{db}", &self.database))
            .send()
            .await
            .expect("ClickHouse reachable");
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert!(status.is_success(), "query failed: {sql}\n{body}");
        body.lines().map(str::to_string).collect()
    }

    pub async fn scalar(&self, sql: &str) -> u64 {
        self.query(sql)
            .await
            .first()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Wait until `sql` returns at least `want`, or panic after `secs`.
    pub async fn wait_for_count(&self, sql: &str, want: u64, secs: u64) -> u64 {
        let start = Instant::now();
        loop {
            let n = self.scalar(sql).await;
            if n >= want {
                return n;
            }
            self.assert_workers_alive();
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {want} from `{sql}`, have {n}; worker logs in {}",
                self.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Fail fast when a worker exited with an error instead of waiting out a timeout.
    pub fn assert_workers_alive(&self) {
        for entry in std::fs::read_dir(&self.dir).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("worker-") {
                let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
                if let Some(line) = log.lines().find(|l| l.starts_with("error: ")) {
                    panic!("worker {name} failed: {line}");
                }
            }
        }
    }

    /// Read a topic from the start: at least `want` messages (or until `secs`
    /// pass), then on until it has been idle for 3 s, so extras are seen too.
    pub async fn read_topic(&self, topic: &str, want: usize, secs: u64) -> Vec<serde_json::Value> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", format!("{}-reader-{}", self.name, topic))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        consumer.subscribe(&[topic]).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_secs(3), consumer.recv()).await {
                Ok(Ok(m)) => out.push(
                    serde_json::from_slice(m.payload().unwrap_or_default()).expect("JSON record"),
                ),
                Ok(Err(e)) => panic!("reading {topic}: {e}"),
                Err(_) if out.len() >= want => break,
                Err(_) => {}
            }
        }
        out
    }

    /// Offsets `group` has committed on `topic`, summed over its partitions
    /// (messages past which the group will not read again).
    pub fn committed(&self, group: &str, topic: &str) -> i64 {
        let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .create()
            .unwrap();
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in md.topics()[0].partitions() {
            tpl.add_partition(topic, p.id());
        }
        consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap()
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                rdkafka::Offset::Offset(o) => Some(o),
                _ => None,
            })
            .sum()
    }

    /// The worker group's committed offsets summed over the raw topics
    /// (partitions never committed count 0).
    pub fn worker_committed(&self) -> i64 {
        let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", format!("{}-worker", self.name))
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        for c in voc_core::Channel::ALL {
            let topic = self.topic(c);
            let md = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .unwrap();
            for t in md.topics() {
                for p in t.partitions() {
                    tpl.add_partition(topic, p.id());
                }
            }
        }
        let committed = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .unwrap();
        committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                rdkafka::Offset::Offset(n) => n,
                _ => 0,
            })
            .sum()
    }

    /// Wait until `group` committed `want` offsets on `topic` (panics after `secs`).
    pub async fn wait_committed(&self, group: &str, topic: &str, want: i64, secs: u64) {
        let start = Instant::now();
        loop {
            let n = self.committed(group, topic);
            if n >= want {
                return;
            }
            self.assert_workers_alive();
            assert!(
                start.elapsed() < Duration::from_secs(secs),
                "group {group} committed {n} of {want} on {topic}; logs in {}",
                self.dir.display()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// GET a path of a worker's metrics endpoint: (status, body).
    pub async fn get(&self, addr: &str, path: &str) -> (u16, String) {
        match self.http.get(format!("http://{addr}{path}")).send().await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }

    /// Ask ClickHouse to drop the database without waiting for it to
    /// delete the files (on a slow disk that takes minutes after a test
    /// that made many parts).
    pub async fn drop_database_later(&self) {
        let _ = self
            .http
            .post(&self.clickhouse)
            .timeout(Duration::from_secs(2))
            .body(format!("DROP DATABASE IF EXISTS {}", self.database))
            .send()
            .await;
    }

    pub async fn drop_database(&self) {
        self.query("DROP DATABASE IF EXISTS {db}").await;
    }
}

/// (current, peak) resident memory of a process in MB (VmRSS, VmHWM).
pub fn rss_mb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kb("VmRSS:") / 1024, kb("VmHWM:") / 1024)
}

/// A port nothing listens on yet (for a worker's metrics endpoint).
pub fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A worker process that is killed if the test ends without stopping it.
pub struct Worker(Option<Child>);

impl Worker {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// SIGKILL, no warning.
    pub fn kill_9(mut self) {
        let mut c = self.0.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// SIGTERM a worker and wait for it to exit cleanly.
pub fn stop(mut w: Worker) -> std::process::ExitStatus {
    let mut child = w.0.take().unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("worker did not stop within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

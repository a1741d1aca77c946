//! Encrypted and authenticated connections on real servers started by
//! `deploy/local/secure.sh`: a tansu broker that requires SASL/SCRAM-SHA-512,
//! reached through TLS only (stunnel in front: tansu 0.6.0 ignores its own
//! --cert/--key), and a ClickHouse server with only an https port and a
//! password. `voc topics create`, `voc schema migrate`, `voc gen`, the worker
//! and `voc notify` work over them with the CA, the Kafka password and the
//! ClickHouse password read from files; a wrong CA, Kafka password or
//! ClickHouse password stops a command at start with a clear reason.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The secured stack, started once per test binary (idempotent across runs).
fn secure_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let data = std::env::var("VOC_DATA_DIR").map_or_else(|_| root.join(".voc"), PathBuf::from);
        let dir = data.join("secure");
        let out = Command::new(root.join("deploy/local/secure.sh"))
            .arg("start")
            .arg(&dir)
            .output()
            .expect("deploy/local/secure.sh runs");
        assert!(
            out.status.success(),
            "secure stack did not start:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// The VOC_ settings `secure.sh env` prints, with overrides.
fn settings(overrides: &[(&str, String)]) -> Vec<(String, String)> {
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/local/secure.sh"
    ))
    .arg("env")
    .arg(secure_dir())
    .output()
    .unwrap();
    let mut vars: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in overrides {
        vars.retain(|(name, _)| name != k);
        vars.push((k.to_string(), v.clone()));
    }
    vars
}

/// `voc ARGS` with the secured settings (and nothing inherited from the
/// plain local stack's environment).
fn voc(name: &str, vars: &[(String, String)], args: &[&str]) -> Command {
    let mut c = Command::new(common::voc_bin());
    for (k, _) in std::env::vars()
        .filter(|(k, _)| k.starts_with("VOC_KAFKA__") || k.starts_with("VOC_CLICKHOUSE__"))
    {
        c.env_remove(k);
    }
    c.envs(vars.iter().map(|(k, v)| (k, v)))
        .env("VOC_DEMO", "1")
        .env("VOC_KAFKA__CONNECT_TIMEOUT_MS", "8000")
        .env("VOC_KAFKA__GROUP_ID", format!("{name}-worker"))
        .env("VOC_CLICKHOUSE__DATABASE", format!("voc_{name}"))
        .env("VOC_KAFKA__TOPICS__APP", format!("{name}.voc.raw.app"))
        .env(
            "VOC_KAFKA__TOPICS__CALL_CENTER",
            format!("{name}.voc.raw.call_center"),
        )
        .env(
            "VOC_KAFKA__TOPICS__COMMUNITY",
            format!("{name}.voc.raw.community"),
        )
        .env(
            "VOC_KAFKA__TOPICS__BRANCH",
            format!("{name}.voc.raw.branch"),
        )
        .env("VOC_TOPICS__DEAD_LETTER", format!("{name}.voc.deadletter"))
        .env("VOC_TOPICS__ALERTS", format!("{name}.voc.alerts"))
        .env(
            "VOC_TOPICS__WORKORDER_UPDATES",
            format!("{name}.voc.workorder.updates"),
        )
        .env("VOC_METRICS__LISTEN", "")
        .args(args);
    c
}

/// `voc ARGS` to completion; killed after 120 s (a command that should
/// fail fast and does not must not hang the suite).
fn run(name: &str, vars: &[(String, String)], args: &[&str]) -> Output {
    let c = voc(name, vars, args);
    let mut t = Command::new("timeout");
    t.args(["--kill-after=5", "120"])
        .arg(c.get_program())
        .args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => t.env(k, v),
            None => t.env_remove(k),
        };
    }
    t.output().expect("voc runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(what: &str, o: &Output) {
    assert!(o.status.success(), "{what} failed:\n{}", text(o));
}

fn unique(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("tls{test}{}", nanos % 1_000_000_000)
}

/// A loopback webhook receiver counting deliveries.
fn receiver() -> (u16, Arc<Mutex<usize>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(0));
    let count = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 65536];
            let _ = s.read(&mut buf);
            *count.lock().unwrap() += 1;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}");
        }
    });
    (port, got)
}

/// Runs `voc ARGS` with these overrides of the secured settings, asserts
/// that it failed within 30 s, and returns what it printed.
fn fails_at_start(name: &str, overrides: &[(&str, String)], args: &[&str]) -> String {
    let t = Instant::now();
    let o = run(name, &settings(overrides), args);
    assert!(!o.status.success(), "{args:?} succeeded:\n{}", text(&o));
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "{args:?} took {:?}",
        t.elapsed()
    );
    text(&o)
}

#[test]
fn the_pipeline_runs_over_tls_sasl_and_https() {
    let name = unique("ok");
    let vars = settings(&[]);
    ok(
        "topics create",
        &run(
            &name,
            &vars,
            &["topics", "create", "--local", "--partitions", "2"],
        ),
    );
    ok("schema migrate", &run(&name, &vars, &["schema", "migrate"]));
    // Negative feedback from repeat customers: the worker raises alerts.
    ok(
        "gen",
        &run(
            &name,
            &vars,
            &[
                "gen",
                "--count",
                "300",
                "--seed",
                "7",
                "--run-id",
                &name,
                "--duplicate-ratio",
                "0",
                "--malformed-ratio",
                "0",
            ],
        ),
    );
    let worker = run(&name, &vars, &["run", "--exit-after", "300"]);
    ok("worker", &worker);

    // Every event is in ClickHouse, read back over https with the password.
    let dir = secure_dir();
    let password = std::fs::read_to_string(dir.join("secrets/clickhouse")).unwrap();
    let port = std::env::var("VOC_SECURE_CLICKHOUSE_HTTPS_PORT").unwrap_or("18443".into());
    let q = Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(dir.join("certs/ca.pem"))
        .args(["-u", &format!("default:{}", password.trim())])
        .arg(format!("https://127.0.0.1:{port}/"))
        .arg("--data-binary")
        .arg(format!(
            "SELECT uniqExact(event_id) FROM voc_{name}.feedback_events"
        ))
        .output()
        .unwrap();
    ok("curl over https", &q);
    assert_eq!(
        String::from_utf8_lossy(&q.stdout).trim(),
        "300",
        "{}",
        text(&q)
    );

    // voc notify reads the alert topic over TLS+SASL and delivers.
    let (port, got) = receiver();
    let mut notify = voc(&name, &settings(&[]), &["notify"]);
    let notify = notify
        .env("VOC_NOTIFY__GROUP_ID", format!("{name}-notify"))
        // No /metrics: another local voc notify may hold the default port.
        .env("VOC_NOTIFY__METRICS_LISTEN", "")
        .env(
            "VOC_NOTIFY__WEBHOOKS",
            format!(
                r#"[{{name="ops",kind="generic",url="http://127.0.0.1:{port}/hook",min_severity="medium"}}]"#
            ),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("voc notify starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while *got.lock().unwrap() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut notify = notify;
    let _ = notify.kill();
    let delivered = *got.lock().unwrap();
    let mut err = String::new();
    if let Some(mut e) = notify.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        delivered > 0,
        "no alert delivered over TLS within 60 s:\n{err}"
    );
}

#[test]
fn wrong_ca_or_credentials_stop_a_command_at_start() {
    let name = unique("bad");
    let certs = secure_dir().join("certs");
    let wrong_ca = certs.join("wrong-ca.pem").display().to_string();
    let wrong_pw = std::env::temp_dir().join(format!("{name}-pw"));
    std::fs::write(&wrong_pw, "not-the-password\n").unwrap();
    let wrong_pw = format!("{{file={:?}}}", wrong_pw.display().to_string());

    // Kafka: a CA that did not sign the broker's certificate.
    let e = fails_at_start(
        &name,
        &[("VOC_KAFKA__TLS__CA_FILE", wrong_ca.clone())],
        &["gen", "--count", "1"],
    );
    assert!(
        e.contains("cannot use the Kafka brokers") && e.contains("SASL_SSL"),
        "{e}"
    );
    assert!(
        e.to_lowercase().contains("certificate"),
        "no certificate reason: {e}"
    );

    // Kafka: a wrong SASL password.
    let e = fails_at_start(
        &name,
        &[("VOC_KAFKA__SASL__PASSWORD", wrong_pw.clone())],
        &["gen", "--count", "1"],
    );
    assert!(e.contains("cannot use the Kafka brokers"), "{e}");
    assert!(
        e.to_lowercase().contains("auth"),
        "no authentication reason: {e}"
    );
    assert!(
        !e.contains("not-the-password"),
        "the password was shown: {e}"
    );

    // ClickHouse: a wrong password stops the worker at start, no retry storm.
    let e = fails_at_start(
        &name,
        &[("VOC_CLICKHOUSE__PASSWORD", wrong_pw)],
        &["run", "--exit-after", "1"],
    );
    assert!(e.contains("checking the ClickHouse credentials"), "{e}");
    assert!(
        e.contains("193") || e.contains("516") || e.contains("password"),
        "{e}"
    );

    // ClickHouse: a CA that did not sign the server's certificate.
    let e = fails_at_start(
        &name,
        &[("VOC_CLICKHOUSE__CA_FILE", wrong_ca)],
        &["schema", "migrate"],
    );
    assert!(
        e.to_lowercase().contains("certificate"),
        "no certificate reason: {e}"
    );

    // Plain http to the https port is not a way around it.
    let o = run(
        &name,
        &settings(&[
            (
                "VOC_CLICKHOUSE__URL",
                format!(
                    "http://127.0.0.1:{}",
                    std::env::var("VOC_SECURE_CLICKHOUSE_HTTPS_PORT").unwrap_or("18443".into())
                ),
            ),
            ("VOC_CLICKHOUSE__CA_FILE", String::new()),
        ]),
        &["schema", "migrate"],
    );
    assert!(!o.status.success(), "{}", text(&o));
}

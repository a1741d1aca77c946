//! No secret in any output, on the real local stack: `voc config`, `voc
//! schema migrate`, a worker over a few messages and `voc classify` run with
//! known secrets (the pseudonym key from a file, a secret-named Kafka
//! property from an environment variable, another and a webhook secret
//! inline) at log level debug. Neither their stdout and
//! stderr, nor the ClickHouse tables and Kafka topics the run wrote, contain
//! a secret; the pseudonyms are the ones of the configured key. Refusals (a
//! wrong ClickHouse password, a too short pseudonym key) fail without
//! showing the secret either. (The ClickHouse password of a working
//! connection cannot be set here: the local server's user has none. The
//! client reads it from the same `Secret`, unit-tested in voc-core.)

mod common;

use common::{voc_bin, Env};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use voc_core::pseudonym::{customer_ref, masked_key, PseudonymKey};
use voc_core::secret::Secret;

/// Known secret values, each distinct enough to be found anywhere.
struct Secrets {
    pseudonym_key: String,
    kafka_password: String,
    kafka_username: String,
    webhook_secret: String,
    clickhouse_password: String,
    short_key: String,
}

impl Secrets {
    fn new(nonce: &str) -> Secrets {
        Secrets {
            pseudonym_key: format!("pseudonym-key-{nonce}-Kq7"),
            kafka_password: format!("kafka-password-{nonce}-Wz3"),
            kafka_username: format!("kafka-username-{nonce}-Jx5"),
            webhook_secret: format!("SECwebhook-{nonce}-Vb8"),
            clickhouse_password: format!("ch-password-{nonce}-Hn2"),
            short_key: "short-Rm4".into(),
        }
    }

    fn all(&self) -> [(&'static str, &str); 6] {
        [
            ("enrich.pseudonym_key", &self.pseudonym_key),
            ("kafka.extra ssl.keystore.password", &self.kafka_password),
            ("kafka.extra sasl.oauthbearer.config", &self.kafka_username),
            ("webhook secret", &self.webhook_secret),
            ("clickhouse.password", &self.clickhouse_password),
            ("a refused pseudonym key", &self.short_key),
        ]
    }
}

/// What one command printed, for the leak check.
struct Printed {
    what: String,
    text: String,
}

/// Runs voc with `args` and `config` (no demo mode, log level debug, the
/// Kafka password in its variable), `stdin` fed in; gives up after `secs`.
fn voc(
    config: &std::path::Path,
    secrets: &Secrets,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
    secs: u64,
) -> Output {
    let mut cmd = Command::new(voc_bin());
    cmd.args(args)
        .args(["--config", config.to_str().unwrap()])
        .env_remove("VOC_KAFKA__BROKERS")
        .env_remove("VOC_CLICKHOUSE__URL")
        .env_remove("VOC_DEMO")
        .env("RUST_LOG", "debug")
        .env("VOC_TEST_KAFKA_PASSWORD", &secrets.kafka_password)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawning voc");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.expect("voc output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("voc {args:?} did not finish within {secs} s");
        }
    }
}

fn printed(what: &str, out: &Output) -> Printed {
    Printed {
        what: what.to_string(),
        text: format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn app(id: &str, customer: &str, nps: u8, text: &str) -> Vec<u8> {
    json!({"id": id, "time": chrono::Utc::now().timestamp(), "customer_id": customer,
        "app_version": "8.1.0", "os": "iOS", "page": "transfer/confirm", "nps": nps, "text": text})
    .to_string()
    .into_bytes()
}

/// Every secret is absent from every text; the failure names where it was.
fn assert_no_secret(secrets: &Secrets, texts: &[Printed]) {
    let mut leaks = Vec::new();
    for p in texts {
        for (name, value) in secrets.all() {
            if let Some(at) = p.text.find(value) {
                let from = p.text[..at]
                    .char_indices()
                    .rev()
                    .nth(80)
                    .map_or(0, |(i, _)| i);
                let to = (at + value.len() + 40).min(p.text.len());
                let to = (to..=p.text.len())
                    .find(|&i| p.text.is_char_boundary(i))
                    .unwrap();
                leaks.push(format!("{name} in {}: …{}…", p.what, &p.text[from..to]));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_any_output() {
    let env = Env::new("secrets", 50).await;
    let secrets = Secrets::new(&env.name);
    let key_file = env.dir.join("pseudonym.key");
    std::fs::write(&key_file, format!("{}\n", secrets.pseudonym_key)).unwrap();
    let config = env.dir.join("secrets.toml");
    let base = std::fs::read_to_string(&env.config).unwrap();
    assert!(base.contains("\n[enrich]\n"));
    std::fs::write(
        &config,
        base.replace(
            "\n[enrich]\n",
            &format!("\n[enrich]\npseudonym_key = {{ file = {:?} }}\n", key_file),
        ) + &format!(
            r#"
[kafka.extra]
"ssl.keystore.password" = {{ env = "VOC_TEST_KAFKA_PASSWORD" }}
"sasl.oauthbearer.config" = "{}"
[[notify.webhooks]]
name = "ops"
kind = "dingtalk"
url = "http://127.0.0.1:9/robot/send"
secret = "{}"
"#,
            secrets.kafka_username, secrets.webhook_secret
        ),
    )
    .unwrap();
    let mut texts = Vec::new();

    // voc config shows that the secrets are set, not what they are.
    let out = voc(&config, &secrets, &["config"], &[], "", 60);
    ok("voc config", &out);
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    for line in [
        r#"pseudonym_key = "***""#,
        r#""ssl.keystore.password" = "***""#,
        r#""sasl.oauthbearer.config" = "***""#,
        r#"secret = "***""#,
    ] {
        assert!(shown.contains(line), "voc config lacks {line}:\n{shown}");
    }
    texts.push(printed("voc config", &out));

    let out = voc(&config, &secrets, &["schema", "migrate"], &[], "", 120);
    ok("voc schema migrate", &out);
    texts.push(printed("voc schema migrate", &out));

    // A worker over a few messages: two detractors (one whose customer id is
    // a phone number) and generated feedback from all channels.
    let phone = "13912345678";
    let mut g = voc_gen::Generator::new(voc_gen::GenConfig {
        seed: 5,
        run_id: env.name.clone(),
        duplicate_ratio: 0.0,
        ..Default::default()
    });
    let generated: Vec<_> = (0..20).map(|_| g.next_message()).collect();
    env.produce(&generated).await;
    let app_topic = env.topic(voc_core::Channel::App).to_string();
    env.produce_raw(
        &app_topic,
        &[
            (
                "s1".into(),
                app(
                    &format!("{}-s1", env.name),
                    "CS0001",
                    1,
                    "转账一直失败，气死了",
                ),
            ),
            (
                "s2".into(),
                app(
                    &format!("{}-s2", env.name),
                    phone,
                    0,
                    "扣了两次手续费，投诉",
                ),
            ),
        ],
    )
    .await;
    let out = voc(
        &config,
        &secrets,
        &["run", "--exit-after", "22"],
        &[],
        "",
        180,
    );
    ok("voc run", &out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DEBUG"),
        "the worker logged at debug level"
    );
    texts.push(printed("voc run", &out));

    // voc classify: a plain line and a channel JSON line keyed by a phone number.
    let input = format!(
        "手机银行转账一直失败\n{}\n",
        String::from_utf8(app("c2", phone, 2, "客服电话打不通")).unwrap()
    );
    let out = voc(&config, &secrets, &["classify"], &[], &input, 120);
    ok("voc classify", &out);
    texts.push(printed("voc classify", &out));
    let key = PseudonymKey::new(&Secret::new(&secrets.pseudonym_key)).unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[1]["keys"]["customer"],
        masked_key(&key, phone),
        "the configured key makes the pseudonyms"
    );

    // Refusals name the problem, not the secret.
    let out = voc(
        &config,
        &secrets,
        &["schema", "status"],
        &[("VOC_CLICKHOUSE__PASSWORD", &secrets.clickhouse_password)],
        "",
        60,
    );
    assert!(!out.status.success(), "ClickHouse took a wrong password");
    texts.push(printed("voc schema status with a wrong password", &out));
    let out = voc(
        &config,
        &secrets,
        &["classify"],
        &[("VOC_ENRICH__PSEUDONYM_KEY", &secrets.short_key)],
        "转账失败\n",
        60,
    );
    assert!(!out.status.success(), "a short key was accepted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("enrich.pseudonym_key"));
    texts.push(printed("voc classify with a short key", &out));

    // What the run wrote: every table of its database and its output topics.
    let tables = env
        .query("SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name")
        .await;
    assert!(tables.iter().any(|t| t == "alerts"), "{tables:?}");
    for t in &tables {
        let rows = env.query(&format!("SELECT * FROM {{db}}.`{t}`")).await;
        texts.push(Printed {
            what: format!("ClickHouse table {t}"),
            text: rows.join("\n"),
        });
    }
    for topic in [&env.alerts, &env.dead_letter] {
        let records = env.read_topic(topic, 0, 10).await;
        texts.push(Printed {
            what: format!("topic {topic}"),
            text: records
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    assert_no_secret(&secrets, &texts);

    // The alerts carry pseudonyms of the configured key, not of the demo key.
    let alerted = env
        .query("SELECT DISTINCT customer_key FROM {db}.alerts WHERE customer_key != ''")
        .await;
    for (customer, stored) in [
        ("CS0001", "CS0001".to_string()),
        (phone, masked_key(&key, phone)),
    ] {
        let want = customer_ref(&key, &stored);
        assert!(
            alerted.contains(&want),
            "no alert for {customer} as {want}: {alerted:?}"
        );
        assert!(!alerted.contains(&customer_ref(&PseudonymKey::demo(), &stored)));
    }
    env.drop_database().await;
}

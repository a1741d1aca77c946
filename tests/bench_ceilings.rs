//! `voc bench consume|insert` against the real broker and ClickHouse: they
//! count what they did, and fail clearly when the input is not there.

mod common;

use common::{voc_bin, Env};
use std::process::Command;
use voc_gen::{GenConfig, Generator};

fn bench(env: &Env, args: &[&str]) -> std::process::Output {
    Command::new(voc_bin())
        .arg("bench")
        .args(args)
        .args(["--config", env.config.to_str().unwrap()])
        .env_remove("VOC_KAFKA__BROKERS")
        .env_remove("VOC_CLICKHOUSE__URL")
        .env("VOC_DEMO", common::DEMO)
        .output()
        .expect("running voc bench")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON summary on stdout")
}

#[tokio::test(flavor = "multi_thread")]
async fn consume_and_insert_ceilings_count_what_they_did() {
    let env = Env::new("ceil", 500).await;
    let mut g = Generator::new(GenConfig {
        seed: 21,
        run_id: env.name.clone(),
        duplicate_ratio: 0.0,
        ..GenConfig::default()
    });
    let msgs: Vec<_> = (0..300).map(|_| g.next_message()).collect();
    env.produce(&msgs).await;

    let c = json(&bench(&env, &["consume", "--count", "300"]));
    assert_eq!(c["what"], "consume");
    assert_eq!(c["items"], 300);
    assert!(c["items_per_s"].as_f64().unwrap() > 0.0);

    // Asking for more than the topics hold ends with an error, not a hang.
    // The silence window is generous: on a loaded machine the broker can pause
    // for more than a second between fetches of the 300 that are there.
    let short = bench(&env, &["consume", "--count", "400", "--idle-ms", "6000"]);
    assert!(!short.status.success());
    let err = String::from_utf8_lossy(&short.stderr);
    assert!(err.contains("only 300 of 400"), "{err}");

    let i = json(&bench(
        &env,
        &["insert", "--count", "1000", "--batch", "300"],
    ));
    assert_eq!(i["items"], 1000);
    assert_eq!(i["batch"], 300);
    let bench_db = format!("{}_bench", env.database);
    let rows = env
        .scalar(&format!("SELECT count() FROM {bench_db}.feedback_events"))
        .await;
    assert_eq!(
        rows, 1000,
        "every inserted row is stored, with distinct ids"
    );
    env.query(&format!("DROP DATABASE IF EXISTS {bench_db}"))
        .await;
    env.drop_database().await;
}

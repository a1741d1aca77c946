//! `voc topics create` on the real local broker (one tansu broker, which
//! accepts any replication factor): the production default (replication
//! factor 3) is refused with a pointer to `--local` before any topic exists;
//! `--local` creates them; a second run keeps them.

mod common;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use std::process::Command;
use std::time::Duration;

fn topics_on_broker() -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .create()
        .unwrap();
    let md = c.fetch_metadata(None, Duration::from_secs(10)).unwrap();
    md.topics().iter().map(|t| t.name().to_string()).collect()
}

#[test]
fn replication_factor_3_by_default_and_local_for_one_broker() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let p = format!("ttopics_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let dir = std::env::temp_dir().join(format!("voc-it-{p}"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("voc.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"{}\"\n[kafka.topics]\napp = \"{p}.app\"\ncall_center = \"{p}.cc\"\n\
             community = \"{p}.co\"\nbranch = \"{p}.br\"\n[topics]\ndead_letter = \"{p}.dl\"\n\
             alerts = \"{p}.al\"\nworkorder_updates = \"{p}.wo\"\n",
            common::brokers()
        ),
    )
    .unwrap();
    let create = |extra: &[&str]| {
        let out = Command::new(common::voc_bin())
            .args(["topics", "create", "--partitions", "1", "--config"])
            .arg(&config)
            .args(extra)
            .env_remove("VOC_KAFKA__BROKERS")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (ok, err) = create(&[]);
    assert!(!ok, "replication factor 3 on one broker: {err}");
    assert!(err.contains("fewer than replication factor 3"), "{err}");
    assert!(err.contains("--local"), "{err}");
    assert!(
        !topics_on_broker().iter().any(|t| t.starts_with(&p)),
        "nothing created after the refusal"
    );

    let (ok, err) = create(&["--local"]);
    assert!(ok, "{err}");
    assert_eq!(err.matches("created ").count(), 7, "{err}");
    let (ok, err) = create(&["--replication-factor", "1"]);
    assert!(ok, "{err}");
    assert_eq!(err.matches("exists  ").count(), 7, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

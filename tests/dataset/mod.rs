//! A deterministic analytics data set in its own ClickHouse database:
//! generated messages -> the real decoders -> the real enricher -> the real
//! ClickHouse sink (no Kafka: the analytics tests are about what happens
//! after the insert). Schema via `voc schema migrate`, customers via
//! `voc gen customers`, both the real commands.

#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use voc_core::{EnrichedEvent, Lineage, Taxonomy};
use voc_gen::{GenConfig, Generator};
use voc_ingest::DecodeContext;
use voc_sink::{ClickHouseConfig, ClickHouseSink};

pub fn clickhouse_url() -> String {
    std::env::var("VOC_CLICKHOUSE__URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into())
}

/// "Now" of the data set: generated event times lie in the 28 days before it.
pub fn as_of() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

pub struct Dataset {
    pub database: String,
    pub config: std::path::PathBuf,
    pub sink: ClickHouseSink,
    /// Every enriched event inserted, in insert order (with source-side duplicates).
    pub inserted: Vec<EnrichedEvent>,
    /// One per event id (the first), what analysts must see.
    pub unique: Vec<EnrichedEvent>,
}

pub fn unique_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "voc_t{}_{}_{}",
        test,
        std::process::id(),
        nanos % 1_000_000_000
    )
}

pub fn voc(args: &[&str], config: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_voc"))
        .args(args)
        .args(["--config", config.to_str().unwrap()])
        .env_remove("VOC_CLICKHOUSE__URL")
        .output()
        .expect("running voc");
    assert!(
        out.status.success(),
        "voc {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl Dataset {
    /// An empty, migrated database with the customer dimension loaded.
    pub fn empty(test: &str) -> Dataset {
        let database = unique_name(test);
        let dir = std::env::temp_dir().join(format!("voc-it-{database}"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("voc.toml");
        std::fs::write(
            &config,
            format!(
                "[clickhouse]\nurl = \"{}\"\ndatabase = \"{database}\"\n",
                clickhouse_url()
            ),
        )
        .unwrap();
        voc(&["schema", "migrate"], &config);
        voc(&["gen", "customers"], &config);
        let sink = ClickHouseSink::new(ClickHouseConfig {
            url: clickhouse_url(),
            database: database.clone(),
            ..ClickHouseConfig::default()
        })
        .unwrap();
        Dataset {
            database,
            config,
            sink,
            inserted: Vec::new(),
            unique: Vec::new(),
        }
    }

    /// `count` generated messages (seeded) over the 28 days before [`as_of`],
    /// plus `recent` more over its last 36 hours (so "today" questions have
    /// data), enriched and inserted in batches.
    pub async fn load(test: &str, count: usize, recent: usize, seed: u64) -> Dataset {
        let mut d = Dataset::empty(test);
        let mut events = enriched(count, seed, "hist", 28 * 24);
        events.extend(enriched(recent, seed + 1, "recent", 36));
        for chunk in events.chunks(2000) {
            d.sink.insert(chunk).await.expect("insert");
        }
        let mut seen = HashSet::new();
        d.unique = events
            .iter()
            .filter(|e| seen.insert(e.event_id.clone()))
            .cloned()
            .collect();
        d.inserted = events;
        d
    }

    pub async fn drop(&self) {
        self.sink
            .execute(&format!("DROP DATABASE IF EXISTS {}", self.database))
            .await
            .ok();
    }

    /// A scalar (first cell) as u64.
    pub async fn scalar(&self, sql: &str) -> u64 {
        let t = self
            .sink
            .query_table(&sql.replace("{db}", &self.database))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        voc_sink::clickhouse::read::Table::number(&t.rows[0][0]).unwrap() as u64
    }
}

/// Generated messages through the real decoders and enricher.
pub fn enriched(count: usize, seed: u64, run_id: &str, spread_hours: i64) -> Vec<EnrichedEvent> {
    let now = as_of();
    let mut g = Generator::new(GenConfig {
        seed,
        run_id: run_id.into(),
        malformed_ratio: 0.0,
        duplicate_ratio: 0.02,
        pii_ratio: 0.05,
        spread_hours,
        customers: voc_gen::CUSTOMER_POOL,
        now,
    });
    let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let mut feedback = Vec::new();
    for i in 0..count {
        let m = g.next_message();
        let ctx = DecodeContext {
            zone,
            now,
            max_payload_bytes: 1 << 20,
            broker_time: None,
            lineage: Lineage {
                topic: format!("voc.raw.{}", m.channel.as_str()),
                partition: 0,
                offset: i as i64,
            },
        };
        let f = voc_ingest::decode(m.channel, Some(&m.payload), &ctx)
            .unwrap_or_else(|e| panic!("generated message {i} did not decode: {e:?}"));
        feedback.push(f);
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let mut enricher = voc_enrich::Enricher::new(
        voc_enrich::EnrichConfig {
            model_path: format!("{root}/models/voc-text.onnx").into(),
            ..Default::default()
        },
        Arc::new(Taxonomy::bundled()),
        voc_core::pseudonym::PseudonymKey::demo(),
    )
    .expect("enricher (is ORT_DYLIB_PATH set? source deploy/local/env.sh)");
    let mut out = Vec::new();
    for chunk in feedback.chunks(1000) {
        out.extend(enricher.enrich(chunk.to_vec(), now).expect("enrich"));
    }
    out
}

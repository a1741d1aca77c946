//! Row encoding speed on one core: enriched events -> `FeedbackRow` ->
//! RowBinary + LZ4 through the clickhouse crate's insert, into the crate's
//! in-process mock server (so the number is the client side of an insert:
//! what the worker spends per row, not what ClickHouse spends).
//!
//! Run: `source deploy/local/env.sh && cargo bench -p voc-sink`
//! (the events are enriched once, in set-up, with the shipped model).

use chrono::Utc;
use clickhouse::test::{handlers, Mock};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::Path;
use std::sync::Arc;
use voc_core::{EnrichedEvent, Lineage, Taxonomy};
use voc_ingest::{decode, DecodeContext};
use voc_sink::{ClickHouseConfig, ClickHouseSink};

const ROWS: usize = 2048;

fn events() -> Vec<EnrichedEvent> {
    let mut g = voc_gen::Generator::new(voc_gen::GenConfig {
        seed: 6,
        duplicate_ratio: 0.0,
        malformed_ratio: 0.0,
        ..Default::default()
    });
    let ctx = DecodeContext {
        zone: chrono_tz::Asia::Shanghai,
        now: Utc::now(),
        max_payload_bytes: 256 * 1024,
        broker_time: Some(Utc::now()),
        lineage: Lineage::default(),
    };
    let feedback: Vec<_> = (0..ROWS)
        .map(|_| {
            let m = g.next_message();
            decode(m.channel, Some(&m.payload), &ctx).expect("generated valid input decodes")
        })
        .collect();
    let cfg = voc_enrich::EnrichConfig {
        model_path: Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/voc-text.onnx"),
        ..Default::default()
    };
    let mut enricher = voc_enrich::Enricher::new(
        cfg,
        Arc::new(Taxonomy::bundled()),
        voc_core::pseudonym::PseudonymKey::demo(),
    )
    .expect("model loads (source deploy/local/env.sh for ORT_DYLIB_PATH)");
    enricher.enrich(feedback, Utc::now()).unwrap()
}

fn bench(c: &mut Criterion) {
    let events = events();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _in_runtime = rt.enter(); // the mock server spawns onto it
    let mock = Mock::new();
    let sink = ClickHouseSink::new(ClickHouseConfig {
        url: mock.url().to_string(),
        ..Default::default()
    })
    .expect("a plain http client");
    let mut g = c.benchmark_group("sink");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("encode_rowbinary_lz4_to_mock", |b| {
        b.iter(|| {
            let _ddl = mock.add(handlers::record_ddl());
            rt.block_on(sink.insert(&events)).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Decoding speed on one core: raw Kafka payloads of the four channels
//! (generated, realistic mix: app reviews, call transcripts, community posts,
//! branch cards) into `Feedback`.
//!
//! Run: `cargo bench -p voc-ingest`

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use voc_core::{Channel, Lineage};
use voc_ingest::{decode, DecodeContext};

fn bench(c: &mut Criterion) {
    let mut g = voc_gen::Generator::new(voc_gen::GenConfig {
        seed: 5,
        duplicate_ratio: 0.0,
        malformed_ratio: 0.0,
        ..Default::default()
    });
    let msgs: Vec<(Channel, Vec<u8>)> = (0..4096)
        .map(|_| {
            let m = g.next_message();
            (m.channel, m.payload)
        })
        .collect();
    let bytes: usize = msgs.iter().map(|(_, p)| p.len()).sum();
    eprintln!("{} messages, mean {} bytes", msgs.len(), bytes / msgs.len());
    let ctx = DecodeContext {
        zone: chrono_tz::Asia::Shanghai,
        now: Utc::now(),
        max_payload_bytes: 256 * 1024,
        broker_time: Some(Utc::now()),
        lineage: Lineage {
            topic: "voc.raw.app".into(),
            partition: 0,
            offset: 0,
        },
    };
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(msgs.len() as u64));
    group.bench_function("decode_mixed_channels", |b| {
        b.iter(|| {
            msgs.iter()
                .filter(|(ch, p)| decode(*ch, Some(p), &ctx).is_ok())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Enrichment speed on one core, stage by stage and end to end, for items of
//! about 60 Chinese characters (generated banking feedback).
//!
//! Run: `source deploy/local/env.sh && cargo bench -p voc-enrich`
//!
//! Time is the benchmark thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so
//! items/s means "on one dedicated core" even when the machine is shared and
//! other processes steal the CPU; ONNX Runtime runs on the calling thread
//! (one intra-op thread). `VOC_BENCH_CLOCK=wall` measures wall time instead.
//! The model runs in chunks of `EnrichConfig::model_batch` rows in order of
//! width (`model::predict_by_width`), as in the worker.
//! (needs ORT_DYLIB_PATH; the model is models/voc-text.onnx).
//!
//! The optional encoder (models/voc-encoder.onnx, `enrich.encoder_path`) has
//! its own group, `<group>_encoder`: its tokenizer, the encoder alone
//! (tokenizer + int8 e5-small, 32 rows a call) and the full enrichment with
//! the blend. Skipped, with a notice, when the file is absent.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, Criterion, Throughput};
use std::path::Path;
use std::sync::Arc;
use voc_core::pii;
use voc_core::{Channel, Feedback, Taxonomy};
use voc_enrich::encoder::Encoder;
use voc_enrich::features::{featurize, FeatureVec};
use voc_enrich::model::{predict_by_width, TextModel};
use voc_enrich::{normalize, EnrichConfig, Enricher, TextPipeline};

const BATCH: usize = 256;

/// The worker's allocator (src/main.rs), so allocation costs what it costs there.
#[cfg(unix)]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Generated texts, cut or joined to ~60 characters.
fn texts(n: usize) -> Vec<String> {
    let mut g = voc_gen::Generator::new(voc_gen::GenConfig {
        seed: 9,
        duplicate_ratio: 0.0,
        ..Default::default()
    });
    let mut out = Vec::with_capacity(n);
    let mut cur = String::new();
    while out.len() < n {
        let t = g.next_message().text;
        cur.push_str(&t);
        if cur.chars().count() >= 55 {
            out.push(cur.chars().take(65).collect());
            cur.clear();
        }
    }
    out
}

fn feedback(texts: &[String]) -> Vec<Feedback> {
    let now = chrono::Utc::now();
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| Feedback::from_text(Channel::App, format!("b{i}"), t.as_str(), now))
        .collect()
}

fn config() -> EnrichConfig {
    EnrichConfig {
        model_path: Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/voc-text.onnx"),
        // One core: the bench measures this thread's CPU time.
        threads: 1,
        // VOC_BENCH_MODEL_BATCH: rows per model call (default: the worker's default).
        model_batch: std::env::var("VOC_BENCH_MODEL_BATCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(EnrichConfig::default().model_batch),
        ..EnrichConfig::default()
    }
}

/// CPU time of the calling thread, in nanoseconds.
struct ThreadCpuTime(WallTime);

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = std::time::Duration;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> std::time::Duration {
        std::time::Duration::from_nanos(thread_cpu_ns() - start)
    }
    fn add(&self, a: &std::time::Duration, b: &std::time::Duration) -> std::time::Duration {
        *a + *b
    }
    fn zero(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    fn to_f64(&self, v: &std::time::Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

fn main() {
    if std::env::var("VOC_BENCH_CLOCK").as_deref() == Ok("wall") {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c, "enrich_wall");
        bench_encoder(&mut c, "enrich_wall_encoder");
        c.final_summary();
    } else {
        let mut c = Criterion::default()
            .with_measurement(ThreadCpuTime(WallTime))
            .configure_from_args();
        bench(&mut c, "enrich");
        bench_encoder(&mut c, "enrich_encoder");
        c.final_summary();
    }
}

fn bench<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let texts = texts(BATCH);
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    eprintln!(
        "{} items, mean {:.1} chars",
        texts.len(),
        chars as f64 / texts.len() as f64
    );
    let cfg = config();
    let pipe = TextPipeline::new(&cfg).unwrap();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(BATCH as u64));

    g.bench_function("normalize+pii", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| pii::mask(&normalize::normalize(t, 2000).text).text.len())
                .sum::<usize>()
        })
    });
    let masked: Vec<String> = texts.iter().map(|t| pipe.prepare(t).text).collect();
    g.bench_function("segment", |b| {
        b.iter(|| {
            masked
                .iter()
                .map(|t| pipe.segmenter().tokens(t).len())
                .sum::<usize>()
        })
    });
    let tokens: Vec<Vec<String>> = masked.iter().map(|t| pipe.segmenter().tokens(t)).collect();
    g.bench_function("featurize", |b| {
        b.iter(|| {
            masked
                .iter()
                .zip(&tokens)
                .map(|(t, k)| featurize(t, k).ids.len())
                .sum::<usize>()
        })
    });
    let runtime = voc_enrich::resolve_onnxruntime(None)
        .expect("set ORT_DYLIB_PATH (source deploy/local/env.sh)");
    let meta = cfg.model_path.with_extension("meta.json");
    let mut model = TextModel::load(&cfg.model_path, &meta, &runtime, 1).unwrap();
    let feats: Vec<FeatureVec> = masked
        .iter()
        .zip(&tokens)
        .map(|(t, k)| featurize(t, k))
        .collect();
    let refs: Vec<&FeatureVec> = feats.iter().collect();
    let rows = cfg.model_batch;
    g.bench_function("model", |b| {
        b.iter(|| {
            predict_by_width(&refs, rows, |c| model.predict(c))
                .unwrap()
                .len()
        })
    });
    g.bench_function("prepare(normalize+pii+segment+featurize)", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| pipe.prepare(t).features.ids.len())
                .sum::<usize>()
        })
    });
    g.bench_function("segment+sentiment+tags", |b| {
        b.iter(|| {
            let prepared: Vec<_> = texts.iter().map(|t| pipe.prepare(t)).collect();
            let refs: Vec<&FeatureVec> = prepared.iter().map(|p| &p.features).collect();
            predict_by_width(&refs, rows, |c| model.predict(c))
                .unwrap()
                .len()
        })
    });
    let mut enricher = Enricher::new(
        cfg.clone(),
        Arc::new(Taxonomy::bundled()),
        voc_core::pseudonym::PseudonymKey::demo(),
    )
    .unwrap();
    let items = feedback(&texts);
    g.bench_function("full_enrich_with_keywords", |b| {
        b.iter_batched(
            || items.clone(),
            |it| enricher.enrich(it, chrono::Utc::now()).unwrap().len(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The encoder's cases: many times the fast model's cost per item, so fewer samples.
fn bench_encoder<M: Measurement>(c: &mut Criterion<M>, group: &str) {
    let onnx = std::env::var_os("VOC_BENCH_ENCODER_PATH").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/voc-encoder.onnx"),
        std::path::PathBuf::from,
    );
    if !onnx.is_file() {
        eprintln!(
            "NOTICE: {} is absent: encoder benches skipped",
            onnx.display()
        );
        return;
    }
    let texts = texts(BATCH);
    let cfg = EnrichConfig {
        encoder_path: Some(onnx.clone()),
        ..config()
    };
    let pipe = TextPipeline::new(&cfg).unwrap();
    let masked: Vec<String> = texts.iter().map(|t| pipe.prepare(t).text).collect();
    let masked: Vec<&str> = masked.iter().map(String::as_str).collect();
    let runtime = voc_enrich::resolve_onnxruntime(None)
        .expect("set ORT_DYLIB_PATH (source deploy/local/env.sh)");
    let encoder = Encoder::load(&onnx, &onnx.with_extension("meta.json"), &runtime, 1, 1).unwrap();
    let tokens: usize = masked
        .iter()
        .map(|t| encoder.tokenizer().encode(t).len())
        .sum();
    eprintln!(
        "encoder: mean {:.1} tokens per item (with <s> and </s>)",
        tokens as f64 / masked.len() as f64
    );
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(10);
    g.bench_function("tokenize", |b| {
        b.iter(|| {
            masked
                .iter()
                .map(|t| encoder.tokenizer().encode(t).len())
                .sum::<usize>()
        })
    });
    g.bench_function("encoder(tokenize+model)", |b| {
        b.iter(|| encoder.sentiment(&masked).unwrap().len())
    });
    let mut enricher = Enricher::new(
        cfg,
        Arc::new(Taxonomy::bundled()),
        voc_core::pseudonym::PseudonymKey::demo(),
    )
    .unwrap();
    let items = feedback(&texts);
    g.bench_function("full_enrich_with_encoder", |b| {
        b.iter_batched(
            || items.clone(),
            |it| enricher.enrich(it, chrono::Utc::now()).unwrap().len(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

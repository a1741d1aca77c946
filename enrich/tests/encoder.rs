//! The optional accurate sentiment model (`enrich.encoder_path`): start-up
//! errors name the bad file; with the shipped models/voc-encoder.onnx, the
//! enricher blends its sentiment into the fast model's. Needs ONNX Runtime
//! (`source deploy/local/env.sh`); the model tests print a notice and pass
//! when the encoder file is absent.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use voc_core::*;
use voc_enrich::encoder::{self, Encoder};
use voc_enrich::{EnrichConfig, Enricher};

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn config(encoder: Option<PathBuf>) -> EnrichConfig {
    EnrichConfig {
        model_path: models().join("voc-text.onnx"),
        encoder_path: encoder,
        // One encoder session (each thread has its own copy of the model).
        threads: 1,
        ..EnrichConfig::default()
    }
}

fn enricher(cfg: EnrichConfig) -> Result<Enricher, voc_enrich::EnrichError> {
    Enricher::new(
        cfg,
        Arc::new(Taxonomy::bundled()),
        pseudonym::PseudonymKey::demo(),
    )
}

/// The shipped encoder (or a candidate: $VOC_TEST_ENCODER_PATH, its sidecar
/// beside it), or None (and a notice) when it is not there.
fn shipped_encoder() -> Option<PathBuf> {
    let p = std::env::var_os("VOC_TEST_ENCODER_PATH")
        .map_or_else(|| models().join("voc-encoder.onnx"), PathBuf::from);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "NOTICE: {} is absent: encoder model test skipped",
            p.display()
        );
        None
    }
}

/// How far an item's probabilities may move with the other rows of its
/// encoder call: float rounding only. (A dynamically quantized model, with
/// one int8 activation scale per call, moved scores by up to ~1 on some
/// texts; the shipped model keeps int8 weights and float activations.)
const BATCH_TOLERANCE: f32 = 1e-4;

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("voc-encoder-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A valid sidecar with a tiny vocabulary.
const TINY_META: &str = r#"{"model_version": "voc-e5-test",
 "sentiment_labels": ["negative", "neutral", "positive"],
 "max_len": 96, "head_tokens": 32, "bos_id": 0, "pad_id": 1, "eos_id": 2, "unk_id": 3,
 "unk_score": -20.0, "blend_weight": 0.5,
 "detractor_lines": {"detractor_at_or_below": -0.8, "high_at_or_below_sentiment": -0.9},
 "pieces": [["<s>", 0.0], ["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0], ["▁", -1.0], ["好", -2.0]]}"#;

fn error_of(cfg: EnrichConfig) -> String {
    match enricher(cfg) {
        Ok(_) => panic!("the enricher started with a bad encoder"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_missing_or_bad_encoder_fails_at_start_naming_the_file() {
    let dir = scratch("bad");
    // No sidecar next to the encoder path (the default sidecar path).
    let onnx = dir.join("voc-encoder.onnx");
    let e = error_of(config(Some(onnx.clone())));
    let sidecar = dir.join("voc-encoder.meta.json");
    assert!(
        e.contains(&sidecar.display().to_string()) && e.contains("encoder metadata"),
        "{e}"
    );

    // A sidecar that is not the contract's.
    std::fs::write(&sidecar, r#"{"model_version": "voc-e5-x"}"#).unwrap();
    let e = error_of(config(Some(onnx.clone())));
    assert!(
        e.contains(&sidecar.display().to_string()) && e.contains("missing field"),
        "{e}"
    );
    std::fs::write(&sidecar, TINY_META.replace("0.5,", "1.5,")).unwrap();
    let e = error_of(config(Some(onnx.clone())));
    assert!(e.contains("blend_weight 1.5"), "{e}");
    std::fs::write(
        &sidecar,
        TINY_META.replace("0.5,", "0.5, \"blend_temperature\": 0,"),
    )
    .unwrap();
    let e = error_of(config(Some(onnx.clone())));
    assert!(e.contains("blend_temperature 0 is not"), "{e}");

    // A good sidecar; the model file is missing, then not an ONNX graph.
    std::fs::write(&sidecar, TINY_META).unwrap();
    let e = error_of(config(Some(onnx.clone())));
    assert!(
        e.contains(&onnx.display().to_string()) && e.contains("enrich.encoder_path"),
        "{e}"
    );
    std::fs::write(&onnx, b"not a model").unwrap();
    let e = error_of(config(Some(onnx.clone())));
    assert!(
        e.contains(&onnx.display().to_string()) && e.contains("encoder model file"),
        "{e}"
    );

    // An explicit sidecar path wins over the default one.
    let cfg = EnrichConfig {
        encoder_meta_path: Some(dir.join("elsewhere.json")),
        ..config(Some(onnx))
    };
    assert!(error_of(cfg).contains("elsewhere.json"));

    // A sidecar without an encoder is a mistake, caught without files.
    let cfg = EnrichConfig {
        encoder_meta_path: Some(sidecar),
        ..config(None)
    };
    assert!(cfg.validate().is_err());
    assert!(error_of(cfg).contains("enrich.encoder_path is not"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_shipped_sidecar_tokenizes_within_the_models_length() {
    let sidecar = models().join("voc-encoder.meta.json");
    if !sidecar.is_file() {
        eprintln!("NOTICE: {} is absent: test skipped", sidecar.display());
        return;
    }
    let (meta, tok) = encoder::load_meta(&sidecar).unwrap();
    assert!(meta.model_version.starts_with("voc-e5-"), "{meta:?}");
    let layout = tok.layout();
    let ids = tok.encode("转账一直失败,客服也联系不上");
    assert_eq!(ids[0], layout.bos_id);
    assert_eq!(*ids.last().unwrap(), layout.eos_id);
    assert!(ids.len() > 3 && ids.len() <= layout.max_len, "{ids:?}");
    let long = tok.encode(&"排队两个小时,柜员态度恶劣。".repeat(40));
    assert_eq!(long.len(), layout.max_len);
    assert_eq!(tok.encode(""), [layout.bos_id, layout.eos_id]);
}

fn item(id: &str, text: &str) -> Feedback {
    Feedback::from_text(Channel::App, id, text, chrono::Utc::now())
}

#[test]
fn the_encoder_is_blended_into_the_fast_models_sentiment() {
    let Some(onnx) = shipped_encoder() else {
        return;
    };
    let texts = [
        "排了两个小时的队,柜员还态度恶劣,太差了",
        "请问信用卡的还款日可以往后调吗",
        "大堂经理很热情,业务办得很快,点赞",
        "转账一直失败,客服电话也打不通,什么破银行",
    ];

    // The encoder alone: probabilities, one row per text, in order.
    let runtime = voc_enrich::resolve_onnxruntime(None).expect("ORT_DYLIB_PATH");
    let enc = Encoder::load(&onnx, &onnx.with_extension("meta.json"), &runtime, 1, 1).unwrap();
    let probs = enc.sentiment(&texts).unwrap();
    assert_eq!(probs.len(), texts.len());
    for p in &probs {
        let sum: f32 = p.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-3 && p.iter().all(|&x| x >= 0.0),
            "{p:?}"
        );
    }
    // Copies of a row in one call, and other rows padded to the longest,
    // change only float rounding (the kernels differ with the batch size).
    let alone = enc.sentiment(&texts[..1]).unwrap();
    let copies = enc.sentiment(&[texts[0]; 3]).unwrap();
    for row in copies.iter().chain([&probs[0]]) {
        for k in 0..3 {
            assert!(
                (alone[0][k] - row[k]).abs() < BATCH_TOLERANCE,
                "{alone:?} {row:?}"
            );
        }
    }

    let items = || -> Vec<Feedback> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| item(&format!("e{i}"), t))
            .collect()
    };
    let now = chrono::Utc::now();
    let mut fast = enricher(config(None)).unwrap();
    let mut both = enricher(config(Some(onnx.clone()))).unwrap();
    assert_eq!(
        both.model_version(),
        format!("{}+{}", fast.model_version(), enc.meta().model_version)
    );
    assert_eq!(
        both.detractor_line(),
        enc.meta().detractor_lines.detractor_at_or_below
    );
    // The alert rule's high line follows the encoder; the fast model's is the alert default.
    assert_eq!(
        both.high_line(),
        Some(enc.meta().detractor_lines.high_at_or_below_sentiment)
    );
    assert_eq!(fast.high_line(), None);
    let a = fast.enrich(items(), now).unwrap();
    let b = both.enrich(items(), now).unwrap();
    assert!(b.iter().all(|e| e.model_version == both.model_version()));
    assert!(
        a.iter()
            .zip(&b)
            .any(|(x, y)| (x.sentiment.score - y.sentiment.score).abs() > 1e-4),
        "the blend changed no score"
    );
    // Tags come from the fast model alone.
    for (x, y) in a.iter().zip(&b) {
        let ids = |e: &EnrichedEvent| e.tags.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(x), ids(y));
    }
    // The score is the calibrated blend of the two models' probabilities.
    let (w, t) = (enc.meta().blend_weight, enc.meta().blend_temperature);
    let masked: Vec<&str> = b.iter().map(|e| e.text.as_str()).collect();
    let pipeline = voc_enrich::TextPipeline::new(&config(None)).unwrap();
    let mut model = voc_enrich::model::TextModel::load(
        &models().join("voc-text.onnx"),
        &models().join("voc-text.meta.json"),
        &voc_enrich::resolve_onnxruntime(None).unwrap(),
        1,
    )
    .unwrap();
    let prepared: Vec<_> = texts.iter().map(|t| pipeline.prepare(t)).collect();
    let feats: Vec<_> = prepared.iter().map(|p| &p.features).collect();
    let fast_p = model.predict(&feats).unwrap();
    for (((x, y), p), lin) in a
        .iter()
        .zip(&b)
        .zip(enc.sentiment(&masked).unwrap())
        .zip(&fast_p)
    {
        assert!((x.sentiment.score - (lin.sentiment[2] - lin.sentiment[0])).abs() < 1e-4);
        let q = encoder::blend(lin.sentiment, p, w, t);
        let want = q[2] - q[0];
        assert!((y.sentiment.score - want).abs() < 1e-4, "{y:?} != {want}");
    }
    for i in [0, 3] {
        assert_eq!(
            b[i].sentiment.label,
            SentimentLabel::Negative,
            "{}",
            texts[i]
        );
        assert!(b[i].sentiment.score < 0.0);
    }
    assert_eq!(
        b[2].sentiment.label,
        SentimentLabel::Positive,
        "{}",
        texts[2]
    );
    // An inquiry is no inferred detractor.
    assert_ne!(
        b[1].nps.segment,
        NpsSegment::Detractor,
        "{:?}",
        b[1].sentiment
    );

    // An explicitly configured detractor line wins over the sidecar's.
    let mut cfg = config(Some(onnx));
    cfg.inference.detractor_at_or_below = Some(-0.99);
    assert_eq!(enricher(cfg).unwrap().detractor_line(), -0.99);
}

#[test]
fn parallel_enrichment_with_the_encoder_equals_one_thread() {
    let Some(onnx) = shipped_encoder() else {
        return;
    };
    let cfg = |threads| EnrichConfig {
        threads,
        ..config(Some(onnx.clone()))
    };
    let mut one = enricher(cfg(1)).unwrap();
    let mut two = enricher(cfg(2)).unwrap();
    let mut g = voc_gen::Generator::new(voc_gen::GenConfig {
        seed: 5,
        duplicate_ratio: 0.0,
        ..Default::default()
    });
    // 200 items: split 100 / 100, each thread on its own encoder session.
    let items: Vec<Feedback> = (0..200)
        .map(|i| item(&format!("p{i}"), &g.next_message().text))
        .collect();
    let now = chrono::Utc::now();
    let a = one.enrich(items.clone(), now).unwrap();
    let b = two.enrich(items, now).unwrap();
    // Rows meet other rows in their encoder calls when split across threads:
    // equal up to float rounding.
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.source_id, y.source_id);
        assert_eq!(x.sentiment.label, y.sentiment.label, "{}", x.text);
        let d = (x.sentiment.score - y.sentiment.score).abs();
        assert!(d <= BATCH_TOLERANCE, "{}: {d}", x.text);
        assert_eq!(x.nps.segment, y.nps.segment, "{}", x.text);
    }
}

/// With the encoder on (and its detractor line): inquiries stay passive,
/// clear complaints are inferred detractors.
#[test]
fn with_the_encoder_inquiries_are_no_detractors_and_complaints_are() {
    let Some(onnx) = shipped_encoder() else {
        return;
    };
    let inquiries = [
        "请问在App上怎么查询我的公积金贷款余额",
        "你好 我想咨询一下 办一张借记卡要带什么证件",
        "请问转账的时候收款人名字输错了会退回吗",
        "嗯 那我想问一下 提前还房贷需要预约吗",
    ];
    let complaints = [
        "为什么我的卡又被冻结了？什么都没做！",
        "排了两个小时的队，柜员还态度恶劣，太差了",
    ];
    let items: Vec<Feedback> = inquiries
        .iter()
        .chain(&complaints)
        .enumerate()
        .map(|(i, t)| item(&format!("q{i}"), t))
        .collect();
    let mut e = enricher(config(Some(onnx))).unwrap();
    let out = e.enrich(items, chrono::Utc::now()).unwrap();
    for (o, text) in out.iter().zip(&inquiries) {
        assert_ne!(
            o.nps.segment,
            NpsSegment::Detractor,
            "{text}: {:?}",
            o.sentiment
        );
    }
    for (o, text) in out[inquiries.len()..].iter().zip(&complaints) {
        assert_eq!(
            o.nps.segment,
            NpsSegment::Detractor,
            "{text}: {:?}",
            o.sentiment
        );
        assert!(o.nps.inferred);
    }
}

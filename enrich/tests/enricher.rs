//! The enrichment stage with the shipped model (needs ONNX Runtime:
//! `source deploy/local/env.sh`, as deploy/test.sh does).

use std::path::Path;
use std::sync::Arc;
use voc_core::*;
use voc_enrich::{EnrichConfig, Enricher};

fn enricher() -> Enricher {
    let cfg = EnrichConfig {
        model_path: Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/voc-text.onnx"),
        ..EnrichConfig::default()
    };
    Enricher::new(
        cfg,
        Arc::new(Taxonomy::bundled()),
        pseudonym::PseudonymKey::demo(),
    )
    .expect("model loads (is ORT_DYLIB_PATH set?)")
}

fn item(id: &str, text: &str) -> Feedback {
    Feedback::from_text(Channel::App, id, text, chrono::Utc::now())
}

#[test]
fn mixed_feedback_gets_a_polarity_per_aspect() {
    let mut e = enricher();
    let out = e
        .enrich(
            vec![item(
                "1",
                "大堂经理很热情，可惜只开了一个窗口，排了一个小时",
            )],
            chrono::Utc::now(),
        )
        .unwrap();
    let tags = &out[0].tags;
    let praise = tags
        .iter()
        .find(|t| t.polarity == Polarity::Delight)
        .expect("a delight tag");
    let pain = tags
        .iter()
        .find(|t| t.polarity == Polarity::Pain)
        .expect("a pain tag");
    assert!(praise.sentiment > 0.0, "{tags:?}");
    assert!(pain.sentiment < 0.0, "{tags:?}");
    assert_eq!(out[0].experience.delight.len(), 1);
}

#[test]
fn keeps_order_masks_pii_and_handles_wordless_scores() {
    let mut e = enricher();
    let mut wordless = item("2", "");
    wordless.nps_score = NpsScore::new(2);
    let mut phone_key = item("3", "转账一直失败，电话13812345678");
    phone_key.keys.customer = Some("13812345678".into());
    let out = e
        .enrich(
            vec![item("1", "服务很好"), wordless, phone_key],
            chrono::Utc::now(),
        )
        .unwrap();
    assert_eq!(
        out.iter().map(|o| o.source_id.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    assert_eq!(out[1].sentiment.source, SentimentSource::Score);
    assert_eq!(out[1].nps.segment, NpsSegment::Detractor);
    assert!(!out[1].nps.inferred);
    assert!(out[2].text.contains("[PHONE]") && !out[2].text.contains("13812345678"));
    assert!(out[2].keys.customer.as_deref().unwrap().starts_with("pii:"));
    assert_eq!(out[2].pii_masked, ["phone"]);
}

#[test]
fn parallel_enrichment_equals_one_thread_in_order() {
    let cfg = |threads| EnrichConfig {
        model_path: Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/voc-text.onnx"),
        threads,
        ..EnrichConfig::default()
    };
    let tax = Arc::new(Taxonomy::bundled());
    let mut one = Enricher::new(cfg(1), tax.clone(), pseudonym::PseudonymKey::demo()).unwrap();
    let mut three = Enricher::new(cfg(3), tax, pseudonym::PseudonymKey::demo()).unwrap();
    assert_eq!(three.threads(), 3);
    let mut g = voc_gen::Generator::new(voc_gen::GenConfig {
        seed: 3,
        duplicate_ratio: 0.0,
        ..Default::default()
    });
    // 400 items: split 134 / 134 / 132 across three threads.
    let items: Vec<Feedback> = (0..400)
        .map(|i| item(&format!("p{i}"), &g.next_message().text))
        .collect();
    let now = chrono::Utc::now();
    let a = one.enrich(items.clone(), now).unwrap();
    let b = three.enrich(items, now).unwrap();
    assert_eq!(a.len(), 400);
    let ids = |v: &[EnrichedEvent]| v.iter().map(|e| e.source_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
    // Equal up to float rounding: ONNX Runtime's sums depend in their last
    // bits on the width of the call a row went into (rows are grouped by
    // width, and the groups differ with the split).
    for (x, y) in a.iter().zip(&b) {
        let (x, y) = (
            serde_json::to_value(x).unwrap(),
            serde_json::to_value(y).unwrap(),
        );
        assert!(close(&x, &y), "{x}\n!=\n{y}");
    }
}

/// Equal, except that numbers may differ by 1e-5.
fn close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() <= 1e-5
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| close(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w)))
        }
        _ => a == b,
    }
}

/// Inquiries and how-to questions are neutral: without a 0-10 score they must
/// not become inferred detractors, while complaints (also phrased as
/// questions) still do. None of these texts is in the training data.
#[test]
fn inquiries_do_not_become_inferred_detractors() {
    let mut e = enricher();
    let inquiries = [
        "请问在App上怎么查询我的公积金贷款余额",
        "想问一下信用卡的还款日可以往后调吗",
        "你好 我想咨询一下 办一张借记卡要带什么证件",
        "请问外币账户怎么开通网上购汇",
        "问下大家，信用卡临时额度到期后会怎么样？",
        "我想了解一下你们的个人养老金账户有什么优惠",
        "请问网点可以帮忙打印今年的纳税证明吗",
        "怎么在手机上查看我的卡有没有开通免密支付",
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
    let out = e.enrich(items, chrono::Utc::now()).unwrap();
    for (o, text) in out.iter().zip(&inquiries) {
        assert!(o.nps.inferred);
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
    }
}

//! Property tests of the text path on arbitrary input (no stack needed):
//! decode, normalize, PII mask, clause split and featurize never panic, and
//! keep their invariants. A few cases per property in CI; for long runs:
//!
//!     PROPTEST_CASES=200000 cargo test --release --test properties
//!
//! (docs/hostile-input.md). A failure prints the smallest input found.

use proptest::prelude::*;
use serde_json::{Map, Value};
use std::sync::LazyLock;
use voc_core::{Channel, Lineage};
use voc_enrich::segment::Segmenter;
use voc_ingest::{decode, DecodeContext};

/// `PROPTEST_CASES`, else a small number that keeps CI fast.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn ctx() -> DecodeContext {
    DecodeContext {
        zone: chrono_tz::Asia::Shanghai,
        now: chrono::Utc::now(),
        max_payload_bytes: 256 * 1024,
        broker_time: Some(chrono::Utc::now()),
        lineage: Lineage::default(),
    }
}

static SEGMENTER: LazyLock<Segmenter> = LazyLock::new(Segmenter::bundled);

const CHANNELS: [Channel; 4] = [
    Channel::App,
    Channel::CallCenter,
    Channel::Community,
    Channel::Branch,
];

/// Text as feeds write it: Chinese, digits in groups, full-width forms,
/// emoji, controls, zero-width and bidi characters, any char at all.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[转账失败排队太久客服态度很好但是手机银行闪退]{1,8}",
        "[0-9]{1,19}",
        "[０-９一二三四五六七八九零幺]{1,12}",
        "[ \\-.,，。！？!?]{1,3}",
        "1[3-9][0-9]{9}",
        "[\u{0}-\u{1f}\u{7f}\u{200b}-\u{200f}\u{202a}-\u{202e}\u{feff}]{1,4}",
        "[😀-🙏🏻‍]{1,4}",
        "[ＡＢＣａｂｃ轉賬閃退]{1,4}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// A JSON value of bounded depth whose leaves are hostile.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object with the channels' field names, each given a hostile value.
fn payload() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec![
        "id",
        "call_id",
        "post_id",
        "card_id",
        "time",
        "start_time",
        "ts",
        "text",
        "content",
        "comment",
        "customer_id",
        "author",
        "platform",
        "branch_id",
        "nps",
        "score",
        "rating",
        "stars",
        "wait_minutes",
        "duration_s",
        "likes",
        "turns",
        "speaker",
        "ivr_path",
        "app_version",
        "product",
        "thread_id",
        "teller_id",
    ]);
    prop::collection::vec((names, json()), 0..16).prop_map(|fields| {
        let mut m = Map::new();
        for (k, v) in fields {
            m.insert(k.to_string(), v);
        }
        // Turns that look like turns half the time.
        if let Some(Value::Array(turns)) = m.get_mut("turns") {
            for t in turns.iter_mut() {
                if let Value::String(s) = t {
                    *t = serde_json::json!({"speaker": "customer", "text": s.clone()});
                }
            }
        }
        Value::Object(m)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn decode_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for c in CHANNELS {
            let _ = decode(c, Some(&bytes), &ctx());
        }
    }

    #[test]
    fn decode_never_panics_on_objects(v in payload()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        for c in CHANNELS {
            if let Ok(f) = decode(c, Some(&bytes), &ctx()) {
                prop_assert!(!f.source_id.is_empty());
                prop_assert!(f.source_id.chars().count() <= 256);
            }
        }
    }

    #[test]
    fn normalize_is_idempotent_and_bounded(s in text(), max in 1usize..400) {
        let once = voc_enrich::normalize::normalize(&s, max);
        prop_assert!(once.text.chars().count() <= max);
        prop_assert!(!once.text.chars().any(|c| c.is_control()));
        let twice = voc_enrich::normalize::normalize(&once.text, max);
        prop_assert_eq!(&twice.text, &once.text);
        prop_assert!(!twice.truncated);
    }

    #[test]
    fn masked_text_keeps_no_phone_number(
        before in "[转账失败客服 ，。]{0,6}",
        phone in "1[3-9][0-9]{9}",
        after in "[转账失败客服 ，。]{0,6}",
        noise in text(),
    ) {
        let s = format!("{noise}。{before}{phone}{after}");
        let m = voc_core::pii::mask(&s);
        prop_assert!(!m.text.contains(&phone), "{:?} -> {:?}", s, m.text);
        let digits_of = |t: &str| t.chars().filter(|c| c.is_ascii_digit()).count();
        prop_assert!(digits_of(&m.text) <= digits_of(&s));
    }

    #[test]
    fn mask_never_panics_and_is_stable(s in text()) {
        let m = voc_core::pii::mask(&s);
        // Masking masked text changes nothing more.
        prop_assert_eq!(voc_core::pii::mask(&m.text).text, m.text);
    }

    #[test]
    fn clauses_are_pieces_of_the_text_in_order(s in text()) {
        let n = voc_enrich::normalize::normalize(&s, 2000).text;
        let clauses = voc_enrich::clause::split(&n);
        prop_assert!(!clauses.is_empty());
        let mut at = 0;
        for c in &clauses {
            let found = n[at..].find(c);
            prop_assert!(found.is_some(), "{:?} not in {:?} after {}", c, n, at);
            at += found.unwrap() + c.len();
        }
    }

    #[test]
    fn featurize_never_panics(s in text()) {
        let n = voc_enrich::normalize::normalize(&s, 2000).text;
        let words = SEGMENTER.words(&n);
        let f = voc_enrich::features::featurize(&n, &words);
        prop_assert_eq!(f.ids.len(), f.weights.len());
        prop_assert!(f.weights.iter().all(|w| w.is_finite()));
    }
}

/// Masking is linear in the text: a dead letter's 100 KB payload of short
/// digit groups (`[0,0,0,...]`) must not hold the worker (the bound is
/// generous for a loaded machine and a debug build).
#[test]
fn masking_long_runs_of_short_digit_groups_is_fast() {
    for sep in [",", " ", "-", "."] {
        let s = format!("[{}]", vec!["0"; 50_000].join(sep));
        let t = std::time::Instant::now();
        let m = voc_core::pii::mask(&s);
        let took = t.elapsed();
        eprintln!("{} bytes of 0{sep}0{sep}...: {took:?}", s.len());
        assert!(took < std::time::Duration::from_secs(10), "{took:?}");
        assert!(!m.text.is_empty());
    }
}

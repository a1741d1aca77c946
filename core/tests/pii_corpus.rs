//! Masking judged on corpora written apart from the rules: recall on
//! adversarial call-centre and forum text (tests/pii_corpus/adversarial.tsv,
//! the text and the secrets that must disappear) and the false-masking rate
//! on clean banking text (tests/pii_corpus/clean.tsv).
//!
//! `cargo test -p voc-core --test pii_corpus -- --nocapture` prints both
//! (and every masked text with `PII_CORPUS_SHOW=1`).

mod reading;

use reading::digit;
use voc_core::pii::mask;

const RECALL_FLOOR: f64 = 0.95;
const FALSE_MASKING_CEILING: f64 = 0.05;

fn lines(tsv: &str) -> impl Iterator<Item = &str> {
    tsv.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

fn digits(s: &str) -> String {
    s.chars().filter_map(digit).collect()
}

/// Whether `secret` can still be read in `masked`: its text, or six of its
/// digits in a row (all of them when it has fewer) among the digits of the
/// output.
fn leaks(masked: &str, secret: &str) -> bool {
    if masked.contains(secret) {
        return true;
    }
    let want: Vec<char> = digits(secret).chars().collect();
    if want.len() < 3 {
        return false;
    }
    let have = digits(masked);
    want.windows(want.len().min(6))
        .any(|w| have.contains(&w.iter().collect::<String>()))
}

#[test]
fn adversarial_recall_and_clean_false_masking() {
    let adversarial = include_str!("pii_corpus/adversarial.tsv");
    let show = std::env::var_os("PII_CORPUS_SHOW").is_some();
    let (mut secrets, mut masked, mut cases) = (0, 0, 0);
    let mut misses = Vec::new();
    for line in lines(adversarial) {
        let mut cols = line.split('\t');
        let text = cols.next().unwrap();
        let out = mask(text).text;
        cases += 1;
        if show {
            println!("{out}");
        }
        for secret in cols.filter(|s| !s.is_empty()) {
            assert!(text.contains(secret), "secret {secret:?} not in {text:?}");
            secrets += 1;
            if leaks(&out, secret) {
                misses.push(format!("  {secret:?} in {out:?}"));
            } else {
                masked += 1;
            }
        }
    }
    let clean = include_str!("pii_corpus/clean.tsv");
    let (mut sentences, mut changed) = (0, Vec::new());
    for text in lines(clean) {
        sentences += 1;
        let out = mask(text).text;
        if show {
            println!("{out}");
        }
        if out != text {
            changed.push(format!("  {text:?} -> {out:?}"));
        }
    }
    let recall = masked as f64 / secrets as f64;
    let false_masking = changed.len() as f64 / sentences as f64;
    println!("adversarial: {cases} texts, {secrets} secrets, {masked} masked: recall {recall:.3}");
    println!(
        "clean: {sentences} sentences, {} changed: false masking {false_masking:.3}",
        changed.len()
    );
    if !misses.is_empty() {
        println!("missed:\n{}", misses.join("\n"));
    }
    if !changed.is_empty() {
        println!("falsely masked:\n{}", changed.join("\n"));
    }
    assert!(cases >= 100 && sentences >= 60, "corpora too small");
    assert!(
        recall >= RECALL_FLOOR,
        "recall {recall:.3} < {RECALL_FLOOR}"
    );
    assert!(
        false_masking <= FALSE_MASKING_CEILING,
        "false masking {false_masking:.3} > {FALSE_MASKING_CEILING}"
    );
}

//! Model features: hashed bag of words and character n-grams, plus a few cheap
//! cues for sentiment.
//!
//! Training calls the same code through `voc featurize`, so Rust inference and
//! Python training can never tokenize differently. A feature is the 32-bit
//! FNV-1a hash of a kind byte plus the UTF-8 of the feature:
//! `w` a jieba token, `c` a character, `b` a character bigram within a run of
//! word characters, `n` a token in the scope of a negator (a token such as
//! 不 / 没有 / 无法 earlier in the same clause), `l` a token of the last clause,
//! `L` the length bucket (bit length of the number of word characters, capped
//! at 255) and `p` a question or exclamation mark. Clauses are separated by
//! whitespace and the punctuation in [`CLAUSE_BREAKS`]. Values are
//! 1 + ln(count), L2-normalized; the ONNX graph maps hashes to its own bucket
//! count.

use crate::segment::is_word_char;

/// Sparse features of one item, sorted by id, ids unique.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct FeatureVec {
    pub ids: Vec<i64>,
    pub weights: Vec<f32>,
}

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// Tokens that negate what follows them in the same clause. Words that carry
/// their own polarity (不错, 不好, 没用, ...) are not in the list: jieba keeps
/// them whole and the `w` feature already covers them. (A `match`, not a list
/// scan: this runs for every token of every item.)
fn is_negator(token: &str) -> bool {
    matches!(
        token,
        "不" | "没"
            | "没有"
            | "不是"
            | "不能"
            | "不会"
            | "不要"
            | "无法"
            | "不太"
            | "不够"
            | "不用"
            | "不想"
            | "不算"
            | "未"
            | "别"
            | "不敢"
            | "不再"
            | "没法"
            | "不怎么"
            | "不可"
            | "无"
            | "非"
            | "从不"
            | "并不"
            | "从没"
            | "毫无"
            | "绝不"
            | "不让"
            | "不肯"
            | "不必"
            | "不该"
            | "不大"
            | "不至于"
    )
}

fn fnv1a(kind: u8, s: &str) -> u32 {
    fnv1a_extend(
        (FNV_OFFSET ^ kind as u32).wrapping_mul(FNV_PRIME),
        s.as_bytes(),
    )
}

fn fnv1a_extend(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h = (h ^ b as u32).wrapping_mul(FNV_PRIME);
    }
    h
}

/// Length-bucket names: the bucket is a bit length of a number <= 255.
const LENGTH_BUCKETS: [&str; 9] = ["0", "1", "2", "3", "4", "5", "6", "7", "8"];

/// Punctuation that ends a clause, besides whitespace (after NFKC, full-width
/// ，！？ arrive as , ! ?).
const CLAUSE_BREAKS: &str = "，。！？；,.!?;~～…、：:";

fn is_clause_break(c: char) -> bool {
    c.is_whitespace() || CLAUSE_BREAKS.contains(c)
}

/// Clause index of every token (tokens are substrings of `text`, in order).
/// Scanning forward with `starts_with` finds the same position as `find` (the
/// first occurrence at or after the cursor) without building a substring
/// searcher per token; the gap between two tokens is a few characters.
fn clauses<S: AsRef<str>>(text: &str, tokens: &[S]) -> Vec<u32> {
    let mut pos = 0usize;
    let mut clause = 0u32;
    tokens
        .iter()
        .map(|t| {
            let t = t.as_ref();
            let mut at = pos;
            let mut broke = false;
            while at < text.len() && !text[at..].starts_with(t) {
                let ch = text[at..].chars().next().expect("at is a char boundary");
                broke |= is_clause_break(ch);
                at += ch.len_utf8();
            }
            if at < text.len() {
                clause += broke as u32;
                pos = at + t.len();
            }
            clause
        })
        .collect()
}

/// `tokens`: the text's word tokens in order (`Segmenter::words`).
pub fn featurize<S: AsRef<str>>(text: &str, tokens: &[S]) -> FeatureVec {
    let mut raw: Vec<u32> = Vec::with_capacity(3 * tokens.len() + 2 * text.len() / 3 + 2);
    raw.extend(tokens.iter().map(|t| fnv1a(b'w', t.as_ref())));
    // The bigram hash continues the hash of its first character's bytes, so
    // no string is built per pair.
    let mut prev: Option<u32> = None;
    let mut buf = [0u8; 4];
    let mut word_chars = 0u32;
    for ch in text.chars() {
        match ch {
            '?' | '？' => raw.push(fnv1a(b'p', "?")),
            '!' | '！' => raw.push(fnv1a(b'p', "!")),
            _ => {}
        }
        if !is_word_char(ch) {
            prev = None;
            continue;
        }
        let utf8 = ch.encode_utf8(&mut buf);
        word_chars += 1;
        raw.push(fnv1a(b'c', utf8));
        if let Some(p) = prev {
            raw.push(fnv1a_extend(p, utf8.as_bytes()));
        }
        prev = Some(fnv1a(b'b', utf8));
    }
    let bucket = 32 - word_chars.min(255).leading_zeros();
    raw.push(fnv1a(b'L', LENGTH_BUCKETS[bucket as usize]));
    let clause_of = clauses(text, tokens);
    let last = clause_of.last().copied();
    let mut negated: Option<u32> = None;
    for (t, &c) in tokens.iter().map(AsRef::as_ref).zip(&clause_of) {
        if negated == Some(c) {
            raw.push(fnv1a(b'n', t));
        }
        if is_negator(t) {
            negated = Some(c);
        }
        if last == Some(c) {
            raw.push(fnv1a(b'l', t));
        }
    }
    raw.sort_unstable();
    let mut ids = Vec::with_capacity(raw.len());
    let mut weights = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let mut j = i;
        while j < raw.len() && raw[j] == raw[i] {
            j += 1;
        }
        ids.push(raw[i] as i64);
        weights.push(if j - i == 1 {
            1.0
        } else {
            1.0 + ((j - i) as f32).ln()
        });
        i = j;
    }
    let norm = weights.iter().map(|w| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        weights.iter_mut().for_each(|w| *w /= norm);
    }
    FeatureVec { ids, weights }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(f: &FeatureVec, kind: u8, s: &str) -> bool {
        f.ids.contains(&(fnv1a(kind, s) as i64))
    }

    fn toks(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hash_is_the_documented_fnv1a() {
        // Reference values computed independently (FNV-1a 32 of b"w" + "年费").
        let mut h: u32 = 0x811c9dc5;
        for b in "w年费".bytes() {
            h ^= b as u32;
            h = h.wrapping_mul(0x01000193);
        }
        assert_eq!(fnv1a(b'w', "年费"), h);
    }

    #[test]
    fn features_are_sorted_unique_and_unit_length() {
        let f = featurize("年费年费, 好", &toks(&["年费", "年费", "好"]));
        assert!(f.ids.windows(2).all(|w| w[0] < w[1]));
        let norm: f32 = f.weights.iter().map(|w| w * w).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        // 2 words + 3 chars (年 费 好) + bigrams 年费, 费年 + length bucket L3 (5 word
        // characters) + last-clause token l好 = 9 distinct features.
        assert_eq!(f.ids.len(), 9);
        assert!(has(&f, b'L', "3") && has(&f, b'l', "好") && !has(&f, b'l', "年费"));
        assert!(has(&f, b'b', "年费") && has(&f, b'b', "费年") && has(&f, b'c', "好"));
        assert!(!has(&f, b'b', "费好"), "bigrams stop at punctuation");
        // Text without word characters still has its length bucket.
        assert_eq!(
            featurize::<&str>("。", &[]).ids,
            vec![fnv1a(b'L', "0") as i64]
        );
        assert_eq!(featurize::<&str>("", &[]).ids.len(), 1);
    }

    #[test]
    fn negation_scope_ends_at_the_clause() {
        let f = featurize(
            "转账不太方便,客服很好?",
            &toks(&["转账", "不太", "方便", "客服", "很", "好"]),
        );
        assert!(has(&f, b'n', "方便"));
        assert!(!has(&f, b'n', "转账") && !has(&f, b'n', "客服") && !has(&f, b'n', "好"));
        assert!(has(&f, b'l', "客服") && has(&f, b'l', "好") && !has(&f, b'l', "方便"));
        assert!(has(&f, b'p', "?"));
        // A polarity word that starts with 不 is not a negator.
        let g = featurize("不错 好用", &toks(&["不错", "好用"]));
        assert!(!has(&g, b'n', "好用"));
    }
}

//! Model features: hashed bag of words and character n-grams, plus a few cheap
//! cues for sentiment.
//!
//! Training calls the same code through `voc featurize`, so Rust inference and
//! Python training can never tokenize differently. A feature is the 32-bit
//! FNV-1a hash of a kind byte plus the UTF-8 of the feature:
//! `w` a jieba token, `c` a character, `b` a character bigram within a run of
//! word characters, `n` a token in the scope of a negator (a token such as
//! 不 / 没有 / 无法 earlier in the same clause), `l` a token of the last clause,
//! `q` a token of a question clause (one followed by a question mark, or
//! holding an interrogative such as 吗 / 怎么 / 是否 or an A-not-A pair such as
//! 能 不能: "转账 失败" reads differently in a question than in a report),
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

/// Interrogative tokens (as jieba splits them): a clause holding one is a
/// question. A-not-A forms that jieba splits (能 + 不能, 要 + 不要) are found by
/// [`is_a_not_a`].
fn is_interrogative(token: &str) -> bool {
    matches!(
        token,
        "吗" | "呢"
            | "么"
            | "怎么"
            | "怎么样"
            | "怎么办"
            | "怎样"
            | "如何"
            | "什么"
            | "为什么"
            | "为啥"
            | "咋"
            | "咋办"
            | "咋样"
            | "哪"
            | "哪里"
            | "哪儿"
            | "哪个"
            | "哪些"
            | "多少"
            | "多久"
            | "几"
            | "几天"
            | "几个"
            | "几点"
            | "几号"
            | "能否"
            | "是否"
            | "可不可以"
            | "是不是"
            | "有没有"
            | "行不行"
            | "对不对"
            | "好不好"
            | "请问"
    )
}

/// `next` is `first` negated (能 + 不能, 有 + 没有): an A-not-A question.
fn is_a_not_a(first: &str, next: &str) -> bool {
    !first.is_empty()
        && (next.strip_prefix('不') == Some(first) || next.strip_prefix('没') == Some(first))
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

fn is_question_mark(c: char) -> bool {
    c == '?' || c == '？'
}

/// Clause index of every token (tokens are substrings of `text`, in order),
/// and per clause whether a question mark follows it. Scanning forward with
/// `starts_with` finds the same position as `find` (the first occurrence at
/// or after the cursor) without building a substring searcher per token; the
/// gap between two tokens is a few characters.
fn clauses<S: AsRef<str>>(text: &str, tokens: &[S]) -> (Vec<u32>, Vec<bool>) {
    let mut pos = 0usize;
    let mut clause = 0u32;
    let mut asked = vec![false];
    let of_token = tokens
        .iter()
        .map(|t| {
            let t = t.as_ref();
            let mut at = pos;
            let mut broke = false;
            let mut question = false;
            while at < text.len() && !text[at..].starts_with(t) {
                let ch = text[at..].chars().next().expect("at is a char boundary");
                broke |= is_clause_break(ch);
                question |= is_question_mark(ch);
                at += ch.len_utf8();
            }
            if at < text.len() {
                if pos > 0 {
                    asked[clause as usize] |= question;
                }
                if broke {
                    clause += 1;
                    asked.push(false);
                }
                pos = at + t.len();
            }
            clause
        })
        .collect();
    if pos > 0 && text[pos..].chars().any(is_question_mark) {
        asked[clause as usize] = true;
    }
    (of_token, asked)
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
            c if is_question_mark(c) => raw.push(fnv1a(b'p', "?")),
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
    let (clause_of, mut question) = clauses(text, tokens);
    for (i, &c) in clause_of.iter().enumerate() {
        let t = tokens[i].as_ref();
        let next = tokens.get(i + 1).map_or("", AsRef::as_ref);
        if is_interrogative(t) || is_a_not_a(t, next) {
            question[c as usize] = true;
        }
    }
    let last = clause_of.last().copied();
    let mut negated: Option<u32> = None;
    for (t, &c) in tokens.iter().map(AsRef::as_ref).zip(&clause_of) {
        if question[c as usize] {
            raw.push(fnv1a(b'q', t));
        }
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

    fn has_q(f: &FeatureVec, t: &str) -> bool {
        has(f, b'q', t)
    }

    #[test]
    fn question_clauses_get_their_own_tokens() {
        // A question mark after the clause marks it; the next clause is a statement.
        let f = featurize(
            "转账失败了? 到账很快",
            &toks(&["转账", "失败", "了", "到账", "很快"]),
        );
        assert!(has_q(&f, "转账") && has_q(&f, "失败"));
        assert!(!has_q(&f, "到账") && !has_q(&f, "很快"));
        // An interrogative or an A-not-A pair inside the clause marks it.
        let g = featurize(
            "到账了吗,我线上能不能办,手续费太贵",
            &toks(&[
                "到账",
                "了",
                "吗",
                "我",
                "线上",
                "能",
                "不能",
                "办",
                "手续费",
                "太贵",
            ]),
        );
        assert!(has_q(&g, "到账") && has_q(&g, "线上") && has_q(&g, "办"));
        assert!(!has_q(&g, "手续费") && !has_q(&g, "太贵"));
        // A statement has none; a leading question mark asks nothing.
        let h = featurize(
            "?不能办 手续费太贵",
            &toks(&["不能", "办", "手续费", "太贵"]),
        );
        assert!(["不能", "办", "手续费", "太贵"]
            .iter()
            .all(|t| !has_q(&h, t)));
        // A question mark at the very end marks the last clause only.
        let m = featurize("手续费 太贵？", &toks(&["手续费", "太贵"]));
        assert!(has_q(&m, "太贵") && !has_q(&m, "手续费"));
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

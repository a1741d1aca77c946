//! Model features: hashed bag of words and character n-grams.
//!
//! Training calls the same code through `voc featurize`, so Rust inference and
//! Python training can never tokenize differently. A feature is the 32-bit
//! FNV-1a hash of a kind byte plus the UTF-8 of the feature:
//! `w` a jieba token, `c` a character, `b` a character bigram within a run of
//! word characters. Values are 1 + ln(count), L2-normalized; the ONNX graph
//! maps hashes to its own bucket count.

use crate::segment::is_word;

/// Sparse features of one item, sorted by id, ids unique.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct FeatureVec {
    pub ids: Vec<i64>,
    pub weights: Vec<f32>,
}

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

fn fnv1a(kind: u8, s: &str) -> u32 {
    let mut h = (FNV_OFFSET ^ kind as u32).wrapping_mul(FNV_PRIME);
    for &b in s.as_bytes() {
        h = (h ^ b as u32).wrapping_mul(FNV_PRIME);
    }
    h
}

pub fn featurize(text: &str, tokens: &[String]) -> FeatureVec {
    let mut raw: Vec<u32> = Vec::with_capacity(tokens.len() + 2 * text.len() / 3);
    raw.extend(tokens.iter().map(|t| fnv1a(b'w', t)));
    let mut prev: Option<char> = None;
    let mut buf = [0u8; 8];
    for ch in text.chars() {
        if !is_word(ch.encode_utf8(&mut buf)) {
            prev = None;
            continue;
        }
        raw.push(fnv1a(b'c', ch.encode_utf8(&mut buf)));
        if let Some(p) = prev {
            let mut pair = String::with_capacity(8);
            pair.push(p);
            pair.push(ch);
            raw.push(fnv1a(b'b', &pair));
        }
        prev = Some(ch);
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
        weights.push(1.0 + ((j - i) as f32).ln());
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
        let f = featurize("年费年费, 好", &["年费".into(), "年费".into(), "好".into()]);
        assert!(f.ids.windows(2).all(|w| w[0] < w[1]));
        let norm: f32 = f.weights.iter().map(|w| w * w).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        // 2 words + 3 chars (年 费 好) + bigrams 年费, 费年 = 7 distinct features.
        assert_eq!(f.ids.len(), 7);
        assert!(featurize("", &[]).ids.is_empty());
    }
}

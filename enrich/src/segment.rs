//! Chinese word segmentation (jieba-rs) with the banking user dictionary in
//! models/banking_dict.txt, so 手机银行, 转账限额, 转人工 stay single tokens,
//! plus TF-IDF keyword extraction over those same tokens.

use crate::idf::IdfTable;
use jieba_rs::{Jieba, KeywordExtractConfig};
use std::collections::HashSet;
use std::io::BufReader;

/// The user dictionary shipped in models/ (compiled in; a path in config may replace it).
pub const BUNDLED_DICT: &str = include_str!("../../models/banking_dict.txt");

#[derive(Debug, thiserror::Error)]
#[error("loading the segmentation dictionary: {0}")]
pub struct DictError(String);

/// A segmenter built once (~100 ms) and shared by all items.
pub struct Segmenter {
    jieba: Jieba,
    /// jieba's IDF table (its median for other words, as jieba does).
    idf: IdfTable,
    stop_words: HashSet<String>,
}

impl Segmenter {
    pub fn new(user_dict: &str) -> Result<Self, DictError> {
        let mut jieba = Jieba::new();
        jieba
            .load_dict(&mut BufReader::new(user_dict.as_bytes()))
            .map_err(|e| DictError(e.to_string()))?;
        // jieba's default stop words (as its TF-IDF extractor uses).
        let stop_words = KeywordExtractConfig::default()
            .stop_words()
            .iter()
            .cloned()
            .collect();
        Ok(Segmenter {
            jieba,
            idf: IdfTable::bundled(),
            stop_words,
        })
    }

    pub fn bundled() -> Self {
        Segmenter::new(BUNDLED_DICT).expect("bundled dictionary is valid (checked by tests)")
    }

    /// Word tokens, without whitespace and punctuation.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        self.words(text).into_iter().map(str::to_string).collect()
    }

    /// [`Segmenter::tokens`] as slices of `text` (no allocation per token).
    pub fn words<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.jieba
            .cut(text, true)
            .into_iter()
            .map(|t| t.word)
            .filter(|w| is_word(w))
            .collect()
    }

    /// Up to `k` TF-IDF keywords of two or more characters among `tokens`
    /// (the item's own tokens: the text is not segmented a second time), best
    /// first. Stop words and masked-PII placeholders (`PHONE`, `CARD`, ...) are
    /// never keywords.
    pub fn keywords<'a>(&self, tokens: impl IntoIterator<Item = &'a str>, k: usize) -> Vec<String> {
        if k == 0 {
            return Vec::new();
        }
        let mut tf: Vec<(&str, u32)> = Vec::new();
        for t in tokens {
            if !self.is_keyword(t) {
                continue;
            }
            match tf.iter_mut().find(|(w, _)| *w == t) {
                Some((_, n)) => *n += 1,
                None => tf.push((t, 1)),
            }
        }
        let total: u32 = tf.iter().map(|(_, n)| n).sum();
        let mut scored: Vec<(f64, &str)> = tf
            .into_iter()
            .map(|(w, n)| (n as f64 * self.idf.get(w) / total as f64, w))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        scored
            .into_iter()
            .take(k)
            .map(|(_, w)| w.to_string())
            .collect()
    }

    fn is_keyword(&self, w: &str) -> bool {
        w.chars().nth(1).is_some()
            && is_word(w)
            && !voc_core::pii::PiiKind::is_placeholder_token(w)
            && !self.stop_words.contains(w)
            && !(w.chars().any(char::is_uppercase) && self.stop_words.contains(&w.to_lowercase()))
    }
}

/// A token that carries meaning: at least one letter, digit, CJK character or emoji.
pub fn is_word(w: &str) -> bool {
    w.chars().any(is_word_char)
}

/// A letter, digit, CJK character or emoji.
pub fn is_word_char(c: char) -> bool {
    // Fast path for the CJK Unified Ideographs block: most characters seen here,
    // and `is_alphanumeric` answers them from a slow table lookup.
    matches!(c as u32, 0x4E00..=0x9FFF) || c.is_alphanumeric() || (c as u32) >= 0x1F000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banking_terms_stay_whole() {
        let s = Segmenter::bundled();
        let t = s.tokens("手机银行转账限额太低了，转人工也转不了!");
        assert!(t.contains(&"手机银行".to_string()), "{t:?}");
        assert!(t.contains(&"转账限额".to_string()), "{t:?}");
        assert!(
            !t.iter().any(|w| w == "," || w == "!" || w == "，"),
            "{t:?}"
        );
    }

    #[test]
    fn extracts_keywords() {
        let s = Segmenter::bundled();
        let text = "信用卡年费说好免的结果又扣了年费，客服推来推去";
        let k = s.keywords(s.words(text), 5);
        assert_eq!(k.first().map(String::as_str), Some("年费"), "{k:?}");
        assert_eq!(s.words(text), s.tokens(text), "the same tokens, borrowed");
        assert!(
            k.len() <= 5 && !k.iter().any(|w| w.chars().count() < 2),
            "{k:?}"
        );
        // jieba's own extractor agrees on the top keyword of this text.
        use jieba_rs::{KeywordExtract, TfIdf};
        let jieba_top = TfIdf::default().extract_keywords(&s.jieba, text, 1, Vec::new());
        assert_eq!(jieba_top[0].keyword, "年费");
        assert!(s.keywords([], 5).is_empty());
        assert!(s.keywords(s.words(text), 0).is_empty());
    }

    #[test]
    fn keywords_skip_stop_words_and_placeholders_and_rank_by_tf_idf() {
        let s = Segmenter::bundled();
        let toks: Vec<String> = ["我们", "PHONE", "[CARD]", "挂失", "挂失", "the", "就是"]
            .iter()
            .map(|t| t.to_string())
            .collect();
        let k = s.keywords(toks.iter().map(String::as_str), 5);
        assert_eq!(k[0], "挂失", "{k:?}");
        assert!(
            !k.iter()
                .any(|w| w == "PHONE" || w == "[CARD]" || w == "the"),
            "{k:?}"
        );
        // A word outside the IDF table gets the median IDF, not zero.
        assert!(s.idf.get("qzxvkjwq") > 0.0 && s.idf.get("年费") > 0.0);
    }
}

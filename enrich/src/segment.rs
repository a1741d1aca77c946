//! Chinese word segmentation (jieba-rs) with the banking user dictionary in
//! models/banking_dict.txt, so 手机银行, 转账限额, 转人工 stay single tokens,
//! plus TF-IDF keyword extraction.

use jieba_rs::{Jieba, KeywordExtract, TfIdf};
use std::io::BufReader;

/// The user dictionary shipped in models/ (compiled in; a path in config may replace it).
pub const BUNDLED_DICT: &str = include_str!("../../models/banking_dict.txt");

#[derive(Debug, thiserror::Error)]
#[error("loading the segmentation dictionary: {0}")]
pub struct DictError(String);

/// A segmenter built once (~100 ms) and shared by all items.
pub struct Segmenter {
    jieba: Jieba,
    tfidf: TfIdf,
}

impl Segmenter {
    pub fn new(user_dict: &str) -> Result<Self, DictError> {
        let mut jieba = Jieba::new();
        jieba
            .load_dict(&mut BufReader::new(user_dict.as_bytes()))
            .map_err(|e| DictError(e.to_string()))?;
        Ok(Segmenter {
            jieba,
            tfidf: TfIdf::default(),
        })
    }

    pub fn bundled() -> Self {
        Segmenter::new(BUNDLED_DICT).expect("bundled dictionary is valid (checked by tests)")
    }

    /// Word tokens, without whitespace and punctuation.
    pub fn tokens(&self, text: &str) -> Vec<String> {
        self.jieba
            .cut(text, true)
            .into_iter()
            .map(|t| t.word)
            .filter(|w| is_word(w))
            .map(str::to_string)
            .collect()
    }

    /// Up to `k` TF-IDF keywords of two or more characters.
    pub fn keywords(&self, text: &str, k: usize) -> Vec<String> {
        if text.is_empty() || k == 0 {
            return Vec::new();
        }
        self.tfidf
            .extract_keywords(&self.jieba, text, k, Vec::new())
            .into_iter()
            .map(|kw| kw.keyword)
            .filter(|w| w.chars().count() >= 2 && is_word(w) && !w.starts_with('['))
            .collect()
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
        let k = s.keywords("信用卡年费说好免的结果又扣了年费，客服推来推去", 5);
        assert!(k.contains(&"年费".to_string()), "{k:?}");
        assert!(s.keywords("", 5).is_empty());
    }
}

//! Text normalization: the canonical form every later step (and model
//! training, through `voc featurize`) sees.
//!
//! 1. NFKC: full-width Latin letters, digits and punctuation become half-width
//!    (`１２３ＡＢＣ，` -> `123ABC,`), compatibility forms fold.
//! 2. Traditional -> simplified Chinese (OpenCC tables via `zhconv`).
//! 3. Control characters become spaces, whitespace runs collapse to one space.
//! 4. Text longer than the configured limit is cut at a character boundary and
//!    flagged, so one pasted novel cannot stall a partition.

use unicode_normalization::UnicodeNormalization;
use zhconv::{zhconv, Variant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub text: String,
    pub truncated: bool,
}

pub fn normalize(raw: &str, max_chars: usize) -> Normalized {
    let nfkc: String = raw.nfkc().collect();
    // zhconv is the costliest step; skip it for pure ASCII.
    let simplified = if nfkc.is_ascii() {
        nfkc
    } else {
        zhconv(&nfkc, Variant::ZhHans)
    };
    let mut text = String::with_capacity(simplified.len());
    let mut pending_space = false;
    let mut chars = 0usize;
    let mut truncated = false;
    for ch in simplified.chars() {
        if ch.is_whitespace() || ch.is_control() || ch == '\u{200b}' || ch == '\u{feff}' {
            pending_space = !text.is_empty();
            continue;
        }
        if chars >= max_chars {
            truncated = true;
            break;
        }
        if pending_space {
            text.push(' ');
            chars += 1;
            pending_space = false;
        }
        text.push(ch);
        chars += 1;
    }
    Normalized { text, truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s, 10_000).text
    }

    #[test]
    fn folds_full_width_to_half_width() {
        assert_eq!(n("ＡＰＰ版本８．２，转账失败！"), "APP版本8.2,转账失败!");
    }

    #[test]
    fn converts_traditional_to_simplified() {
        assert_eq!(
            n("銀行轉賬一直失敗，客服態度很差"),
            "银行转账一直失败,客服态度很差"
        );
        assert_eq!(n("手機銀行閃退"), "手机银行闪退");
    }

    #[test]
    fn cleans_whitespace_and_control_characters() {
        assert_eq!(
            n("  排队\t\t太久\r\n了\u{0007}吧 \u{200b} "),
            "排队 太久 了 吧"
        );
        assert_eq!(n(""), "");
    }

    #[test]
    fn keeps_emoji() {
        assert_eq!(n("好用👍"), "好用👍");
    }

    #[test]
    fn truncates_huge_text_on_a_char_boundary() {
        let long = "慢".repeat(50);
        let out = normalize(&long, 10);
        assert_eq!(out.text.chars().count(), 10);
        assert!(out.truncated);
        assert!(!normalize("短", 10).truncated);
    }
}

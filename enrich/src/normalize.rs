//! Text normalization: the canonical form every later step (and model
//! training, through `voc featurize`) sees.
//!
//! 1. NFKC: full-width Latin letters, digits and punctuation become half-width
//!    (`１２３ＡＢＣ，` -> `123ABC,`), compatibility forms fold.
//! 2. Traditional -> simplified Chinese (OpenCC tables via `zhconv`).
//! 3. Control characters become spaces, whitespace runs collapse to one space.
//! 4. Text longer than the configured limit is cut at a character boundary and
//!    flagged, so one pasted novel cannot stall a partition.
//!
//! Both library steps have exact fast paths for the common case (plain
//! simplified Chinese with full-width punctuation), which together were ~8 % of
//! the text stages' time: see [`nfkc`] and [`to_simplified`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;
use zhconv::{get_builtin_converter, get_builtin_tables, tables::expand_table, Variant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub text: String,
    pub truncated: bool,
}

pub fn normalize(raw: &str, max_chars: usize) -> Normalized {
    let nfkc = nfkc(raw);
    let simplified = to_simplified(&nfkc);
    let mut text = String::with_capacity(simplified.len());
    let mut pending_space = false;
    let mut chars = 0usize;
    let mut truncated = false;
    for ch in simplified.chars() {
        if ch.is_whitespace() || ch.is_control() || ch == '\u{200b}' || ch == '\u{feff}' {
            pending_space = !text.is_empty();
            continue;
        }
        // A pending space takes a character of the limit too.
        if chars + usize::from(pending_space) >= max_chars {
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

/// NFKC of `raw`. Text made only of characters that NFKC leaves alone and
/// that never compose (printable ASCII, CJK ideographs and punctuation,
/// emoji...) plus full-width ASCII forms (U+FF01..U+FF5E, the ideographic
/// space), whose NFKC mapping is one such character, is mapped in one pass;
/// anything else goes through the full algorithm.
pub fn nfkc(raw: &str) -> String {
    if raw.chars().all(|c| stable(c) || full_width(c).is_some()) {
        raw.chars().map(|c| full_width(c).unwrap_or(c)).collect()
    } else {
        raw.nfkc().collect()
    }
}

/// Characters NFKC maps to themselves and that take no part in composition
/// (Unicode: no decomposition, canonical combining class 0, NFKC_QC = Yes).
/// Checked against the library for every character of these ranges in the tests.
fn stable(c: char) -> bool {
    matches!(c,
        '\u{20}'..='\u{7e}'          // printable ASCII
        | '\u{4e00}'..='\u{9fff}'    // CJK unified ideographs
        | '\u{3400}'..='\u{4dbf}'    // CJK extension A
        | '\u{3001}'..='\u{3002}'    // 、。
        | '\u{3008}'..='\u{3011}'    // 〈〉《》「」『』【】
        | '\u{2013}'..='\u{2014}'    // – —
        | '\u{2018}'..='\u{2019}'    // ‘ ’
        | '\u{201c}'..='\u{201d}'    // “ ”
        | '\u{00b7}'                 // ·
        | '\u{1f300}'..='\u{1faff}'  // emoji and pictographs
        | '\u{2600}'..='\u{27bf}'    // misc symbols, dingbats
    )
}

/// The NFKC mapping of a full-width ASCII form or the ideographic space.
fn full_width(c: char) -> Option<char> {
    match c {
        '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0),
        '\u{3000}' => Some(' '),
        _ => None,
    }
}

/// For every conversion rule of the zh-Hans table that changes text, one
/// character of its source: a rule can only apply where all its source
/// characters occur, so text containing none of these converts to itself.
/// The character chosen is one unlikely in simplified text: in order of
/// preference, one the target lacks that is converted on its own (a
/// traditional form); one no rule outputs; one the target lacks. Of common
/// simplified characters only a few end up in the set (么 坏 覆 沈 …, from
/// phrase rules such as `么麽 -> 幺麽`): text with them takes the full path.
static CONVERTIBLE: LazyLock<CharSet> = LazyLock::new(|| {
    let rules: Vec<(String, String)> = get_builtin_tables(Variant::ZhHans)
        .iter()
        .flat_map(|&t| expand_table(t))
        .filter(|(from, to)| from != to)
        .collect();
    let single: HashSet<char> = rules
        .iter()
        .filter(|(from, _)| from.chars().count() == 1)
        .filter_map(|(from, _)| from.chars().next())
        .collect();
    let output: HashSet<char> = rules.iter().flat_map(|(_, to)| to.chars()).collect();
    let mut set = CharSet::default();
    for (from, to) in &rules {
        let lacking = || from.chars().filter(|c| !to.contains(*c));
        let pick = lacking()
            .find(|c| single.contains(c))
            .or_else(|| from.chars().find(|c| !output.contains(c)))
            .or_else(|| lacking().next());
        match pick {
            Some(c) => set.insert(c),
            // Same characters, other order: any of them will do.
            None => from.chars().take(1).for_each(|c| set.insert(c)),
        }
    }
    set
});

/// A set of characters: a bitmap for the Basic Multilingual Plane (8 KiB),
/// a sorted list above it.
#[derive(Default)]
struct CharSet {
    bmp: Vec<u64>,
    astral: Vec<char>,
}

impl CharSet {
    fn insert(&mut self, c: char) {
        let i = c as usize;
        if i < 0x10000 {
            if self.bmp.is_empty() {
                self.bmp = vec![0; 0x10000 / 64];
            }
            self.bmp[i / 64] |= 1 << (i % 64);
        } else if let Err(at) = self.astral.binary_search(&c) {
            self.astral.insert(at, c);
        }
    }

    fn contains(&self, c: char) -> bool {
        let i = c as usize;
        if i < 0x10000 {
            self.bmp
                .get(i / 64)
                .is_some_and(|w| w & (1 << (i % 64)) != 0)
        } else {
            self.astral.binary_search(&c).is_ok()
        }
    }
}

/// Traditional -> simplified (OpenCC zh-Hans), skipped for text no rule can
/// change (see [`CONVERTIBLE`]): most input is already simplified.
pub fn to_simplified(text: &str) -> Cow<'_, str> {
    if text.is_ascii() || !text.chars().any(|c| CONVERTIBLE.contains(c)) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(get_builtin_converter(Variant::ZhHans).convert(text))
    }
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

    /// The fast paths give what the libraries give, on text that takes them
    /// and text that does not (mixed scripts, combining marks, phrases).
    #[test]
    fn fast_paths_match_the_full_algorithms() {
        for t in [
            "手机银行转账一直失败，客服态度很差！",
            "ＡＰＰ版本８．２，转账失败！",
            "銀行轉賬一直失敗，客服態度很差",
            "这个理财產品收益率還行",
            "瞭解一下信用卡分期",
            "乾隆年间的钱币能存吗",
            "e\u{301}tude Ａ\u{301} ﬁ ① ㈱ ｶﾞ 한국어 ＂引号＂　全角空格",
            "台灣的朋友說這個App很好用",
            "",
            "ascii only, 123",
        ] {
            let full_nfkc: String = t.nfkc().collect();
            assert_eq!(nfkc(t), full_nfkc, "nfkc of {t:?}");
            assert_eq!(
                to_simplified(&full_nfkc),
                zhconv::zhconv(&full_nfkc, Variant::ZhHans),
                "zh-Hans of {t:?}"
            );
        }
    }

    /// The characters the fast path keeps as they are really are NFKC-stable
    /// and never compose, alone or after any of them.
    #[test]
    fn stable_ranges_agree_with_unicode() {
        use unicode_normalization::char::canonical_combining_class;
        use unicode_normalization::{is_nfkc_quick, IsNormalized};
        let kept: Vec<char> = (0..=0x10ffffu32)
            .filter_map(char::from_u32)
            .filter(|&c| stable(c))
            .collect();
        for &c in &kept {
            assert_eq!(canonical_combining_class(c), 0, "{c:?}");
            assert_eq!(
                is_nfkc_quick(std::iter::once(c)),
                IsNormalized::Yes,
                "{c:?}"
            );
            // Composes with nothing stable before it.
            for b in ['a', 'e', '中', '。'] {
                let pair: String = [b, c].iter().collect();
                assert_eq!(pair.nfkc().collect::<String>(), pair, "{b:?} {c:?}");
            }
        }
        for c in (0xff01..=0xff5e)
            .filter_map(char::from_u32)
            .chain(['\u{3000}'])
        {
            let mapped = full_width(c).unwrap();
            assert_eq!(c.to_string().nfkc().collect::<String>(), mapped.to_string());
            assert!(stable(mapped));
        }
    }

    /// ... and on every text of the project's labelled corpus.
    #[test]
    fn fast_paths_match_on_the_labelled_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/data/train");
        let mut n = 0;
        for f in std::fs::read_dir(&dir).unwrap() {
            let body = std::fs::read_to_string(f.unwrap().path()).unwrap();
            for line in body.lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let t = v["text"].as_str().unwrap();
                let full_nfkc: String = t.nfkc().collect();
                assert_eq!(nfkc(t), full_nfkc);
                assert_eq!(
                    to_simplified(&full_nfkc),
                    zhconv::zhconv(&full_nfkc, Variant::ZhHans)
                );
                n += 1;
            }
        }
        assert!(n > 2000, "{n} texts");
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

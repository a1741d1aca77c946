//! The detection form of a text: every character folded to what it stands for
//! (full-width forms to ASCII, spoken and written Chinese numerals to digits,
//! odd spaces to a space), one character for one character, with a map back to
//! the original so that masking replaces exactly the original characters and
//! leaves the rest of the text as it was.

use std::ops::Range;

/// The digit a character stands for: ASCII and full-width digits, Chinese
/// numerals as ASR and people write them (`幺` for 1, `两` for 2, `洞` and `拐`
/// of radio speech, the financial forms `壹贰叁`, traditional forms),
/// circled and mathematical digits.
pub(super) fn digit_of(c: char) -> Option<u8> {
    Some(match c {
        '0'..='9' => c as u8 - b'0',
        '\u{FF10}'..='\u{FF19}' => (c as u32 - 0xFF10) as u8,
        '零' | '〇' | '洞' | '⓪' => 0,
        '一' | '幺' | '腰' | '壹' => 1,
        '二' | '两' | '兩' | '贰' | '貳' => 2,
        '三' | '叁' | '參' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' | '陸' => 6,
        '七' | '柒' | '拐' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        '\u{2460}'..='\u{2468}' => (c as u32 - 0x2460 + 1) as u8,
        '\u{1D7CE}'..='\u{1D7FF}' => ((c as u32 - 0x1D7CE) % 10) as u8,
        _ => return None,
    })
}

/// A Chinese numeral (as opposed to a digit in any script): a lone one is
/// usually part of a word (`一直`, `两天`), so runs treat it with care.
pub(super) fn is_chinese_numeral(c: char) -> bool {
    !matches!(c, '0'..='9' | '\u{FF10}'..='\u{FF19}' | '\u{2460}'..='\u{2468}' | '⓪' | '\u{1D7CE}'..='\u{1D7FF}')
        && digit_of(c).is_some()
}

fn fold(c: char) -> char {
    if let Some(d) = digit_of(c) {
        return (b'0' + d) as char;
    }
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\n' => '\n',
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => ' ',
        c if c.is_whitespace() => ' ',
        c => c,
    }
}

/// Whether anything in `raw` could be PII: seven digit-like characters (the
/// shortest number masked), an at-sign in any form, a JSON escape (which
/// may hide anything), or two digits with a keyword that announces a code
/// or an account (密码, 验证码, 口令, 背面, 扣扣, CVV, PIN, OTP, QQ, WeChat).
/// Most feedback fails this in one pass over its characters and is returned
/// as it is.
pub(super) fn worth_scanning(raw: &str) -> bool {
    let (mut digits, mut keyword, mut letters) = (0, false, false);
    for c in raw.chars() {
        if digit_of(c).is_some() {
            digits += 1;
            if digits >= 7 {
                return true;
            }
            continue;
        }
        match c {
            '@' | '＠' | '艾' | '圈' | '鼠' | '\\' => return true,
            '码' | '碼' | '令' | '背' | '扣' => keyword = true,
            'a'..='z' | 'A'..='Z' => letters = true,
            '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => return true,
            _ => {}
        }
    }
    if letters && (spoken_at(raw) || raw.contains("微信") || raw.contains("威信")) {
        return true;
    }
    digits >= 2 && (keyword || (letters && ascii_keyword(raw)))
}

/// An ASCII keyword of a code or an account.
fn ascii_keyword(raw: &str) -> bool {
    let b = raw.as_bytes();
    let has = |k: &[u8]| b.windows(k.len()).any(|w| w.eq_ignore_ascii_case(k));
    has(b"cv")
        || has(b"pin")
        || has(b"otp")
        || has(b"qq")
        || has(b"wx")
        || has(b"vx")
        || has(b"wechat")
}

/// `at` between words, 艾特, 圈a, 小老鼠: the spoken at-sign.
pub(super) fn spoken_at(text: &str) -> bool {
    text.contains("艾特")
        || text.contains('圈')
        || text.contains("小老鼠")
        || text
            .as_bytes()
            .windows(4)
            .any(|w| w[0] == b' ' && w[3] == b' ' && w[1..3].eq_ignore_ascii_case(b"at"))
}

/// The character a JSON escape at the start of `s` stands for, and its length.
fn escape(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    match b.get(1)? {
        b'n' | b't' | b'r' => Some((' ', 2)),
        b'u' => {
            let hex = s.get(2..6)?;
            let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
            Some((c, 6))
        }
        _ => None,
    }
}

/// A text in detection form and the way back to the original.
pub(super) struct Folded<'a> {
    pub raw: &'a str,
    pub text: String,
    /// For each byte of `text`, the offset in `raw` of the character it came
    /// from; one more entry for the end.
    orig: Vec<u32>,
}

impl<'a> Folded<'a> {
    pub fn new(raw: &'a str) -> Folded<'a> {
        let mut text = String::with_capacity(raw.len());
        let mut orig = Vec::with_capacity(raw.len() + 1);
        let mut chars = raw.char_indices();
        while let Some((i, c)) = chars.next() {
            // A raw JSON payload writes characters as escapes (`\u4e00`, `\n`):
            // one escape folds to the one character it stands for.
            let escaped = if c == '\\' { escape(&raw[i..]) } else { None };
            let c = match escaped {
                Some((e, len)) => {
                    chars.nth(len - 2);
                    e
                }
                None => c,
            };
            let f = fold(c);
            text.push(f);
            orig.extend(std::iter::repeat_n(i as u32, f.len_utf8()));
        }
        orig.push(raw.len() as u32);
        Folded { raw, text, orig }
    }

    /// The original byte range of a range of `text` (on character boundaries).
    pub fn original(&self, r: Range<usize>) -> Range<usize> {
        self.orig[r.start] as usize..self.orig[r.end] as usize
    }

    /// The original character at byte `i` of `text`.
    pub fn original_char(&self, i: usize) -> char {
        self.raw[self.orig[i] as usize..]
            .chars()
            .next()
            .unwrap_or(' ')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_one_character_for_one_and_maps_back() {
        let f = Folded::new("号码１３８ 幺三八，ｚｈａｎｇ＠ｑｑ．ｃｏｍ\u{3000}壹贰");
        assert_eq!(f.text, "号码138 138,zhang@qq.com 12");
        let at = f.text.find('@').unwrap();
        assert_eq!(&f.raw[f.original(at..at + 1)], "＠");
        let start = f.text.find("138 ").unwrap() + 4;
        assert_eq!(&f.raw[f.original(start..start + 3)], "幺三八");
        assert!(is_chinese_numeral(f.original_char(start)));
    }

    #[test]
    fn folds_json_escapes_of_raw_payloads() {
        let raw = r#"{"text":"\u624b\u673a\u4e00\u4e09\u516b\nok"}"#;
        let f = Folded::new(raw);
        assert_eq!(f.text, "{\"text\":\"手机138 ok\"}");
        let at = f.text.find("138").unwrap();
        assert_eq!(&raw[f.original(at..at + 3)], r"\u4e00\u4e09\u516b");
    }

    #[test]
    fn most_text_is_not_worth_scanning() {
        assert!(!worth_scanning("转账一直失败，客服态度很差"));
        assert!(!worth_scanning(
            "两三个月了，App 8.2版本一直闪退，信用卡额度才5万"
        ));
        assert!(worth_scanning("验证码 三三九"));
        assert!(worth_scanning("CVV 372"));
        assert!(worth_scanning("手机13812345678"));
        assert!(worth_scanning("zhang san at qq dot com"));
        assert!(worth_scanning("邮箱 a＠b.com"));
    }
}

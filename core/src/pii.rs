//! PII masking: runs on normalized text before anything is stored, logged,
//! published or alerted.
//!
//! Masked: e-mail addresses, and every run of 11 or more digits, allowing the
//! single spaces or hyphens people type inside numbers (`138 1234 5678`,
//! `6222-0212-3456-7890`) and the Chinese numerals ASR writes for spoken
//! digits (`幺三八一二三四五六七八`). Landlines (10+ digits starting with 0) too.
//! A run is labelled by shape: mobile phone, 18-character ID card (with its
//! X check digit), bank card (15-19 digits), or a generic long number. Masking
//! by length rather than exact validation errs towards privacy: an order
//! number of 16 digits is masked too.

use regex::Regex;
use std::sync::LazyLock;

/// The kinds of PII the masker recognizes, also the placeholder in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PiiKind {
    Phone,
    IdCard,
    BankCard,
    Email,
    Number,
}

impl PiiKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Phone => "phone",
            PiiKind::IdCard => "id_card",
            PiiKind::BankCard => "bank_card",
            PiiKind::Email => "email",
            PiiKind::Number => "number",
        }
    }

    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Phone => "[PHONE]",
            PiiKind::IdCard => "[ID]",
            PiiKind::BankCard => "[CARD]",
            PiiKind::Email => "[EMAIL]",
            PiiKind::Number => "[NUMBER]",
        }
    }

    pub const ALL: [PiiKind; 5] = [
        PiiKind::Phone,
        PiiKind::IdCard,
        PiiKind::BankCard,
        PiiKind::Email,
        PiiKind::Number,
    ];

    /// Whether `token` is a placeholder's word as the segmenter cuts it
    /// (`[PHONE]` -> `PHONE`), or the whole placeholder.
    pub fn is_placeholder_token(token: &str) -> bool {
        let word = token.trim_start_matches('[').trim_end_matches(']');
        PiiKind::ALL
            .iter()
            .any(|k| &k.placeholder()[1..k.placeholder().len() - 1] == word)
    }
}

/// E-mail as typed or as ASR writes it: `@` or spoken 艾特, and dots that
/// may come out as 点, "dot" or a space (`user@example com`).
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[A-Za-z0-9._%+\-]+ ?(?:@|艾特) ?[A-Za-z0-9\-]+(?: ?(?:\.|点|dot| ) ?[A-Za-z0-9\-]*[A-Za-z][A-Za-z0-9\-]*)*",
    )
    .unwrap()
});
/// A digit (ASCII or Chinese numeral) followed by digits with at most one
/// space or hyphen between them, optionally ending with an ID check letter X.
static DIGITS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+?[0-9零〇一二三四五六七八九幺两](?:[ \-]?[0-9零〇一二三四五六七八九幺两]){6,}(?:[ \-]?[Xx])?").unwrap()
});

fn digit_value(c: char) -> Option<char> {
    Some(match c {
        '0'..='9' => c,
        '零' | '〇' => '0',
        '一' | '幺' => '1',
        '二' | '两' => '2',
        '三' => '3',
        '四' => '4',
        '五' => '5',
        '六' => '6',
        '七' => '7',
        '八' => '8',
        '九' => '9',
        'X' | 'x' => 'X',
        _ => return None,
    })
}

/// Decide whether a run of digits is PII, and which kind.
fn classify(run: &str) -> Option<PiiKind> {
    let digits: String = run.chars().filter_map(digit_value).collect();
    let ascii_digits = run.chars().any(|c| c.is_ascii_digit());
    let n = digits.len();
    let has_x = digits.ends_with('X');
    // Chinese numerals alone ("一二三四五六七") are ordinary words until they are long.
    if !ascii_digits && n < 11 {
        return None;
    }
    let body = digits.trim_start_matches("86");
    if body.len() == 11 && body.starts_with('1') && body.as_bytes()[1] >= b'3' {
        return Some(PiiKind::Phone);
    }
    if n == 18 && (has_x || plausible_birth_date(&digits[6..14])) {
        return Some(PiiKind::IdCard);
    }
    if digits.starts_with('0') && (10..=12).contains(&n) {
        return Some(PiiKind::Phone);
    }
    match n {
        15..=19 => Some(PiiKind::BankCard),
        11.. => Some(PiiKind::Number),
        _ => None,
    }
}

fn plausible_birth_date(yyyymmdd: &str) -> bool {
    let y: u32 = yyyymmdd[0..4].parse().unwrap_or(0);
    let m: u32 = yyyymmdd[4..6].parse().unwrap_or(0);
    let d: u32 = yyyymmdd[6..8].parse().unwrap_or(0);
    (1900..=2030).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)
}

/// Masked text and the kinds of PII found (sorted, deduplicated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub text: String,
    pub kinds: Vec<PiiKind>,
}

pub fn mask(text: &str) -> Masked {
    let mut kinds = Vec::new();
    // Fast path: most feedback has no digits, numerals or '@' at all.
    let maybe = text.contains("艾特")
        || text
            .chars()
            .any(|c| c == '@' || digit_value(c).is_some_and(|_| c != 'X' && c != 'x'));
    if !maybe {
        return Masked {
            text: text.to_string(),
            kinds,
        };
    }
    let after_email = EMAIL.replace_all(text, |_: &regex::Captures| {
        kinds.push(PiiKind::Email);
        PiiKind::Email.placeholder()
    });
    let masked = DIGITS.replace_all(&after_email, |c: &regex::Captures| {
        let run = &c[0];
        match classify(run) {
            Some(kind) => {
                kinds.push(kind);
                kind.placeholder().to_string()
            }
            None => run.to_string(),
        }
    });
    kinds.sort();
    kinds.dedup();
    Masked {
        text: masked.into_owned(),
        kinds,
    }
}

/// True when `text` still contains something the masker would mask; used to
/// pseudonymize identity keys and by tests as an independent leak check.
pub fn contains_pii(text: &str) -> bool {
    !mask(text).kinds.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> String {
        mask(s).text
    }

    #[test]
    fn masks_mobile_numbers_in_every_written_form() {
        assert_eq!(m("我手机13812345678打不通"), "我手机[PHONE]打不通");
        assert_eq!(m("回电138 1234 5678谢谢"), "回电[PHONE]谢谢");
        assert_eq!(m("号码是138-1234-5678"), "号码是[PHONE]");
        assert_eq!(m("+8613812345678"), "[PHONE]");
        assert_eq!(
            m("嗯 我的号码是幺三八一二三四五六七八"),
            "嗯 我的号码是[PHONE]"
        );
        assert_eq!(m("座机021-62345678"), "座机[PHONE]");
    }

    #[test]
    fn masks_id_cards_and_bank_cards() {
        assert_eq!(m("身份证110101199003074514办不了"), "身份证[ID]办不了");
        assert_eq!(m("身份证号11010119900307451X"), "身份证号[ID]");
        assert_eq!(m("卡号6222 0212 3456 7890 123被冻结"), "卡号[CARD]被冻结");
        assert_eq!(m("卡号6222021234567890"), "卡号[CARD]");
        let r = mask("卡6222021234567890，电话13812345678");
        assert_eq!(r.kinds, vec![PiiKind::Phone, PiiKind::BankCard]);
    }

    #[test]
    fn masks_email_addresses() {
        assert_eq!(m("发到zhang.san@example.com.cn了"), "发到[EMAIL]了");
        // ASR renders the dots as spaces or 点, and @ as 艾特.
        assert_eq!(
            m("邮箱 user52277@example com。请回复"),
            "邮箱 [EMAIL]。请回复"
        );
        assert_eq!(m("邮箱是 wang 艾特 qq 点 com 谢谢"), "邮箱是 [EMAIL] 谢谢");
    }

    #[test]
    fn leaves_ordinary_numbers_alone() {
        for s in [
            "转账5000元两天没到",
            "等了45分钟",
            "2026-11-24 10:03:05办的业务",
            "App 8.2.1版本闪退",
            "一二三四五六七",
            "单日限额才50000",
            "前面还有38位",
        ] {
            assert_eq!(m(s), s, "{s}");
            assert!(!contains_pii(s));
        }
    }
}

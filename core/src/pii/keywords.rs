//! Secrets announced by their keyword: verification codes, passwords, CVV and
//! PINs (`验证码是 幺二三四五六`, `密码 就是我生日 一九九零 零三 零七`,
//! `六六八八九九 就是我的取款密码`), QQ and WeChat accounts, passport numbers.
//! The secret is the first code-shaped thing within a few words of the
//! keyword, whatever the filler words between; a number with a unit after it
//! (`密码输错3次`, `验证码60秒`) or a date is not a secret.

use super::digits::{Gap, Run};
use super::fold::Folded;
use super::shape;
use super::{PiiKind, Span};
use regex::Regex;
use std::ops::Range;
use std::sync::LazyLock;

static KEYWORD: LazyLock<Regex> = LazyLock::new(|| {
    let simplified = concat!(
        r"(?i)(?:交易|取款|支付|登录|登陆|查询|网银|银行卡|手机银行|开机|原|新)?(?:密码|口令)",
        r"|(?:短信|动态|手机|登录|图形)?验证码|校验码|动态码|短信码|确认码|授权码|安全码|卡?背(?:面|后)",
        r"|cvv2?|cvc2?|cvn2?|pin码?|otp",
        r"|qq号?码?|扣扣号?|微信号?|威信号?|vx号?|wx号?|wechat",
        r"|护照号?码?|通行证号?码?",
    );
    Regex::new(&either_script(simplified)).unwrap()
});

/// Simplified and traditional forms of the keywords' characters: raw text
/// (a dead letter's payload) is not converted to simplified Chinese.
const TRADITIONAL: [(char, char); 19] = [
    ('验', '驗'),
    ('证', '證'),
    ('码', '碼'),
    ('动', '動'),
    ('态', '態'),
    ('护', '護'),
    ('号', '號'),
    ('录', '錄'),
    ('询', '詢'),
    ('银', '銀'),
    ('机', '機'),
    ('开', '開'),
    ('图', '圖'),
    ('确', '確'),
    ('认', '認'),
    ('权', '權'),
    ('陆', '陸'),
    ('网', '網'),
    ('后', '後'),
];

fn either_script(pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match TRADITIONAL.iter().find(|(s, _)| *s == c) {
            Some((s, t)) => format!("[{s}{t}]"),
            None => c.to_string(),
        })
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum Secret {
    /// A code or password of `min..=max` digits (or letters and digits).
    Code {
        min: usize,
        max: usize,
    },
    Qq,
    WeChat,
    Passport,
}

fn secret(keyword: &str) -> Secret {
    let k = keyword.to_ascii_lowercase();
    if k.contains("密码") || k.contains("密碼") || k.contains("口令") {
        Secret::Code { min: 4, max: 10 }
    } else if k.starts_with("cv") || k.contains("安全") || k.contains('背') {
        Secret::Code { min: 3, max: 4 }
    } else if k.starts_with("pin") {
        Secret::Code { min: 4, max: 6 }
    } else if k.starts_with("qq") || k.starts_with("扣扣") {
        Secret::Qq
    } else if k.contains("微信") || k.contains("威信") || k.starts_with('v') || k.starts_with('w')
    {
        Secret::WeChat
    } else if k.contains('照') || k.contains("通行") {
        Secret::Passport
    } else {
        Secret::Code { min: 4, max: 8 }
    }
}

/// How far after its keyword a secret may start, in characters.
const WINDOW: usize = 16;
/// How far before its keyword a code may end (`314159 这个验证码`).
const BACK_WINDOW: usize = 8;

/// Words that may stand between a keyword and its secret without making the
/// secret any less of one.
fn is_connector(c: char) -> bool {
    " :=()是为就嗯呃额啊那个这号码的我了也还对呢吧哦改成设置為這個號碼還對設".contains(c)
}

/// Where a sentence ends; a question does not end the search (`验证码是多少？六六六八八八`).
pub(super) fn is_hard_stop(c: char) -> bool {
    matches!(c, '。' | '!' | ';' | '\n')
}

fn is_cjk(c: Option<char>) -> bool {
    c.is_some_and(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!@#$%^&*._+-~".contains(&c)
}

/// Find keyword-announced secrets; the groups of `runs` they take are marked
/// in `taken`.
pub(super) fn find(f: &Folded, runs: &[Run], taken: &mut [Vec<bool>], out: &mut Vec<Span>) {
    let text = f.text.as_str();
    let bytes = text.as_bytes();
    for m in KEYWORD.find_iter(text) {
        if out
            .iter()
            .any(|s| s.at.start < m.end() && m.start() < s.at.end)
        {
            continue;
        }
        // An ASCII keyword must be a word of its own (`pin`, not `pinyin`).
        let alnum = |i: Option<&u8>| i.is_some_and(|b| b.is_ascii_alphanumeric());
        if (bytes[m.start()].is_ascii_alphabetic()
            && m.start() > 0
            && alnum(bytes.get(m.start() - 1)))
            || (bytes[m.end() - 1].is_ascii_alphanumeric() && alnum(bytes.get(m.end())))
        {
            continue;
        }
        let kind = secret(m.as_str());
        let mut scan = Scan {
            f,
            runs,
            taken,
            out,
        };
        let found = match kind {
            Secret::Code { min, max } => scan.code_after(m.end(), min, max),
            Secret::Qq | Secret::WeChat | Secret::Passport => scan.account_after(m.end(), kind),
        };
        if !found {
            if let Secret::Code { min, max } = kind {
                scan.code_before(m.start(), min, max);
            }
        }
    }
}

struct Scan<'a, 'f> {
    f: &'a Folded<'f>,
    runs: &'a [Run],
    taken: &'a mut [Vec<bool>],
    out: &'a mut Vec<Span>,
}

impl Scan<'_, '_> {
    fn run_at(&self, pos: usize) -> Option<usize> {
        self.runs.binary_search_by_key(&pos, Run::start).ok()
    }

    fn free(&self, r: usize, g: Range<usize>) -> bool {
        g.clone().all(|i| !self.taken[r][i])
    }

    fn push(&mut self, at: Range<usize>, kind: PiiKind) {
        for (r, run) in self.runs.iter().enumerate() {
            for (i, g) in run.groups.iter().enumerate() {
                if g.at.start < at.end && at.start < g.at.end {
                    self.taken[r][i] = true;
                }
            }
        }
        self.out.push(Span { at, kind });
    }

    /// A whole run that is plainly something else: a phone, an ID, a card.
    fn is_other_pii(&self, r: usize, g: Range<usize>) -> bool {
        let run = &self.runs[r];
        shape::precise(run, g.clone()).is_some() || (15..=19).contains(&run.digits_of(g).len())
    }

    /// The first code after a keyword ending at `from`.
    fn code_after(&mut self, from: usize, min: usize, max: usize) -> bool {
        let text = self.f.text.as_str();
        let bytes = text.as_bytes();
        let (mut p, mut chars, mut plain) = (from, 0, true);
        // A code said in pieces (`三三九 后三位 零七一`): where the first piece
        // starts and how many digits so far.
        let mut pieces: Option<(usize, usize)> = None;
        while p < text.len() && chars < WINDOW {
            let c = text[p..].chars().next().unwrap_or(' ');
            if is_hard_stop(c) {
                return false;
            }
            if let Some(end) = repeated_digits(text, p, min) {
                self.push(p..end, PiiKind::Code);
                return true;
            }
            if c.is_ascii_alphanumeric() {
                let end = p + bytes[p..].iter().take_while(|b| is_token_char(**b)).count();
                let token = &text[p..end];
                let letters = token.bytes().any(|b| b.is_ascii_alphabetic());
                let digits = token.bytes().any(|b| b.is_ascii_digit());
                if letters && digits && plain && (4..=32).contains(&token.len()) {
                    self.push(p..end, PiiKind::Code);
                    return true;
                }
                if letters || self.run_at(p).is_none() {
                    plain &= token.len() <= 1;
                    chars += token.chars().count();
                    p = end;
                    continue;
                }
            }
            if let Some(r) = self.run_at(p) {
                match self.code_in_run(r, min, max, plain) {
                    Found::Code => return true,
                    Found::Other => return false,
                    Found::Nothing => {
                        let run = &self.runs[r];
                        let end = run.end();
                        let n = run.digits.len();
                        let all = 0..run.groups.len();
                        if n < min
                            && self.free(r, all.clone())
                            && !shape::quantity(self.f, run, all)
                        {
                            let (start, so_far) = pieces.unwrap_or((p, 0));
                            if (min..=max).contains(&(so_far + n))
                                && !is_cjk(text[end..].chars().next())
                            {
                                self.push(start..end, PiiKind::Code);
                                return true;
                            }
                            pieces = Some((start, so_far + n));
                        }
                        chars += text[p..end].chars().count();
                        p = end;
                        plain = false;
                        continue;
                    }
                }
            }
            plain &= is_connector(c) || c == ',';
            chars += 1;
            p += c.len_utf8();
        }
        false
    }

    /// Whether run `r` starts with a code; `plain` says only connector words
    /// stood between the keyword and the run.
    fn code_in_run(&mut self, r: usize, min: usize, max: usize, plain: bool) -> Found {
        let run = &self.runs[r];
        let all = 0..run.groups.len();
        if !self.free(r, all.clone()) {
            return Found::Nothing;
        }
        let text = self.f.text.as_str();
        let len = run.groups.len();
        if !plain && shape::after_money_word(self.f, run.start()) {
            return Found::Nothing;
        }
        // The longest leading groups that make a code on their own; when they
        // are not the whole run, what follows is something else (a phone, an
        // amount: `验证码 662190 13812345678`, `8 4 9 2 1 6（5分钟内有效）`).
        for k in (1..=len).rev() {
            let n = run.digits_of(0..k).len();
            if n > max {
                continue;
            }
            if n < min {
                break;
            }
            let at = run.bytes_of(0..k);
            let rest_is_other = (k == len && !self.is_other_pii(r, all.clone()))
                || (k < len
                    && run.groups[k].gap != Gap::Glued
                    && (self.is_other_pii(r, k..len) || shape::quantity(self.f, run, k..len)));
            if !rest_is_other {
                continue;
            }
            let after = text[at.end..].chars().next();
            let unit = k == len && shape::unit_after(self.f, at.end);
            // Beyond plain connector words, a code stands on its own (`，804216，`).
            // A date (`2024-03-05`) is no code; a code may look like a year and month.
            let date = k == 3 && shape::date_at(run, 0, k) == Some(3);
            if unit || date || (!plain && is_cjk(after)) {
                continue;
            }
            self.push(at, PiiKind::Code);
            return Found::Code;
        }
        if run.digits.len() > max {
            Found::Other
        } else {
            Found::Nothing
        }
    }

    /// A code just before a keyword ending at `to` (`六六八八九九 就是我的取款密码`).
    fn code_before(&mut self, to: usize, min: usize, max: usize) {
        let text = self.f.text.as_str();
        let mut p = to;
        let mut copula = false;
        for _ in 0..BACK_WINDOW {
            match text[..p].chars().next_back() {
                Some(c) if is_connector(c) && !c.is_ascii_digit() => {
                    copula |= matches!(c, '是' | '这' | '那' | '为');
                    p -= c.len_utf8();
                }
                _ => break,
            }
        }
        if !copula {
            return;
        }
        let Some(r) = self.runs.iter().position(|run| run.end() == p) else {
            return;
        };
        let run = &self.runs[r];
        let all = 0..run.groups.len();
        if self.free(r, all.clone())
            && (min..=max).contains(&run.digits.len())
            && !self.is_other_pii(r, all.clone())
        {
            let at = run.bytes_of(all);
            self.push(at, PiiKind::Code);
        }
    }

    /// A QQ number, a WeChat account or a passport number after its keyword.
    fn account_after(&mut self, from: usize, kind: Secret) -> bool {
        let text = self.f.text.as_str();
        let bytes = text.as_bytes();
        let (mut p, mut chars) = (from, 0);
        while p < text.len() && chars < WINDOW / 2 {
            let c = text[p..].chars().next().unwrap_or(' ');
            if c.is_ascii_alphabetic() {
                let end = p + bytes[p..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
                    .count();
                let token = &text[p..end];
                let found = match kind {
                    Secret::WeChat => {
                        (6..=20).contains(&token.len())
                            && token
                                .bytes()
                                .any(|b| b.is_ascii_digit() || b == b'_' || b == b'-')
                    }
                    Secret::Passport => {
                        let letters = token.bytes().take_while(u8::is_ascii_alphabetic).count();
                        (1..=2).contains(&letters)
                            && (7..=9).contains(&(token.len() - letters))
                            && token.bytes().skip(letters).all(|b| b.is_ascii_digit())
                    }
                    _ => false,
                };
                if found {
                    let kind = if matches!(kind, Secret::Passport) {
                        PiiKind::IdCard
                    } else {
                        PiiKind::Account
                    };
                    self.push(p..end, kind);
                }
                return found;
            }
            if let Some(r) = self.run_at(p) {
                let run = &self.runs[r];
                let all = 0..run.groups.len();
                let n = run.digits.len();
                let fits = match kind {
                    Secret::Passport => (8..=9).contains(&n),
                    _ => (5..=12).contains(&n),
                };
                if fits && self.free(r, all.clone()) && shape::precise(run, all.clone()).is_none() {
                    let at = run.bytes_of(all);
                    let kind = if matches!(kind, Secret::Passport) {
                        PiiKind::IdCard
                    } else {
                        PiiKind::Account
                    };
                    self.push(at, kind);
                    return true;
                }
                return false;
            }
            if !is_connector(c) {
                return false;
            }
            chars += 1;
            p += c.len_utf8();
        }
        false
    }
}

enum Found {
    Code,
    /// Something that is not a code (a phone, a card, a long number): stop looking.
    Other,
    Nothing,
}

/// `六个八`, `四个六两个八`: digits said as "n of d", at least `min` of them;
/// where they end.
fn repeated_digits(text: &str, mut p: usize, min: usize) -> Option<usize> {
    let b = text.as_bytes();
    let (mut n, mut end) = (0, p);
    while let Some(&c) = b.get(p).filter(|c| (b'2'..=b'9').contains(c)) {
        let d = p + 1 + '个'.len_utf8();
        if !text[p + 1..].starts_with('个') || !b.get(d).is_some_and(u8::is_ascii_digit) {
            break;
        }
        n += (c - b'0') as usize;
        end = d + 1;
        p = end;
        while b.get(p) == Some(&b' ') {
            p += 1;
        }
    }
    (n >= min).then_some(end)
}

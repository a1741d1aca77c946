//! What a run of digits is: a phone number, an ID card, a bank card, a
//! long number, or an amount, a date, a version or a count that is not
//! personal at all. The runs themselves come from [`super::digits`].

use super::digits::{Gap, Group, Run};
use super::fold::Folded;
use super::{PiiKind, Span};
use std::ops::Range;

/// The precise shapes: a mobile number (with or without 86), an 18-character
/// ID card with a plausible birth date or its check letter, a landline with
/// its area code.
pub(super) fn precise(run: &Run, g: Range<usize>) -> Option<PiiKind> {
    let d = run.digits_of(g.clone());
    let with_x = run.check_x.is_some() && g.end == run.groups.len();
    if with_x && d.len() == 17 {
        return Some(PiiKind::IdCard);
    }
    let mobile =
        |m: &str| m.len() == 11 && m.starts_with('1') && (b'3'..=b'9').contains(&m.as_bytes()[1]);
    if mobile(d)
        || d.strip_prefix("0086").is_some_and(mobile)
        || d.strip_prefix("86").is_some_and(mobile)
    {
        return Some(PiiKind::Phone);
    }
    if d.len() == 18 && (b'1'..=b'8').contains(&d.as_bytes()[0]) && plausible_birth_date(&d[6..14])
    {
        return Some(PiiKind::IdCard);
    }
    // A landline: the area code (010, 02x, 0xxx) starts the number or is its first group.
    let first = run.digits_of(g.start..g.start + 1);
    let area = first == d
        || (first.len() == 3 && (first.starts_with("01") || first.starts_with("02")))
        || (first.len() == 4 && (b'3'..=b'9').contains(&first.as_bytes()[1]));
    if area && (10..=12).contains(&d.len()) && d.starts_with('0') && d.as_bytes()[1] != b'0' {
        return Some(PiiKind::Phone);
    }
    None
}

pub(super) fn plausible_birth_date(yyyymmdd: &str) -> bool {
    let n = |r: Range<usize>| yyyymmdd[r].parse::<u32>().unwrap_or(0);
    (1900..=2030).contains(&n(0..4)) && (1..=12).contains(&n(4..6)) && (1..=31).contains(&n(6..8))
}

/// How many characters of words may stand between runs that together make
/// a phone number or an ID card (`一三八 后面是 一二三四 再后面 五六七八`).
const MAX_BRIDGE_CHARS: usize = 4;

/// The characters of the words that go on with a number being read out
/// (后面是, 然后, 再来, 剩下的, 中间, 最后): other words, such as verbs, end it.
const BRIDGE_WORDS: &str =
    "后面边然接着再是还有剩下的最中间前嗯呃啊那个这就对呢吧哦来跟和後邊還間這個對";

/// Runs that only together have a precise shape, across a few words that
/// are not separators: masked as one, words and all. Amounts (a unit after a
/// run) never join.
pub(super) fn bridge(f: &Folded, runs: &[Run], taken: &mut [Vec<bool>], out: &mut Vec<Span>) {
    let free = |r: usize, taken: &[Vec<bool>]| taken[r].iter().all(|t| !t);
    let joinable = |r: usize| {
        let run = &runs[r];
        let after = f.text[run.end()..].trim_start_matches(' ').chars().next();
        !after.is_some_and(|c| UNITS.contains(c))
    };
    let mut i = 0;
    while i + 1 < runs.len() {
        let mut total = runs[i].digits.len();
        let mut hit = None;
        let mut j = i;
        while j + 1 < runs.len() && total < 18 && free(j, taken) && joinable(j) {
            let words = &f.text[runs[j].end()..runs[j + 1].start()];
            let short = words.chars().filter(|c| *c != ' ').count() <= MAX_BRIDGE_CHARS
                && words.chars().all(|c| c == ' ' || BRIDGE_WORDS.contains(c));
            if !short || !free(j + 1, taken) || !joinable(j + 1) {
                break;
            }
            j += 1;
            total += runs[j].digits.len();
            if matches!(total, 11 | 13 | 17 | 18) {
                if let Some(kind) = joined(&runs[i..=j]) {
                    hit = Some((j, kind));
                }
            }
        }
        match hit {
            Some((j, kind)) => {
                out.push(Span {
                    at: runs[i].start()..runs[j].end(),
                    kind,
                });
                for t in &mut taken[i..=j] {
                    t.iter_mut().for_each(|t| *t = true);
                }
                i = j + 1;
            }
            None => i += 1,
        }
    }
}

/// The precise shape of runs read as one.
fn joined(runs: &[Run]) -> Option<PiiKind> {
    let mut one = Run {
        groups: Vec::new(),
        digits: String::new(),
        check_x: runs[runs.len() - 1].check_x,
    };
    for r in runs {
        let base = one.digits.len();
        one.digits.push_str(&r.digits);
        one.groups.extend(r.groups.iter().map(|g| Group {
            d: g.d.start + base..g.d.end + base,
            ..g.clone()
        }));
    }
    let kind = precise(&one, 0..one.groups.len())?;
    // Landlines are too easily made of a date and a time.
    (kind != PiiKind::Phone || one.digits.starts_with('1')).then_some(kind)
}

/// What a run is, written into `out`: the whole run if it has a precise shape
/// or a card's length; else its pieces with a precise shape; what is left is
/// a long number unless it reads as an amount, a date, a version or a count.
/// Groups for which `taken` is true (claimed by a keyword) are left alone.
pub(super) fn classify(f: &Folded, run: &Run, taken: &[bool], out: &mut Vec<Span>) {
    let n = run.groups.len();
    let mut a = 0;
    while a < n {
        if taken[a] {
            a += 1;
            continue;
        }
        let mut b = a;
        while b < n && !taken[b] {
            b += 1;
        }
        stretch(f, run, a..b, out);
        a = b;
    }
}

fn stretch(f: &Folded, run: &Run, s: Range<usize>, out: &mut Vec<Span>) {
    if let Some(kind) = precise(run, s.clone()) {
        out.push(span(run, s, kind));
        return;
    }
    // Card numbers start with 3-9 (62 UnionPay, 4 Visa, 5 Mastercard...);
    // a numeral glued to a word at an edge may be the card's or the word's.
    for core in [s.clone(), trim_words(f, run, s.clone())] {
        let d = run.digits_of(core.clone());
        if (15..=19).contains(&d.len())
            && d.as_bytes()[0] >= b'3'
            && !quantity(f, run, core.clone())
            && !reference(f, run, core.clone())
        {
            out.push(span(run, core, PiiKind::BankCard));
            return;
        }
    }
    // Pieces with a precise shape, leftmost and longest first.
    let mut rest_start = s.start;
    let mut i = s.start;
    while i < s.end {
        // A group holds at least one digit: past 22 groups, past 22 digits
        // (bounding this keeps a long run of short groups linear).
        let hit = (i + 1..=s.end.min(i + 22))
            .rev()
            .filter(|&j| run.digits_of(i..j).len() <= 22)
            .find_map(|j| precise(run, i..j).map(|k| (j, k)));
        match hit {
            Some((j, kind)) => {
                loose(f, run, rest_start..i, out);
                out.push(span(run, i..j, kind));
                i = j;
                rest_start = j;
            }
            None => i += 1,
        }
    }
    loose(f, run, rest_start..s.end, out);
}

/// Groups without a precise shape: a long number unless it is a date, an
/// amount, a version or a count.
fn loose(f: &Folded, run: &Run, s: Range<usize>, out: &mut Vec<Span>) {
    // Dates split a stretch: `2024-03-05 10` is a date and an hour.
    let mut a = s.start;
    let mut i = s.start;
    while i < s.end {
        if let Some(len) = date_at(run, i, s.end) {
            piece(f, run, a..i, out);
            i += len;
            a = i;
        } else {
            i += 1;
        }
    }
    piece(f, run, a..s.end, out);
}

fn piece(f: &Folded, run: &Run, s: Range<usize>, out: &mut Vec<Span>) {
    let s = trim_words(f, run, s);
    if s.is_empty() {
        return;
    }
    let d = run.digits_of(s.clone());
    if d.len() < 7
        || quantity(f, run, s.clone())
        || reference(f, run, s.clone())
        || (d.len() < 15 && after_money_word(f, run.bytes_of(s.clone()).start))
    {
        return;
    }
    let kind = if (15..=19).contains(&d.len()) {
        PiiKind::BankCard
    } else {
        PiiKind::Number
    };
    out.push(span(run, s, kind));
}

fn span(run: &Run, g: Range<usize>, kind: PiiKind) -> Span {
    Span {
        at: run.bytes_of(g),
        kind,
    }
}

/// Drop a lone Chinese numeral (one or two) at either end that belongs to the
/// word beside it (`5000一直`, `了一 138`): glued to that word, and to the
/// number only by a change of script or a space.
fn trim_words(f: &Folded, run: &Run, mut s: Range<usize>) -> Range<usize> {
    let is_word_char = |c: Option<char>| c.is_some_and(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let loose = |gap: Gap| matches!(gap, Gap::Glued | Gap::Space);
    while s.len() > 1 {
        let g = &run.groups[s.start];
        let short = g.chinese && g.d.len() <= 2 && loose(run.groups[s.start + 1].gap);
        if short && is_word_char(f.text[..g.at.start].chars().next_back()) {
            s.start += 1;
        } else {
            break;
        }
    }
    while s.len() > 1 {
        let g = &run.groups[s.end - 1];
        let short = g.chinese
            && g.d.len() <= 2
            && loose(g.gap)
            && !(s.end == run.groups.len() && run.check_x.is_some());
        if short && is_word_char(f.text[g.at.end..].chars().next()) {
            s.end -= 1;
        } else {
            break;
        }
    }
    s
}

/// A year-month(-day) written with one separator starting at group `i`: the
/// number of groups it takes. An eight-digit `yyyymmdd` group counts too.
pub(super) fn date_at(run: &Run, i: usize, end: usize) -> Option<usize> {
    let num = |g: usize| run.digits_of(g..g + 1);
    let val = |g: usize| num(g).parse::<u32>().unwrap_or(0);
    let y = num(i);
    if y.len() == 8 && plausible_birth_date(y) {
        return Some(1);
    }
    if y.len() != 4 || !(1900..=2099).contains(&val(i)) || i + 1 >= end {
        return None;
    }
    let Gap::Punct(sep @ ('-' | '/' | '.' | '~')) = run.groups[i + 1].gap else {
        return None;
    };
    // A span of years: `2019-2024`.
    if num(i + 1).len() == 4 && (1900..=2099).contains(&val(i + 1)) {
        return Some(2);
    }
    if num(i + 1).len() > 2 || !(1..=12).contains(&val(i + 1)) {
        return None;
    }
    if i + 2 < end
        && run.groups[i + 2].gap == Gap::Punct(sep)
        && num(i + 2).len() <= 2
        && (1..=31).contains(&val(i + 2))
    {
        return Some(3);
    }
    Some(2)
}

/// Units that make a number an amount, a count, a duration, a rank or a size.
pub(super) const UNITS: &str =
    "元块角毛分万亿千百十美刀镑笔次个位人名家户张条件期份天日周月年号秒小钟点%％‰倍度米斤克楼层室岁多余版届塊萬億筆個張條號鐘點樓層歲餘屆";

/// Whether a unit follows byte `at` (`8万`, `3 次`).
pub(super) fn unit_after(f: &Folded, at: usize) -> bool {
    let after = f.text[at..].trim_start_matches(' ').chars().next();
    after.is_some_and(|c| UNITS.contains(c))
}

/// An amount, a count or a size: a unit after it, a currency sign before it,
/// thousands separators (`1,250,000`), a decimal part (`12345.67`), a list
/// of round sums (`2000、3000`).
pub(super) fn quantity(f: &Folded, run: &Run, s: Range<usize>) -> bool {
    let at = run.bytes_of(s.clone());
    if unit_after(f, at.end) {
        return true;
    }
    let before = f.text[..at.start].trim_end_matches(' ').chars().next_back();
    if before.is_some_and(|c| matches!(c, '¥' | '￥' | '$' | '€' | '£')) {
        return true;
    }
    let gaps: Vec<Gap> = run.groups[s.start + 1..s.end]
        .iter()
        .map(|g| g.gap)
        .collect();
    let len = |g: usize| run.groups[g].d.len();
    let thousands = !gaps.is_empty()
        && len(s.start) <= 3
        && (s.start + 1..s.end).all(|g| match run.groups[g].gap {
            Gap::Punct(',') => len(g) == 3,
            Gap::Punct('.') => g == s.end - 1 && len(g) <= 2,
            _ => false,
        });
    let decimal = matches!(gaps.as_slice(), [Gap::Punct('.')]) && len(s.end - 1) <= 2;
    // A list of round sums: `2000、3000`, `5000,8000,1200`.
    let round = !gaps.is_empty()
        && gaps.iter().all(|g| matches!(g, Gap::Punct('、' | ',')))
        && (s.start..s.end).all(|g| len(g) >= 3 && run.digits_of(g..g + 1).ends_with("00"));
    thousands || decimal || round
}

/// Whether the number starting at byte `at` comes right after a word of
/// money (`转账 12345678`, `金额 5000`): an amount.
pub(super) fn after_money_word(f: &Folded, at: usize) -> bool {
    f.text[..at]
        .trim_end_matches(' ')
        .chars()
        .next_back()
        .is_some_and(|c| "转账付存取还充扣花买卖赔退汇款额价费".contains(c))
}

/// A reference, not a person: a version (`8.3.12.1024`), a code with letters
/// beside it (`SF1234567890`, `C1001234`, the hex of a `pii:` pseudonym), a
/// service hotline (400/800).
fn reference(f: &Folded, run: &Run, s: Range<usize>) -> bool {
    let at = run.bytes_of(s.clone());
    let d = run.digits_of(s.clone());
    let dots = (s.start + 1..s.end).all(|g| run.groups[g].gap == Gap::Punct('.'));
    if dots && s.len() >= 3 && run.groups[s.start].d.len() <= 2 {
        return true;
    }
    let before = f.text[..at.start].trim_end_matches(['-', '_', ':', '#', '.']);
    let letter_before = before
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_alphabetic());
    let letter_after = f.text[at.end..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    if letter_before || letter_after {
        return true;
    }
    d.len() == 10 && (d.starts_with("400") || d.starts_with("800"))
}

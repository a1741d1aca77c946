//! Runs of digits as people say and type them: groups of digits (any script,
//! after folding) with separators or filler words between them
//! (`138，1234，5678`, `一三八 嗯 一二三四 那个 五六七八`). What a run is
//! (a phone number, an amount, ...) is decided in [`super::shape`].

use super::fold::Folded;
use std::ops::Range;

/// Characters that may stand between two groups of one number.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | ','
            | '.'
            | '。'
            | '、'
            | '-'
            | '—'
            | '–'
            | '‐'
            | '_'
            | '·'
            | '/'
            | '…'
            | '('
            | ')'
            | '~'
    )
}

/// Words ASR writes for the pauses of someone reading a number aloud, longest first.
const FILLERS: [&str; 29] = [
    "然后呢",
    "然後呢",
    "那个",
    "那個",
    "这个",
    "這個",
    "就是",
    "然后",
    "然後",
    "还有",
    "還有",
    "对对",
    "對對",
    "是的",
    "嗯",
    "呃",
    "额",
    "啊",
    "哦",
    "噢",
    "呐",
    "哈",
    "唉",
    "诶",
    "欸",
    "对",
    "對",
    "是",
    "呢",
];

fn filler_at(s: &str) -> Option<usize> {
    FILLERS.iter().find(|f| s.starts_with(**f)).map(|f| f.len())
}

/// What stands between two groups of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gap {
    /// Nothing: the script changes (`138幺二三四`).
    Glued,
    /// Spaces only.
    Space,
    /// Exactly one punctuation separator, no spaces (`2024-03-05`, `1,250,000`).
    Punct(char),
    /// Anything else: several separators, filler words.
    Mixed,
}

#[derive(Debug, Clone)]
pub(super) struct Group {
    /// Byte range in the folded text.
    pub at: Range<usize>,
    /// Range of this group's digits in [`Run::digits`].
    pub d: Range<usize>,
    /// The group is made of Chinese numerals.
    pub chinese: bool,
    /// What separates it from the previous group (`Glued` for the first).
    pub gap: Gap,
}

#[derive(Debug, Clone)]
pub(super) struct Run {
    pub groups: Vec<Group>,
    pub digits: String,
    /// The run ends with an ID card's check letter (X, x, 叉) after 17 digits;
    /// the byte where that letter ends.
    pub check_x: Option<usize>,
}

impl Run {
    pub fn start(&self) -> usize {
        self.groups[0].at.start
    }

    pub fn end(&self) -> usize {
        self.check_x
            .unwrap_or(self.groups[self.groups.len() - 1].at.end)
    }

    /// Digits of groups `g`.
    pub fn digits_of(&self, g: Range<usize>) -> &str {
        &self.digits[self.groups[g.start].d.start..self.groups[g.end - 1].d.end]
    }

    /// Folded-text bytes of groups `g` (with the check letter when `g` reaches the end).
    pub fn bytes_of(&self, g: Range<usize>) -> Range<usize> {
        let end = if g.end == self.groups.len() {
            self.end()
        } else {
            self.groups[g.end - 1].at.end
        };
        self.groups[g.start].at.start..end
    }
}

const MAX_GAP_CHARS: usize = 8;
const MAX_GAP_FILLERS: usize = 3;

/// Every run of digits in `f`, outside `covered` (sorted, disjoint).
pub(super) fn runs(f: &Folded, covered: &[Range<usize>]) -> Vec<Run> {
    let text = f.text.as_str();
    let bytes = text.as_bytes();
    let is_covered = |i: usize| covered.iter().any(|r| r.start <= i && i < r.end);
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || is_covered(i) {
            i += 1;
            continue;
        }
        // A lone digit is a word (一直, 两天) or a count: runs of one are not kept.
        let rest = &text[i + 1..];
        let lone = rest
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_digit() || is_separator(c) || filler_at(rest).is_some()));
        if lone {
            i += 1;
            continue;
        }
        let mut run = Run {
            groups: Vec::new(),
            digits: String::new(),
            check_x: None,
        };
        let mut gap = Gap::Glued;
        let mut pos = i;
        loop {
            // One group: digits of one script.
            let chinese = super::fold::is_chinese_numeral(f.original_char(pos));
            let start = pos;
            let d0 = run.digits.len();
            while pos < bytes.len()
                && bytes[pos].is_ascii_digit()
                && super::fold::is_chinese_numeral(f.original_char(pos)) == chinese
                && !is_covered(pos)
            {
                run.digits.push(bytes[pos] as char);
                pos += 1;
            }
            run.groups.push(Group {
                at: start..pos,
                d: d0..run.digits.len(),
                chinese,
                gap,
            });
            if pos < bytes.len() && bytes[pos].is_ascii_digit() && !is_covered(pos) {
                gap = Gap::Glued;
                continue;
            }
            // What follows: a gap and another group, the check letter, or the end.
            let (next, g) = gap_at(text, pos);
            if run.digits.len() == 17 {
                if let Some(len) = check_letter(text, next) {
                    run.check_x = Some(next + len);
                    pos = next + len;
                    break;
                }
            }
            if next > pos && next < bytes.len() && bytes[next].is_ascii_digit() && !is_covered(next)
            {
                gap = g;
                pos = next;
                continue;
            }
            break;
        }
        i = run.end().max(pos);
        if run.digits.len() > 1 {
            out.push(run);
        }
    }
    out
}

/// The gap starting at `pos`: where it ends and its kind.
fn gap_at(text: &str, pos: usize) -> (usize, Gap) {
    let (mut p, mut chars, mut fillers) = (pos, 0, 0);
    let (mut spaces, mut puncts, mut punct) = (0, 0, ' ');
    while chars < MAX_GAP_CHARS {
        let Some(c) = text[p..].chars().next() else {
            break;
        };
        if c == ' ' {
            spaces += 1;
            p += 1;
            chars += 1;
        } else if is_separator(c) {
            puncts += 1;
            punct = c;
            p += c.len_utf8();
            chars += 1;
        } else if let Some(len) = filler_at(&text[p..]).filter(|_| fillers < MAX_GAP_FILLERS) {
            fillers += 1;
            chars += text[p..p + len].chars().count();
            p += len;
        } else {
            break;
        }
    }
    let kind = match (spaces, puncts, fillers) {
        (_, 0, 0) if spaces > 0 => Gap::Space,
        (0, 1, 0) => Gap::Punct(punct),
        _ => Gap::Mixed,
    };
    (p, kind)
}

/// The ID card check letter at `pos` (possibly after spaces), not part of a word.
fn check_letter(text: &str, pos: usize) -> Option<usize> {
    let rest = &text[pos..];
    let c = rest.chars().next()?;
    if !matches!(c, 'X' | 'x' | '叉') {
        return None;
    }
    let after = rest[c.len_utf8()..].chars().next();
    if after.is_some_and(|a| a.is_ascii_alphanumeric()) {
        return None;
    }
    Some(c.len_utf8())
}

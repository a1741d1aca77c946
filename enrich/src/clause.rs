//! Clause splitting for aspect-level sentiment.
//!
//! Mixed feedback ("App很好用，但是转账限额太低") praises one thing and
//! complains about another. Splitting it into clauses lets each tag take the
//! sentiment of the clause that expresses it. Clauses end at sentence and
//! comma punctuation, and a new clause starts at a contrast marker (但是, 可是,
//! 不过...). ASR transcripts have no punctuation, only pauses rendered as
//! spaces, so spaces split too; fragments shorter than four characters
//! ("嗯", "那个") are merged into their neighbour.

const PUNCT: &[char] = &[
    '，', ',', '。', '.', '！', '!', '？', '?', '；', ';', '\n', '…', '～', '~',
];
const CONTRAST: &[&str] = &[
    "但是",
    "可是",
    "不过",
    "然而",
    "只不过",
    "可惜",
    "就是说",
    "结果",
];
const MIN_CHARS: usize = 4;
const MAX_CLAUSES: usize = 8;

fn word_chars(s: &str) -> usize {
    s.chars().filter(|c| c.is_alphanumeric()).count()
}

/// Byte ranges of the raw pieces: split at punctuation/spaces and before contrast markers.
fn pieces(text: &str, spaces: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let is_break = PUNCT.contains(&c) || (spaces && c == ' ');
        if is_break {
            if i > start {
                out.push((start, i));
            }
            start = i + c.len_utf8();
            continue;
        }
        if i > start && CONTRAST.iter().any(|m| text[i..].starts_with(m)) {
            out.push((start, i));
            start = i;
        }
    }
    if start < text.len() {
        out.push((start, text.len()));
    }
    out.into_iter()
        .filter(|&(a, b)| word_chars(&text[a..b]) > 0)
        .collect()
}

/// Merge fragments shorter than MIN_CHARS into the following piece (or the previous one at the end).
fn merge_short(text: &str, mut p: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    let mut i = 0;
    while i < p.len() && p.len() > 1 {
        if word_chars(&text[p[i].0..p[i].1]) < MIN_CHARS {
            if i + 1 < p.len() {
                p[i + 1].0 = p[i].0;
            } else {
                p[i - 1].1 = p[i].1;
            }
            p.remove(i);
        } else {
            i += 1;
        }
    }
    p
}

/// The clauses of `text`, in order (one clause when there is nothing to split).
pub fn split(text: &str) -> Vec<&str> {
    let mut p = merge_short(text, pieces(text, true));
    if p.len() > MAX_CLAUSES {
        p = merge_short(text, pieces(text, false));
    }
    while p.len() > MAX_CLAUSES {
        // Still too many: join neighbours pairwise.
        p = p.chunks(2).map(|c| (c[0].0, c[c.len() - 1].1)).collect();
    }
    if p.is_empty() {
        return vec![text];
    }
    p.into_iter().map(|(a, b)| text[a..b].trim()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_mixed_feedback_at_punctuation_and_contrast() {
        assert_eq!(
            split("App界面挺好用的,但是转账限额太低了"),
            ["App界面挺好用的", "但是转账限额太低了"]
        );
        assert_eq!(
            split("大堂经理很热情可惜只开了一个窗口排了一小时"),
            ["大堂经理很热情", "可惜只开了一个窗口排了一小时"]
        );
    }

    #[test]
    fn asr_pauses_split_but_fillers_merge() {
        let c = split("嗯 那个 我的卡被冻结了 然后 转人工半天都转不了");
        assert_eq!(c, ["嗯 那个 我的卡被冻结了", "然后 转人工半天都转不了"]);
    }

    #[test]
    fn short_or_plain_text_is_one_clause() {
        assert_eq!(split("排队太久"), ["排队太久"]);
        assert_eq!(split("好"), ["好"]);
        assert_eq!(split(""), [""]);
    }

    #[test]
    fn long_text_is_capped() {
        let t = "排队太久了,".repeat(30);
        assert!(split(&t).len() <= MAX_CLAUSES);
    }
}

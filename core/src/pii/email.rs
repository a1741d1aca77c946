//! E-mail addresses as typed (`wang.wu@icbc.com.cn`, full-width `＠`, a space
//! for a dot) and as spoken: `at`, 艾特, 圈a or 小老鼠 for the at-sign, `dot` or
//! 点 for dots, 下划线 and 杠 inside the name, names spelt with spaces
//! (`zhang san at qq dot com`, `x i a o m i n g at 163 dot com`).

use super::fold::Folded;
use super::{PiiKind, Span};
use regex::Regex;
use std::sync::LazyLock;

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    let local = r"[a-z0-9][a-z0-9_%+\-]*(?:(?:\s*(?:\.|点|dot|下划线|中划线|横杠|杠)\s*|\s+)[a-z0-9_%+\-]+)*";
    let dot = r"\s*(?:\.|点|dot|。)\s*";
    let label = r"[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?";
    let providers = "qq|163|126|139|189|yeah|sina|sohu|gmail|hotmail|outlook|foxmail|yahoo|aliyun|icloud|live|msn";
    // A domain with its dots, or a mail provider's name on its own (`艾特qq`).
    let domain = format!(r"(?:{label}(?:{dot}{label})+|(?:{providers})(?-u:\b))");
    // After a typed at-sign, ASR may put a space or up to three filler words
    // (对对对, 呃 那个) where the dot was: `user@example 呃 那个 com`.
    let tld_gap = r"(?:\s+|(?:\s*[\p{Han}，,、]{1,4}){1,3}\s*)";
    let typed =
        format!(r"\s*@\s*(?:{domain}|{label}(?:{tld_gap}(?:com|cn|net|org|edu|gov)(?-u:\b))+)");
    let spoken_at = r"(?:\s*(?:艾特|圈\s*儿?\s*a|小老鼠)\s*|\s+at\s+)";
    Regex::new(&format!(r"(?i){local}(?:{typed}|{spoken_at}{domain})")).unwrap()
});

pub(super) fn find(f: &Folded, out: &mut Vec<Span>) {
    out.extend(EMAIL.find_iter(&f.text).map(|m| Span {
        at: m.range(),
        kind: PiiKind::Email,
    }));
}

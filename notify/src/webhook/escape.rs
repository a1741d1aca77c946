//! Raw values made inert before they go into a webhook message: customer
//! text, tag and department names, spike series values (branch, product, app
//! version), customer references, work-order titles built from them.
//!
//! One function per target. Each one keeps the text readable for a duty
//! officer and removes what the target would act on:
//!
//! - line breaks and other control characters become spaces, invisible
//!   formatting characters (zero-width, bidirectional overrides) are dropped:
//!   a value cannot start a markdown line (heading, quote, list, code fence)
//!   or hide what it says;
//! - links cannot form: `://` becomes `：//` and a dot between a name and a
//!   letter (`evil.com`, `www.x`) becomes `［.］`, so neither a scheme URL
//!   nor a bare domain is auto-linked; version numbers (`8.2.1`) stay;
//! - mentions cannot form: `@` becomes `＠` (`@all`, `@所有人`, DingTalk
//!   `@138…`) and `<` `>` become `＜` `＞` (WeCom `<@userid>`, Feishu
//!   `<at user_id="all">`, `<a href>`, `<font>`);
//! - markup characters the target interprets become their full-width forms
//!   (`[x](url)` reads `［x］（url）` in markdown, `［x］(url)` in text).

/// Characters WeCom and DingTalk markdown interpret (links, emphasis, code,
/// headings, quotes, tables, HTML and entities), with their full-width forms.
const MARKDOWN: &[(char, char)] = &[
    ('\\', '＼'),
    ('`', '｀'),
    ('*', '＊'),
    ('_', '＿'),
    ('~', '～'),
    ('#', '＃'),
    ('[', '［'),
    (']', '］'),
    ('(', '（'),
    (')', '）'),
    ('!', '！'),
    ('|', '｜'),
    ('<', '＜'),
    ('>', '＞'),
    ('&', '＆'),
    ('@', '＠'),
];

/// What plain-text targets (Feishu text, generic receivers that may render
/// HTML or markdown) could act on: tags, entities, mentions, link and code
/// brackets.
const PLAIN: &[(char, char)] = &[
    ('<', '＜'),
    ('>', '＞'),
    ('&', '＆'),
    ('@', '＠'),
    ('[', '［'),
    (']', '］'),
    ('`', '｀'),
];

/// WeCom group robot markdown (企业微信群机器人).
pub fn wecom(raw: &str) -> String {
    inert(raw, MARKDOWN)
}

/// DingTalk custom robot markdown (钉钉自定义机器人), the message and its title.
pub fn dingtalk(raw: &str) -> String {
    inert(raw, MARKDOWN)
}

/// Feishu custom bot text message (飞书自定义机器人): only `<at>` tags and
/// links are live there.
pub fn feishu(raw: &str) -> String {
    inert(raw, PLAIN)
}

/// Text fields of the generic alert JSON: JSON encoding already keeps the
/// structure; this keeps a receiver that shows the text in a page or a chat
/// from rendering links, tags or mentions.
pub fn generic(raw: &str) -> String {
    inert(raw, PLAIN)
}

fn inert(raw: &str, markup: &[(char, char)]) -> String {
    let chars: Vec<char> = raw.chars().filter(|c| !invisible(*c)).collect();
    let mut out = String::with_capacity(raw.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            out.push(' ');
        } else if c == ':' && next == Some('/') && chars.get(i + 2) == Some(&'/') {
            out.push('：');
        } else if c == '.'
            && prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == '-')
            && next.is_some_and(|n| n.is_ascii_alphabetic())
        {
            out.push_str("［.］");
        } else if let Some(&(_, wide)) = markup.iter().find(|(m, _)| *m == c) {
            out.push(wide);
        } else {
            out.push(c);
        }
    }
    out
}

/// Zero-width and bidirectional formatting characters: they render as
/// nothing, or reorder what is shown around them.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [fn(&str) -> String; 4] = [wecom, dingtalk, feishu, generic];

    /// Hostile inputs against every target: nothing link-, mention- or tag-like survives.
    #[test]
    fn links_mentions_and_tags_never_survive() {
        let hostile = [
            "点这里 https://evil.example.com/login?x=1 领取补偿",
            "HTTP://EVIL.CN",
            "[官方客服](https://evil.com) 请联系",
            "<a href=\"https://evil.com\">退款</a>",
            "www.evil.com",
            "evil.com/path",
            "@all 紧急 @所有人",
            "<@zhangsan> 请处理",
            "@13812345678",
            "<at user_id=\"all\">所有人</at>",
            "<font color=\"warning\">假预警</font>",
            "javascript:alert(1)",
            "&lt;a href=x&gt;",
        ];
        for f in ALL {
            for h in hostile {
                let e = f(h);
                let lower = e.to_lowercase();
                assert!(!lower.contains("://"), "{h:?} -> {e:?}");
                assert!(
                    !lower.contains(".com") && !lower.contains(".cn"),
                    "{h:?} -> {e:?}"
                );
                assert!(
                    !e.contains('@') && !e.contains('<') && !e.contains('>'),
                    "{h:?} -> {e:?}"
                );
                assert!(!e.contains('&'), "{h:?} -> {e:?}");
            }
        }
    }

    #[test]
    fn markdown_targets_neutralize_markup() {
        for f in [wecom, dingtalk] {
            let e = f("[官方客服](https://evil.com) **加急** `x` ![img](u) a|b ~~s~~ _i_ \\#");
            for m in ['[', ']', '(', ')', '*', '`', '!', '|', '~', '_', '\\', '#'] {
                assert!(!e.contains(m), "{m} in {e:?}");
            }
            assert!(e.contains("［官方客服］（https：//evil［.］com）"), "{e:?}");
        }
    }

    #[test]
    fn a_value_cannot_start_a_line() {
        for f in ALL {
            let e = f("正常\n# 假标题\r\n> 引用\n```\ncode\n```\u{2028}- 列表\u{85}x");
            assert!(!e.contains(['\n', '\r', '\u{2028}', '\u{85}']), "{e:?}");
        }
        assert_eq!(wecom("a\n### b"), "a ＃＃＃ b");
        assert_eq!(feishu("a\tb"), "a b");
    }

    #[test]
    fn invisible_and_reordering_characters_are_dropped() {
        for f in ALL {
            let e = f("evil\u{200B}.com \u{202E}moc.live\u{202C} @\u{200D}all");
            assert!(!e.chars().any(invisible), "{e:?}");
            assert!(!e.contains(".com") && !e.contains('@'), "{e:?}");
        }
    }

    #[test]
    fn ordinary_feedback_reads_the_same() {
        let text = "转账一直失败，客服电话打了三次都没人接，App 8.2.1 版本更新后更卡了！";
        // Full-width punctuation of Chinese text is left alone; only the
        // ASCII `!` a markdown image needs is replaced where markdown is live.
        assert_eq!(feishu(text), text);
        assert_eq!(generic(text), text);
        assert_eq!(wecom(text), text.replace('!', "！"));
        assert_eq!(
            dingtalk("网点B023 产品「信用卡」 3.5%"),
            "网点B023 产品「信用卡」 3.5%"
        );
    }

    #[test]
    fn escaping_twice_changes_nothing_more() {
        for f in ALL {
            let once = f("see https://evil.com/a_b @x <b>");
            assert_eq!(f(&once), once);
        }
    }
}

//! Suggested work-order titles (工单标题), e.g.
//! "【严重】手机银行 转账或支付失败 - 客户72小时内第3次负面反馈（手机银行、客服热线）".
//! Shape: 【severity】<where> <issue> - <why now>.
//!
//! A title goes to case systems and chat robots as it is, so values that
//! come from a message (branch, product, app version, an unknown tag id) go
//! through [`raw_value`] first: letters, digits and `. - _` only, at most
//! [`RAW_VALUE_CHARS`] of them.

use crate::model::{AlertTag, Severity};
use voc_core::Polarity;

pub fn channel_zh(channel: &str) -> &'static str {
    match channel {
        "app" => "手机银行",
        "call_center" => "客服热线",
        "community" => "社区舆情",
        "branch" => "网点",
        _ => "其他渠道",
    }
}

/// The issue: the first pain tag's name, else the first tag's, else 客户不满.
pub fn issue(tags: &[AlertTag]) -> String {
    tags.iter()
        .find(|t| t.polarity == Polarity::Pain)
        .or_else(|| tags.iter().find(|t| t.polarity == Polarity::Itch))
        .or(tags.first())
        .map(|t| t.name_zh.clone())
        .unwrap_or_else(|| "客户不满".to_string())
}

pub fn detractor(sev: Severity, channel: &str, tags: &[AlertTag], nps: Option<u8>) -> String {
    let why = match nps {
        Some(s) => format!("客户评分{s}分"),
        None => "客户强烈不满（情感推断）".to_string(),
    };
    format!(
        "【{}】{} {} - {why}",
        sev.zh(),
        channel_zh(channel),
        issue(tags)
    )
}

pub fn repeat(
    sev: Severity,
    tags: &[AlertTag],
    occasions: u32,
    hours: u32,
    channels: &[String],
) -> String {
    let chans: Vec<&str> = channels.iter().map(|c| channel_zh(c)).collect();
    format!(
        "【{}】{} - 客户{hours}小时内第{occasions}次负面反馈（{}）",
        sev.zh(),
        issue(tags),
        chans.join("、")
    )
}

pub fn spike(
    sev: Severity,
    tag: &str,
    where_: &str,
    count: u32,
    minutes: u32,
    expected: f64,
) -> String {
    format!(
        "【{}】{where_} {tag} 激增 - {minutes}分钟内{count}起（基线约{expected:.1}起）",
        sev.zh()
    )
}

/// Most characters of one raw value in a title.
pub const RAW_VALUE_CHARS: usize = 24;

/// A value from a message made plain for a title: letters (any script),
/// digits, `.`, `-`, `_` and single spaces are kept, anything else (markup,
/// `@`, `<`, `:`, `/`, line breaks, invisible characters) is dropped, and
/// the result is cut at [`RAW_VALUE_CHARS`]; "?" when nothing is left.
pub fn raw_value(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if out.chars().count() == RAW_VALUE_CHARS {
            break;
        }
        let word = c.is_alphanumeric() || matches!(c, '.' | '-' | '_');
        let space = c == ' ' && !out.is_empty() && !out.ends_with(' ');
        if word || space {
            out.push(c);
        }
    }
    let out = out.trim_end().to_string();
    if out.is_empty() {
        "?".into()
    } else {
        out
    }
}

/// "App 8.2", "网点 B023", "产品 信用卡", "手机银行" for a spike series.
pub fn series_zh(dimension: &str, value: &str) -> String {
    match dimension {
        "channel" => channel_zh(value).to_string(),
        "branch" => format!("网点{}", raw_value(value)),
        "product" => format!("产品「{}」", raw_value(value)),
        "app_version" => match value.split_once(' ') {
            Some((c, v)) => format!("{} {}", channel_zh(c), raw_value(v)),
            None => raw_value(value),
        },
        _ => raw_value(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_values_are_plain_and_short() {
        assert_eq!(series_zh("branch", "B023"), "网点B023");
        assert_eq!(series_zh("product", "信用卡"), "产品「信用卡」");
        assert_eq!(series_zh("app_version", "app 8.2.1"), "手机银行 8.2.1");
        assert_eq!(series_zh("channel", "<@all>"), "其他渠道");
        let hostile = [
            ("branch", "B023 [点我](https://evil.com)"),
            ("product", "<at user_id=\"all\">所有人</at>"),
            ("app_version", "app 8.2\n# 假标题 @所有人"),
            ("app_version", "<font color=\"warning\">x</font>"),
            ("other", "`rm` *x* \u{202E}moc"),
        ];
        for (dim, v) in hostile {
            let t = spike(Severity::High, "转账失败", &series_zh(dim, v), 9, 10, 1.0);
            for bad in [
                '[', ']', '(', ')', '<', '>', '@', ':', '/', '\n', '#', '`', '*', '"', '\u{202E}',
            ] {
                assert!(!t.contains(bad), "{bad:?} in {t:?}");
            }
        }
        assert_eq!(
            raw_value("B023 [点我](https://evil.com)"),
            "B023 点我httpsevil.com"
        );
        assert_eq!(raw_value("  \n<>"), "?");
        assert_eq!(raw_value(&"x".repeat(100)).len(), RAW_VALUE_CHARS);
    }
}

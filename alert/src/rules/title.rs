//! Suggested work-order titles (工单标题), e.g.
//! "【严重】手机银行 转账或支付失败 - 客户72小时内第3次负面反馈（手机银行、客服热线）".
//! Shape: 【severity】<where> <issue> - <why now>.

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

/// "App 8.2", "网点 B023", "产品 信用卡", "手机银行" for a spike series.
pub fn series_zh(dimension: &str, value: &str) -> String {
    match dimension {
        "channel" => channel_zh(value).to_string(),
        "branch" => format!("网点{value}"),
        "product" => format!("产品「{value}」"),
        "app_version" => match value.split_once(' ') {
            Some((c, v)) => format!("{} {v}", channel_zh(c)),
            None => value.to_string(),
        },
        _ => value.to_string(),
    }
}

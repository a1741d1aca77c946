//! Shaping composed text into each channel's raw JSON, with the variety real
//! feeds have: time formats, numbers as strings, traditional characters,
//! full-width digits, GBK bytes, optional fields missing.

use crate::compose::Composed;
use crate::phrasebank::PhraseBank;
use chrono::{DateTime, FixedOffset, Utc};
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};
use voc_core::Channel;

fn time_value(t: DateTime<Utc>, rng: &mut ChaCha8Rng) -> Value {
    let sh = t.with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap());
    match rng.random_range(0..7) {
        0 => json!(t.timestamp()),
        1 => json!(t.timestamp_millis()),
        2 => json!(t.timestamp().to_string()),
        3 => json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        4 => json!(sh.format("%Y-%m-%dT%H:%M:%S%:z").to_string()),
        5 => json!(sh.format("%Y-%m-%d %H:%M:%S").to_string()),
        _ => json!(sh.format("%Y/%m/%d %H:%M:%S").to_string()),
    }
}

/// A number, sometimes written as a string the way some exports do.
fn num(v: impl Into<f64>, rng: &mut ChaCha8Rng) -> Value {
    let v: f64 = v.into();
    let n = if v.fract() == 0.0 {
        json!(v as i64)
    } else {
        json!(v)
    };
    if rng.random_bool(0.25) {
        json!(n.to_string())
    } else {
        n
    }
}

fn messy_text(s: String, rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..100) {
        0..4 => zhconv::zhconv(&s, zhconv::Variant::ZhHant),
        4..9 => s
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    char::from_u32(c as u32 - '0' as u32 + 0xFF10).unwrap()
                } else {
                    c
                }
            })
            .collect(),
        _ => s,
    }
}

fn customer_id(customers: u32, rng: &mut ChaCha8Rng) -> String {
    // A pool of customers (the customer dimension has the same keys), so the
    // same customer speaks more than once.
    crate::customers::customer_key(rng.random_range(0..customers.max(1)))
}

/// The product line a touchpoint is about, from what the customer was doing
/// (no random draw of its own, so the rest of the message stays as it was).
fn product_of(touchpoint: &str) -> &'static str {
    match touchpoint {
        "card/bill" | "信用卡" => "信用卡",
        "loan/apply" | "贷款" => "个人贷款",
        "wealth/list" | "理财" | "理财咨询" => "理财",
        "transfer/confirm" | "payment/scan" | "借记卡" | "开户" | "存取款" | "挂失补卡"
        | "外汇" => "借记卡",
        _ => "手机银行",
    }
}

/// Call-centre speech: no punctuation, fillers here and there.
fn asr(s: &str, bank: &PhraseBank, rng: &mut ChaCha8Rng) -> String {
    let mut out = String::new();
    if rng.random_bool(0.5) {
        out.push_str(
            bank.asr_fillers
                .choose(rng)
                .map(String::as_str)
                .unwrap_or("嗯"),
        );
        out.push(' ');
    }
    for ch in s.chars() {
        if "，。！？,.!?；：".contains(ch) {
            out.push(' ');
            if rng.random_bool(0.3) {
                out.push_str(
                    bank.asr_fillers
                        .choose(rng)
                        .map(String::as_str)
                        .unwrap_or("就是"),
                );
                out.push(' ');
            }
        } else {
            out.push(ch);
        }
    }
    out.trim().to_string()
}

pub fn payload(
    channel: Channel,
    source_id: &str,
    time: DateTime<Utc>,
    item: &Composed,
    bank: &PhraseBank,
    customers: u32,
    rng: &mut ChaCha8Rng,
) -> Vec<u8> {
    let mut o = Map::new();
    let text = messy_text(item.text(), rng);
    match channel {
        Channel::App => {
            o.insert(
                if rng.random_bool(0.7) {
                    "id"
                } else {
                    "feedback_id"
                }
                .into(),
                json!(source_id),
            );
            o.insert("time".into(), time_value(time, rng));
            if rng.random_bool(0.8) {
                o.insert("customer_id".into(), json!(customer_id(customers, rng)));
            } else {
                o.insert(
                    "device_id".into(),
                    json!(format!("dev-{:08x}", rng.random::<u32>())),
                );
            }
            o.insert(
                "app_version".into(),
                json!(format!(
                    "8.{}.{}",
                    rng.random_range(0..10),
                    rng.random_range(0..4)
                )),
            );
            o.insert(
                "os".into(),
                json!(["iOS", "Android", "HarmonyOS"][rng.random_range(0..3)]),
            );
            let pages = [
                "home",
                "transfer/confirm",
                "login",
                "wealth/list",
                "card/bill",
                "loan/apply",
                "me/settings",
                "payment/scan",
            ];
            let page = pages.choose(rng).unwrap();
            o.insert("page".into(), json!(page));
            o.insert("product".into(), json!(product_of(page)));
            if let Some(s) = item.stars {
                o.insert("rating".into(), num(s, rng));
            }
            if let Some(s) = item.score {
                o.insert("nps".into(), num(s, rng));
            }
            o.insert("text".into(), json!(text));
        }
        Channel::CallCenter => {
            o.insert("call_id".into(), json!(source_id));
            o.insert("start_time".into(), time_value(time, rng));
            o.insert("customer_id".into(), json!(customer_id(customers, rng)));
            o.insert(
                "agent_id".into(),
                json!(format!("A{:04}", rng.random_range(1..400))),
            );
            let paths = [
                ["信用卡", "人工"],
                ["借记卡", "挂失"],
                ["手机银行", "人工"],
                ["贷款", "还款"],
                ["理财", "人工"],
            ];
            let path = paths.choose(rng).unwrap();
            o.insert("ivr_path".into(), json!(path));
            o.insert("product".into(), json!(product_of(path[0])));
            let mut turns = Vec::new();
            let mut t_ms = 0u64;
            let mut turn = |speaker: &str, text: String, rng: &mut ChaCha8Rng| {
                let dur = 800 + 180 * text.chars().count() as u64;
                turns.push(
                    json!({"speaker": speaker, "start_ms": t_ms, "end_ms": t_ms + dur, "text": text,
                                  "confidence": (rng.random_range(60..99) as f64) / 100.0}),
                );
                t_ms += dur + rng.random_range(200..1500);
            };
            turn("agent", bank.agent_turns[0].clone(), rng);
            for (i, p) in item
                .parts
                .iter()
                .filter(|p| !p.trim().is_empty())
                .enumerate()
            {
                if i == 2 {
                    let a = bank.agent_turns.choose(rng).unwrap().clone();
                    turn("agent", a, rng);
                }
                let p = messy_text(p.clone(), rng);
                turn("customer", asr(&p, bank, rng), rng);
            }
            let closing = bank.agent_turns.choose(rng).unwrap().clone();
            turn("agent", closing, rng);
            o.insert("duration_s".into(), num((t_ms / 1000) as f64, rng));
            o.insert("turns".into(), Value::Array(turns));
            if let Some(s) = item.score {
                o.insert("nps".into(), num(s, rng));
            }
        }
        Channel::Community => {
            o.insert(
                "platform".into(),
                json!(["weibo", "xiaohongshu", "bbs", "heimao", "douyin"][rng.random_range(0..5)]),
            );
            o.insert("post_id".into(), json!(source_id));
            o.insert(
                "thread_id".into(),
                json!(format!("th-{}", rng.random_range(1..5000))),
            );
            o.insert(
                "author".into(),
                json!(format!("用户{:06}", rng.random_range(0..500_000))),
            );
            o.insert("time".into(), time_value(time, rng));
            if rng.random_bool(0.6) {
                o.insert(
                    "title".into(),
                    json!(bank.community_titles.choose(rng).unwrap()),
                );
            }
            o.insert("content".into(), json!(text));
            o.insert("likes".into(), num(rng.random_range(0..3000) as f64, rng));
            o.insert("reply_to".into(), Value::Null);
        }
        Channel::Branch => {
            let city = ["上海", "北京", "广州", "深圳", "杭州", "成都"][rng.random_range(0..6)];
            o.insert("card_id".into(), json!(source_id));
            o.insert(
                "branch_id".into(),
                json!(format!("BR{:04}", rng.random_range(1..120))),
            );
            o.insert("city".into(), json!(city));
            o.insert("time".into(), time_value(time, rng));
            o.insert("customer_id".into(), json!(customer_id(customers, rng)));
            o.insert(
                "teller_id".into(),
                json!(format!("T{:03}", rng.random_range(1..300))),
            );
            let service =
                ["开户", "存取款", "理财咨询", "挂失补卡", "贷款", "外汇"][rng.random_range(0..6)];
            o.insert("service_type".into(), json!(service));
            o.insert("product".into(), json!(product_of(service)));
            o.insert(
                "wait_minutes".into(),
                num(rng.random_range(0..90) as f64, rng),
            );
            if let Some(s) = item.score {
                o.insert("score".into(), num(s, rng));
            }
            o.insert("comment".into(), json!(text));
        }
    }
    let body = Value::Object(o).to_string();
    if channel == Channel::Branch && rng.random_bool(0.1) {
        let (gbk, _, unmappable) = encoding_rs::GBK.encode(&body);
        if !unmappable {
            return gbk.into_owned();
        }
    }
    body.into_bytes()
}

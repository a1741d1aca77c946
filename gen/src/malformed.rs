//! Malformed input, one kind per way real feeds break, each with the
//! dead-letter reason code the worker must give it.

use crate::{Expectation, Generated};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use voc_core::Channel;

/// (kind, expected reason)
pub const MALFORMED_KINDS: [(&str, &str); 15] = [
    ("truncated_json", "invalid_json"),
    ("json_array", "not_an_object"),
    ("empty_body", "empty_payload"),
    ("missing_id", "missing_field"),
    ("unparseable_time", "bad_time"),
    ("time_1970", "time_out_of_range"),
    ("nps_eleven", "out_of_range"),
    ("text_is_object", "bad_field_type"),
    ("no_text_no_score", "empty_feedback"),
    ("invalid_bytes", "bad_encoding"),
    ("oversized", "payload_too_large"),
    ("negative_wait", "out_of_range"),
    ("turns_not_array", "bad_field_type"),
    ("agent_only_call", "empty_feedback"),
    ("stars_six", "out_of_range"),
];

/// Larger than the worker's default `max_payload_bytes` (256 KiB).
pub const OVERSIZED_BYTES: usize = 300 * 1024;

pub fn build(kind: (&'static str, &'static str), id: &str, rng: &mut ChaCha8Rng) -> Generated {
    let (name, reason) = kind;
    let (channel, payload): (Channel, Vec<u8>) = match name {
        "truncated_json" => (Channel::App, format!("{{\"id\":\"{id}\",\"text\":\"转账失败").into_bytes()),
        "json_array" => (Channel::Community, json!([{"post_id": id, "content": "数组不是对象"}]).to_string().into_bytes()),
        "empty_body" => (Channel::Branch, Vec::new()),
        "missing_id" => (Channel::App, json!({"time": "2026-11-24 10:00:00", "text": "没有编号的反馈"}).to_string().into_bytes()),
        "unparseable_time" => (Channel::Branch, json!({"card_id": id, "time": "上周三下午", "comment": "等太久"}).to_string().into_bytes()),
        "time_1970" => (Channel::App, json!({"id": id, "time": 0, "text": "时间是零"}).to_string().into_bytes()),
        "nps_eleven" => (Channel::Branch, json!({"card_id": id, "score": 11, "comment": "满分十一分"}).to_string().into_bytes()),
        "text_is_object" => (Channel::App, json!({"id": id, "text": {"zh": "嵌套文本"}}).to_string().into_bytes()),
        "no_text_no_score" => (Channel::App, json!({"id": id, "time": 1_795_485_785, "text": ""}).to_string().into_bytes()),
        "invalid_bytes" => (Channel::Branch, vec![0xff, 0xfe, 0x81, 0x00, 0x7b, 0xff, rng.random()]),
        "oversized" => (
            Channel::Community,
            json!({"post_id": id, "content": "长".repeat(OVERSIZED_BYTES / 3 + 10)}).to_string().into_bytes(),
        ),
        "negative_wait" => (Channel::Branch, json!({"card_id": id, "wait_minutes": -15, "comment": "负数等待"}).to_string().into_bytes()),
        "turns_not_array" => (Channel::CallCenter, json!({"call_id": id, "turns": "客户说了很多"}).to_string().into_bytes()),
        "agent_only_call" => (
            Channel::CallCenter,
            json!({"call_id": id, "turns": [{"speaker": "agent", "start_ms": 0, "text": "您好请问有什么可以帮您"}]}).to_string().into_bytes(),
        ),
        "stars_six" => (Channel::App, json!({"id": id, "rating": 6, "text": "六颗星"}).to_string().into_bytes()),
        other => unreachable!("unknown malformed kind {other}"),
    };
    Generated {
        channel,
        key: id.to_string(),
        payload,
        expect: Expectation::Malformed { kind: name, reason },
        text: String::new(),
    }
}

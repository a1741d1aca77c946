//! Composing the customer's words: mood -> tags -> clauses with placeholders
//! filled -> opener and closer.

use crate::phrasebank::PhraseBank;
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::LazyLock;
use voc_core::{Channel, Polarity, Taxonomy};

static TAXONOMY: LazyLock<Taxonomy> = LazyLock::new(Taxonomy::bundled);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mood {
    Negative,
    Neutral,
    Positive,
}

/// The customer's side of one message, before it is shaped into channel JSON.
#[derive(Debug, Clone)]
pub struct Composed {
    pub mood: Mood,
    /// Opener, issue clauses, closer: in order, without separators decided yet.
    pub parts: Vec<String>,
    pub tags: Vec<String>,
    /// A 0-10 score the customer gave (not every message has one).
    pub score: Option<u8>,
    pub stars: Option<u8>,
    pub has_pii: bool,
}

impl Composed {
    /// Written form: parts joined with Chinese punctuation.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for p in &self.parts {
            if p.is_empty() {
                continue;
            }
            if !s.is_empty() && !ends_with_punct(&s) && !starts_with_punct(p) {
                s.push('，');
            }
            s.push_str(p);
        }
        if !ends_with_punct(&s) {
            s.push(if self.mood == Mood::Negative {
                '！'
            } else {
                '。'
            });
        }
        s
    }
}

fn ends_with_punct(s: &str) -> bool {
    s.ends_with(['，', '。', '！', '？', ',', '.', '!', '?', '：', '；', ' '])
}

fn starts_with_punct(s: &str) -> bool {
    s.starts_with(['，', '。', '！', '？', ',', '.', '!', '?'])
}

fn pick<'a>(rng: &mut ChaCha8Rng, v: &'a [String]) -> &'a str {
    v.choose(rng).map(String::as_str).unwrap_or("")
}

fn tags_of(polarity: Polarity) -> Vec<&'static str> {
    TAXONOMY
        .tags()
        .iter()
        .filter(|t| t.polarity == polarity && !t.retired)
        .map(|t| t.id.as_str())
        .collect()
}

static PAIN: LazyLock<Vec<&'static str>> = LazyLock::new(|| tags_of(Polarity::Pain));
static ITCH: LazyLock<Vec<&'static str>> = LazyLock::new(|| tags_of(Polarity::Itch));
static DELIGHT: LazyLock<Vec<&'static str>> = LazyLock::new(|| tags_of(Polarity::Delight));

const CITIES: [&str; 14] = [
    "上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "苏州", "天津",
    "长沙", "青岛",
];
const STREETS: [&str; 16] = [
    "中山路",
    "人民路",
    "解放路",
    "建设路",
    "南京西路",
    "淮海路",
    "长江路",
    "东风路",
    "文化路",
    "和平路",
    "新华路",
    "滨江路",
    "科技园",
    "高新区",
    "火车站",
    "大学城",
];
const PRODUCTS: [&str; 14] = [
    "白金卡",
    "金卡",
    "联名信用卡",
    "季季盈理财",
    "稳利宝",
    "天天宝",
    "安心存",
    "消费贷",
    "房贷",
    "车贷",
    "养老理财",
    "大额存单",
    "结构性存款",
    "留学卡",
];
const DAYS: [&str; 10] = [
    "两天",
    "三天",
    "一周",
    "五个工作日",
    "十天",
    "半个月",
    "一个月",
    "四天",
    "七个工作日",
    "两周",
];
const MINUTES: [&str; 10] = [
    "二十分钟",
    "半小时",
    "四十分钟",
    "一个多小时",
    "十五分钟",
    "五十分钟",
    "一个半小时",
    "二十五分钟",
    "两个小时",
    "三刻钟",
];
const EMOJI: [&str; 10] = ["😡", "😤", "🙄", "😭", "👍", "😊", "🤔", "💢", "🙏", "😅"];

pub fn fill(template: &str, rng: &mut ChaCha8Rng) -> String {
    let mut out = template.to_string();
    while let Some(start) = out.find('{') {
        let Some(len) = out[start..].find('}') else {
            break;
        };
        let name = &out[start + 1..start + len];
        let value = match name {
            "amount" => {
                let v = [
                    200, 500, 800, 1000, 2000, 3000, 5000, 8000, 10000, 20000, 50000, 100000,
                ][rng.random_range(0..12)];
                match rng.random_range(0..3) {
                    0 if v >= 10000 => format!("{}万", v / 10000),
                    1 => format!("{v}块"),
                    _ => format!("{v}元"),
                }
            }
            "days" => DAYS.choose(rng).unwrap().to_string(),
            "minutes" => MINUTES.choose(rng).unwrap().to_string(),
            "branch" => format!(
                "{}{}",
                STREETS.choose(rng).unwrap(),
                ["支行", "网点", "营业部", "分理处"][rng.random_range(0..4)]
            ),
            "city" => CITIES.choose(rng).unwrap().to_string(),
            "product" => PRODUCTS.choose(rng).unwrap().to_string(),
            "app_version" => format!("8.{}", rng.random_range(0..10)),
            _ => String::new(),
        };
        out.replace_range(start..start + len + 1, &value);
    }
    out
}

fn pii_fragment(rng: &mut ChaCha8Rng, spoken: bool) -> String {
    let phone = format!(
        "1{}{:09}",
        [3, 5, 7, 8, 9][rng.random_range(0..5)],
        rng.random_range(0..1_000_000_000u64)
    );
    match rng.random_range(0..4) {
        0 if spoken => {
            let zh: String = phone
                .chars()
                .map(|c| {
                    ["零", "幺", "二", "三", "四", "五", "六", "七", "八", "九"]
                        [c.to_digit(10).unwrap() as usize]
                })
                .collect();
            format!("我电话是{zh}")
        }
        0 => format!("我手机号{phone}，麻烦回电"),
        1 => format!(
            "卡号62220{:014}",
            rng.random_range(0..100_000_000_000_000u64)
        ),
        2 => format!(
            "身份证号{}{}{:02}{:02}{:03}{}",
            ["110101", "310104", "440305", "510107"][rng.random_range(0..4)],
            rng.random_range(1950..2006),
            rng.random_range(1..13),
            rng.random_range(1..29),
            rng.random_range(0..1000),
            ["X", "3", "7"][rng.random_range(0..3)]
        ),
        _ => format!("邮箱 user{}@example.com", rng.random_range(1000..99999)),
    }
}

pub fn compose(
    bank: &PhraseBank,
    channel: Channel,
    rng: &mut ChaCha8Rng,
    pii_ratio: f64,
) -> Composed {
    let roll = rng.random_range(0..100);
    let mood = match roll {
        0..58 => Mood::Negative,
        58..78 => Mood::Positive,
        _ => Mood::Neutral,
    };
    let mut tags: Vec<&str> = Vec::new();
    match mood {
        Mood::Negative => {
            tags.push(PAIN.choose(rng).unwrap());
            match rng.random_range(0..10) {
                0..3 => tags.push(PAIN.choose(rng).unwrap()),
                3 => tags.push(ITCH.choose(rng).unwrap()),
                4 => tags.insert(0, DELIGHT.choose(rng).unwrap()),
                _ => {}
            }
        }
        Mood::Positive => {
            tags.push(DELIGHT.choose(rng).unwrap());
            if rng.random_bool(0.25) {
                tags.push(ITCH.choose(rng).unwrap());
            }
        }
        Mood::Neutral => {
            if rng.random_bool(0.5) {
                tags.push(ITCH.choose(rng).unwrap());
            }
        }
    }
    tags.dedup();
    let opener = match channel {
        Channel::App => pick(rng, &bank.openers.app),
        Channel::CallCenter => pick(rng, &bank.openers.call_center),
        Channel::Community => pick(rng, &bank.openers.community),
        Channel::Branch => pick(rng, &bank.openers.branch),
    };
    let mut parts = vec![opener.to_string()];
    if tags.is_empty() {
        parts.push(fill(pick(rng, &bank.neutral), rng));
        if rng.random_bool(0.5) {
            parts.push(fill(pick(rng, &bank.neutral), rng));
        }
    }
    for (i, t) in tags.iter().enumerate() {
        if i > 0 {
            parts.push(pick(rng, &bank.connectors).to_string());
        }
        let clauses = &bank.tags[*t];
        parts.push(fill(pick(rng, clauses), rng));
        // Long-form channels elaborate with a second clause of the same issue.
        if matches!(channel, Channel::Community) && rng.random_bool(0.6) {
            parts.push(fill(pick(rng, clauses), rng));
        }
    }
    let has_pii = rng.random_bool(pii_ratio.clamp(0.0, 1.0));
    if has_pii {
        parts.push(pii_fragment(rng, channel == Channel::CallCenter));
    }
    let closers = match mood {
        Mood::Negative => &bank.closers.negative,
        Mood::Neutral => &bank.closers.neutral,
        Mood::Positive => &bank.closers.positive,
    };
    if rng.random_bool(0.7) {
        parts.push(pick(rng, closers).to_string());
    }
    if matches!(channel, Channel::App | Channel::Community) && rng.random_bool(0.15) {
        parts.push(EMOJI.choose(rng).unwrap().to_string());
    }
    let score = match mood {
        Mood::Negative => rng.random_range(0..=6),
        Mood::Neutral => rng.random_range(6..=8),
        Mood::Positive => rng.random_range(8..=10),
    };
    let stars = match mood {
        Mood::Negative => rng.random_range(1..=2),
        Mood::Neutral => 3,
        Mood::Positive => rng.random_range(4..=5),
    };
    let (score, stars) = match channel {
        Channel::App => (
            rng.random_bool(0.3).then_some(score),
            rng.random_bool(0.5).then_some(stars),
        ),
        Channel::Branch => (rng.random_bool(0.85).then_some(score), None),
        Channel::CallCenter => (rng.random_bool(0.2).then_some(score), None),
        Channel::Community => (None, None),
    };
    Composed {
        mood,
        parts,
        tags: tags.into_iter().map(str::to_string).collect(),
        score: score.map(|s| s as u8),
        stars: stars.map(|s| s as u8),
        has_pii,
    }
}

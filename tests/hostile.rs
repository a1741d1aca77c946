//! Hostile input on the real local stack (deploy/stack.sh start): every kind
//! of docs/hostile-input.md, produced on every channel topic, each followed
//! by normal traffic that must be stored within a deadline; every hostile
//! item is stored (masked) or dead-lettered with its reason, counted exactly.
//! And a row ClickHouse itself refuses: dead-lettered, its batch stored.

mod common;

use common::{stop, Env};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use voc_core::Channel;
use voc_gen::{Expectation, GenConfig, Generated, Generator};

/// What must become of a hostile item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Stored,
    Dead(&'static str),
}

/// One hostile item: its channel, payload and fate.
struct Item {
    channel: Channel,
    kind: &'static str,
    payload: Vec<u8>,
    fate: Fate,
}

const CHANNELS: [Channel; 4] = [
    Channel::App,
    Channel::CallCenter,
    Channel::Community,
    Channel::Branch,
];

/// A valid payload of `channel` with source id `id`, time `time` and customer text `text`.
fn base(channel: Channel, id: &str, time: &str, text: &str) -> Map<String, Value> {
    let v = match channel {
        Channel::App => json!({"id": id, "time": time, "customer_id": "C1001", "text": text}),
        Channel::CallCenter => json!({"call_id": id, "time": time, "customer_id": "C1001",
            "turns": [{"speaker": "agent", "text": "您好"}, {"speaker": "customer", "text": text}]}),
        Channel::Community => {
            json!({"post_id": id, "time": time, "platform": "weibo", "author": "w", "content": text})
        }
        Channel::Branch => {
            json!({"card_id": id, "time": time, "branch_id": "B01", "customer_id": "C1001", "comment": text})
        }
    };
    v.as_object().unwrap().clone()
}

const NOW: &str = "2026-11-24 10:03:05";

/// The payload with `field` set (the text field of the channel for "TEXT").
fn with(channel: Channel, id: &str, field: &str, value: Value) -> Vec<u8> {
    let mut o = base(channel, id, NOW, "转账一直失败");
    match (field, channel) {
        ("TEXT", Channel::CallCenter) => o["turns"][1]["text"] = value,
        ("TEXT", Channel::App) => drop(o.insert("text".into(), value)),
        ("TEXT", Channel::Community) => drop(o.insert("content".into(), value)),
        ("TEXT", Channel::Branch) => drop(o.insert("comment".into(), value)),
        ("ID", _) => {
            let k = o
                .keys()
                .find(|k| k.ends_with("id") && *k != "customer_id" && *k != "branch_id")
                .unwrap()
                .clone();
            o.insert(k, value);
        }
        _ => drop(o.insert(field.into(), value)),
    }
    serde_json::to_vec(&o).unwrap()
}

/// The corpus: every kind on every channel (ids `h-<kind>-<channel>`).
fn corpus(run: &str) -> Vec<Item> {
    use Fate::*;
    let mut items = Vec::new();
    for c in CHANNELS {
        let id = |kind: &str| format!("h-{run}-{kind}-{}", c.as_str());
        let mut add = |kind: &'static str, payload: Vec<u8>, fate: Fate| {
            items.push(Item {
                channel: c,
                kind,
                payload,
                fate,
            })
        };
        let nps_fate = |f: Fate| if c == Channel::Community { Stored } else { f };
        add(
            "control_bytes_200k",
            (0..200_000).map(|i| (i % 31 + 1) as u8).collect(),
            Dead("invalid_json"),
        );
        let deep = format!(
            "{{\"id\":\"{}\",\"x\":{}{}}}",
            id("deep"),
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        add(
            "nesting_10000",
            deep.into_bytes(),
            Dead("too_deeply_nested"),
        );
        let mut o = base(c, &id("fields"), NOW, "好");
        for i in 0..20_000 {
            o.insert(format!("f{i}"), json!(1));
        }
        add(
            "fields_20000",
            serde_json::to_vec(&o).unwrap(),
            Dead("too_many_fields"),
        );
        add(
            "array_50000",
            with(c, &id("array"), "extra", json!(vec![0; 50_000])),
            Dead("array_too_large"),
        );
        add(
            "nan_string_score",
            with(c, &id("nan"), "nps", json!("NaN")),
            nps_fate(Dead("bad_field_type")),
        );
        add(
            "infinity_string_score",
            with(c, &id("inf"), "nps", json!("Infinity")),
            nps_fate(Dead("bad_field_type")),
        );
        add(
            "nan_literal",
            format!("{{\"id\":\"{}\",\"nps\":NaN}}", id("nanlit")).into_bytes(),
            Dead("invalid_json"),
        );
        add(
            "number_1e999",
            format!("{{\"id\":\"{}\",\"nps\":1e999}}", id("e999")).into_bytes(),
            Dead("invalid_json"),
        );
        add(
            "score_1e308",
            with(c, &id("e308"), "nps", json!(1e308)),
            nps_fate(Dead("out_of_range")),
        );
        add(
            "lone_surrogate",
            with(c, &id("surrogate"), "TEXT", json!("x"))
                .pipe_replace(b"\"x\"", b"\"\\ud800 \\udfff\""),
            Dead("invalid_json"),
        );
        add(
            "nul_and_bidi",
            with(
                c,
                &id("bidi"),
                "TEXT",
                json!("转账\u{0}失败\u{202e}反向\u{202c}了"),
            ),
            Stored,
        );
        add(
            "emoji_flood",
            with(c, &id("emoji"), "TEXT", json!("😡🙏🏻👨‍👩‍👧".repeat(3000))),
            Stored,
        );
        add(
            "zero_width",
            with(
                c,
                &id("zw"),
                "TEXT",
                json!("转\u{200b}账\u{200c}失\u{200d}败\u{feff}"),
            ),
            Stored,
        );
        add(
            "invalid_utf8",
            b"{\"id\":\"x\",\"text\":\"\xff\xfe\xfd\"}".to_vec(),
            Dead("bad_encoding"),
        );
        add("empty_body", Vec::new(), Dead("empty_payload"));
        add("json_number", b"42".to_vec(), Dead("not_an_object"));
        add(
            "json_array",
            b"[{\"id\":1}]".to_vec(),
            Dead("not_an_object"),
        );
        add("json_null", b"null".to_vec(), Dead("not_an_object"));
        add("json_string", b"\"hello\"".to_vec(), Dead("not_an_object"));
        let dup = String::from_utf8(with(c, &id("dup"), "TEXT", json!("第一"))).unwrap();
        let dup = format!(
            "{},\"id\":\"{}\"}}",
            dup.trim_end_matches('}'),
            id("dupshadow")
        );
        // The last of a duplicated key wins (app's id here; the others ignore "id").
        add("duplicate_keys", dup.into_bytes(), Stored);
        add(
            "id_130k",
            with(c, &id("idlong"), "ID", json!("9".repeat(130 * 1024))),
            Dead("key_too_long"),
        );
        let customer = if c == Channel::Community {
            "author"
        } else {
            "customer_id"
        };
        add(
            "customer_130k",
            with(c, &id("custlong"), customer, json!("x".repeat(130 * 1024))),
            Dead("key_too_long"),
        );
        add(
            "time_1900",
            with(c, &id("t1900"), "time", json!("1900-01-01 00:00:00")),
            Dead("time_out_of_range"),
        );
        add(
            "time_2300",
            with(c, &id("t2300"), "time", json!("2300-01-01 00:00:00")),
            Dead("time_out_of_range"),
        );
        add(
            "epoch_huge",
            with(c, &id("tbig"), "time", json!(1e300)),
            Dead("bad_time"),
        );
        add(
            "text_is_object",
            with(c, &id("tobj"), "TEXT", json!({"a": 1})),
            Dead("bad_field_type"),
        );
        add(
            "id_is_array",
            with(c, &id("idarr"), "ID", json!([1, 2])),
            Dead("bad_field_type"),
        );
        add(
            "score_is_bool",
            with(c, &id("sbool"), "nps", json!(true)),
            nps_fate(Dead("bad_field_type")),
        );
        add(
            "traditional_fullwidth",
            with(
                c,
                &id("trad"),
                "TEXT",
                json!("轉賬失敗，ＡＰＰ閃退了！！１２３"),
            ),
            Stored,
        );
        add(
            "long_text_no_punctuation",
            with(
                c,
                &id("long"),
                "TEXT",
                json!("转账失败排队太久".repeat(9000)),
            ),
            Stored,
        );
        add(
            "pii_flood",
            with(
                c,
                &id("pii"),
                "TEXT",
                json!("电话13812345678 卡号6222021234567890123 ".repeat(200)),
            ),
            Stored,
        );
        add(
            "sql_text",
            with(
                c,
                &id("sql"),
                "TEXT",
                json!("'; DROP TABLE feedback_events; -- \\N \t"),
            ),
            Stored,
        );
    }
    items
}

/// `Vec<u8>::replace` for a byte pattern (test payloads only).
trait PipeReplace {
    fn pipe_replace(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl PipeReplace for Vec<u8> {
    fn pipe_replace(self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = self.windows(from.len()).position(|w| w == from).unwrap();
        [&self[..at], to, &self[at + from.len()..]].concat()
    }
}

/// Valid generated traffic (no malformed messages) and its event ids.
fn normal(run: &str, seed: u64, n: usize) -> (Vec<Generated>, HashSet<String>) {
    let mut g = Generator::new(GenConfig {
        seed,
        run_id: run.into(),
        duplicate_ratio: 0.0,
        pii_ratio: 0.1,
        ..GenConfig::default()
    });
    let msgs: Vec<Generated> = (0..n).map(|_| g.next_message()).collect();
    let ids = msgs
        .iter()
        .filter_map(|m| match &m.expect {
            Expectation::Valid { event_id, .. } => Some(event_id.clone()),
            _ => None,
        })
        .collect();
    (msgs, ids)
}

/// Every dead letter must follow docs/deadletter.schema.json.
fn assert_valid_dead_letter(d: &Value) {
    static SCHEMA: std::sync::LazyLock<jsonschema::Validator> = std::sync::LazyLock::new(|| {
        let schema: Value =
            serde_json::from_str(include_str!("../docs/deadletter.schema.json")).unwrap();
        jsonschema::validator_for(&schema).expect("valid schema")
    });
    let errors: Vec<String> = SCHEMA.iter_errors(d).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{errors:?} in {}",
        d.to_string().chars().take(300).collect::<String>()
    );
}

async fn dead_letter_reasons(env: &Env, want: usize) -> BTreeMap<String, usize> {
    let mut by_reason = BTreeMap::new();
    for d in env.read_topic(&env.dead_letter, want, 120).await {
        assert_valid_dead_letter(&d);
        *by_reason
            .entry(d["reason"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    by_reason
}

/// Every kind of the corpus on every channel, each followed by normal
/// traffic: the normal traffic is stored within the deadline, each hostile
/// item is stored or dead-lettered with its reason, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_stored_or_dead_lettered_and_the_stream_goes_on() {
    let env = Env::new("hostile", 200).await;
    let items = corpus(&env.name);
    let kinds: HashSet<&str> = items.iter().map(|i| i.kind).collect();
    assert!(kinds.len() >= 25, "{} kinds", kinds.len());
    let worker = env.spawn_worker("1");
    let mut expected = HashSet::new();
    for (n, chunk) in items.chunks(4).enumerate() {
        for i in chunk {
            env.produce_raw(
                env.topic(i.channel),
                &[(i.kind.to_string(), i.payload.clone())],
            )
            .await;
        }
        let (msgs, ids) = normal(&format!("{}-{n}", env.name), n as u64, 8);
        expected.extend(ids);
        env.produce(&msgs).await;
    }
    // 150 months in one batch, on every channel.
    let mut months = Vec::new();
    for c in CHANNELS {
        for m in 0..150 {
            let time = format!("{}-{:02}-15 12:00:00", 2010 + m / 12, m % 12 + 1);
            let id = format!("h-{}-month{m}-{}", env.name, c.as_str());
            let o = base(c, &id, &time, "转账失败");
            months.push((id, serde_json::to_vec(&o).unwrap()));
        }
        env.produce_raw(env.topic(c), &months[months.len() - 150..])
            .await;
    }
    let (msgs, ids) = normal(&format!("{}-last", env.name), 99, 200);
    expected.extend(ids);
    env.produce(&msgs).await;

    let stored_hostile = items.iter().filter(|i| i.fate == Fate::Stored).count() + months.len();
    let mut want_dead: BTreeMap<String, usize> = BTreeMap::new();
    for i in &items {
        if let Fate::Dead(r) = i.fate {
            *want_dead.entry(r.to_string()).or_default() += 1;
        }
    }
    let dead_total: usize = want_dead.values().sum();
    // The deadline: everything normal stored within 180 s of the last message.
    let got = env
        .wait_for_count(
            "SELECT uniqExact(event_id) FROM {db}.feedback_events WHERE NOT startsWith(source_id, 'h-')",
            expected.len() as u64,
            180,
        )
        .await;
    assert_eq!(
        got,
        expected.len() as u64,
        "normal traffic behind hostile input"
    );
    let stored: HashSet<String> = env
        .query("SELECT event_id FROM {db}.feedback WHERE NOT startsWith(source_id, 'h-')")
        .await
        .into_iter()
        .collect();
    assert!(stored == expected, "normal traffic stored exactly once");
    let hostile = env
        .wait_for_count(
            "SELECT uniqExact(source_id) FROM {db}.feedback_events WHERE startsWith(source_id, 'h-')",
            stored_hostile as u64,
            60,
        )
        .await;
    assert_eq!(hostile, stored_hostile as u64, "hostile items stored");
    assert_eq!(
        env.scalar(&format!(
            "SELECT count() FROM {{db}}.feedback WHERE startsWith(source_id, 'h-{}-dup')",
            env.name
        ))
        .await,
        4
    );
    let months_stored = env
        .scalar("SELECT uniqExact(toYYYYMM(event_time)) FROM {db}.feedback WHERE source_id LIKE 'h-%month%'")
        .await;
    assert_eq!(months_stored, 150);
    // Masked: no phone or card number in any stored hostile text.
    assert_eq!(
        env.scalar("SELECT count() FROM {db}.feedback_events WHERE match(text, '1[3-9][0-9]{9}|[0-9]{15,}')")
            .await,
        0
    );
    let dead = dead_letter_reasons(&env, dead_total).await;
    assert_eq!(dead, want_dead, "dead letters by reason");
    env.assert_workers_alive();
    assert!(stop(worker).success());
    env.drop_database().await;
}

/// A row ClickHouse refuses (here: a value failing a check the test adds
/// to the table, as a CHECK constraint would on a current server) is
/// dead-lettered as rejected_by_clickhouse with the server's message, and
/// every other row of its insert is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_clickhouse_refuses_is_dead_lettered_and_its_batch_stored() {
    let env = Env::new("refused", 500).await;
    // A MATERIALIZED column is computed for every inserted row before the
    // block is written: throwIf refuses the whole insert (code 395).
    env.query(
        "ALTER TABLE {db}.feedback_events ADD COLUMN refuse_check UInt8 \
         MATERIALIZED throwIf(endsWith(source_id, '-refuse-me'))",
    )
    .await;
    let (msgs, expected) = normal(&env.name, 5, 400);
    let refused: Vec<(Channel, Vec<u8>)> = CHANNELS
        .iter()
        .map(|&c| {
            let id = format!("{}-{}-refuse-me", env.name, c.as_str());
            (
                c,
                serde_json::to_vec(&base(c, &id, NOW, "转账失败")).unwrap(),
            )
        })
        .collect();
    // The refused rows sit in the middle of the traffic, in full batches.
    env.produce(&msgs[..200]).await;
    for (c, p) in &refused {
        env.produce_raw(env.topic(*c), &[("r".into(), p.clone())])
            .await;
    }
    env.produce(&msgs[200..]).await;
    let worker = env.spawn_worker("1");
    let got = env
        .wait_for_count(
            "SELECT uniqExact(event_id) FROM {db}.feedback_events",
            expected.len() as u64,
            180,
        )
        .await;
    assert_eq!(got, expected.len() as u64);
    let dls = env.read_topic(&env.dead_letter, 4, 60).await;
    let refused_letters: Vec<&Value> = dls
        .iter()
        .filter(|d| d["reason"] == "rejected_by_clickhouse")
        .collect();
    assert_eq!((refused_letters.len(), dls.len()), (4, 4), "{dls:?}");
    for d in &refused_letters {
        assert_valid_dead_letter(d);
        let detail = d["detail"].as_str().unwrap();
        assert!(detail.contains("Code: 395"), "{detail}");
        assert!(d["payload"].as_str().unwrap().contains("-refuse-me"));
    }
    assert_eq!(
        env.scalar(
            "SELECT count() FROM {db}.feedback_events WHERE endsWith(source_id, '-refuse-me')"
        )
        .await,
        0
    );
    env.assert_workers_alive();
    assert!(stop(worker).success());
    env.drop_database().await;
}

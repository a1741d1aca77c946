//! voc-gen: seeded, reproducible traffic for the demo, the tests and the
//! benchmarks.
//!
//! Messages are composed from the phrase bank in gen/data/phrasebank.json
//! (written for the generator, independent of the training corpus): a channel
//! opener, one to three issue clauses for the intended tags with placeholders
//! filled, connectors, a closer matching the mood; then shaped into the
//! channel's raw JSON with the mess real feeds have (numbers as strings, five
//! time formats, traditional characters, full-width digits, emoji, GBK bytes,
//! PII, duplicates). On request it also emits malformed messages of twelve
//! kinds, each with the dead-letter reason the worker must give it.
//!
//! Every message comes with an [`Expectation`], so tests know what must land
//! in ClickHouse and what must be dead-lettered.

mod compose;
pub mod customers;
mod malformed;
mod phrasebank;
mod shape;

pub use customers::{customers, Customer, CUSTOMER_POOL};
pub use malformed::MALFORMED_KINDS;
pub use phrasebank::PhraseBank;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use voc_core::Channel;

/// Generator settings.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub seed: u64,
    /// Prefix of every source id, so separate runs never collide.
    pub run_id: String,
    /// Share of messages that are malformed (0.0-1.0).
    pub malformed_ratio: f64,
    /// Share of valid messages re-sent verbatim later (source-side duplicates).
    pub duplicate_ratio: f64,
    /// Share of valid messages that carry PII in their text.
    pub pii_ratio: f64,
    /// Event times are spread over this many hours before `now`.
    pub spread_hours: i64,
    /// Messages come from this many distinct customers (the first of the
    /// customer dimension's keys when at most [`CUSTOMER_POOL`]).
    pub customers: u32,
    pub now: DateTime<Utc>,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 42,
            run_id: "gen".into(),
            malformed_ratio: 0.0,
            duplicate_ratio: 0.01,
            pii_ratio: 0.05,
            spread_hours: 72,
            customers: CUSTOMER_POOL,
            now: Utc::now(),
        }
    }
}

/// What the pipeline must do with a generated message.
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// Stored once, under `event_id`.
    Valid {
        event_id: String,
        intended_tags: Vec<String>,
        detractor_score: bool,
        has_pii: bool,
    },
    /// A re-send of an earlier valid message: still stored once.
    Duplicate { event_id: String },
    /// Dead-lettered with this reason code.
    Malformed {
        kind: &'static str,
        reason: &'static str,
    },
}

/// One message ready to produce.
#[derive(Debug, Clone)]
pub struct Generated {
    pub channel: Channel,
    pub key: String,
    pub payload: Vec<u8>,
    pub expect: Expectation,
    /// The customer text composed for a valid message (empty otherwise).
    pub text: String,
}

pub struct Generator {
    cfg: GenConfig,
    rng: ChaCha8Rng,
    bank: PhraseBank,
    seq: u64,
    sent: Vec<(Channel, String, Vec<u8>, String)>,
    malformed_cycle: usize,
}

impl Generator {
    pub fn new(cfg: GenConfig) -> Self {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            bank: PhraseBank::bundled(),
            seq: 0,
            sent: Vec::new(),
            malformed_cycle: 0,
            cfg,
        }
    }

    /// The next message.
    pub fn next_message(&mut self) -> Generated {
        self.seq += 1;
        if self.cfg.malformed_ratio > 0.0 && self.rng.random_bool(self.cfg.malformed_ratio.min(1.0))
        {
            return self.malformed();
        }
        if !self.sent.is_empty()
            && self
                .rng
                .random_bool(self.cfg.duplicate_ratio.clamp(0.0, 1.0))
        {
            let i = self.rng.random_range(0..self.sent.len());
            let (channel, key, payload, event_id) = self.sent[i].clone();
            return Generated {
                channel,
                key,
                payload,
                expect: Expectation::Duplicate { event_id },
                text: String::new(),
            };
        }
        self.valid()
    }

    /// A malformed message; kinds rotate so a few dozen cover all of them.
    pub fn malformed(&mut self) -> Generated {
        let kind = MALFORMED_KINDS[self.malformed_cycle % MALFORMED_KINDS.len()];
        self.malformed_cycle += 1;
        let id = format!("{}-bad-{}", self.cfg.run_id, self.seq);
        malformed::build(kind, &id, &mut self.rng)
    }

    fn valid(&mut self) -> Generated {
        let channel = pick_channel(&mut self.rng);
        let source_id = format!("{}-{}-{}", self.cfg.run_id, channel.as_str(), self.seq);
        let item = compose::compose(&self.bank, channel, &mut self.rng, self.cfg.pii_ratio);
        let offset_s = self
            .rng
            .random_range(0..(self.cfg.spread_hours.max(1) * 3600));
        let time = self.cfg.now - chrono::Duration::seconds(offset_s);
        let payload = shape::payload(
            channel,
            &source_id,
            time,
            &item,
            &self.bank,
            self.cfg.customers,
            &mut self.rng,
        );
        let event_id = voc_core::event_id(channel, &source_id);
        if self.sent.len() < 10_000 {
            self.sent.push((
                channel,
                source_id.clone(),
                payload.clone(),
                event_id.clone(),
            ));
        }
        Generated {
            channel,
            key: source_id,
            payload,
            text: item.text(),
            expect: Expectation::Valid {
                event_id,
                intended_tags: item.tags,
                detractor_score: item.score.is_some_and(|s| s <= 6),
                has_pii: item.has_pii,
            },
        }
    }
}

fn pick_channel(rng: &mut ChaCha8Rng) -> Channel {
    match rng.random_range(0..100) {
        0..40 => Channel::App,
        40..65 => Channel::CallCenter,
        65..80 => Channel::Community,
        _ => Channel::Branch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn cfg() -> GenConfig {
        GenConfig {
            now: chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 25, 0, 0, 0).unwrap(),
            ..GenConfig::default()
        }
    }

    #[test]
    fn same_seed_same_messages() {
        let a: Vec<Vec<u8>> = {
            let mut g = Generator::new(cfg());
            (0..50).map(|_| g.next_message().payload).collect()
        };
        let mut g = Generator::new(cfg());
        let b: Vec<Vec<u8>> = (0..50).map(|_| g.next_message().payload).collect();
        assert_eq!(a, b);
    }

    /// The customer keys in the messages (parsed from the payload JSON).
    fn customer_keys(customers: u32, n: usize) -> HashSet<String> {
        let mut g = Generator::new(GenConfig {
            customers,
            duplicate_ratio: 0.0,
            ..cfg()
        });
        (0..n)
            .filter_map(|_| {
                let v: serde_json::Value =
                    serde_json::from_slice(&g.next_message().payload).ok()?;
                v["customer_id"].as_str().map(str::to_string)
            })
            .collect()
    }

    #[test]
    fn the_customer_pool_is_configurable() {
        let few = customer_keys(5, 500);
        assert_eq!(few.len(), 5, "{few:?}");
        assert!(few
            .iter()
            .all(|k| ("C1000000"..="C1000004").contains(&k.as_str())));
        let many = customer_keys(1_000_000, 500);
        assert!(many.len() > 300, "{}", many.len());
        assert!(many.iter().any(|k| k.as_str() > "C1003000"));
    }

    #[test]
    fn a_thousand_messages_read_differently() {
        let mut g = Generator::new(GenConfig {
            duplicate_ratio: 0.0,
            ..cfg()
        });
        let mut texts = HashSet::new();
        let mut channels = HashSet::new();
        for _ in 0..1000 {
            let m = g.next_message();
            channels.insert(m.channel);
            texts.insert(m.text);
        }
        assert_eq!(channels.len(), 4);
        assert_eq!(texts.len(), 1000, "texts repeated");
    }

    #[test]
    fn malformed_kinds_all_appear() {
        let mut g = Generator::new(cfg());
        let kinds: HashSet<&str> = (0..MALFORMED_KINDS.len())
            .map(|_| match g.malformed().expect {
                Expectation::Malformed { kind, .. } => kind,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(kinds.len() >= 10);
    }
}

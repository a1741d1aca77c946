//! Generated traffic with what it must leave in ClickHouse, and the checks
//! that it did: each event exactly once in the events, the raw rows and the
//! rollups.

use super::Env;
use std::collections::{BTreeMap, HashSet};
use voc_gen::{Expectation, GenConfig, Generated, Generator};

pub struct Traffic {
    pub messages: Vec<Generated>,
    /// Unique event ids that must be stored exactly once.
    pub expected: HashSet<String>,
    /// Dead-letter reason -> how many.
    pub dead: BTreeMap<&'static str, usize>,
    pub with_pii: usize,
}

pub fn traffic(run_id: &str, seed: u64, valid: usize, malformed: usize) -> Traffic {
    let mut g = Generator::new(GenConfig {
        seed,
        run_id: run_id.into(),
        duplicate_ratio: 0.03,
        pii_ratio: 0.1,
        ..GenConfig::default()
    });
    let mut messages = Vec::new();
    let stride = valid / malformed.max(1);
    for i in 0..valid {
        messages.push(g.next_message());
        if malformed > 0
            && i % stride == 0
            && messages
                .iter()
                .filter(|m| matches!(m.expect, Expectation::Malformed { .. }))
                .count()
                < malformed
        {
            messages.push(g.malformed());
        }
    }
    let mut t = Traffic {
        expected: HashSet::new(),
        dead: BTreeMap::new(),
        with_pii: 0,
        messages: Vec::new(),
    };
    for m in &messages {
        match &m.expect {
            Expectation::Valid {
                event_id, has_pii, ..
            } => {
                t.expected.insert(event_id.clone());
                t.with_pii += *has_pii as usize;
            }
            Expectation::Duplicate { event_id } => assert!(t.expected.contains(event_id)),
            Expectation::Malformed { reason, .. } => *t.dead.entry(reason).or_default() += 1,
        }
    }
    t.messages = messages;
    t
}

/// Every expected event is in the analysts' view, exactly once.
pub async fn assert_stored_exactly_once(env: &Env, expected: &HashSet<String>, when: &str) {
    assert_eq!(
        env.scalar("SELECT count() FROM {db}.feedback").await,
        expected.len() as u64,
        "analysts' count {when}"
    );
    let stored: HashSet<String> = env
        .query("SELECT event_id FROM {db}.feedback")
        .await
        .into_iter()
        .collect();
    assert!(
        stored == *expected,
        "{} missing {when}",
        expected.difference(&stored).count()
    );
}

/// [`assert_stored_exactly_once`], and the raw rows hold each event id
/// (none missing, none unknown), and the rollups count each event once.
pub async fn assert_exact(env: &Env, expected: &HashSet<String>, when: &str) {
    assert_stored_exactly_once(env, expected, when).await;
    let want = expected.len() as u64;
    for (what, sql) in [
        (
            "raw rows (distinct ids)",
            "SELECT uniqExact(event_id) FROM {db}.feedback_events",
        ),
        (
            "per-minute rollup",
            "SELECT uniqExactMerge(events) FROM {db}.feedback_rollup_minute",
        ),
        (
            "per-day rollup",
            "SELECT uniqExactMerge(events) FROM {db}.feedback_rollup_day",
        ),
    ] {
        assert_eq!(env.scalar(sql).await, want, "{what} {when}");
    }
}

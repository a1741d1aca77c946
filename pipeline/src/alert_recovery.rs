//! Alerts a crashed process published but did not record: every alert
//! record carries its triggers ([`TRIGGERS_HEADER`]), so the alert topic can
//! be read back and what ClickHouse lacks recorded as the recorder would
//! have, before the batches the crash left uncommitted are evaluated again
//! (they then find their alerts' windows and triggers and publish nothing).
//!
//! - At start ([`Recovery::at_start`]): the last
//!   `alert.recover_published_minutes` of the topic, retried until done.
//! - Before a batch holding a partition this process has not read before
//!   (taken over from another worker, maybe a killed one;
//!   [`Recovery::before_batch`]): what was published since the last
//!   recovery. Best effort: a failure is logged and the batch evaluated.

use crate::alert_step::TRIGGERS_HEADER;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use voc_alert::AlertService;
use voc_core::EnrichedEvent;

/// Read back this much before the last recovery too (broker and worker
/// clocks, and a publish acknowledged while the last recovery read).
const OVERLAP: chrono::Duration = chrono::Duration::seconds(30);

/// The alert topic read back, and what this process has covered so far.
pub struct Recovery {
    consumer: ClientConfig,
    topic: String,
    minutes: u32,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When the last recovery began (everything published before it, minus
    /// [`OVERLAP`], is recorded).
    last: Option<DateTime<Utc>>,
    /// Source partitions this process has evaluated batches of.
    seen: HashSet<(String, i32)>,
}

impl Recovery {
    /// `consumer`: settings to read `topic` with (no group is joined).
    pub fn new(consumer: ClientConfig, topic: &str, minutes: u32) -> Self {
        Recovery {
            consumer,
            topic: topic.to_string(),
            minutes,
            state: Default::default(),
        }
    }

    /// The last `alert.recover_published_minutes`, before anything is
    /// evaluated. Returns how many alerts were recorded.
    pub async fn at_start(&self, alerting: &AlertService) -> anyhow::Result<usize> {
        if self.minutes == 0 {
            return Ok(0);
        }
        let mut state = self.state.lock().await;
        let began = Utc::now();
        let n = self
            .recover(
                began - chrono::Duration::minutes(self.minutes as i64),
                alerting,
            )
            .await?;
        state.last = Some(began);
        Ok(n)
    }

    /// Before a batch is evaluated: when it holds a partition not read here
    /// before, the alerts published since the last recovery.
    pub async fn before_batch(&self, events: &[EnrichedEvent], alerting: &AlertService) {
        if self.minutes == 0 {
            return;
        }
        let mut state = self.state.lock().await;
        let new: HashSet<(String, i32)> = events
            .iter()
            .map(|e| (e.lineage.topic.clone(), e.lineage.partition))
            .filter(|p| !state.seen.contains(p))
            .collect();
        if new.is_empty() {
            return;
        }
        let began = Utc::now();
        let window = began - chrono::Duration::minutes(self.minutes as i64);
        let since = state.last.map_or(window, |t| (t - OVERLAP).max(window));
        match self.recover(since, alerting).await {
            Ok(_) => {
                state.seen.extend(new);
                state.last = Some(began);
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading back the alert topic for newly assigned partitions failed; evaluating without it")
            }
        }
    }

    async fn recover(
        &self,
        since: DateTime<Utc>,
        alerting: &AlertService,
    ) -> anyhow::Result<usize> {
        let (consumer, topic) = (self.consumer.clone(), self.topic.clone());
        let found = tokio::task::spawn_blocking(move || {
            read_since(consumer, &topic, since.timestamp_millis())
        })
        .await
        .context("reading the alert topic")??;
        let n = found.len();
        let recorded = alerting.recover_published(found).await?;
        tracing::info!(
            on_topic = n,
            recorded,
            since = %since,
            "alerts published but not recorded (a crash between the two) recorded"
        );
        Ok(recorded)
    }
}

type Published = (Arc<str>, Vec<String>);

/// Every record of `topic` from `since_ms` (broker time) to its end now:
/// the payload and its [`TRIGGERS_HEADER`].
fn read_since(cfg: ClientConfig, topic: &str, since_ms: i64) -> anyhow::Result<Vec<Published>> {
    const WAIT: Duration = Duration::from_secs(10);
    let c: BaseConsumer = cfg.create()?;
    let md = c.fetch_metadata(Some(topic), WAIT)?;
    let parts: Vec<i32> = md
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut ends = HashMap::new();
    let mut wanted = TopicPartitionList::new();
    for p in &parts {
        ends.insert(*p, c.fetch_watermarks(topic, *p, WAIT)?.1);
        wanted.add_partition_offset(topic, *p, Offset::Offset(since_ms))?;
    }
    let mut assign = TopicPartitionList::new();
    for e in c.offsets_for_times(wanted, WAIT)?.elements() {
        let end = ends[&e.partition()];
        // No record at or after the time: nothing to read there.
        let start = match e.offset() {
            Offset::Offset(o) => o,
            _ => end,
        };
        if start < end {
            assign.add_partition_offset(topic, e.partition(), Offset::Offset(start))?;
        } else {
            ends.remove(&e.partition());
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return Ok(out);
    }
    c.assign(&assign)?;
    let mut quiet_since = Instant::now();
    while !ends.is_empty() {
        let Some(m) = c.poll(Duration::from_millis(500)) else {
            anyhow::ensure!(
                quiet_since.elapsed() < 3 * WAIT,
                "the alert topic stopped answering before its end"
            );
            continue;
        };
        let m = m?;
        quiet_since = Instant::now();
        if m.offset() + 1 >= ends.get(&m.partition()).copied().unwrap_or(0) {
            ends.remove(&m.partition());
        }
        let Ok(json) = std::str::from_utf8(m.payload().unwrap_or_default()) else {
            continue;
        };
        let triggers = m
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == TRIGGERS_HEADER))
            .and_then(|h| serde_json::from_slice(h.value?).ok())
            .unwrap_or_default();
        out.push((Arc::from(json), triggers));
    }
    Ok(out)
}

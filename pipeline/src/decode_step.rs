//! The worker's first step on a batch: raw messages become feedback or dead
//! letters with a reason; and the dead letters of items whose enrichment
//! panicked ([`crate::isolate`]).

use crate::config::DecodeConfig;
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use rdkafka::message::{Message, OwnedMessage};
use std::time::Instant;
use voc_core::{Feedback, Lineage};
use voc_ingest::{
    decode_limited, DeadLetter, DeadLetterReason, DecodeContext, DecodeError, TopicMap,
};

/// Decode every message of `batch`: the feedback, in offset order, and a dead
/// letter for each message that does not decode (counted by reason).
pub(crate) fn decode_batch(
    batch: &[OwnedMessage],
    topics: &TopicMap,
    cfg: &DecodeConfig,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
    metrics: &Metrics,
) -> (Vec<Feedback>, Vec<DeadLetter>) {
    let started = Instant::now();
    let mut feedback = Vec::with_capacity(batch.len());
    let mut dead: Vec<DeadLetter> = Vec::new();
    let limits = cfg.limits();
    for m in batch {
        let channel = topics.channel(m.topic());
        let result = match channel {
            None => Err(DecodeError::new(
                DeadLetterReason::UnknownTopic,
                format!("no channel is configured for topic {}", m.topic()),
            )),
            Some(c) => {
                metrics.consumed.with_label_values(&[c.as_str()]).inc();
                let ctx = DecodeContext {
                    zone,
                    now,
                    max_payload_bytes: cfg.max_payload_bytes,
                    broker_time: m
                        .timestamp()
                        .to_millis()
                        .and_then(DateTime::from_timestamp_millis),
                    lineage: Lineage {
                        topic: m.topic().to_string(),
                        partition: m.partition(),
                        offset: m.offset(),
                    },
                };
                decode_limited(c, m.payload(), &ctx, &limits)
            }
        };
        match result {
            Ok(f) => feedback.push(f),
            Err(e) => {
                tracing::debug!(topic = m.topic(), partition = m.partition(), offset = m.offset(), reason = %e.reason, "dead letter");
                metrics
                    .dead_letters
                    .with_label_values(&[e.reason.as_str()])
                    .inc();
                dead.push(DeadLetter::of(m, channel, &e));
            }
        }
    }
    metrics
        .stage_seconds
        .with_label_values(&["decode"])
        .observe(started.elapsed().as_secs_f64());
    (feedback, dead)
}

/// The dead letters (`enrich_failed`, with the panic's message, PII-masked)
/// of the items whose enrichment panicked, made from their messages.
pub(crate) fn panicked(
    batch: &[OwnedMessage],
    panicked: Vec<(Lineage, String)>,
    topics: &TopicMap,
    metrics: &Metrics,
) -> Vec<DeadLetter> {
    let mut dead = Vec::new();
    for (lineage, message) in panicked {
        let Some(m) = batch.iter().find(|m| {
            (m.topic(), m.partition(), m.offset())
                == (lineage.topic.as_str(), lineage.partition, lineage.offset)
        }) else {
            continue;
        };
        let reason = DeadLetterReason::EnrichFailed;
        tracing::error!(topic = m.topic(), partition = m.partition(), offset = m.offset(), panic = %voc_core::pii::mask(&message).text, "enriching an item panicked; dead-lettering it");
        metrics
            .dead_letters
            .with_label_values(&[reason.as_str()])
            .inc();
        let channel = topics.channel(m.topic());
        let detail = format!("enrichment panicked: {message}");
        dead.push(DeadLetter::rejected(
            m,
            channel,
            reason.as_str(),
            None,
            detail,
        ));
    }
    dead
}

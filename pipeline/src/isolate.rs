//! A panic while enriching one item must not take its batch, or the worker,
//! with it: being deterministic, it would crash-loop the worker on the same
//! message. The batch is enriched as a whole (the models batch their work);
//! if that panics, each item is enriched alone and the ones that panic are
//! returned to be dead-lettered (`enrich_failed`). Rows ClickHouse refuses
//! are isolated by the storage task; their dead letters are made here.

use std::panic::{catch_unwind, AssertUnwindSafe};
use voc_core::{EnrichedEvent, Feedback, Lineage};
use voc_ingest::{DeadLetter, DeadLetterReason, SourcePosition};

/// The events of a batch, and the items whose enrichment panicked (where
/// they came from, the panic's message).
pub struct Isolated {
    pub events: Vec<EnrichedEvent>,
    pub panicked: Vec<(Lineage, String)>,
}

/// Enrich `items` with `enrich`, isolating items that panic. An error (not
/// a panic) is returned as it is: it concerns the models, not one item.
pub fn enrich_isolating<E>(
    items: Vec<Feedback>,
    mut enrich: impl FnMut(Vec<Feedback>) -> Result<Vec<EnrichedEvent>, E>,
) -> Result<Isolated, E> {
    // Kept to redo item by item: the call takes the batch.
    let copy = (items.len() > 1).then(|| items.clone());
    let lineage = items.first().map(|f| f.lineage.clone());
    let panic = match catch_unwind(AssertUnwindSafe(|| enrich(items))) {
        Ok(events) => {
            return Ok(Isolated {
                events: events?,
                panicked: Vec::new(),
            })
        }
        Err(p) => p,
    };
    let Some(copy) = copy else {
        return Ok(Isolated {
            events: Vec::new(),
            panicked: lineage
                .map(|l| (l, panic_message(panic.as_ref())))
                .into_iter()
                .collect(),
        });
    };
    tracing::warn!("enriching a batch panicked; enriching its items one by one");
    let mut out = Isolated {
        events: Vec::with_capacity(copy.len()),
        panicked: Vec::new(),
    };
    for item in copy {
        let lineage = item.lineage.clone();
        match catch_unwind(AssertUnwindSafe(|| enrich(vec![item]))) {
            Ok(events) => out.events.extend(events?),
            Err(p) => out.panicked.push((lineage, panic_message(p.as_ref()))),
        }
    }
    Ok(out)
}

/// The text a panic was raised with.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// The most characters of a ClickHouse message a dead letter carries.
const MAX_SERVER_MESSAGE_CHARS: usize = 1000;

/// A server's error as a dead letter and the logs carry it: PII-masked
/// (a parse error can quote the row), at most 1000 characters.
pub fn server_message(e: &impl std::fmt::Display) -> String {
    truncate(
        voc_core::pii::mask(&e.to_string()).text,
        MAX_SERVER_MESSAGE_CHARS,
    )
}

/// The dead letter of a row ClickHouse refused: the enriched event (its
/// text masked already) stands for the message, which is no longer held.
pub fn refused_row(e: &EnrichedEvent, message: &str) -> DeadLetter {
    let json = serde_json::to_string(e).unwrap_or_default();
    let source = SourcePosition {
        topic: e.lineage.topic.clone(),
        partition: e.lineage.partition,
        offset: e.lineage.offset,
        timestamp_ms: None,
    };
    DeadLetter::item(
        source,
        Some(e.channel),
        DeadLetterReason::RejectedByClickhouse.as_str(),
        None,
        format!("ClickHouse refused the row: {message}"),
        json.clone(),
        json.as_bytes(),
    )
}

/// At most `max` characters of `s`.
fn truncate(mut s: String, max: usize) -> String {
    if let Some((at, _)) = s.char_indices().nth(max) {
        s.truncate(at);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use voc_core::{Channel, Keys, TimeSource};

    fn item(offset: i64, voice: &str) -> Feedback {
        Feedback {
            channel: Channel::App,
            source_id: format!("s{offset}"),
            event_time: Utc::now(),
            event_time_source: TimeSource::Payload,
            keys: Keys::default(),
            voice: voice.into(),
            context: String::new(),
            nps_score: None,
            star_rating: None,
            wait_minutes: None,
            duration_s: None,
            likes: None,
            source_encoding: "utf-8",
            lineage: Lineage {
                topic: "t".into(),
                partition: 0,
                offset,
            },
        }
    }

    /// A fake enricher that panics on any text containing "boom".
    fn fake(items: Vec<Feedback>) -> Result<Vec<EnrichedEvent>, String> {
        let mut out = Vec::new();
        for f in items {
            if f.voice.contains("boom") {
                panic!("cannot enrich item {}", f.source_id);
            }
            let mut e = voc_alert::testing::event(&f.source_id, "", Channel::App, &[], None, 0.0);
            e.lineage = f.lineage;
            out.push(e);
        }
        Ok(out)
    }

    #[test]
    fn a_panicking_item_is_isolated_and_the_rest_enriched() {
        let items = vec![
            item(1, "好"),
            item(2, "boom"),
            item(3, "慢"),
            item(4, "boom!"),
        ];
        let r = enrich_isolating(items, fake).unwrap();
        let offsets: Vec<i64> = r.events.iter().map(|e| e.lineage.offset).collect();
        assert_eq!(offsets, [1, 3]);
        let failed: Vec<(i64, &str)> = r
            .panicked
            .iter()
            .map(|(l, m)| (l.offset, m.as_str()))
            .collect();
        assert_eq!(
            failed,
            [(2, "cannot enrich item s2"), (4, "cannot enrich item s4")]
        );
        // A batch of one that panics; a batch that does not.
        let r = enrich_isolating(vec![item(9, "boom")], fake).unwrap();
        assert_eq!((r.events.len(), r.panicked.len()), (0, 1));
        let r = enrich_isolating(vec![item(1, "a"), item(2, "b")], fake).unwrap();
        assert_eq!((r.events.len(), r.panicked.len()), (2, 0));
        // Errors are not panics: they are returned.
        let r = enrich_isolating(vec![item(1, "a")], |_| Err::<Vec<EnrichedEvent>, _>("x"));
        assert!(r.is_err());
    }
}

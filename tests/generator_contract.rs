//! The generator and the decoders agree: every valid generated message
//! decodes, every malformed one fails with the reason the generator promises.
//! (No services needed; the pipeline tests cover the same over Kafka.)

use chrono::Utc;
use std::collections::HashSet;
use voc_core::Lineage;
use voc_gen::{Expectation, GenConfig, Generator};
use voc_ingest::{decode, DecodeContext};

fn ctx() -> DecodeContext {
    DecodeContext {
        zone: chrono_tz::Asia::Shanghai,
        now: Utc::now(),
        max_payload_bytes: 256 * 1024,
        broker_time: Some(Utc::now()),
        lineage: Lineage::default(),
    }
}

#[test]
fn every_generated_message_decodes_as_promised() {
    let mut g = Generator::new(GenConfig {
        seed: 3,
        malformed_ratio: 0.05,
        ..GenConfig::default()
    });
    let mut reasons = HashSet::new();
    let mut encodings = HashSet::new();
    for _ in 0..5000 {
        let m = g.next_message();
        let r = decode(
            m.channel,
            Some(&m.payload)
                .filter(|p| !p.is_empty())
                .map(|p| p.as_slice()),
            &ctx(),
        );
        match (&m.expect, r) {
            (Expectation::Valid { event_id, .. } | Expectation::Duplicate { event_id }, Ok(fb)) => {
                assert_eq!(&fb.event_id(), event_id);
                encodings.insert(fb.source_encoding);
            }
            (Expectation::Malformed { reason, kind }, Err(e)) => {
                assert_eq!(e.reason.as_str(), *reason, "kind {kind}");
                reasons.insert(*reason);
            }
            (want, got) => panic!(
                "expected {want:?}, decoder gave {got:?} for {:?}",
                String::from_utf8_lossy(&m.payload)
            ),
        }
    }
    assert!(reasons.len() >= 9, "{reasons:?}");
    assert!(
        encodings.contains("gb18030"),
        "GBK payloads are part of the mix"
    );
}

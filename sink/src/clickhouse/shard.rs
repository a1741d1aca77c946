//! Shard-local writes of the events on a cluster: the worker picks each
//! event's shard as the `Distributed` tables do (`sipHash64(event_id)`
//! modulo the number of shards, shards in `remote_servers` order, weight 1)
//! and inserts into `<table>_local` on a replica of that shard, trying the
//! shard's replicas in the configured order. The replicas copy the rows to
//! each other; the materialized views run on the replica written, as on one
//! server.
//!
//! Why not through the `Distributed` table: ClickHouse 18.16 runs the
//! materialized views of rows a Distributed insert writes on the receiving
//! server itself without a query context, and views with a JOIN (the tag
//! rows, the tag rollups) then fail ("There is no query").

use super::{ClickHouseSink, SinkError};
use std::hash::Hasher;
use std::time::{Duration, Instant};
use voc_core::EnrichedEvent;

/// The shard (0-based, in `remote_servers` order) of an event among `shards`:
/// ClickHouse's `sipHash64(event_id) % shards` (SipHash-2-4, zero key).
pub fn shard_of(event_id: &str, shards: usize) -> usize {
    #[allow(deprecated)] // std's SipHasher is SipHash-2-4, what sipHash64 computes
    let mut h = std::hash::SipHasher::new_with_keys(0, 0);
    h.write(event_id.as_bytes());
    (h.finish() % shards.max(1) as u64) as usize
}

impl ClickHouseSink {
    /// Insert `events` shard-local: each shard's events into `<table>_local`
    /// on its first replica that takes them. An error names the last
    /// replica tried; the caller retries the whole batch (rows already
    /// written on other shards are replaced, not doubled).
    pub(crate) async fn insert_sharded<E>(&self, events: &[E]) -> Result<Duration, SinkError>
    where
        E: std::borrow::Borrow<EnrichedEvent> + Sync,
    {
        let start = Instant::now();
        let mut by_shard: Vec<Vec<&EnrichedEvent>> = vec![Vec::new(); self.shards.len()];
        for e in events {
            let e = e.borrow();
            by_shard[shard_of(&e.event_id, self.shards.len())].push(e);
        }
        let table = format!("{}_local", self.cfg.table);
        for (replicas, part) in self.shards.iter().zip(&by_shard) {
            if part.is_empty() {
                continue;
            }
            let mut last = None;
            for r in replicas {
                match r.insert_into(&table, part).await {
                    Ok(_) => {
                        last = None;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "shard replica refused the insert; trying the next");
                        last = Some(e);
                    }
                }
            }
            if let Some(e) = last {
                return Err(e);
            }
        }
        Ok(start.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_as_clickhouse_sip_hash_64_does() {
        // SELECT sipHash64('abc'), sipHash64('') on ClickHouse 18.16.1.
        let sip = |s: &str| {
            #[allow(deprecated)]
            let mut h = std::hash::SipHasher::new_with_keys(0, 0);
            h.write(s.as_bytes());
            h.finish()
        };
        assert_eq!(sip("abc"), 4596069200710135518);
        assert_eq!(sip(""), 2202906307356721367);
        assert_eq!(sip("中文"), 698687065735189005);
        assert_eq!(shard_of("abc", 2), (4596069200710135518u64 % 2) as usize);
        assert_eq!(shard_of("abc", 3), (4596069200710135518u64 % 3) as usize);
        assert_eq!(shard_of("abc", 0), 0);
    }
}

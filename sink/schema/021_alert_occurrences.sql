-- Each event that raised or fed an alert: the first occurrence and
-- every suppressed one. Counting uniqExact(event_id) per alert_id gives the
-- occurrence count of a suppression window across all workers; looking up an
-- event_id here is how a re-delivered source message is kept from raising a
-- second alert. ReplacingMergeTree: one row per (dedup_key, event_id).
CREATE TABLE IF NOT EXISTS {db}.alert_occurrences
(
    dedup_key String,
    event_id String,
    alert_id String,
    kind String,
    seen_at DateTime,
    suppressed UInt8
)
ENGINE = ReplacingMergeTree(seen_at)
PARTITION BY toYYYYMM(seen_at)
ORDER BY (dedup_key, event_id)

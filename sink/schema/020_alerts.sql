-- Every alert revision the worker published on the alert topic.
-- Written after the broker acknowledged the alert, so a row here means "was
-- published"; a crash between the two re-publishes the same alert_id (the id
-- is derived from the dedup key and the events, not from the clock), and
-- ReplacingMergeTree keeps one row per (alert_id, revision).
-- revision 0 is the first occurrence; revision 1 the update sent when the
-- suppression window closed with more occurrences (see docs/alerting.md).
-- The worker also reads this table to suppress a dedup key another worker (or
-- an earlier run) already alerted on within the window.
CREATE TABLE IF NOT EXISTS {db}.alerts
(
    alert_id String,
    revision UInt8,
    kind String,
    severity String,
    dedup_key String,
    created_at DateTime,
    first_seen DateTime,
    window_closes_at DateTime,
    sla_due DateTime,
    occurrences UInt32,
    customer_key String,
    event_ids Array(String),
    tag_ids Array(String),
    departments Array(String),
    work_order_title String,
    payload String
)
ENGINE = ReplacingMergeTree(created_at)
PARTITION BY toYYYYMM(created_at)
ORDER BY (dedup_key, alert_id, revision)

-- Work-order status updates from the case system (closing the loop),
-- consumed from the updates topic by `voc workorders` (schema:
-- docs/workorder-update.schema.json). Idempotent: a re-delivered update has the
-- same update_id and ReplacingMergeTree keeps one row per (alert_id, status,
-- update_id); queries take the first time each status was reached (min), so
-- duplicates never change an answer. Saved questions: deploy/clickhouse/queries/.
CREATE TABLE IF NOT EXISTS {db}.work_order_updates
(
    update_id String,
    alert_id String,
    work_order_id String,
    status String,
    department String,
    at DateTime,
    actor String,
    note String,
    received_at DateTime
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, status, update_id)

-- Webhook deliveries by `voc notify`: one row per alert, webhook and
-- outcome (delivered / failed after the last retry). The alert itself stays
-- on the alert topic either way; a failed row is what an operator replays.
CREATE TABLE IF NOT EXISTS {db}.alert_deliveries
(
    alert_id String,
    revision UInt8,
    webhook String,
    outcome String,
    attempts UInt16,
    http_status UInt16,
    error String,
    at DateTime
)
ENGINE = ReplacingMergeTree(at)
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, revision, webhook)

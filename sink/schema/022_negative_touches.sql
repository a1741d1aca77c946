-- A customer's negative touchpoints, keyed for point lookups by customer
-- (for repeat-complainer alerts). Filled by 023_negative_touches_mv from
-- every insert into feedback_events: detractors (explicit or inferred) and
-- negative sentiment. The worker asks, once per batch, for the customers of the
-- batch's negative events (an IN list) over the repeat window, so the answer
-- is global across workers and channels. A re-delivered event inserts a second
-- row: readers count uniqExact(event_id).
CREATE TABLE IF NOT EXISTS {db}.negative_touches
(
    customer_key String,
    event_time DateTime,
    event_id String,
    channel String,
    text String,
    tag_ids Array(String),
    nps_score Nullable(UInt8),
    sentiment_score Float32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (customer_key, event_time, event_id)

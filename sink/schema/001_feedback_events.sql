-- Enriched feedback: one row per feedback item (a call is one item).
-- Runs on ClickHouse 18.16 and on current releases.
--
-- Idempotency: the worker delivers at least once, so a row can arrive twice
-- (a crash between insert and offset commit). ReplacingMergeTree keeps one
-- row per sorting key (channel, day, event_id) when parts merge; until then
-- the `feedback` view reads with FINAL, so analysts never count a re-delivered
-- event twice. event_id is derived from channel + source id, and the event
-- time is part of the payload, so a duplicate always lands on the same key.
--
-- Partitioning by month keeps parts few; ordering by channel and day first
-- serves the common "by channel, by day" filters and keeps FINAL cheap.
-- Empty string means "unknown" for the key columns (group-by friendly).
CREATE TABLE IF NOT EXISTS {db}.feedback_events
(
    event_id String,
    source_id String,
    channel String,
    event_time DateTime,
    ingest_time DateTime,
    event_time_source String,
    customer_key String,
    device_key String,
    branch_id String,
    city String,
    product String,
    journey_node String,
    app_version String,
    os String,
    staff_id String,
    platform String,
    thread_id String,
    text String,
    context_text String,
    tokens Array(String),
    keywords Array(String),
    sentiment_label String,
    sentiment_score Float32,
    sentiment_source String,
    tag_ids Array(String),
    tag_scores Array(Float32),
    tag_polarities Array(String),
    tag_sentiments Array(Float32),
    categories Array(String),
    pain_tags Array(String),
    itch_tags Array(String),
    delight_tags Array(String),
    departments Array(String),
    nps_score Nullable(UInt8),
    nps_segment String,
    nps_inferred UInt8,
    star_rating Nullable(UInt8),
    wait_minutes Nullable(Float32),
    duration_s Nullable(UInt32),
    likes Nullable(UInt32),
    pii_masked Array(String),
    text_truncated UInt8,
    source_encoding String,
    model_version String,
    taxonomy_version String,
    kafka_topic String,
    kafka_partition Int32,
    kafka_offset Int64
)
ENGINE = ReplacingMergeTree(ingest_time)
PARTITION BY toYYYYMM(event_time)
ORDER BY (channel, toDate(event_time), event_id)

-- Cluster variant of ../001_feedback_events.sql (Replicated*MergeTree shards + Distributed).
-- Server macros {shard}, {replica} and {cluster} come from each server's config;
-- {db} is replaced by `voc schema print`-style substitution (sed 's/{db}/voc/g').
-- Untested here (one 18.16 server, no ZooKeeper); the test suite only checks that it parses.
--
-- Every shard stores its part of the events in feedback_events_local; the worker
-- and analysts use the Distributed table feedback_events with the same name and
-- columns as on a single server, so the worker and the saved queries run unchanged.
-- Sharding by cityHash64(event_id) sends a re-delivered event to the same shard
-- as the first copy, so ReplacingMergeTree (and FINAL, and uniqExact(event_id)
-- merged across shards) still count it once. Insert with insert_distributed_sync=1
-- so ClickHouse acknowledges only after the shard wrote the rows (the worker
-- commits Kafka offsets on that acknowledgement).
CREATE TABLE IF NOT EXISTS {db}.feedback_events_local ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/feedback_events_local', '{replica}', ingest_time)
PARTITION BY toYYYYMM(event_time)
ORDER BY (channel, toDate(event_time), event_id);

CREATE TABLE IF NOT EXISTS {db}.feedback_events ON CLUSTER '{cluster}' AS {db}.feedback_events_local
ENGINE = Distributed('{cluster}', '{db}', 'feedback_events_local', cityHash64(event_id));

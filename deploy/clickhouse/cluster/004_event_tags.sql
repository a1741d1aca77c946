-- Cluster variant of ../004_event_tags.sql (Replicated*MergeTree shards + Distributed).
-- Server macros {shard}, {replica} and {cluster} come from each server's config;
-- {db} is replaced by `voc schema print`-style substitution (sed 's/{db}/voc/g').
-- Untested here (one 18.16 server, no ZooKeeper); the test suite only checks that it parses.
--
-- The view fires on inserts into each shard's feedback_events_local, so each
-- shard derives the tag rows of its own events (sharded by event_id like them).
-- No backfill statement here: run the single-server backfill per shard if needed.
CREATE TABLE IF NOT EXISTS {db}.feedback_event_tags_local ON CLUSTER '{cluster}'
(
    event_id String,
    event_time DateTime,
    ingest_time DateTime,
    channel String,
    customer_key String,
    branch_id String,
    city String,
    product String,
    app_version String,
    tag_id String,
    category_id String,
    polarity String,
    tag_score Float32,
    tag_sentiment Float32,
    journey_stage String,
    department String,
    sentiment_label String,
    nps_segment String,
    nps_score Nullable(UInt8),
    nps_inferred UInt8
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/feedback_event_tags_local', '{replica}', ingest_time)
PARTITION BY toYYYYMM(event_time)
ORDER BY (tag_id, toDate(event_time), event_id);

CREATE TABLE IF NOT EXISTS {db}.feedback_event_tags ON CLUSTER '{cluster}' AS {db}.feedback_event_tags_local
ENGINE = Distributed('{cluster}', '{db}', 'feedback_event_tags_local', cityHash64(event_id));

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feedback_event_tags_mv ON CLUSTER '{cluster}' TO {db}.feedback_event_tags_local AS
SELECT
    event_id, event_time, ingest_time, channel, customer_key, branch_id, city, product, app_version,
    tag_id, substring(tag_id, 1, 3) AS category_id, polarity, tag_score, tag_sentiment,
    journey_stage, department, sentiment_label, nps_segment, nps_score, nps_inferred
FROM {db}.feedback_events_local
ARRAY JOIN tag_ids AS tag_id, tag_polarities AS polarity, tag_scores AS tag_score, tag_sentiments AS tag_sentiment
ANY LEFT JOIN (SELECT tag_id, journey_stage, department FROM {db}.taxonomy FINAL) USING tag_id;

-- One row per (event, tag): tag group-bys without ARRAY JOIN at query time.
-- Variant for ClickHouse 20.1 and later: low-cardinality columns as
-- LowCardinality(String) (smaller, faster group-bys); otherwise identical.
-- voc:min_server 20.1
--
-- Fed by a materialized view on feedback_events: every insert into the
-- events table ARRAY JOINs its tags and looks up each tag's journey stage and
-- owning department in the taxonomy (the taxonomy as it was when the event
-- was stored). A re-delivered event inserts the same rows again; they share
-- the sorting key (tag_id, day, event_id), so ReplacingMergeTree keeps one,
-- and queries count uniqExact(event_id) (or read FINAL) to stay exact before
-- the merge.
--
-- Ordering by tag first: the questions are "this tag over time" and "tags
-- ranked within a period"; the day as second key still prunes granules.
CREATE TABLE IF NOT EXISTS {db}.feedback_event_tags
(
    event_id String,
    event_time DateTime,
    ingest_time DateTime,
    channel LowCardinality(String),
    customer_key String,
    branch_id String,
    city LowCardinality(String),
    product LowCardinality(String),
    app_version LowCardinality(String),
    tag_id LowCardinality(String),
    category_id LowCardinality(String),
    polarity LowCardinality(String),
    tag_score Float32,
    tag_sentiment Float32,
    journey_stage LowCardinality(String),
    department LowCardinality(String),
    sentiment_label LowCardinality(String),
    nps_segment LowCardinality(String),
    nps_score Nullable(UInt8),
    nps_inferred UInt8
)
ENGINE = ReplacingMergeTree(ingest_time)
PARTITION BY toYYYYMM(event_time)
ORDER BY (tag_id, toDate(event_time), event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feedback_event_tags_mv TO {db}.feedback_event_tags AS
SELECT
    event_id, event_time, ingest_time, channel, customer_key, branch_id, city, product, app_version,
    tag_id, substring(tag_id, 1, 3) AS category_id, polarity, tag_score, tag_sentiment,
    journey_stage, department, sentiment_label, nps_segment, nps_score, nps_inferred
FROM {db}.feedback_events
ARRAY JOIN tag_ids AS tag_id, tag_polarities AS polarity, tag_scores AS tag_score, tag_sentiments AS tag_sentiment
ANY LEFT JOIN (SELECT tag_id, journey_stage, department FROM {db}.taxonomy FINAL) AS tax USING tag_id;

-- Backfill what was stored before this migration (re-running it is harmless:
-- the rows replace themselves).
INSERT INTO {db}.feedback_event_tags
SELECT
    event_id, event_time, ingest_time, channel, customer_key, branch_id, city, product, app_version,
    tag_id, substring(tag_id, 1, 3) AS category_id, polarity, tag_score, tag_sentiment,
    journey_stage, department, sentiment_label, nps_segment, nps_score, nps_inferred
FROM {db}.feedback_events
ARRAY JOIN tag_ids AS tag_id, tag_polarities AS polarity, tag_scores AS tag_score, tag_sentiments AS tag_sentiment
ANY LEFT JOIN (SELECT tag_id, journey_stage, department FROM {db}.taxonomy FINAL) AS tax USING tag_id;

-- Rollups per minute and per day that stay exact under re-delivery.
-- Variant for ClickHouse 20.1 and later: LowCardinality dimensions, and the
-- per-minute rollups expire after 90 days (TTL; on older servers drop old
-- partitions of *_minute by hand). Otherwise identical.
-- voc:min_server 20.1
--
-- The worker delivers at least once: the same event_id can be inserted twice,
-- and a materialized view sees both inserts. A SummingMergeTree count would
-- count it twice. Here every group keeps uniqExactState(event_id), the exact
-- set of event ids (as 128-bit hashes) in that group, in an
-- AggregatingMergeTree: a re-delivered event adds an id that is already in
-- the set, so uniqExactMerge(events) is unchanged. Counts are exact (the
-- only error is a 128-bit hash collision); the price is 16 bytes per event
-- per group, the same order as the events themselves, so rollups save
-- re-reading wide rows and FINAL, not storage.
--
-- Days are Beijing days (Asia/Shanghai), as analysts and branches count them.
-- Empty string means "unknown" for every dimension.
--
-- Event-level rollups: channel, branch, product, sentiment, NPS segment.
CREATE TABLE IF NOT EXISTS {db}.feedback_rollup_minute
(
    minute DateTime,
    channel LowCardinality(String),
    branch_id LowCardinality(String),
    product LowCardinality(String),
    sentiment_label LowCardinality(String),
    nps_segment LowCardinality(String),
    events AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, channel, branch_id, product, sentiment_label, nps_segment)
TTL minute + INTERVAL 90 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feedback_rollup_minute_mv TO {db}.feedback_rollup_minute AS
SELECT toStartOfMinute(event_time) AS minute, channel, branch_id, product, sentiment_label, nps_segment,
       uniqExactState(event_id) AS events
FROM {db}.feedback_events
GROUP BY minute, channel, branch_id, product, sentiment_label, nps_segment;

CREATE TABLE IF NOT EXISTS {db}.feedback_rollup_day
(
    day Date,
    channel LowCardinality(String),
    branch_id LowCardinality(String),
    product LowCardinality(String),
    sentiment_label LowCardinality(String),
    nps_segment LowCardinality(String),
    events AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, channel, branch_id, product, sentiment_label, nps_segment);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feedback_rollup_day_mv TO {db}.feedback_rollup_day AS
SELECT toDate(event_time, 'Asia/Shanghai') AS day, channel, branch_id, product, sentiment_label, nps_segment,
       uniqExactState(event_id) AS events
FROM {db}.feedback_events
GROUP BY day, channel, branch_id, product, sentiment_label, nps_segment;

-- Tag-level rollups: the same plus tag, its pain/itch/delight class, journey
-- stage and owning department. An event counts once under each of its tags.
CREATE TABLE IF NOT EXISTS {db}.tag_rollup_minute
(
    minute DateTime,
    channel LowCardinality(String),
    branch_id LowCardinality(String),
    product LowCardinality(String),
    journey_stage LowCardinality(String),
    tag_id LowCardinality(String),
    polarity LowCardinality(String),
    department LowCardinality(String),
    sentiment_label LowCardinality(String),
    nps_segment LowCardinality(String),
    events AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, tag_id, channel, branch_id, product, journey_stage, polarity, department, sentiment_label, nps_segment)
TTL minute + INTERVAL 90 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tag_rollup_minute_mv TO {db}.tag_rollup_minute AS
SELECT toStartOfMinute(event_time) AS minute, channel, branch_id, product, journey_stage, tag_id, polarity,
       department, sentiment_label, nps_segment, uniqExactState(event_id) AS events
FROM {db}.feedback_events
ARRAY JOIN tag_ids AS tag_id, tag_polarities AS polarity
ANY LEFT JOIN (SELECT tag_id, journey_stage, department FROM {db}.taxonomy FINAL) AS tax USING tag_id
GROUP BY minute, channel, branch_id, product, journey_stage, tag_id, polarity, department, sentiment_label, nps_segment;

CREATE TABLE IF NOT EXISTS {db}.tag_rollup_day
(
    day Date,
    channel LowCardinality(String),
    branch_id LowCardinality(String),
    product LowCardinality(String),
    journey_stage LowCardinality(String),
    tag_id LowCardinality(String),
    polarity LowCardinality(String),
    department LowCardinality(String),
    sentiment_label LowCardinality(String),
    nps_segment LowCardinality(String),
    events AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, tag_id, channel, branch_id, product, journey_stage, polarity, department, sentiment_label, nps_segment);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tag_rollup_day_mv TO {db}.tag_rollup_day AS
SELECT toDate(event_time, 'Asia/Shanghai') AS day, channel, branch_id, product, journey_stage, tag_id, polarity,
       department, sentiment_label, nps_segment, uniqExactState(event_id) AS events
FROM {db}.feedback_events
ARRAY JOIN tag_ids AS tag_id, tag_polarities AS polarity
ANY LEFT JOIN (SELECT tag_id, journey_stage, department FROM {db}.taxonomy FINAL) AS tax USING tag_id
GROUP BY day, channel, branch_id, product, journey_stage, tag_id, polarity, department, sentiment_label, nps_segment;

-- Backfill the events stored before this migration. Re-running it is harmless:
-- the uniqExact sets absorb events that are already counted. On a large table
-- raise clickhouse.timeout_ms for this first migrate.
INSERT INTO {db}.feedback_rollup_minute
SELECT toStartOfMinute(event_time) AS minute, channel, branch_id, product, sentiment_label, nps_segment,
       uniqExactState(event_id) AS events
FROM {db}.feedback_events
GROUP BY minute, channel, branch_id, product, sentiment_label, nps_segment;

INSERT INTO {db}.feedback_rollup_day
SELECT toDate(event_time, 'Asia/Shanghai') AS day, channel, branch_id, product, sentiment_label, nps_segment,
       uniqExactState(event_id) AS events
FROM {db}.feedback_events
GROUP BY day, channel, branch_id, product, sentiment_label, nps_segment;

INSERT INTO {db}.tag_rollup_minute
SELECT toStartOfMinute(event_time) AS minute, channel, branch_id, product, journey_stage, tag_id, polarity,
       department, sentiment_label, nps_segment, uniqExactState(event_id) AS events
FROM {db}.feedback_events
ARRAY JOIN tag_ids AS tag_id, tag_polarities AS polarity
ANY LEFT JOIN (SELECT tag_id, journey_stage, department FROM {db}.taxonomy FINAL) AS tax USING tag_id
GROUP BY minute, channel, branch_id, product, journey_stage, tag_id, polarity, department, sentiment_label, nps_segment;

INSERT INTO {db}.tag_rollup_day
SELECT toDate(event_time, 'Asia/Shanghai') AS day, channel, branch_id, product, journey_stage, tag_id, polarity,
       department, sentiment_label, nps_segment, uniqExactState(event_id) AS events
FROM {db}.feedback_events
ARRAY JOIN tag_ids AS tag_id, tag_polarities AS polarity
ANY LEFT JOIN (SELECT tag_id, journey_stage, department FROM {db}.taxonomy FINAL) AS tax USING tag_id
GROUP BY day, channel, branch_id, product, journey_stage, tag_id, polarity, department, sentiment_label, nps_segment;

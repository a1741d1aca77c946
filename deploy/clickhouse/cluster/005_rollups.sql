-- Cluster variant of ../005_rollups.sql (Replicated*MergeTree shards + Distributed).
-- Server macros {shard}, {replica} and {cluster} come from each server's config;
-- {db} is replaced by `voc schema print`-style substitution (sed 's/{db}/voc/g').
-- Untested here (one 18.16 server, no ZooKeeper); the test suite only checks that it parses.
--
-- Rollups are built on each shard from its local events. An event lives on one
-- shard, so the uniqExact sets of different shards are disjoint and merging them
-- through the Distributed tables stays exact. (The Distributed tables' sharding
-- key is irrelevant: only the materialized views write, into the local tables.)
CREATE TABLE IF NOT EXISTS {db}.feedback_rollup_minute_local ON CLUSTER '{cluster}'
(
    minute DateTime,
    channel String,
    branch_id String,
    product String,
    sentiment_label String,
    nps_segment String,
    events AggregateFunction(uniqExact, String)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/feedback_rollup_minute_local', '{replica}')
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, channel, branch_id, product, sentiment_label, nps_segment);

CREATE TABLE IF NOT EXISTS {db}.feedback_rollup_minute ON CLUSTER '{cluster}' AS {db}.feedback_rollup_minute_local
ENGINE = Distributed('{cluster}', '{db}', 'feedback_rollup_minute_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feedback_rollup_minute_mv ON CLUSTER '{cluster}' TO {db}.feedback_rollup_minute_local AS
SELECT toStartOfMinute(event_time) AS minute, channel, branch_id, product, sentiment_label, nps_segment,
       uniqExactState(event_id) AS events
FROM {db}.feedback_events_local
GROUP BY minute, channel, branch_id, product, sentiment_label, nps_segment;

CREATE TABLE IF NOT EXISTS {db}.feedback_rollup_day_local ON CLUSTER '{cluster}'
(
    day Date,
    channel String,
    branch_id String,
    product String,
    sentiment_label String,
    nps_segment String,
    events AggregateFunction(uniqExact, String)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/feedback_rollup_day_local', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (day, channel, branch_id, product, sentiment_label, nps_segment);

CREATE TABLE IF NOT EXISTS {db}.feedback_rollup_day ON CLUSTER '{cluster}' AS {db}.feedback_rollup_day_local
ENGINE = Distributed('{cluster}', '{db}', 'feedback_rollup_day_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feedback_rollup_day_mv ON CLUSTER '{cluster}' TO {db}.feedback_rollup_day_local AS
SELECT toDate(event_time, 'Asia/Shanghai') AS day, channel, branch_id, product, sentiment_label, nps_segment,
       uniqExactState(event_id) AS events
FROM {db}.feedback_events_local
GROUP BY day, channel, branch_id, product, sentiment_label, nps_segment;

-- Tag-level rollups: the same plus tag, its pain/itch/delight class, journey
-- stage and owning department. An event counts once under each of its tags.
CREATE TABLE IF NOT EXISTS {db}.tag_rollup_minute_local ON CLUSTER '{cluster}'
(
    minute DateTime,
    channel String,
    branch_id String,
    product String,
    journey_stage String,
    tag_id String,
    polarity String,
    department String,
    sentiment_label String,
    nps_segment String,
    events AggregateFunction(uniqExact, String)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/tag_rollup_minute_local', '{replica}')
PARTITION BY toYYYYMM(minute)
ORDER BY (minute, tag_id, channel, branch_id, product, journey_stage, polarity, department, sentiment_label, nps_segment);

CREATE TABLE IF NOT EXISTS {db}.tag_rollup_minute ON CLUSTER '{cluster}' AS {db}.tag_rollup_minute_local
ENGINE = Distributed('{cluster}', '{db}', 'tag_rollup_minute_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tag_rollup_minute_mv ON CLUSTER '{cluster}' TO {db}.tag_rollup_minute_local AS
SELECT toStartOfMinute(event_time) AS minute, channel, branch_id, product, journey_stage, tag_id, polarity,
       department, sentiment_label, nps_segment, uniqExactState(event_id) AS events
FROM {db}.feedback_events_local
ARRAY JOIN tag_ids AS tag_id, tag_polarities AS polarity
ANY LEFT JOIN (SELECT tag_id, journey_stage, department FROM {db}.taxonomy FINAL) USING tag_id
GROUP BY minute, channel, branch_id, product, journey_stage, tag_id, polarity, department, sentiment_label, nps_segment;

CREATE TABLE IF NOT EXISTS {db}.tag_rollup_day_local ON CLUSTER '{cluster}'
(
    day Date,
    channel String,
    branch_id String,
    product String,
    journey_stage String,
    tag_id String,
    polarity String,
    department String,
    sentiment_label String,
    nps_segment String,
    events AggregateFunction(uniqExact, String)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/tag_rollup_day_local', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (day, tag_id, channel, branch_id, product, journey_stage, polarity, department, sentiment_label, nps_segment);

CREATE TABLE IF NOT EXISTS {db}.tag_rollup_day ON CLUSTER '{cluster}' AS {db}.tag_rollup_day_local
ENGINE = Distributed('{cluster}', '{db}', 'tag_rollup_day_local', rand());

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tag_rollup_day_mv ON CLUSTER '{cluster}' TO {db}.tag_rollup_day_local AS
SELECT toDate(event_time, 'Asia/Shanghai') AS day, channel, branch_id, product, journey_stage, tag_id, polarity,
       department, sentiment_label, nps_segment, uniqExactState(event_id) AS events
FROM {db}.feedback_events_local
ARRAY JOIN tag_ids AS tag_id, tag_polarities AS polarity
ANY LEFT JOIN (SELECT tag_id, journey_stage, department FROM {db}.taxonomy FINAL) USING tag_id
GROUP BY day, channel, branch_id, product, journey_stage, tag_id, polarity, department, sentiment_label, nps_segment;

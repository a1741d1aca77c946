-- Per-minute volume of each pain/itch tag per series (for spike alerts).
-- series is "<dimension>=<value>": channel=app, branch=B023,
-- product=信用卡, app_version=app 8.2. Filled by 025_tag_minute_mv. Events
-- are counted with uniqExact(event_id), so a re-delivered or duplicated source
-- message is counted once. The spike detector reads the current window and
-- the same hour-of-week over the history from here (small: one row per
-- minute, tag and series that had events).
CREATE TABLE IF NOT EXISTS {db}.tag_minute
(
    minute DateTime,
    tag_id String,
    series String,
    events AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (tag_id, series, minute)

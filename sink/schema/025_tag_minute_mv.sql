-- Feeds 024_tag_minute. Two arrayJoin calls (tags x series) instead of two
-- ARRAY JOIN clauses: ClickHouse 18.16 supports only one ARRAY JOIN per query.
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.tag_minute_mv TO {db}.tag_minute AS
SELECT
    toStartOfMinute(event_time) AS minute,
    arrayJoin(arrayConcat(pain_tags, itch_tags)) AS tag_id,
    arrayJoin(arrayFilter(s -> NOT endsWith(s, '='), [
        concat('channel=', channel),
        concat('branch=', branch_id),
        concat('product=', product),
        if(app_version = '', '', concat('app_version=', channel, ' ', app_version))
    ])) AS series,
    uniqExactState(event_id) AS events
FROM {db}.feedback_events
WHERE series != ''
GROUP BY minute, tag_id, series

-- Live view: feedback items with at least one pain tag, per minute over the last hour up
-- to {now}, from the per-minute tag rollup (tag_rollup_minute). Merging the per-tag
-- event sets counts an item with two pain tags once. Beijing time.
SELECT
    toString(minute, 'Asia/Shanghai') AS minute_bj,
    uniqExactMerge(events) AS pain_feedback,
    uniqExactMergeIf(events, nps_segment = 'detractor') AS detractors
FROM {db}.tag_rollup_minute
WHERE polarity = 'pain' AND minute > {now} - INTERVAL 1 HOUR AND minute <= {now}
GROUP BY minute
ORDER BY minute ASC

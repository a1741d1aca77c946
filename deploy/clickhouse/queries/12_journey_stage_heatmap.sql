-- Journey-stage heatmap: for each journey stage and channel, the tagged feedback of the
-- last 30 Beijing days up to {now}, how many of those items carried a pain tag at that
-- stage, and how many were detractors. From the daily tag rollup (tag_rollup_day):
-- merging the per-tag event-id sets counts an item once per stage, however many of its
-- tags sit at that stage and however often it was delivered.
SELECT
    journey_stage,
    channel,
    uniqExactMerge(events) AS feedback,
    uniqExactMergeIf(events, polarity = 'pain') AS pain,
    uniqExactMergeIf(events, nps_segment = 'detractor') AS detractors
FROM {db}.tag_rollup_day
WHERE day > toDate({now}, 'Asia/Shanghai') - 30 AND day <= toDate({now}, 'Asia/Shanghai')
GROUP BY journey_stage, channel
ORDER BY journey_stage ASC, channel ASC

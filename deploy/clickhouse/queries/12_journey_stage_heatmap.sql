-- Journey-stage heatmap: for each journey stage and channel, the tagged feedback of the
-- last 30 days up to {now}, how many of those items carried a pain tag at that stage,
-- and how many were detractors. An item counts once per stage.
SELECT
    journey_stage,
    channel,
    uniqExact(event_id) AS feedback,
    uniqExactIf(event_id, polarity = 'pain') AS pain,
    uniqExactIf(event_id, nps_segment = 'detractor') AS detractors
FROM {db}.feedback_event_tags
WHERE event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
GROUP BY journey_stage, channel
ORDER BY journey_stage ASC, channel ASC

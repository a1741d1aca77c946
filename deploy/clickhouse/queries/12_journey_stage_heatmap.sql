-- Journey-stage heatmap: for each journey stage and channel, the tagged feedback of the
-- last 30 days up to {now}, how many of those items carried a pain tag at that stage,
-- and how many were detractors. An item counts once per stage (the inner GROUP BY
-- keeps one row per event and stage, re-delivered copies included).
SELECT
    journey_stage,
    channel,
    count() AS feedback,
    countIf(has_pain) AS pain,
    countIf(nps_segment = 'detractor') AS detractors
FROM
(
    SELECT journey_stage, channel, event_id, max(polarity = 'pain') AS has_pain, any(nps_segment) AS nps_segment
    FROM {db}.feedback_event_tags
    WHERE event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
    GROUP BY journey_stage, channel, event_id
)
GROUP BY journey_stage, channel
ORDER BY journey_stage ASC, channel ASC

-- Which journey stage produces the most detractors for credit cards? Feedback about the
-- product 信用卡 in the last 30 days up to {now}, by the journey stage of its tags:
-- detractors (NPS segment detractor, given or inferred from sentiment), all tagged
-- feedback at that stage, and the detractor share. An item counts once per stage
-- (LIMIT 1 BY event and stage, which also drops re-delivered copies).
SELECT
    journey_stage,
    countIf(nps_segment = 'detractor') AS detractors,
    count() AS feedback,
    round(100 * detractors / feedback, 1) AS detractor_pct
FROM
(
    SELECT journey_stage, nps_segment FROM {db}.feedback_event_tags
    WHERE product = '信用卡' AND event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
    LIMIT 1 BY event_id, journey_stage
)
GROUP BY journey_stage
ORDER BY detractors DESC, journey_stage ASC

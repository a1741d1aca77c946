-- Which journey stage produces the most detractors for credit cards? Feedback about the
-- product 信用卡 in the last 30 days up to {now}, by the journey stage of its tags:
-- detractors (NPS segment detractor, given or inferred from sentiment), all tagged
-- feedback at that stage, and the detractor share. An item counts once per stage.
SELECT
    journey_stage,
    uniqExactIf(event_id, nps_segment = 'detractor') AS detractors,
    uniqExact(event_id) AS feedback,
    round(100 * detractors / feedback, 1) AS detractor_pct
FROM {db}.feedback_event_tags
WHERE product = '信用卡' AND event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
GROUP BY journey_stage
ORDER BY detractors DESC, journey_stage ASC

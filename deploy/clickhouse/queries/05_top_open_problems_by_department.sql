-- Which department owns the top ten open problems? The ten pain tags raised most in the
-- last 7 days up to {now} (feedback items, all channels), with the owning department,
-- journey stage, how many customers raised them and how many items were detractors.
SELECT
    tag_id,
    any(tag_zh) AS tag_zh,
    department,
    journey_stage,
    uniqExact(event_id) AS feedback,
    uniqExactIf(customer_key, customer_key != '') AS customers,
    uniqExactIf(event_id, nps_segment = 'detractor') AS detractors
FROM {db}.feedback_event_tags
ANY LEFT JOIN (SELECT tag_id, tag_zh FROM {db}.taxonomy FINAL) USING tag_id
WHERE polarity = 'pain' AND event_time > {now} - INTERVAL 7 DAY AND event_time <= {now}
GROUP BY tag_id, department, journey_stage
ORDER BY feedback DESC, tag_id ASC
LIMIT 10

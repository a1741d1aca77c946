-- Which department owns the top ten open problems? The ten pain tags raised most in the
-- last 7 days up to {now} (feedback items, all channels), with the owning department,
-- journey stage, how many customers raised them and how many items were detractors.
-- One row per event and tag (LIMIT 1 BY drops re-delivered copies).
SELECT
    tag_id,
    tag_zh,
    department,
    journey_stage,
    feedback,
    customers,
    detractors
FROM
(
    SELECT
        tag_id,
        any(department) AS department,
        any(journey_stage) AS journey_stage,
        count() AS feedback,
        uniqExactIf(customer_key, customer_key != '') AS customers,
        countIf(nps_segment = 'detractor') AS detractors
    FROM
    (
        SELECT tag_id, department, journey_stage, customer_key, nps_segment FROM {db}.feedback_event_tags
        WHERE polarity = 'pain' AND event_time > {now} - INTERVAL 7 DAY AND event_time <= {now}
        LIMIT 1 BY event_id, tag_id
    )
    GROUP BY tag_id
    ORDER BY feedback DESC, tag_id ASC
    LIMIT 10
) AS top
ANY LEFT JOIN (SELECT tag_id, tag_zh FROM {db}.taxonomy FINAL) AS tax USING tag_id
ORDER BY feedback DESC, tag_id ASC

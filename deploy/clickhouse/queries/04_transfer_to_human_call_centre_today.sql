-- How many 转人工难 (c08.t01, hard to reach a human agent) complaints did the call
-- centre get today, against yesterday? Beijing days (Asia/Shanghai) of {now}, up to {now}.
SELECT
    day,
    uniqExact(event_id) AS complaints,
    uniqExact(customer_key) AS customers,
    uniqExactIf(event_id, nps_segment = 'detractor') AS detractors
FROM
(
    SELECT event_id, customer_key, nps_segment, toDate(event_time, 'Asia/Shanghai') AS day
    FROM {db}.feedback_event_tags
    WHERE tag_id = 'c08.t01' AND channel = 'call_center'
      AND event_time <= {now} AND event_time > {now} - INTERVAL 3 DAY
)
WHERE day >= toDate({now}, 'Asia/Shanghai') - 1
GROUP BY day
ORDER BY day ASC

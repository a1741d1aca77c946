-- NPS trend by day over the last 30 Beijing days up to {now}: NPS from the 0-10 scores
-- customers gave, and NPS over all feedback with segments inferred from sentiment
-- where no score was given (the inferred view covers every channel). The inner query
-- counts distinct events per (day, inferred, segment) - each event sits in exactly one
-- such group, so the sums are exact however often an event was delivered.
SELECT
    day,
    sumIf(n, nps_inferred = 0) AS scored,
    round(100 * (sumIf(n, nps_inferred = 0 AND nps_segment = 'promoter') - sumIf(n, nps_inferred = 0 AND nps_segment = 'detractor')) / greatest(scored, 1), 1) AS nps,
    sum(n) AS feedback,
    round(100 * (sumIf(n, nps_segment = 'promoter') - sumIf(n, nps_segment = 'detractor')) / feedback, 1) AS nps_with_inferred
FROM
(
    SELECT day, nps_inferred, nps_segment, uniqExact(event_id) AS n
    FROM
    (
        SELECT event_id, nps_inferred, nps_segment, toDate(event_time, 'Asia/Shanghai') AS day
        FROM {db}.feedback_events
        WHERE event_time > {now} - INTERVAL 31 DAY AND event_time <= {now}
    )
    WHERE day > toDate({now}, 'Asia/Shanghai') - 30
    GROUP BY day, nps_inferred, nps_segment
)
GROUP BY day
ORDER BY day ASC

-- NPS trend by day over the last 30 Beijing days up to {now}: NPS from the 0-10 scores
-- customers gave, and NPS over all feedback with segments inferred from sentiment
-- where no score was given (the inferred view covers every channel).
SELECT
    day,
    uniqExactIf(event_id, nps_inferred = 0) AS scored,
    round(100 * (uniqExactIf(event_id, nps_inferred = 0 AND nps_segment = 'promoter') - uniqExactIf(event_id, nps_inferred = 0 AND nps_segment = 'detractor')) / greatest(scored, 1), 1) AS nps,
    uniqExact(event_id) AS feedback,
    round(100 * (uniqExactIf(event_id, nps_segment = 'promoter') - uniqExactIf(event_id, nps_segment = 'detractor')) / feedback, 1) AS nps_with_inferred
FROM
(
    SELECT event_id, nps_inferred, nps_segment, toDate(event_time, 'Asia/Shanghai') AS day
    FROM {db}.feedback_events
    WHERE event_time > {now} - INTERVAL 31 DAY AND event_time <= {now}
)
WHERE day > toDate({now}, 'Asia/Shanghai') - 30
GROUP BY day
ORDER BY day ASC

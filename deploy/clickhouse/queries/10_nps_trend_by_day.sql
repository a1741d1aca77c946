-- NPS trend by day over the last 30 Beijing days up to {now}: NPS from the 0-10 scores
-- customers gave, and NPS over all feedback with segments inferred from sentiment
-- where no score was given (the inferred view covers every channel). Every event
-- counts once (LIMIT 1 BY drops re-delivered copies).
SELECT
    day,
    countIf(nps_inferred = 0) AS scored,
    round(100 * (countIf(nps_inferred = 0 AND nps_segment = 'promoter') - countIf(nps_inferred = 0 AND nps_segment = 'detractor')) / greatest(scored, 1), 1) AS nps,
    count() AS feedback,
    round(100 * (countIf(nps_segment = 'promoter') - countIf(nps_segment = 'detractor')) / feedback, 1) AS nps_with_inferred
FROM
(
    SELECT nps_inferred, nps_segment, toDate(event_time, 'Asia/Shanghai') AS day
    FROM {db}.feedback_events
    WHERE event_time > {now} - INTERVAL 31 DAY AND event_time <= {now}
    LIMIT 1 BY channel, event_id
)
WHERE day > toDate({now}, 'Asia/Shanghai') - 30
GROUP BY day
ORDER BY day ASC

-- Channel mix: where did the last 7 days of feedback (up to {now}) come from, how
-- negative is each channel, and its NPS from the scores customers gave there.
-- Every event counts once (LIMIT 1 BY drops re-delivered copies).
WITH (SELECT uniqExact(event_id) FROM {db}.feedback_events WHERE event_time > {now} - INTERVAL 7 DAY AND event_time <= {now}) AS total
SELECT
    channel,
    count() AS feedback,
    round(100 * feedback / total, 1) AS share_pct,
    round(100 * countIf(sentiment_label = 'negative') / feedback, 1) AS negative_pct,
    countIf(isNotNull(nps_score)) AS scored,
    round(100 * (countIf(isNotNull(nps_score) AND assumeNotNull(nps_score) >= 9) - countIf(isNotNull(nps_score) AND assumeNotNull(nps_score) <= 6)) / greatest(scored, 1), 1) AS nps
FROM
(
    SELECT channel, sentiment_label, nps_score FROM {db}.feedback_events
    WHERE event_time > {now} - INTERVAL 7 DAY AND event_time <= {now}
    LIMIT 1 BY channel, event_id
)
GROUP BY channel
ORDER BY feedback DESC, channel ASC

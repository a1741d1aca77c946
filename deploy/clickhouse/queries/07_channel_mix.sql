-- Channel mix: where did the last 7 days of feedback (up to {now}) come from, how
-- negative is each channel, and its NPS from the scores customers gave there.
WITH (SELECT uniqExact(event_id) FROM {db}.feedback_events WHERE event_time > {now} - INTERVAL 7 DAY AND event_time <= {now}) AS total
SELECT
    channel,
    uniqExact(event_id) AS feedback,
    round(100 * feedback / total, 1) AS share_pct,
    round(100 * uniqExactIf(event_id, sentiment_label = 'negative') / feedback, 1) AS negative_pct,
    uniqExactIf(event_id, isNotNull(nps_score)) AS scored,
    round(100 * (uniqExactIf(event_id, assumeNotNull(nps_score) >= 9 AND isNotNull(nps_score)) - uniqExactIf(event_id, assumeNotNull(nps_score) <= 6 AND isNotNull(nps_score))) / greatest(scored, 1), 1) AS nps
FROM {db}.feedback_events
WHERE event_time > {now} - INTERVAL 7 DAY AND event_time <= {now}
GROUP BY channel
ORDER BY feedback DESC, channel ASC

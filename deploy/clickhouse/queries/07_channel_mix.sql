-- Channel mix: where did the last 7 days of feedback (up to {now}) come from, how
-- negative is each channel, and its NPS from the scores customers gave there.
-- Distinct events are counted per (channel, sentiment, score class) - each event sits
-- in one such group, so the sums are exact under re-delivery.
WITH (SELECT uniqExact(event_id) FROM {db}.feedback_events WHERE event_time > {now} - INTERVAL 7 DAY AND event_time <= {now}) AS total
SELECT
    channel,
    sum(n) AS feedback,
    round(100 * feedback / total, 1) AS share_pct,
    round(100 * sumIf(n, sentiment_label = 'negative') / feedback, 1) AS negative_pct,
    sumIf(n, score_class != 'none') AS scored,
    round(100 * (sumIf(n, score_class = 'promoter') - sumIf(n, score_class = 'detractor')) / greatest(scored, 1), 1) AS nps
FROM
(
    SELECT
        channel,
        sentiment_label,
        multiIf(isNull(nps_score), 'none', assumeNotNull(nps_score) >= 9, 'promoter', assumeNotNull(nps_score) <= 6, 'detractor', 'passive') AS score_class,
        uniqExact(event_id) AS n
    FROM {db}.feedback_events
    WHERE event_time > {now} - INTERVAL 7 DAY AND event_time <= {now}
    GROUP BY channel, sentiment_label, score_class
)
GROUP BY channel
ORDER BY feedback DESC, channel ASC

-- NPS and negativity by customer segment (大众 / 财富 / 私行, from the customer dimension)
-- over the last 30 days up to {now}: O-data (who) joined to X-data (what they said).
-- Every event counts once (LIMIT 1 BY drops re-delivered copies).
SELECT
    segment,
    count() AS feedback,
    round(100 * countIf(sentiment_label = 'negative') / feedback, 1) AS negative_pct,
    countIf(nps_inferred = 0) AS scored,
    round(100 * (countIf(nps_inferred = 0 AND nps_segment = 'promoter') - countIf(nps_inferred = 0 AND nps_segment = 'detractor')) / greatest(scored, 1), 1) AS nps
FROM
(
    SELECT customer_key, sentiment_label, nps_inferred, nps_segment FROM {db}.feedback_events
    WHERE channel != 'community' AND event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
    LIMIT 1 BY channel, event_id
)
ANY INNER JOIN (SELECT customer_key, segment FROM {db}.customers FINAL) USING customer_key
GROUP BY segment
ORDER BY segment ASC

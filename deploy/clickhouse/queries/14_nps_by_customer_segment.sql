-- NPS and negativity by customer segment (大众 / 财富 / 私行, from the customer dimension)
-- over the last 30 days up to {now}: O-data (who) joined to X-data (what they said).
SELECT
    segment,
    uniqExact(event_id) AS feedback,
    round(100 * uniqExactIf(event_id, sentiment_label = 'negative') / feedback, 1) AS negative_pct,
    uniqExactIf(event_id, nps_inferred = 0) AS scored,
    round(100 * (uniqExactIf(event_id, nps_inferred = 0 AND nps_segment = 'promoter') - uniqExactIf(event_id, nps_inferred = 0 AND nps_segment = 'detractor')) / greatest(scored, 1), 1) AS nps
FROM {db}.feedback_events
ANY INNER JOIN (SELECT customer_key, segment FROM {db}.customers FINAL) USING customer_key
WHERE event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
GROUP BY segment
ORDER BY segment ASC

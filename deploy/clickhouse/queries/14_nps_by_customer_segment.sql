-- NPS and negativity by customer segment (大众 / 财富 / 私行, from the customer dimension)
-- over the last 30 days up to {now}: O-data (who) joined to X-data (what they said).
-- Distinct events are counted per (customer, sentiment, inferred, segment) - each event
-- sits in one such group, so the sums are exact under re-delivery - and the join with
-- the dimension sees thousands of rows, not millions. ALL INNER JOIN: the dimension
-- has one row per key (FINAL), and current releases' ANY INNER JOIN would also keep
-- only one row per key of the left side.
SELECT
    segment,
    sum(n) AS feedback,
    round(100 * sumIf(n, sentiment_label = 'negative') / feedback, 1) AS negative_pct,
    sumIf(n, nps_inferred = 0) AS scored,
    round(100 * (sumIf(n, nps_inferred = 0 AND nps_segment = 'promoter') - sumIf(n, nps_inferred = 0 AND nps_segment = 'detractor')) / greatest(scored, 1), 1) AS nps
FROM
(
    SELECT customer_key, sentiment_label, nps_inferred, nps_segment, uniqExact(event_id) AS n
    FROM {db}.feedback_events
    WHERE channel != 'community' AND event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
    GROUP BY customer_key, sentiment_label, nps_inferred, nps_segment
) AS per_customer
ALL INNER JOIN (SELECT customer_key, segment FROM {db}.customers FINAL) AS cust USING customer_key
GROUP BY segment
ORDER BY segment ASC

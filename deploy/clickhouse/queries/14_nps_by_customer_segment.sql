-- NPS and negativity by customer segment (大众 / 财富 / 私行, from the customer dimension)
-- over the last 30 days up to {now}: O-data (who) joined to X-data (what they said).
-- Every event counts once (LIMIT 1 BY drops re-delivered copies); counts are summed
-- per customer before the join with the dimension.
SELECT
    segment,
    sum(n) AS feedback,
    round(100 * sum(negative) / feedback, 1) AS negative_pct,
    sum(scored_n) AS scored,
    round(100 * (sum(promoters) - sum(detractors)) / greatest(scored, 1), 1) AS nps
FROM
(
    SELECT
        customer_key,
        count() AS n,
        countIf(sentiment_label = 'negative') AS negative,
        countIf(nps_inferred = 0) AS scored_n,
        countIf(nps_inferred = 0 AND nps_segment = 'promoter') AS promoters,
        countIf(nps_inferred = 0 AND nps_segment = 'detractor') AS detractors
    FROM
    (
        SELECT customer_key, sentiment_label, nps_inferred, nps_segment FROM {db}.feedback_events
        WHERE channel != 'community' AND event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
        LIMIT 1 BY channel, event_id
    )
    GROUP BY customer_key
)
ANY INNER JOIN (SELECT customer_key, segment FROM {db}.customers FINAL) USING customer_key
GROUP BY segment
ORDER BY segment ASC

-- O-data meets X-data: do high-value customers (segment 财富 or 私行 in the customer
-- dimension) complain about different things than the others? Last 30 days up to {now}:
-- for each group, its five most frequent pain and itch tags and their share of the
-- group's feedback (items from customers known to the customer dimension).
-- Distinct events are counted per customer (and tag) before the join with the
-- dimension - an event has one customer, so the sums are exact under re-delivery -
-- and the join sees thousands of rows, not millions. (One JOIN per SELECT level keeps
-- it valid on ClickHouse 18.16; ALL INNER JOIN with the dimension, one row per key
-- with FINAL, because current releases' ANY INNER JOIN keeps one left row per key.)
SELECT
    customer_group,
    tag_id,
    tag_zh,
    polarity,
    feedback,
    share_pct
FROM
(
    SELECT customer_group, tag_id, polarity, feedback, round(100 * feedback / group_feedback, 2) AS share_pct
    FROM
    (
        SELECT if(high_value = 1, 'high_value', 'other') AS customer_group, tag_id, polarity, sum(n) AS feedback
        FROM
        (
            SELECT customer_key, tag_id, polarity, uniqExact(event_id) AS n
            FROM {db}.feedback_event_tags
            WHERE polarity IN ('pain', 'itch') AND channel != 'community'
              AND event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
            GROUP BY customer_key, tag_id, polarity
        ) AS per_customer
        ALL INNER JOIN (SELECT customer_key, high_value FROM {db}.customers FINAL) AS cust USING customer_key
        GROUP BY customer_group, tag_id, polarity
    ) AS by_group
    ANY LEFT JOIN
    (
        SELECT if(high_value = 1, 'high_value', 'other') AS customer_group, sum(n) AS group_feedback
        FROM
        (
            SELECT customer_key, uniqExact(event_id) AS n
            FROM {db}.feedback_events
            WHERE channel != 'community' AND event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
            GROUP BY customer_key
        ) AS customer_totals
        ALL INNER JOIN (SELECT customer_key, high_value FROM {db}.customers FINAL) AS cust USING customer_key
        GROUP BY customer_group
    ) AS group_totals USING customer_group
) AS shares
ANY LEFT JOIN (SELECT tag_id, tag_zh FROM {db}.taxonomy FINAL) AS tax USING tag_id
ORDER BY customer_group ASC, feedback DESC, tag_id ASC
LIMIT 5 BY customer_group

-- Which pain points grew after App release 8.2? App feedback of the last 30 days up to
-- {now}: each pain tag's share of the feedback from app versions before 8.2 and from
-- 8.2 and later, growth in percentage points, top 10. Versions compare numerically
-- (8.10 is after 8.9). Every event counts once (LIMIT 1 BY drops re-delivered copies).
-- (The totals are joined on a constant key rather than used as a scalar subquery,
-- which ClickHouse 18.16 would evaluate once per use.)
SELECT
    tag_id,
    tag_zh,
    department,
    before_8_2,
    after_8_2,
    round(100 * before_8_2 / greatest(feedback_before, 1), 2) AS share_before_pct,
    round(100 * after_8_2 / greatest(feedback_after, 1), 2) AS share_after_pct,
    round(100 * growth, 2) AS growth_pp
FROM
(
    SELECT tag_id, before_8_2, after_8_2, feedback_before, feedback_after,
           after_8_2 / greatest(feedback_after, 1) - before_8_2 / greatest(feedback_before, 1) AS growth
    FROM
    (
        SELECT 1 AS k, tag_id, countIf(v < 8002) AS before_8_2, countIf(v >= 8002) AS after_8_2
        FROM
        (
            SELECT tag_id, toUInt32OrZero(splitByChar('.', app_version)[1]) * 1000 + toUInt32OrZero(splitByChar('.', app_version)[2]) AS v
            FROM
            (
                SELECT tag_id, app_version FROM {db}.feedback_event_tags
                WHERE channel = 'app' AND polarity = 'pain' AND app_version != ''
                  AND event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
                LIMIT 1 BY event_id, tag_id
            )
        )
        GROUP BY tag_id
    ) AS tagged
    ANY LEFT JOIN
    (
        SELECT 1 AS k, countIf(v < 8002) AS feedback_before, countIf(v >= 8002) AS feedback_after
        FROM
        (
            SELECT toUInt32OrZero(splitByChar('.', app_version)[1]) * 1000 + toUInt32OrZero(splitByChar('.', app_version)[2]) AS v
            FROM
            (
                SELECT app_version FROM {db}.feedback_events
                WHERE channel = 'app' AND app_version != '' AND event_time > {now} - INTERVAL 30 DAY AND event_time <= {now}
                LIMIT 1 BY event_id
            )
        )
    ) AS totals USING k
) AS growth_by_tag
ANY LEFT JOIN (SELECT tag_id, tag_zh, department FROM {db}.taxonomy FINAL) AS tax USING tag_id
ORDER BY growth DESC, tag_id ASC
LIMIT 10

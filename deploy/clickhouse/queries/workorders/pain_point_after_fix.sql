-- Did a fixed pain point's volume fall? For every tag of an alert whose work
-- order was resolved (or verified), its daily volume in the 14 days before the
-- first resolution against the days after it (up to 14) (the work-order loop,
-- docs/alerting.md). Volume counts distinct events (re-deliveries count once);
-- change_pct < 0 means fewer complaints after the fix. ClickHouse 18.16 allows one JOIN
-- per SELECT, hence the nesting; every joined subquery has an alias and the joins
-- whose right side has one row per key are ALL joins, so current releases (where ANY
-- INNER JOIN also keeps one left row per key) give the same answer. Replace {db}
-- with the database (voc).
SELECT
    tag_id,
    tag_zh,
    department,
    toDateTime(fixed_at) AS fixed_at_time,
    round(before_events / 14, 2) AS per_day_before,
    round(after_events / greatest(1 / 24, least(14, (toUInt32(now()) - fixed_at) / 86400)), 2) AS per_day_after,
    round(100 * (per_day_after - per_day_before) / greatest(per_day_before, 0.01), 1) AS change_pct
FROM
(
    SELECT
        tag_id,
        fixed_at,
        uniqExactIf(event_id, t < fixed_at AND t >= fixed_at - 14 * 86400) AS before_events,
        uniqExactIf(event_id, t >= fixed_at AND t < fixed_at + 14 * 86400) AS after_events
    FROM
    (
        SELECT event_id, toUInt32(event_time) AS t, arrayJoin(pain_tags) AS tag_id
        FROM {db}.feedback_events
        WHERE event_time >= now() - 120 * 86400
    ) AS pain_events
    ALL INNER JOIN
    (
        -- Fixed tags: the first resolution of any alert carrying the tag.
        SELECT tag_id, toUInt32(min(fixed)) AS fixed_at
        FROM
        (
            SELECT alert_id, min(at) AS fixed
            FROM {db}.work_order_updates
            WHERE status IN ('resolved', 'verified')
            GROUP BY alert_id
        ) AS first_fix
        ALL INNER JOIN
        (
            SELECT alert_id, arrayJoin(tag_ids) AS tag_id
            FROM {db}.alerts
            WHERE revision = 0
        ) AS alert_tags USING alert_id
        GROUP BY tag_id
    ) AS fixed USING tag_id
    GROUP BY tag_id, fixed_at
) AS volumes
ANY LEFT JOIN
(
    SELECT tag_id, tag_zh, department FROM {db}.taxonomy FINAL
) AS tax USING tag_id
ORDER BY change_pct

-- Time to acknowledge and time to resolve, per department and severity, for
-- alerts raised in the last 30 days (the work-order loop, docs/alerting.md).
-- Each status counts from the first time it was reached (min), so re-delivered
-- or repeated updates never change the answer; the clock starts at the first
-- publication of the alert (revision 0). Runs on ClickHouse 18.16 and later.
-- Replace {db} with the database (voc by default), e.g.
--   sed 's/{db}/voc/g' deploy/clickhouse/queries/workorders/time_to_acknowledge_resolve.sql | clickhouse-client
SELECT
    u.department,
    a.severity,
    count() AS work_orders,
    countIf(acked > 0) AS acknowledged_n,
    countIf(resolved > 0) AS resolved_n,
    round(quantileIf(0.5)((acked - a.created) / 60, acked > 0), 1) AS ack_p50_min,
    round(quantileIf(0.9)((acked - a.created) / 60, acked > 0), 1) AS ack_p90_min,
    round(quantileIf(0.5)((resolved - a.created) / 3600, resolved > 0), 2) AS resolve_p50_h,
    round(quantileIf(0.9)((resolved - a.created) / 3600, resolved > 0), 2) AS resolve_p90_h,
    countIf(acked > 0 AND acked > a.sla) AS ack_after_sla
FROM
(
    SELECT
        alert_id,
        any(department) AS department,
        if(countIf(status = 'acknowledged') > 0, toUInt32(minIf(at, status = 'acknowledged')), 0) AS acked,
        if(countIf(status = 'resolved') > 0, toUInt32(minIf(at, status = 'resolved')), 0) AS resolved
    FROM {db}.work_order_updates
    GROUP BY alert_id
) AS u
ANY INNER JOIN
(
    SELECT
        alert_id,
        any(severity) AS severity,
        toUInt32(min(created_at)) AS created,
        toUInt32(min(sla_due)) AS sla
    FROM {db}.alerts
    WHERE revision = 0 AND created_at >= now() - 30 * 86400
    GROUP BY alert_id
) AS a USING alert_id
GROUP BY u.department, a.severity
ORDER BY u.department, a.severity

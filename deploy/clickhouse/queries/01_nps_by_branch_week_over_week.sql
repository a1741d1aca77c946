-- NPS by branch: this week (the 7 days up to {now}) against last week (the 7 days before).
-- Branch comment cards with a 0-10 score; NPS = % promoters (9-10) - % detractors (0-6).
-- Branches with scores in both weeks, biggest drop first. Counts are uniqExact(event_id):
-- exact when an event was delivered twice.
SELECT
    branch_id,
    responses_this_week,
    round(nps_this, 1) AS nps_this_week,
    responses_last_week,
    round(nps_last, 1) AS nps_last_week,
    round(nps_this - nps_last, 1) AS nps_change
FROM
(
    SELECT
        branch_id,
        uniqExactIf(event_id, this_week) AS responses_this_week,
        100 * (uniqExactIf(event_id, this_week AND score >= 9) - uniqExactIf(event_id, this_week AND score <= 6)) / responses_this_week AS nps_this,
        uniqExactIf(event_id, NOT this_week) AS responses_last_week,
        100 * (uniqExactIf(event_id, NOT this_week AND score >= 9) - uniqExactIf(event_id, NOT this_week AND score <= 6)) / responses_last_week AS nps_last
    FROM
    (
        SELECT event_id, branch_id, assumeNotNull(nps_score) AS score, event_time > {now} - INTERVAL 7 DAY AS this_week
        FROM {db}.feedback_events
        WHERE channel = 'branch' AND isNotNull(nps_score) AND nps_inferred = 0
          AND event_time > {now} - INTERVAL 14 DAY AND event_time <= {now}
    )
    GROUP BY branch_id
    HAVING responses_this_week > 0 AND responses_last_week > 0
)
ORDER BY nps_this - nps_last ASC, branch_id ASC

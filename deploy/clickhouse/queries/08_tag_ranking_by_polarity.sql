-- Tag ranking by pain / itch / delight (痛点 / 痒点 / 悦点): the ten most frequent tags of
-- each class in the last 7 days up to {now}, with the owning department. Multi-label
-- items count once per tag (the taxonomy's reporting rule).
SELECT
    polarity,
    tag_id,
    tag_zh,
    department,
    uniqExact(event_id) AS feedback
FROM {db}.feedback_event_tags
ANY LEFT JOIN (SELECT tag_id, tag_zh FROM {db}.taxonomy FINAL) AS tax USING tag_id
WHERE event_time > {now} - INTERVAL 7 DAY AND event_time <= {now}
GROUP BY polarity, tag_id, tag_zh, department
ORDER BY polarity ASC, feedback DESC, tag_id ASC
LIMIT 10 BY polarity

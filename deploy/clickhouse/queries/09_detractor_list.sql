-- The latest 50 detractors of the last 7 days up to {now}, for follow-up: Beijing time,
-- channel, the score they gave (or the sentiment the segment was inferred from), tags,
-- owning departments and the PII-masked text (cut at 120 characters). One row per event.
-- (LIMIT 1 BY in the inner query and LIMIT outside: on a Distributed table ClickHouse
-- 18.16 cuts each shard's rows at the LIMIT before LIMIT BY drops re-delivered copies.)
SELECT time_bj, event_id, channel, nps_score, nps_inferred, sentiment, tags, departments, masked_text
FROM
(
    SELECT
        event_time,
        toString(event_time, 'Asia/Shanghai') AS time_bj,
        event_id,
        channel,
        nps_score,
        nps_inferred,
        round(sentiment_score, 2) AS sentiment,
        arrayStringConcat(tag_ids, ',') AS tags,
        arrayStringConcat(departments, ',') AS departments,
        substringUTF8(text, 1, 120) AS masked_text
    FROM {db}.feedback_events
    WHERE nps_segment = 'detractor' AND event_time > {now} - INTERVAL 7 DAY AND event_time <= {now}
    ORDER BY event_time DESC, event_id ASC
    LIMIT 1 BY event_id
)
ORDER BY event_time DESC, event_id ASC
LIMIT 50

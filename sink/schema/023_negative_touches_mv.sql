-- Feeds 022_negative_touches from feedback_events inserts (text cut to 200
-- characters: it is already PII-masked and only used for alert excerpts).
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.negative_touches_mv TO {db}.negative_touches AS
SELECT
    customer_key,
    event_time,
    event_id,
    channel,
    substringUTF8(text, 1, 200) AS text,
    tag_ids,
    nps_score,
    sentiment_score
FROM {db}.feedback_events
WHERE customer_key != '' AND (nps_segment = 'detractor' OR sentiment_label = 'negative')

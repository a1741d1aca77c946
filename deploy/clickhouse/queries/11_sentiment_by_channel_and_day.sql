-- Sentiment by channel and day, from the daily rollup (feedback_rollup_day, exact under
-- re-delivery): the last 14 Beijing days up to {now}, feedback and its negative and
-- positive shares per channel.
SELECT
    day,
    channel,
    uniqExactMerge(events) AS feedback,
    round(100 * uniqExactMergeIf(events, sentiment_label = 'negative') / feedback, 1) AS negative_pct,
    round(100 * uniqExactMergeIf(events, sentiment_label = 'positive') / feedback, 1) AS positive_pct
FROM {db}.feedback_rollup_day
WHERE day > toDate({now}, 'Asia/Shanghai') - 14 AND day <= toDate({now}, 'Asia/Shanghai')
GROUP BY day, channel
ORDER BY day ASC, channel ASC

-- The tag taxonomy (models/taxonomy.tsv), loaded by `voc schema apply`, so
-- analysts can join tag ids to names, departments, journey stages and
-- pain/itch/delight. Re-applying re-inserts the same rows; ReplacingMergeTree
-- keeps one per tag id (query it with FINAL, as the join examples do).
CREATE TABLE IF NOT EXISTS {db}.taxonomy
(
    tag_id String,
    category_id String,
    category_zh String,
    category_en String,
    tag_zh String,
    tag_en String,
    journey_stage String,
    department String,
    polarity String,
    retired UInt8,
    taxonomy_version String
)
ENGINE = ReplacingMergeTree
ORDER BY tag_id

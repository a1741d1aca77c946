-- Cluster variant of ../003_taxonomy.sql (Replicated*MergeTree shards + Distributed).
-- Server macros {shard}, {replica} and {cluster} come from each server's config;
-- {db} is replaced by `voc schema print`-style substitution (sed 's/{db}/voc/g').
-- Untested here (one 18.16 server, no ZooKeeper); the test suite only checks that it parses.
--
-- Small dimension: a full copy on every shard (one ZooKeeper path for all
-- shards), so joins in distributed queries run locally on each shard.
CREATE TABLE IF NOT EXISTS {db}.taxonomy ON CLUSTER '{cluster}'
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db}/taxonomy', '{replica}')
ORDER BY tag_id

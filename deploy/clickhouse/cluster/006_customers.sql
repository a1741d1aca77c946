-- Cluster variant of ../006_customers.sql (Replicated*MergeTree shards + Distributed).
-- Server macros {shard}, {replica} and {cluster} come from each server's config;
-- {db} is replaced by `voc schema print`-style substitution (sed 's/{db}/voc/g').
-- Untested here (one 18.16 server, no ZooKeeper); the test suite only checks that it parses.
--
-- Dimension: a full copy on every shard, like the taxonomy.
CREATE TABLE IF NOT EXISTS {db}.customers ON CLUSTER '{cluster}'
(
    customer_key String,
    segment String,
    asset_tier String,
    tenure_years UInt8,
    high_value UInt8,
    city String,
    updated_at DateTime
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db}/customers', '{replica}', updated_at)
ORDER BY customer_key

-- Cluster variant of ../002_feedback_view.sql (Replicated*MergeTree shards + Distributed).
-- Server macros {shard}, {replica} and {cluster} come from each server's config;
-- {db} is replaced by `voc schema print`-style substitution (sed 's/{db}/voc/g').
-- Untested here (one 18.16 server, no ZooKeeper); the test suite only checks that it parses.
--
-- FINAL runs on each shard; duplicates of an event live on one shard (sharding
-- by event_id), so the view still shows each event once.
CREATE VIEW IF NOT EXISTS {db}.feedback ON CLUSTER '{cluster}' AS
SELECT * FROM {db}.feedback_events FINAL

-- Example customer dimension (O-data: who the customer is) to join with the
-- feedback (X-data: what they say). Loaded by `voc gen customers`; a bank
-- would load its CRM extract the same way. Keys match the customer keys the
-- generator puts in events (C1000000..C1002999). Re-loading replaces rows
-- per customer_key (read it with FINAL).
CREATE TABLE IF NOT EXISTS {db}.customers
(
    customer_key String,
    segment String,
    asset_tier String,
    tenure_years UInt8,
    high_value UInt8,
    city String,
    updated_at DateTime
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY customer_key

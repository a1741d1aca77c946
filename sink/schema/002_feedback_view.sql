-- What analysts query: exactly one row per event, whatever was re-delivered.
CREATE VIEW IF NOT EXISTS {db}.feedback AS
SELECT * FROM {db}.feedback_events FINAL

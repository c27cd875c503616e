-- Performance: a covering history index. INCLUDE keeps the columns the aggregation reads
-- (deleted, observed_at, num), so a temporal aggregation is an index-only scan; it replaces
-- attr_history_key (same key) so that ingestion maintains one index.
CREATE INDEX attr_history_cover ON attr_history (tenant, entity_id, attr, ts) INCLUDE (deleted, observed_at, num);
DROP INDEX attr_history_key;

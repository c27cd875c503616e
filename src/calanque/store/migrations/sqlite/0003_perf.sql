-- Performance: a covering history index. It keeps the columns the aggregation reads (deleted,
-- observed_at, num) after the key, so a temporal aggregation is an index-only scan, and it
-- replaces attr_history_key (same leading columns) so that ingestion maintains one index.
CREATE INDEX attr_history_cover ON attr_history (tenant, entity_id, attr, ts, deleted, observed_at, num);
DROP INDEX attr_history_key;

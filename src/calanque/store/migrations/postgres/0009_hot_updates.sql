-- Ingestion rewrites the same rows over and over: a device's link metadata, an entity's document, an
-- hour's rollup. Leaving room on each page lets PostgreSQL update them in place (heap-only tuples),
-- without new index entries. New pages get the room; existing pages as they are rewritten.
ALTER TABLE devices SET (fillfactor = 70);
ALTER TABLE entities SET (fillfactor = 70);
ALTER TABLE attr_rollup SET (fillfactor = 70);
-- last_seen changes on every uplink; indexing it prevented those in-place updates. Listing silent
-- devices (last_seen < t) filters a tenant's devices instead.
DROP INDEX IF EXISTS devices_last_seen;

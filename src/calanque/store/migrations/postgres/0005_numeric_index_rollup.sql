-- Performance of q queries and temporal aggregations (PostgreSQL).
-- 1. Numeric index of attribute values: entity_attrs.num holds the number of an attribute whose
--    only q element is a number (numkind 0), numkind 1 marks attributes with numbers that only the
--    JSON document can decide, numkind 2 attributes without numbers (see calanque.ngsild.qlang).
--    Rows written before this migration get numkind 1: always checked against the document.
ALTER TABLE entity_attrs ADD COLUMN num DOUBLE PRECISION;
ALTER TABLE entity_attrs ADD COLUMN numkind SMALLINT NOT NULL DEFAULT 1;
CREATE INDEX entity_attrs_num ON entity_attrs (tenant, attr, numkind, num) INCLUDE (entity_seq);
-- 2. Hourly rollup of the observed, non-deleted history: per entity, attribute and UTC hour
--    (hour = start of the hour, epoch µs), the row count, the numeric count, sum, sum of squares,
--    min and max. Maintained by the store on every history write, delete and instance update.
CREATE TABLE attr_rollup (
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    hour BIGINT NOT NULL,
    n_rows BIGINT NOT NULL,
    n_num BIGINT NOT NULL,
    s DOUBLE PRECISION,
    sq DOUBLE PRECISION,
    mn DOUBLE PRECISION,
    mx DOUBLE PRECISION,
    PRIMARY KEY (tenant, entity_id, attr, hour)
);
INSERT INTO attr_rollup (tenant, entity_id, attr, hour, n_rows, n_num, s, sq, mn, mx)
SELECT tenant, entity_id, attr, ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS h, count(*), count(num),
       sum(num), sum(num * num), min(num), max(num)
FROM attr_history WHERE NOT deleted AND observed_at IS NOT NULL
GROUP BY tenant, entity_id, attr, h;
-- 3. The types of entities with history, one row each, so that a temporal query by type does not
--    read every temporal entity (their types are also kept as a JSON list in temporal_entities).
CREATE TABLE temporal_entity_types (
    tenant TEXT NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (tenant, type, id)
);
INSERT INTO temporal_entity_types (tenant, type, id)
SELECT t.tenant, j.value, t.id FROM temporal_entities t, jsonb_array_elements_text(t.types::jsonb) AS j(value)
ON CONFLICT DO NOTHING;
-- 4. The derived tables follow wholesale deletions made outside the store's own methods (which
--    maintain them directly): the types of removed temporal entities, and the rollup when the
--    history is truncated.
CREATE FUNCTION calanque_temporal_types_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM temporal_entity_types tt USING gone g WHERE tt.tenant = g.tenant AND tt.id = g.id;
    RETURN NULL;
END $$;
CREATE TRIGGER temporal_entities_types_gone AFTER DELETE ON temporal_entities
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION calanque_temporal_types_gone();
CREATE FUNCTION calanque_truncate_derived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'temporal_entities' THEN
        TRUNCATE temporal_entity_types;
    ELSE
        TRUNCATE attr_rollup;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER temporal_entities_truncated AFTER TRUNCATE ON temporal_entities
FOR EACH STATEMENT EXECUTE FUNCTION calanque_truncate_derived();
CREATE TRIGGER attr_history_truncated AFTER TRUNCATE ON attr_history
FOR EACH STATEMENT EXECUTE FUNCTION calanque_truncate_derived();

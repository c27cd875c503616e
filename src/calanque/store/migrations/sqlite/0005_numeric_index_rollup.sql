-- Performance of q queries and temporal aggregations (SQLite).
-- 1. Numeric index of attribute values: entity_attrs.num holds the number of an attribute whose
--    only q element is a number (numkind 0), numkind 1 marks attributes with numbers that only the
--    JSON document can decide, numkind 2 attributes without numbers (see calanque.ngsild.qlang).
--    Rows written before this migration get numkind 1: always checked against the document.
ALTER TABLE entity_attrs ADD COLUMN num REAL;
ALTER TABLE entity_attrs ADD COLUMN numkind INTEGER NOT NULL DEFAULT 1;
CREATE INDEX entity_attrs_num ON entity_attrs (tenant, attr, numkind, num);
-- 2. Hourly rollup of the observed, non-deleted history: per entity, attribute and UTC hour
--    (hour = start of the hour, epoch µs), the row count, the numeric count, sum, sum of squares,
--    min and max. Maintained by the store on every history write, delete and instance update.
CREATE TABLE attr_rollup (
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    hour INTEGER NOT NULL,
    n_rows INTEGER NOT NULL,
    n_num INTEGER NOT NULL,
    s REAL,
    sq REAL,
    mn REAL,
    mx REAL,
    PRIMARY KEY (tenant, entity_id, attr, hour)
) WITHOUT ROWID;
INSERT INTO attr_rollup (tenant, entity_id, attr, hour, n_rows, n_num, s, sq, mn, mx)
SELECT tenant, entity_id, attr, ts - (((ts % 3600000000) + 3600000000) % 3600000000) AS h, count(*), count(num),
       sum(num), sum(num * num), min(num), max(num)
FROM attr_history WHERE deleted = 0 AND observed_at IS NOT NULL
GROUP BY tenant, entity_id, attr, h;
-- 3. The types of entities with history, one row each, so that a temporal query by type does not
--    read every temporal entity (their types are also kept as a JSON list in temporal_entities).
CREATE TABLE temporal_entity_types (
    tenant TEXT NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (tenant, type, id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO temporal_entity_types (tenant, type, id)
SELECT t.tenant, j.value, t.id FROM temporal_entities t, json_each(t.types) j;
-- 4. The derived tables follow wholesale deletions made outside the store's own methods (which
--    maintain them directly): the types of a removed temporal entity, and the rollup of an
--    attribute whose history is entirely gone.
CREATE TRIGGER temporal_entities_types_gone AFTER DELETE ON temporal_entities
BEGIN
    DELETE FROM temporal_entity_types WHERE tenant = OLD.tenant AND id = OLD.id;
END;
CREATE TRIGGER attr_history_rollup_gone AFTER DELETE ON attr_history
WHEN NOT EXISTS (SELECT 1 FROM attr_history h WHERE h.tenant = OLD.tenant AND h.entity_id = OLD.entity_id
                 AND h.attr = OLD.attr)
BEGIN
    DELETE FROM attr_rollup WHERE tenant = OLD.tenant AND entity_id = OLD.entity_id AND attr = OLD.attr;
END;

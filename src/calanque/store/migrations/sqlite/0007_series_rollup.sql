-- The hourly rollup becomes the continuous aggregate the domain services read (calanque.store.rollup):
-- 1. The covering history index also carries dataset_id, so that the samples of one datasetId (one
--    direction of a counter...) are read from the index alone; it replaces attr_history_cover (same
--    leading columns), so ingestion still maintains one index.
DROP INDEX attr_history_cover;
CREATE INDEX attr_history_cover ON attr_history (tenant, entity_id, attr, ts, deleted, observed_at, num, dataset_id);
-- 2. One rollup row per entity, attribute, UTC hour and datasetId: the counts, sum, sum of squares, min and
--    max as before, plus the first and last sample (t0, v0, t1, v1) and, over the steps between the
--    hour's consecutive samples, the shortest and longest step (dmin, dmax, µs), the counter increase
--    (inc) and the trapezoid integral (trap, value·s); their duration-weighted value histogram is in 3.
--    jv, jd and stale are the writer's: the join (value, step) and whether the last merge must be
--    redone from the raw rows (SqlSession._add_to_rollup). The store fills the table from the
--    existing history right after this file (SqlSession.rebuild_rollup).
DROP TABLE attr_rollup;
CREATE TABLE attr_rollup (
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    hour INTEGER NOT NULL,
    dataset_id TEXT NOT NULL,
    n_rows INTEGER NOT NULL,
    n_num INTEGER NOT NULL,
    s REAL,
    sq REAL,
    mn REAL,
    mx REAL,
    t0 INTEGER,
    v0 REAL,
    t1 INTEGER,
    v1 REAL,
    dmin INTEGER,
    dmax INTEGER,
    inc REAL NOT NULL DEFAULT 0,
    trap REAL NOT NULL DEFAULT 0,
    jv REAL,
    jd INTEGER,
    stale INTEGER NOT NULL DEFAULT 0,
    hist BLOB,
    PRIMARY KEY (tenant, entity_id, attr, hour, dataset_id)
) WITHOUT ROWID;
-- 3. The histograms, apart: one row per rollup row (readers of the other columns do not
--    read them; NULL: more distinct values in the hour than the store keeps).
CREATE TABLE attr_rollup_hist (
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    hour INTEGER NOT NULL,
    dataset_id TEXT NOT NULL,
    hist BLOB,
    PRIMARY KEY (tenant, entity_id, attr, hour, dataset_id)
) WITHOUT ROWID;
DROP TRIGGER attr_history_rollup_gone;
CREATE TRIGGER attr_history_rollup_gone AFTER DELETE ON attr_history
WHEN NOT EXISTS (SELECT 1 FROM attr_history h WHERE h.tenant = OLD.tenant AND h.entity_id = OLD.entity_id
                 AND h.attr = OLD.attr)
BEGIN
    DELETE FROM attr_rollup WHERE tenant = OLD.tenant AND entity_id = OLD.entity_id AND attr = OLD.attr;
    DELETE FROM attr_rollup_hist WHERE tenant = OLD.tenant AND entity_id = OLD.entity_id AND attr = OLD.attr;
END;

-- The hourly rollup becomes the continuous aggregate the domain services read (calanque.store.rollup):
-- 1. The covering history index also carries dataset_id, so that the samples of one datasetId (one
--    direction of a counter...) are read from the index alone; it replaces attr_history_cover (same
--    key), so ingestion still maintains one index.
DROP INDEX attr_history_cover;
CREATE INDEX attr_history_cover ON attr_history (tenant, entity_id, attr, ts) INCLUDE (deleted, observed_at, num, dataset_id);
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
    hour BIGINT NOT NULL,
    dataset_id TEXT NOT NULL,
    n_rows BIGINT NOT NULL,
    n_num BIGINT NOT NULL,
    s DOUBLE PRECISION,
    sq DOUBLE PRECISION,
    mn DOUBLE PRECISION,
    mx DOUBLE PRECISION,
    t0 BIGINT,
    v0 DOUBLE PRECISION,
    t1 BIGINT,
    v1 DOUBLE PRECISION,
    dmin BIGINT,
    dmax BIGINT,
    inc DOUBLE PRECISION NOT NULL DEFAULT 0,
    trap DOUBLE PRECISION NOT NULL DEFAULT 0,
    jv DOUBLE PRECISION,
    jd BIGINT,
    stale SMALLINT NOT NULL DEFAULT 0,
    hist BYTEA,
    PRIMARY KEY (tenant, entity_id, attr, hour, dataset_id)
);
-- 3. The histograms, apart: one row per rollup row (readers of the other columns do not
--    read them; NULL: more distinct values in the hour than the store keeps).
CREATE TABLE attr_rollup_hist (
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    hour BIGINT NOT NULL,
    dataset_id TEXT NOT NULL,
    hist BYTEA,
    PRIMARY KEY (tenant, entity_id, attr, hour, dataset_id)
);
CREATE OR REPLACE FUNCTION calanque_truncate_derived() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'temporal_entities' THEN
        TRUNCATE temporal_entity_types;
    ELSE
        TRUNCATE attr_rollup, attr_rollup_hist;
    END IF;
    RETURN NULL;
END $$;

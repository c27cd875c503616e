-- Calanque production store, initial schema (PostgreSQL). History is partitioned by time.
CREATE TABLE tenants (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

CREATE TABLE entities (
    seq BIGSERIAL PRIMARY KEY,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    doc JSONB NOT NULL,
    UNIQUE (tenant, id)
);

CREATE TABLE entity_types (
    tenant TEXT NOT NULL,
    type TEXT NOT NULL,
    entity_seq BIGINT NOT NULL,
    PRIMARY KEY (tenant, type, entity_seq)
);
CREATE INDEX entity_types_seq ON entity_types (entity_seq);

CREATE TABLE entity_attrs (
    tenant TEXT NOT NULL,
    attr TEXT NOT NULL,
    entity_seq BIGINT NOT NULL,
    attr_types TEXT NOT NULL,
    PRIMARY KEY (tenant, attr, entity_seq)
);
CREATE INDEX entity_attrs_seq ON entity_attrs (entity_seq);

CREATE TABLE entity_geo (
    tenant TEXT NOT NULL,
    attr TEXT NOT NULL,
    entity_seq BIGINT NOT NULL,
    minx DOUBLE PRECISION NOT NULL, miny DOUBLE PRECISION NOT NULL,
    maxx DOUBLE PRECISION NOT NULL, maxy DOUBLE PRECISION NOT NULL
);
CREATE INDEX entity_geo_box ON entity_geo (tenant, attr, minx, maxx);
CREATE INDEX entity_geo_seq ON entity_geo (entity_seq);

CREATE TABLE temporal_entities (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    types TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- Partitioned by month on ts (microseconds since the Unix epoch); partitions are created on
-- demand by the store before rows land in them.
CREATE TABLE attr_history (
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    dataset_id TEXT NOT NULL DEFAULT '',
    instance_id TEXT NOT NULL,
    ts BIGINT NOT NULL,
    observed_at BIGINT,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    num DOUBLE PRECISION,
    val TEXT,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    instance JSONB NOT NULL
) PARTITION BY RANGE (ts);
CREATE INDEX attr_history_key ON attr_history (tenant, entity_id, attr, ts);

CREATE TABLE jsonld_contexts (
    url TEXT PRIMARY KEY,
    local_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    doc JSONB NOT NULL,
    created_at TEXT NOT NULL,
    last_usage TEXT,
    hits BIGINT NOT NULL DEFAULT 0
);

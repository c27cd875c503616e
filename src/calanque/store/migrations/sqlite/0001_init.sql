-- Calanque embedded store, initial schema (SQLite).
CREATE TABLE tenants (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

CREATE TABLE entities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    UNIQUE (tenant, id)
);

CREATE TABLE entity_types (
    tenant TEXT NOT NULL,
    type TEXT NOT NULL,
    entity_seq INTEGER NOT NULL,
    PRIMARY KEY (tenant, type, entity_seq)
) WITHOUT ROWID;
CREATE INDEX entity_types_seq ON entity_types (entity_seq);

CREATE TABLE entity_attrs (
    tenant TEXT NOT NULL,
    attr TEXT NOT NULL,
    entity_seq INTEGER NOT NULL,
    attr_types TEXT NOT NULL,
    PRIMARY KEY (tenant, attr, entity_seq)
) WITHOUT ROWID;
CREATE INDEX entity_attrs_seq ON entity_attrs (entity_seq);

CREATE TABLE entity_geo (
    tenant TEXT NOT NULL,
    attr TEXT NOT NULL,
    entity_seq INTEGER NOT NULL,
    minx REAL NOT NULL, miny REAL NOT NULL, maxx REAL NOT NULL, maxy REAL NOT NULL
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

CREATE TABLE attr_history (
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    dataset_id TEXT NOT NULL DEFAULT '',
    instance_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    observed_at INTEGER,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    num REAL,
    val TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    instance TEXT NOT NULL
);
CREATE INDEX attr_history_key ON attr_history (tenant, entity_id, attr, ts);

CREATE TABLE jsonld_contexts (
    url TEXT PRIMARY KEY,
    local_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_usage TEXT,
    hits INTEGER NOT NULL DEFAULT 0
);

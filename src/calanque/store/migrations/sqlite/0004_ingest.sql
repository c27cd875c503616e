-- Ingestion: shared duplicate index, integration keys of HTTP pushes, downlink commands (SQLite).
-- The dedup keys are written in the same transaction as the uplink's history, so an uplink is
-- stored exactly once whichever worker sees it, and after any crash or redelivery.
CREATE TABLE ingest_dedup (
    key BLOB PRIMARY KEY,    -- 128-bit BLAKE2b digest of the uplink's dedup key (compact index)
    at INTEGER NOT NULL,          -- observed time of the uplink, epoch µs
    counter INTEGER NOT NULL,    -- a frame-counter key (matches only within the tolerance)
    stored_at INTEGER NOT NULL    -- when it was recorded, epoch µs (for pruning)
);
CREATE INDEX ingest_dedup_stored ON ingest_dedup (stored_at);

CREATE TABLE integrations (
    name TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,          -- chirpstack | tts | http
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);

CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    device_id TEXT NOT NULL,
    entity_id TEXT,
    network TEXT NOT NULL,
    request TEXT NOT NULL,
    f_port INTEGER,
    payload_hex TEXT,
    status TEXT NOT NULL,        -- queued | sent | acknowledged | failed
    correlation TEXT,            -- network id used to match the acknowledgement
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX commands_device ON commands (tenant, device_id, id);
CREATE INDEX commands_correlation ON commands (correlation);

-- Device registry and dead letters of the ingestion layer (PostgreSQL).
CREATE TABLE devices (
    tenant TEXT NOT NULL,
    device_id TEXT NOT NULL,
    name TEXT NOT NULL,
    device_model TEXT NOT NULL,
    codec TEXT NOT NULL,
    codec_script TEXT,
    entity_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    mapping JSONB NOT NULL,
    lon DOUBLE PRECISION,
    lat DOUBLE PRECISION,
    commune TEXT,
    site TEXT,
    installed_on TEXT,
    status TEXT NOT NULL,
    network TEXT NOT NULL,
    chirpstack_application_id TEXT,
    tts_application_id TEXT,
    last_seen BIGINT,
    battery DOUBLE PRECISION,
    rssi DOUBLE PRECISION,
    snr DOUBLE PRECISION,
    gateways BIGINT,
    last_fcnt BIGINT,
    fcnt_resets BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    modified_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, device_id)
);
CREATE INDEX devices_status ON devices (tenant, status);
CREATE INDEX devices_model ON devices (tenant, device_model);
CREATE INDEX devices_commune ON devices (tenant, commune);
CREATE INDEX devices_site ON devices (tenant, site);
CREATE INDEX devices_last_seen ON devices (tenant, last_seen);

CREATE TABLE dead_letters (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    connector TEXT NOT NULL,
    topic TEXT NOT NULL,
    device_id TEXT,
    error_kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    payload_encoding TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    last_attempt_at BIGINT,
    last_error TEXT
);
CREATE INDEX dead_letters_status ON dead_letters (tenant, status, id);
CREATE INDEX dead_letters_kind ON dead_letters (tenant, error_kind, id);

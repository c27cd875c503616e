-- Accounts, sessions, login attempts and the audit log (PostgreSQL); see calanque.auth and docs/security.md.
-- Secrets are never stored: API keys and session tokens as SHA-256 digests (they are 256-bit random
-- values), passwords as argon2id hashes. Lists (scopes, use cases, communes, sites) are JSON arrays.
-- Times are epoch microseconds. tenant '*' means every tenant (central team identities).
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,              -- public key id, also the visible part of the key
    name TEXT NOT NULL,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,               -- admin | operator | viewer | partner
    scopes TEXT NOT NULL,             -- JSON array of read | write | command | admin
    usecases TEXT NOT NULL,           -- JSON array: the use cases an operator works on
    communes TEXT NOT NULL,           -- JSON array: writes narrowed to these communes (empty: all)
    sites TEXT NOT NULL,              -- JSON array: writes narrowed to these sites (empty: all)
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    rotated_at BIGINT,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX api_keys_name ON api_keys (tenant, name) WHERE revoked_at IS NULL;

CREATE TABLE users (
    username TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    usecases TEXT NOT NULL,
    communes TEXT NOT NULL,
    sites TEXT NOT NULL,
    password_hash TEXT NOT NULL,      -- argon2id, PHC string
    created_at BIGINT NOT NULL,
    disabled_at BIGINT,
    last_login_at BIGINT
);

CREATE TABLE user_sessions (
    token_hash TEXT PRIMARY KEY,
    csrf_hash TEXT NOT NULL,
    username TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (username);

CREATE TABLE login_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    username TEXT NOT NULL,
    address TEXT NOT NULL,
    success BOOLEAN NOT NULL
);
CREATE INDEX login_attempts_user ON login_attempts (username, at);
CREATE INDEX login_attempts_address ON login_attempts (address, at);

-- Append-only: a trigger refuses UPDATE and DELETE of audit rows.
CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,              -- key:<id> | user:<name> | oidc:<subject> | anonymous
    role TEXT NOT NULL,
    tenant TEXT NOT NULL,
    action TEXT NOT NULL,             -- METHOD path
    address TEXT NOT NULL,
    status INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_tenant ON audit_log (tenant, at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- What anonymous callers may read (calanque.auth.publication, docs/security.md). Per tenant, by IRI: an
-- entity type is published when it has a row with attr = ''; one of its attributes when that attribute
-- has its own row too. Everything else is private. Times are epoch microseconds.
CREATE TABLE publications (
    tenant TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    attr TEXT NOT NULL,               -- '' for the entity type itself
    source TEXT NOT NULL,             -- 'default:<use case>' (seeded from its declaration) or 'admin'
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,         -- audit actor: key:<id>, user:<name>, cli:<user>, system
    PRIMARY KEY (tenant, entity_type, attr)
);

-- The use-case defaults already applied to a tenant: a default an admin has unpublished is not applied again.
CREATE TABLE publication_defaults (
    tenant TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    attr TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (tenant, entity_type, attr)
);

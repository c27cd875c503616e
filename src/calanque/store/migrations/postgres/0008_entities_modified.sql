-- Entities by modification time, for the live pages' "what changed since" polls (Session.changed_entities).
-- Byte order ("C"): canonical timestamps have one fixed width, so byte order is time order in any locale.
CREATE INDEX entities_modified ON entities (tenant, ((doc ->> 'modifiedAt') COLLATE "C"));

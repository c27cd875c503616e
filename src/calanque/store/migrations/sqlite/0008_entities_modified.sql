-- Entities by modification time, for the live pages' "what changed since" polls (Session.changed_entities).
CREATE INDEX entities_modified ON entities (tenant, json_extract(doc, '$.modifiedAt'));

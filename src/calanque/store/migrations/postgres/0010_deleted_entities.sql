-- When an entity is deleted its temporal evolution stays, with the time of the deletion (NGSI-LD
-- deletedAt, shown with options=sysAttrs); re-creating the entity clears it.
ALTER TABLE temporal_entities ADD COLUMN deleted_at TEXT;

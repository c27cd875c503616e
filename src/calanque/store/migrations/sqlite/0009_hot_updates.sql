-- last_seen changes on every uplink: its index cost one extra B-tree write per device and batch.
-- Listing silent devices (last_seen < t) filters a tenant's devices instead.
DROP INDEX IF EXISTS devices_last_seen;

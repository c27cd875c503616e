-- The reporting period a device is expected to keep (seconds), for the silent-device listing.
ALTER TABLE devices ADD COLUMN expected_period BIGINT;

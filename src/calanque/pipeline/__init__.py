"""Layer 2: the ingestion pipeline from decoded uplinks to entity updates."""

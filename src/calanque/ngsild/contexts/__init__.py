"""Package data: JSON-LD @context documents shipped with the broker (the NGSI-LD core context)."""

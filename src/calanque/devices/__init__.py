"""Layer 2 registry: provisioned field devices (codec, entity mapping, link metadata) and dead letters."""

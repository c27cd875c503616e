"""Calanque: an open smart-territory data platform speaking ETSI NGSI-LD."""

__version__ = "0.1.0"

"""Layer 4: the ETSI NGSI-LD API (context broker) and its building blocks."""

"""Layer 1: field connectors (network servers, MQTT, HTTP) and payload codecs."""

"""The HTTP routes of the NGSI-LD API: thin functions that parse, call the service and render."""

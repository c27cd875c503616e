"""Field connectors: pure parsers from network-server messages to :class:`Uplink` / :class:`DeviceEvent`.

``chirpstack.parse_event``, ``tts.parse_message``, ``generic.parse_mqtt`` and
``generic.parse_http`` never do I/O; the MQTT/HTTP servers that feed them live elsewhere.
"""

from __future__ import annotations

from calanque.field.connectors.model import DeviceEvent, EventKind, ParseError, TimeSource, Uplink

__all__ = ["DeviceEvent", "EventKind", "ParseError", "TimeSource", "Uplink"]

"""Cheaper MQTT v5 packet decoding for paho-mqtt, the ingest workers' hottest path.

paho-mqtt builds a ``Properties`` object for every MQTT v5 PUBLISH it receives, and its constructor
rebuilds three lookup tables (property names, types, and the packets each applies to: about sixty
entries) each time. In the ingest worker this was 40 % of the CPU spent per message. The tables never
change after construction, so :class:`SharedTableProperties` builds them once per process and shares
them; the objects behave exactly like paho's (same class hierarchy, same attribute checks, same
packing and unpacking).

:func:`install` puts it in place for paho's packet decoder. It checks that paho's decoder still
creates properties the way this module expects and otherwise leaves paho untouched.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from paho.mqtt.properties import Properties

try:  # a private module of paho-mqtt 2.x: without it, paho is left as it is
    from paho.mqtt import _packet as paho_packet
except ImportError:  # pragma: no cover - depends on the installed paho-mqtt
    paho_packet = None

log = logging.getLogger("calanque.ingest.mqtt")


class SharedTableProperties(Properties):
    """paho's MQTT v5 ``Properties`` with its read-only lookup tables built once per process."""

    _tables: ClassVar[tuple[Any, Any, Any] | None] = None

    def __init__(self, packetType: int) -> None:  # noqa: N803 - paho's parameter name
        """Same as ``Properties(packetType)``, without rebuilding the tables."""
        tables = SharedTableProperties._tables
        if tables is None:
            template = Properties(packetType)
            tables = SharedTableProperties._tables = (template.types, template.names, template.properties)
        object.__setattr__(self, "packetType", packetType)
        object.__setattr__(self, "types", tables[0])
        object.__setattr__(self, "names", tables[1])
        object.__setattr__(self, "properties", tables[2])


def install() -> bool:
    """Make paho's packet decoder use :class:`SharedTableProperties`; False if paho changed shape."""
    if paho_packet is None:
        log.info("paho-mqtt has no _packet module; MQTT v5 properties keep paho's own constructor")
        return False
    current = getattr(paho_packet, "Properties", None)
    if current is SharedTableProperties:
        return True
    if current is not Properties:
        log.info("paho-mqtt's packet decoder changed; MQTT v5 properties keep paho's own constructor")
        return False
    paho_packet.Properties = SharedTableProperties  # type: ignore[misc]
    return True

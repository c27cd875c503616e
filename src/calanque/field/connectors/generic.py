"""Generic MQTT topics and HTTP pushes carrying JSON measurements (devices outside a LoRaWAN server).

MQTT: a :class:`TopicPattern` such as ``city/+/sensors/{device}/data`` maps a topic to a
device key; ``+`` matches one level, ``{name}`` captures one level (``{device}`` is
required; ``{tenant}`` and ``{application}`` fill the matching Uplink fields, an empty
``{tenant}`` level meaning the default tenant) and a final
``#`` matches the rest. The payload is a JSON object: either ``{"measurements": {...},
"observedAt": ...}`` or a flat object of measurements with an optional ``observedAt`` or
``time`` member. HTTP: the body is ``{"device": "...", "observedAt": "...", "measurements": {...}}``.
A time is an ISO 8601 date-time (a zone-less one is taken as UTC) or Unix epoch seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from calanque.field.connectors import _read as r
from calanque.field.connectors.model import ParseError, Uplink

MQTT_NETWORK = "mqtt"
HTTP_NETWORK = "http"
_TIME_KEYS = ("observedAt", "time")
_RESERVED = frozenset({*_TIME_KEYS, "device", "measurements"})


@dataclass(frozen=True)
class TopicPattern:
    """A topic pattern with ``+``/``#`` wildcards and ``{name}`` placeholders; ``{device}`` is required."""

    pattern: str
    _levels: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Validate the pattern."""
        levels = tuple(self.pattern.split("/"))
        names = [lv[1:-1] for lv in levels if lv.startswith("{") and lv.endswith("}")]
        if "device" not in names:
            raise ValueError(f"topic pattern {self.pattern!r} needs a '{{device}}' level")
        if len(names) != len(set(names)) or any(not n.isidentifier() for n in names):
            raise ValueError(f"topic pattern {self.pattern!r} has duplicate or invalid placeholder names")
        if "#" in levels[:-1]:
            raise ValueError(f"topic pattern {self.pattern!r}: '#' is only allowed as the last level")
        object.__setattr__(self, "_levels", levels)

    @property
    def subscription(self) -> str:
        """The MQTT subscription filter: every placeholder becomes ``+``."""
        return "/".join("+" if lv.startswith("{") and lv.endswith("}") else lv for lv in self._levels)

    def match(self, topic: str) -> dict[str, str] | None:
        """Return the placeholder values when ``topic`` matches, else None."""
        levels = topic.split("/")
        pattern = self._levels
        if pattern[-1] == "#":
            pattern = pattern[:-1]
            if len(levels) < len(pattern):
                return None
            levels = levels[: len(pattern)]
        if len(levels) != len(pattern):
            return None
        found: dict[str, str] = {}
        for want, got in zip(pattern, levels, strict=True):
            if want.startswith("{") and want.endswith("}"):
                if not got and want != "{tenant}":  # an empty tenant level is the default tenant
                    return None
                found[want[1:-1]] = got
            elif want != "+" and want != got:
                return None
        return found


def parse_mqtt(
    pattern: TopicPattern | str,
    topic: str,
    body: bytes | str | dict[str, Any],
    *,
    received_at: datetime | None = None,
) -> Uplink:
    """Parse a generic MQTT message on ``topic`` into an Uplink whose ``decoded`` holds the measurements."""
    compiled = pattern if isinstance(pattern, TopicPattern) else TopicPattern(pattern)
    parts = compiled.match(topic) if isinstance(topic, str) else None
    if parts is None:
        raise ParseError(f"topic {str(topic)[:120]!r} does not match the pattern {compiled.pattern!r}")
    data = r.load_json(body, f"MQTT message on {topic!r}")
    measurements = r.obj(data, "measurements", "measurements")
    if measurements is None:
        measurements = {k: v for k, v in data.items() if k not in _RESERVED}
    return _build(MQTT_NETWORK, parts["device"], data, measurements, received_at,
                  tenant=parts.get("tenant"), application=parts.get("application"))


def parse_http(body: bytes | str | dict[str, Any], *, received_at: datetime | None = None) -> Uplink:
    """Parse a generic HTTP push ``{device, observedAt?, measurements}`` into an Uplink."""
    data = r.load_json(body, "HTTP push")
    device = r.text(data, "device", "device", required=True)
    measurements = r.obj(data, "measurements", "measurements", required=True)
    assert device is not None and measurements is not None
    return _build(HTTP_NETWORK, device, data, measurements, received_at)


def _build(network: str, device: str, data: dict[str, Any], measurements: dict[str, Any],
           received_at: datetime | None, *, tenant: str | None = None, application: str | None = None) -> Uplink:
    """Assemble the Uplink of a generic message."""
    device = device.strip()
    if not device:
        raise ParseError("the device key is empty")
    if not measurements:
        raise ParseError("the message carries no measurements: expected at least one member")
    received = received_at or datetime.now(UTC)
    observed = _message_time(data)
    return Uplink(
        network=network,
        device_key=device,
        observed_at=observed or received,
        received_at=received,
        time_source="message" if observed else "received",
        application_id=application,
        tenant_hint=tenant,
        decoded=measurements,
        raw=data,
    )


def _message_time(data: dict[str, Any]) -> datetime | None:
    """Return the message's ``observedAt`` (or ``time``): ISO 8601 text or Unix epoch seconds."""
    for key in _TIME_KEYS:
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ParseError(f"'{key}' must be a finite epoch time in seconds")
            try:
                return datetime.fromtimestamp(value, UTC)
            except (OverflowError, OSError, ValueError):
                raise ParseError(f"'{key}' = {value} is not a representable epoch time in seconds") from None
        return r.timestamp(data, key, key)
    return None

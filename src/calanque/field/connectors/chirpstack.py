"""ChirpStack v4 integration events (JSON marshaler) over MQTT or HTTP, and the downlink command.

Event formats follow the ChirpStack documentation ("Integrations › Event types"): the JSON
mapping of the ``integration.proto`` messages, in which proto3 default values (0, false,
"") are omitted — so a missing ``fCnt``/``fPort`` means 0 and a missing ``acknowledged``
means false. MQTT topics are ``application/{applicationId}/device/{devEui}/event/{event}``;
the HTTP integration POSTs the same bodies with the event in the ``?event=`` query parameter.
Downlinks are published to ``application/{applicationId}/device/{devEui}/command/down``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from calanque.field.connectors import _read as r
from calanque.field.connectors.model import DeviceEvent, EventKind, ParseError, TimeSource, Uplink

NETWORK = "chirpstack"
EVENT_TYPES = ("up", "status", "join", "ack", "txack", "log", "location")
_EVENT_KINDS: dict[str, EventKind] = {
    "status": "status",
    "join": "join",
    "ack": "ack",
    "txack": "txack",
    "log": "log",
    "location": "location",
}
_FCNT_MAX = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class ChirpStackTopic:
    """The parts of an integration event topic."""

    application_id: str
    dev_eui: str
    event: str


def parse_topic(topic: str) -> ChirpStackTopic:
    """Split ``application/{applicationId}/device/{devEui}/event/{event}``; ParseError otherwise."""
    parts = topic.split("/") if isinstance(topic, str) else []
    if len(parts) != 6 or parts[0] != "application" or parts[2] != "device" or parts[4] != "event":
        raise ParseError(
            f"topic {str(topic)[:120]!r} is not a ChirpStack event topic: expected "
            "'application/{applicationId}/device/{devEui}/event/{event}'"
        )
    if not parts[1] or not parts[5]:
        raise ParseError(f"topic {topic!r} has an empty applicationId or event")
    dev_eui = r.hex_eui(parts[3], "topic devEui")
    assert dev_eui is not None
    return ChirpStackTopic(parts[1], dev_eui, parts[5])


def parse_event(
    event_type: str | None,
    body: bytes | str | dict[str, Any],
    topic: str | None = None,
    *,
    received_at: datetime | None = None,
) -> Uplink | DeviceEvent:
    """Parse one integration event; ``event_type`` is the ``?event=`` value or None to take it from ``topic``.

    ``received_at`` is when Calanque received the message (now by default). Raises
    ParseError naming the missing or invalid field.
    """
    where = _parse_topic_if_any(topic)
    if event_type is None:
        if where is None:
            raise ParseError("the ChirpStack event type is unknown: give event_type (?event=) or an event topic")
        event_type = where.event
    elif where is not None and where.event != event_type:
        raise ParseError(f"event type {event_type!r} does not match the topic's event {where.event!r}")
    if event_type not in EVENT_TYPES:
        raise ParseError(f"unsupported ChirpStack event type {str(event_type)[:40]!r}: expected one of "
                         f"{', '.join(EVENT_TYPES)}")
    data = r.load_json(body, f"ChirpStack '{event_type}' event")
    received = received_at or datetime.now(UTC)
    info = r.obj(data, "deviceInfo", "deviceInfo", required=True)
    assert info is not None
    dev_eui = r.hex_eui(r.text(info, "devEui", "deviceInfo.devEui", required=True), "deviceInfo.devEui")
    assert dev_eui is not None
    if where is not None and where.dev_eui != dev_eui:
        raise ParseError(f"deviceInfo.devEui {dev_eui} does not match the topic's devEui {where.dev_eui}")
    common: dict[str, Any] = {
        "network": NETWORK,
        "device_key": dev_eui,
        "dev_eui": dev_eui,
        "device_name": r.text(info, "deviceName", "deviceInfo.deviceName"),
        "application_id": r.text(info, "applicationId", "deviceInfo.applicationId")
        or (where.application_id if where else None),
        "tenant_hint": r.text(info, "tenantId", "deviceInfo.tenantId"),
        "raw": data,
    }
    if event_type == "up":
        return _uplink(data, common, received)
    return _device_event(_EVENT_KINDS[event_type], data, common, received)


def _parse_topic_if_any(topic: str | None) -> ChirpStackTopic | None:
    """Parse the topic when one is given."""
    return None if topic is None else parse_topic(topic)


def _uplink(data: dict[str, Any], common: dict[str, Any], received: datetime) -> Uplink:
    """Build the Uplink of an ``up`` event."""
    gw_times: list[datetime] = []
    ns_times: list[datetime] = []
    best: tuple[float, float | None] | None = None
    gateways: set[str] = set()
    rx_info = r.array(data, "rxInfo", "rxInfo")
    for i, rx in enumerate(rx_info):
        path = f"rxInfo[{i}]"
        if not isinstance(rx, dict):
            raise ParseError(f"'{path}' must be an object")
        gateways.add(r.text(rx, "gatewayId", f"{path}.gatewayId") or f"#{i}")
        gw_time = r.timestamp(rx, "gwTime", f"{path}.gwTime") or r.timestamp(rx, "time", f"{path}.time")
        if gw_time is not None:
            gw_times.append(gw_time)
        ns_time = r.timestamp(rx, "nsTime", f"{path}.nsTime")
        if ns_time is not None:
            ns_times.append(ns_time)
        rssi = r.number(rx, "rssi", f"{path}.rssi")
        if rssi is not None and (best is None or rssi > best[0]):
            best = (rssi, r.number(rx, "snr", f"{path}.snr"))
    event_time = r.timestamp(data, "time", "time")
    observed: datetime
    source: TimeSource
    if gw_times:
        observed, source = min(gw_times), "gateway"
    elif event_time is not None:
        observed, source = event_time, "network"
    elif ns_times:
        observed, source = min(ns_times), "network"
    else:
        observed, source = received, "received"
    decoded = r.obj(data, "object", "object")
    return Uplink(
        **common,
        observed_at=observed,
        received_at=received,
        time_source=source,
        f_port=r.integer(data, "fPort", "fPort", default=0, high=255),
        f_cnt=r.integer(data, "fCnt", "fCnt", default=0, high=_FCNT_MAX),
        payload=r.base64_bytes(data, "data", "data"),
        decoded=decoded,
        rssi=best[0] if best else None,
        snr=best[1] if best else None,
        gateways=len(gateways),
        dedup_id=r.text(data, "deduplicationId", "deduplicationId"),
    )


def _device_event(kind: EventKind, data: dict[str, Any], common: dict[str, Any], received: datetime) -> DeviceEvent:
    """Build the DeviceEvent of a status, join, ack, txack, log or location event."""
    event = DeviceEvent(**common, kind=kind, observed_at=r.timestamp(data, "time", "time") or received)
    if kind == "status":
        event.margin = r.integer(data, "margin", "margin", default=0, low=-128, high=127)
        if not r.flag(data, "batteryLevelUnavailable", "batteryLevelUnavailable"):
            event.battery = r.number(data, "batteryLevel", "batteryLevel")
        event.external_power = bool(r.flag(data, "externalPowerSource", "externalPowerSource"))
    elif kind == "join":
        event.dev_addr = r.text(data, "devAddr", "devAddr")
    elif kind in ("ack", "txack"):
        event.queue_item_id = r.text(data, "queueItemId", "queueItemId")
        event.f_cnt_down = r.integer(data, "fCntDown", "fCntDown", default=0, high=_FCNT_MAX)
        if kind == "ack":
            event.acknowledged = bool(r.flag(data, "acknowledged", "acknowledged"))
        else:
            event.gateway_id = r.text(data, "gatewayId", "gatewayId")
    elif kind == "log":
        event.level = r.text(data, "level", "level") or "INFO"
        event.code = r.text(data, "code", "code")
        event.message = r.text(data, "description", "description")
    else:
        location = r.obj(data, "location", "location", required=True)
        assert location is not None
        event.latitude = r.number(location, "latitude", "location.latitude")
        event.longitude = r.number(location, "longitude", "location.longitude")
    return event


def downlink_command(
    dev_eui: str, f_port: int, payload: bytes, confirmed: bool = False, *, application_id: str,
    queue_item_id: str | None = None,
) -> tuple[str, bytes]:
    """Return the MQTT (topic, JSON body) that enqueues ``payload`` on ``f_port`` for ``dev_eui``.

    ``queue_item_id`` (a UUID) becomes the queue item's id, which ChirpStack repeats as
    ``queueItemId`` in the ``txack`` and ``ack`` events of this downlink.
    """
    eui = r.hex_eui(dev_eui, "dev_eui")
    if not application_id or "/" in application_id:
        raise ValueError(f"application_id must be a non-empty id without '/', got {application_id!r}")
    if isinstance(f_port, bool) or not isinstance(f_port, int) or not 1 <= f_port <= 223:
        raise ValueError(f"f_port must be an application port 1..223, got {f_port!r}")
    if not isinstance(payload, bytes | bytearray):
        raise ValueError(f"payload must be bytes, got {type(payload).__name__}")
    body: dict[str, Any] = {
        "devEui": eui,
        "confirmed": bool(confirmed),
        "fPort": f_port,
        "data": base64.b64encode(bytes(payload)).decode("ascii"),
    }
    if queue_item_id is not None:
        body = {"id": queue_item_id, **body}
    return f"application/{application_id}/device/{eui}/command/down", orjson.dumps(body)

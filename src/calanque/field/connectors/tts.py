"""The Things Stack v3 application messages (webhook JSON and MQTT), and the downlink push.

Formats follow The Things Stack documentation ("Concepts › Data formats"): empty fields
(``""``, ``0``, ``false``) are omitted, so a missing ``f_cnt`` or ``f_port`` means 0. MQTT
topics are ``v3/{application id}@{tenant id}/devices/{device id}/{event}`` where event is
``up``, ``join``, ``down/ack``, ``down/nack``, ``down/sent``, ``down/queued`` or
``down/failed``; downlinks are pushed to ``v3/{application id}@{tenant id}/devices/{device id}/down/push``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from calanque.field.connectors import _read as r
from calanque.field.connectors.model import DeviceEvent, EventKind, ParseError, TimeSource, Uplink

NETWORK = "tts"
UPLINK_CORRELATION_PREFIX = "as:up:"
PRIORITIES = ("LOWEST", "LOW", "BELOW_NORMAL", "NORMAL", "ABOVE_NORMAL", "HIGH", "HIGHEST")
# Message member -> event kind, for everything that is not an uplink.
_EVENT_MEMBERS: dict[str, EventKind] = {
    "join_accept": "join",
    "downlink_ack": "ack",
    "downlink_nack": "nack",
    "downlink_sent": "downlink-sent",
    "downlink_queued": "downlink-queued",
    "downlink_failed": "downlink-failed",
}
_TOPIC_EVENTS = {
    "up": "uplink_message",
    "join": "join_accept",
    "down/ack": "downlink_ack",
    "down/nack": "downlink_nack",
    "down/sent": "downlink_sent",
    "down/queued": "downlink_queued",
    "down/failed": "downlink_failed",
}


@dataclass(frozen=True, slots=True)
class TtsTopic:
    """The parts of a The Things Stack MQTT topic."""

    application_id: str
    tenant_id: str
    device_id: str
    event: str


def parse_topic(topic: str) -> TtsTopic:
    """Split ``v3/{app}@{tenant}/devices/{device}/{event}``; ParseError when it is not one."""
    parts = topic.split("/") if isinstance(topic, str) else []
    if len(parts) < 5 or parts[0] != "v3" or parts[2] != "devices" or "@" not in parts[1]:
        raise ParseError(
            f"topic {str(topic)[:120]!r} is not a The Things Stack topic: expected "
            "'v3/{application id}@{tenant id}/devices/{device id}/{event}'"
        )
    app, _, tenant = parts[1].partition("@")
    event = "/".join(parts[4:])
    if not app or not tenant or not parts[3]:
        raise ParseError(f"topic {topic!r} has an empty application, tenant or device id")
    if event not in _TOPIC_EVENTS:
        raise ParseError(f"unsupported event {event!r} in topic {topic!r}: expected one of {', '.join(_TOPIC_EVENTS)}")
    return TtsTopic(app, tenant, parts[3], event)


def parse_message(
    body: bytes | str | dict[str, Any], topic: str | None = None, *, received_at: datetime | None = None
) -> Uplink | DeviceEvent:
    """Parse one application message (webhook body or MQTT payload); the kind comes from its members.

    With ``topic``, its application and device ids must match the message's and its event the
    member present. ``received_at`` defaults to now. Raises ParseError naming the bad field.
    """
    where = None if topic is None else parse_topic(topic)
    data = r.load_json(body, "The Things Stack message")
    ids = r.obj(data, "end_device_ids", "end_device_ids", required=True)
    assert ids is not None
    device_id = r.text(ids, "device_id", "end_device_ids.device_id", required=True)
    app_ids = r.obj(ids, "application_ids", "end_device_ids.application_ids", required=True)
    assert app_ids is not None and device_id is not None
    app_id = r.text(app_ids, "application_id", "end_device_ids.application_ids.application_id", required=True)
    dev_eui = r.hex_eui(r.text(ids, "dev_eui", "end_device_ids.dev_eui"), "end_device_ids.dev_eui")
    if where is not None and (where.application_id, where.device_id) != (app_id, device_id):
        raise ParseError(f"message ids {app_id}/{device_id} do not match the topic's "
                         f"{where.application_id}/{where.device_id}")
    members = [m for m in ("uplink_message", *_EVENT_MEMBERS) if data.get(m) is not None]
    if len(members) != 1:
        raise ParseError("expected exactly one of uplink_message, " + ", ".join(_EVENT_MEMBERS)
                         + f"; found {members or 'none'}")
    member = members[0]
    if where is not None and _TOPIC_EVENTS[where.event] != member:
        raise ParseError(f"topic event {where.event!r} does not match the message member {member!r}")
    received = received_at or datetime.now(UTC)
    common: dict[str, Any] = {
        "network": NETWORK,
        "device_key": dev_eui or device_id,
        "dev_eui": dev_eui,
        "device_name": device_id,
        "application_id": app_id,
        "tenant_hint": where.tenant_id if where else None,
        "raw": data,
    }
    correlation = [c for c in r.array(data, "correlation_ids", "correlation_ids") if isinstance(c, str)]
    as_received = r.timestamp(data, "received_at", "received_at")
    if member == "uplink_message":
        return _uplink(data, common, correlation, as_received, received)
    return _device_event(data, member, common, as_received or received)


def _uplink(data: dict[str, Any], common: dict[str, Any], correlation: list[str],
            as_received: datetime | None, received: datetime) -> Uplink:
    """Build the Uplink of an ``uplink_message``."""
    up = r.obj(data, "uplink_message", "uplink_message", required=True)
    assert up is not None
    gw_times: list[datetime] = []
    best: tuple[float, float | None] | None = None
    gateways: set[str] = set()
    for i, rx in enumerate(r.array(up, "rx_metadata", "uplink_message.rx_metadata")):
        path = f"uplink_message.rx_metadata[{i}]"
        if not isinstance(rx, dict):
            raise ParseError(f"'{path}' must be an object")
        gw_ids = r.obj(rx, "gateway_ids", f"{path}.gateway_ids")
        gateways.add((r.text(gw_ids, "gateway_id", f"{path}.gateway_ids.gateway_id") if gw_ids else None) or f"#{i}")
        gw_time = r.timestamp(rx, "time", f"{path}.time")
        if gw_time is not None:
            gw_times.append(gw_time)
        rssi = r.number(rx, "rssi", f"{path}.rssi")
        if rssi is not None and (best is None or rssi > best[0]):
            best = (rssi, r.number(rx, "snr", f"{path}.snr"))
    settings = r.obj(up, "settings", "uplink_message.settings")
    settings_time = r.timestamp(settings, "time", "uplink_message.settings.time") if settings else None
    ns_time = r.timestamp(up, "received_at", "uplink_message.received_at")
    observed: datetime
    source: TimeSource
    if gw_times:
        observed, source = min(gw_times), "gateway"
    elif settings_time is not None:
        observed, source = settings_time, "gateway"
    elif ns_time is not None:
        observed, source = ns_time, "network"
    elif as_received is not None:
        observed, source = as_received, "network"
    else:
        observed, source = received, "received"
    dedup = next((c for c in correlation if c.startswith(UPLINK_CORRELATION_PREFIX)), None)
    if common["tenant_hint"] is None:
        network_ids = r.obj(up, "network_ids", "uplink_message.network_ids")
        tenant = r.text(network_ids, "tenant_id", "uplink_message.network_ids.tenant_id") if network_ids else None
        common = {**common, "tenant_hint": tenant}
    return Uplink(
        **common,
        observed_at=observed,
        received_at=received,
        time_source=source,
        f_port=r.integer(up, "f_port", "uplink_message.f_port", default=0, high=255),
        f_cnt=r.integer(up, "f_cnt", "uplink_message.f_cnt", default=0, high=0xFFFFFFFF),
        payload=r.base64_bytes(up, "frm_payload", "uplink_message.frm_payload"),
        decoded=r.obj(up, "decoded_payload", "uplink_message.decoded_payload"),
        rssi=best[0] if best else None,
        snr=best[1] if best else None,
        gateways=len(gateways),
        dedup_id=dedup,
    )


def _device_event(data: dict[str, Any], member: str, common: dict[str, Any], observed: datetime) -> DeviceEvent:
    """Build the DeviceEvent of a join-accept or downlink event."""
    kind = _EVENT_MEMBERS[member]
    content = r.obj(data, member, member, required=True)
    assert content is not None
    event = DeviceEvent(**common, kind=kind, observed_at=observed)
    if kind == "join":
        ids = r.obj(data, "end_device_ids", "end_device_ids")
        event.dev_addr = r.text(ids, "dev_addr", "end_device_ids.dev_addr") if ids else None
        return event
    downlink = content
    if kind == "downlink-failed":
        downlink = r.obj(content, "downlink", f"{member}.downlink") or {}
        error = r.obj(content, "error", f"{member}.error") or {}
        event.code = r.text(error, "name", f"{member}.error.name")
        event.message = r.text(error, "message_format", f"{member}.error.message_format")
        event.level = "ERROR"
    event.f_port = r.integer(downlink, "f_port", f"{member}.f_port", default=0, high=255)
    event.f_cnt_down = r.integer(downlink, "f_cnt", f"{member}.f_cnt", default=0, high=0xFFFFFFFF)
    if kind in ("ack", "nack"):
        event.acknowledged = kind == "ack"
    queue_ids = [c for c in r.array(downlink, "correlation_ids", f"{member}.correlation_ids") if isinstance(c, str)]
    event.queue_item_id = queue_ids[0] if queue_ids else None
    return event


def downlink_push(
    application_id: str,
    tenant_id: str,
    device_id: str,
    f_port: int,
    payload: bytes,
    confirmed: bool = False,
    priority: str = "NORMAL",
    correlation_ids: list[str] | None = None,
) -> tuple[str, bytes]:
    """Return the MQTT (topic, JSON body) that pushes ``payload`` on ``f_port`` to the device's queue.

    ``correlation_ids`` are attached to the downlink; The Things Stack repeats them in the
    ``down/sent``, ``down/ack``, ``down/nack`` and ``down/failed`` messages of that downlink.
    """
    for name, value in (("application_id", application_id), ("tenant_id", tenant_id), ("device_id", device_id)):
        if not isinstance(value, str) or not value or any(c in value for c in "/@+#"):
            raise ValueError(f"{name} must be a non-empty id without '/', '@', '+' or '#', got {value!r}")
    if isinstance(f_port, bool) or not isinstance(f_port, int) or not 1 <= f_port <= 223:
        raise ValueError(f"f_port must be an application port 1..223, got {f_port!r}")
    if not isinstance(payload, bytes | bytearray):
        raise ValueError(f"payload must be bytes, got {type(payload).__name__}")
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, got {priority!r}")
    body = {
        "downlinks": [
            {
                "f_port": f_port,
                "frm_payload": base64.b64encode(bytes(payload)).decode("ascii"),
                "priority": priority,
                "confirmed": bool(confirmed),
                **({"correlation_ids": list(correlation_ids)} if correlation_ids else {}),
            }
        ]
    }
    return f"v3/{application_id}@{tenant_id}/devices/{device_id}/down/push", orjson.dumps(body)

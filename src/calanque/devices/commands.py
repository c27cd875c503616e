"""Downlink commands: encode with the device's codec, enqueue at its network server, record the outcome.

``POST /api/v1/commands`` takes a command for one device, for the devices feeding one entity,
or for every light of a ``StreetlightGroup``::

    {"device": "70b3d57ed0000001", "command": {"powerState": "on", "dimmingLevel": 40}}
    {"entity": "urn:ngsi-ld:Streetlight:sl-12", "command": {"powerState": "off"}}
    {"group": "urn:ngsi-ld:StreetlightGroup:g1", "command": {"dimmingLevel": 50}}

Each target device's codec encodes the command (a command the codec refuses is a 400 and
nothing is sent). The command is recorded, then published over MQTT to the network server:
ChirpStack ``application/{app}/device/{devEui}/command/down`` (with the record's UUID as queue
item id) or The Things Stack ``v3/{app}@{tenant}/devices/{device}/down/push`` (with a
``calanque:cmd:<uuid>`` correlation id). The network's later ``txack``/``ack`` (ChirpStack) or
``down/sent``/``down/ack``/``down/nack``/``down/failed`` (TTS) events, ingested by the pipeline,
move the record to ``sent``, ``acknowledged`` or ``failed``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from calanque.devices import repository as devrepo
from calanque.devices.models import Device
from calanque.field.codecs import CodecError, get_codec
from calanque.field.connectors import chirpstack, tts
from calanque.field.connectors.model import DeviceEvent
from calanque.ngsild.errors import BadRequestData, NgsiLdError, ResourceNotFound
from calanque.store.base import Session, SqlPredicate, Store

CommandStatus = Literal["queued", "sent", "acknowledged", "failed"]
TTS_CORRELATION_PREFIX = "calanque:cmd:"
_COLUMNS = ("id", "tenant", "device_id", "entity_id", "network", "request", "f_port", "payload_hex", "status",
            "correlation", "error", "created_at", "updated_at")


class NoDownlinkPath(NgsiLdError):
    """The platform has no way to reach the device's network server (503)."""

    kind, status, title = "NoDownlinkPath", 503, "No downlink path"


class CommandRequest(BaseModel):
    """A command for one device, the devices feeding one entity, or every light of a group."""

    model_config = ConfigDict(extra="forbid")

    device: str | None = Field(default=None, description="Device id (DevEUI)")
    entity: str | None = Field(default=None, description="Entity id: every device feeding it")
    group: str | None = Field(default=None, description="StreetlightGroup id: every light of the group")
    command: dict[str, Any] = Field(description="What the device's codec encodes, e.g. {\"dimmingLevel\": 40}")
    confirmed: bool = Field(default=True, description="Ask the device to acknowledge (confirmed downlink)")

    @model_validator(mode="after")
    def _one_target(self) -> CommandRequest:
        given = [n for n in ("device", "entity", "group") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one target: 'device', 'entity' or 'group'")
        if not self.command:
            raise ValueError("'command' must not be empty")
        return self


class Command(BaseModel):
    """A recorded command and where it stands."""

    id: int
    tenant: str
    device_id: str = Field(serialization_alias="deviceId")
    entity_id: str | None = Field(default=None, serialization_alias="entityId")
    network: str
    request: dict[str, Any]
    f_port: int | None = Field(default=None, serialization_alias="fPort")
    payload_hex: str | None = Field(default=None, serialization_alias="payloadHex")
    status: CommandStatus
    correlation: str | None = None
    error: str | None = None
    created_at: datetime = Field(serialization_alias="createdAt")
    updated_at: datetime = Field(serialization_alias="updatedAt")


class Publisher:
    """Publishes downlink messages to the network servers' MQTT broker (QoS 1)."""

    def __init__(self, mqtt_url: str | None, *, client_id: str | None = None) -> None:
        """Publish through the broker at ``mqtt_url`` (mqtt://host:port); None means no downlink path."""
        self.mqtt_url = mqtt_url
        self.client_id = client_id

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish one message and wait for the broker's PUBACK; NoDownlinkPath when it cannot."""
        if not self.mqtt_url:
            raise NoDownlinkPath("no MQTT broker is configured for downlinks: set CALANQUE_MQTT_URL "
                                 "(e.g. mqtt://127.0.0.1:1883) to reach the network servers")
        from urllib.parse import urlparse

        import paho.mqtt.publish as publish

        url = urlparse(self.mqtt_url)
        try:
            publish.single(topic, payload, qos=1, hostname=url.hostname or "127.0.0.1", port=url.port or 1883,
                           client_id=self.client_id or "")
        except (OSError, ValueError) as err:
            raise NoDownlinkPath(f"cannot publish the downlink to the MQTT broker at {self.mqtt_url}: {err}") from err


def _row(session: Session, row: Any) -> Command:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["request"] = orjson.loads(values["request"]) if isinstance(values["request"], str | bytes) \
        else values["request"]
    values["created_at"] = devrepo.from_us(values["created_at"])
    values["updated_at"] = devrepo.from_us(values["updated_at"])
    return Command.model_validate(values)


def get_command(
    session: Session, tenant: str, command_id: int, *, within: SqlPredicate | None = None
) -> Command | None:
    """One recorded command of a tenant, or None (also when it fails the ``within`` condition)."""
    extra = f" AND ({within.sql})" if within is not None else ""
    row = session._exec(  # type: ignore[attr-defined]
        f"SELECT {', '.join(_COLUMNS)} FROM commands WHERE tenant = ? AND id = ?{extra}",
        (tenant, command_id, *(within.params if within else ())),
    ).fetchone()
    return _row(session, row) if row else None


def list_commands(session: Session, tenant: str, *, device_id: str | None = None, status: str | None = None,
                  limit: int = 100, offset: int = 0, within: SqlPredicate | None = None) -> list[Command]:
    """Recorded commands of a tenant, newest first, optionally for one device or in one status
    (``within``: a further condition, the commands of the devices a read scope shows)."""
    sql = f"SELECT {', '.join(_COLUMNS)} FROM commands WHERE tenant = ?"
    params: list[Any] = [tenant]
    if within is not None:
        sql += f" AND ({within.sql})"
        params += within.params
    if device_id is not None:
        sql += " AND device_id = ?"
        params.append(devrepo.lookup_id(device_id))
    if status is not None:
        sql += " AND status = ?"
        params.append(status)
    sql += f" ORDER BY id DESC LIMIT {int(limit)} OFFSET {int(offset)}"
    return [_row(session, r) for r in session._exec(sql, params).fetchall()]  # type: ignore[attr-defined]


def _targets(session: Session, tenant: str, request: CommandRequest) -> list[Device]:
    if request.device:
        device = devrepo.get_device(session, tenant, request.device)
        if device is None:
            raise ResourceNotFound(f"device '{request.device}' is not registered in this tenant")
        return [device]
    if request.entity:
        entity_ids = [request.entity]
    else:
        from calanque.usecases.common import term_iri

        group = session.get_entity(tenant, request.group or "")
        if group is None:
            raise ResourceNotFound(f"group '{request.group}' does not exist")
        refs = group.get("attrs", {}).get(term_iri("refStreetlight"), [])
        entity_ids = []
        for inst in refs:
            obj = inst.get("object", inst.get("objectList"))
            entity_ids += obj if isinstance(obj, list) else [obj] if isinstance(obj, str) else []
        if not entity_ids:
            raise BadRequestData(f"group '{request.group}' lists no light (refStreetlight is empty or absent)")
    rows = []
    for start in range(0, len(entity_ids), 500):
        chunk = entity_ids[start : start + 500]
        rows += session._exec(  # type: ignore[attr-defined]
            f"SELECT device_id FROM devices WHERE tenant = ? AND entity_id IN ({','.join('?' * len(chunk))}) "
            "ORDER BY device_id", (tenant, *chunk),
        ).fetchall()
    devices = list(devrepo.get_devices(session, tenant, [r[0] for r in rows]).values())
    if not devices:
        raise ResourceNotFound(f"no registered device feeds {request.entity or request.group}")
    return devices


def _downlink(device: Device, f_port: int, payload: bytes, confirmed: bool, correlation: str,
              tts_tenant: str) -> tuple[str, bytes]:
    """The network server's (topic, body) for one downlink."""
    if device.network == "chirpstack":
        if not device.chirpstack_application_id:
            raise BadRequestData(f"device '{device.id}' has no chirpstackApplicationId: set it to send commands")
        return chirpstack.downlink_command(device.id, f_port, payload, confirmed,
                                           application_id=device.chirpstack_application_id,
                                           queue_item_id=correlation)
    if device.network == "tts":
        if not device.tts_application_id:
            raise BadRequestData(f"device '{device.id}' has no ttsApplicationId: set it to send commands")
        try:
            return tts.downlink_push(device.tts_application_id, tts_tenant, device.name, f_port, payload,
                                     confirmed, correlation_ids=[TTS_CORRELATION_PREFIX + correlation])
        except ValueError as err:
            raise BadRequestData(f"device '{device.id}': its name must be its The Things Stack end-device id "
                                 f"to send commands ({err})") from None
    raise BadRequestData(f"device '{device.id}' is on the '{device.network}' network, which has no downlink path; "
                         "commands go through ChirpStack or The Things Stack")


def send_commands(store: Store, tenant: str, request: CommandRequest, publisher: Publisher, *,
                  tts_tenant: str = "ttn") -> list[Command]:
    """Encode, record and publish a command for each target device; return the records.

    A command the codec refuses (or a device without a downlink path) is a 400 before anything is
    recorded or sent. A publish failure marks that record ``failed`` with the reason.
    """
    with store.session() as session:
        devices = _targets(session, tenant, request)
    planned = []
    for device in devices:
        try:
            payload, f_port = get_codec(device.codec, script=device.codec_script).encode_downlink(request.command)
        except CodecError as err:
            raise BadRequestData(f"device '{device.id}' ({device.codec}) cannot encode {request.command}: {err}") \
                from None
        correlation = str(uuid.uuid4())
        topic, body = _downlink(device, f_port, payload, request.confirmed, correlation, tts_tenant)
        planned.append((device, payload, f_port, correlation, topic, body))
    now = devrepo.to_us(datetime.now(UTC))
    ids = []
    with store.session(write=True) as session:
        for device, payload, f_port, correlation, _, _ in planned:
            row = session._exec(  # type: ignore[attr-defined]
                "INSERT INTO commands (tenant, device_id, entity_id, network, request, f_port, payload_hex, status, "
                "correlation, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, NULL, ?, ?) "
                "RETURNING id",
                (tenant, device.id, device.entity_id, device.network, orjson.dumps(request.command).decode(),
                 f_port, payload.hex(), correlation, now, now),
            ).fetchone()
            ids.append(int(row[0]))
    for (device, _, _, correlation, topic, body), command_id in zip(planned, ids, strict=True):
        try:
            publisher.publish(topic, body)
        except NoDownlinkPath as err:
            _set_status(store, tenant, command_id, "failed", err.detail)
    with store.session() as session:
        return [c for c in (get_command(session, tenant, i) for i in ids) if c is not None]


def _set_status(store: Store, tenant: str, command_id: int, status: str, error: str | None) -> None:
    with store.session(write=True) as session:
        session._exec(  # type: ignore[attr-defined]
            "UPDATE commands SET status = ?, error = ?, updated_at = ? WHERE tenant = ? AND id = ?",
            (status, error, devrepo.to_us(datetime.now(UTC)), tenant, command_id),
        )


def _correlations(event: DeviceEvent) -> list[str]:
    """Every id of the event that may name one of our commands."""
    found = [event.queue_item_id] if event.queue_item_id else []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "correlation_ids" and isinstance(value, list):
                    found.extend(v for v in value if isinstance(v, str))
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(event.raw)
    return [c[len(TTS_CORRELATION_PREFIX):] if c.startswith(TTS_CORRELATION_PREFIX) else c for c in found]


_NEXT_STATUS = {
    "txack": "sent", "downlink-sent": "sent", "downlink-queued": None,
    "ack": "acknowledged", "nack": "failed", "downlink-failed": "failed",
}


def record_event(session: Session, tenant: str, device: Device, event: DeviceEvent) -> int:
    """Move the command this downlink event belongs to; return how many records changed (0 or 1)."""
    status = _NEXT_STATUS.get(event.kind)
    if event.kind == "ack" and event.acknowledged is False:
        status = "failed"
    if status is None:
        return 0
    ids = _correlations(event)
    if not ids:
        return 0
    error = None
    if status == "failed":
        error = event.message or event.code or ("the device did not acknowledge the downlink"
                                                 if event.kind in ("ack", "nack") else "the network server failed")
    # never move back: acknowledged/failed are final, sent only replaces queued
    allowed = "('queued')" if status == "sent" else "('queued', 'sent')"
    marks = ",".join("?" * len(ids))
    cur = session._exec(  # type: ignore[attr-defined]
        f"UPDATE commands SET status = ?, error = ?, updated_at = ? WHERE tenant = ? AND device_id = ? "
        f"AND correlation IN ({marks}) AND status IN {allowed}",
        (status, error, devrepo.to_us(datetime.now(UTC)), tenant, device.id, *ids),
    )
    return cur.rowcount or 0

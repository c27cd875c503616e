"""Network-independent messages produced by the field connectors, and the parse error they raise.

A connector turns one network-server message (ChirpStack, The Things Stack, a generic MQTT
topic or HTTP push) into an :class:`Uplink` (a frame carrying measurements) or a
:class:`DeviceEvent` (anything else about the device: status, join, downlink outcome, log).
Every timestamp is an aware UTC datetime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

TimeSource = Literal["gateway", "network", "message", "received"]

EventKind = Literal[
    "status",
    "join",
    "ack",
    "nack",
    "txack",
    "log",
    "location",
    "downlink-queued",
    "downlink-sent",
    "downlink-failed",
]


class ParseError(ValueError):
    """A network-server message is malformed; the message names the missing or invalid field."""


@dataclass(slots=True)
class Uplink:
    """One uplink frame as delivered by a network server or a generic push, before payload decoding.

    ``device_key`` identifies the device across Calanque: the DevEUI in lower-case hex for
    LoRaWAN networks that give it, otherwise the network's device id or the generic key.
    ``payload`` holds the raw application payload when the message carries one; ``decoded``
    holds the object the network server already decoded (or the measurements of a generic
    push). ``observed_at`` is the gateway time of the earliest reception, else the network
    server's time, else the time written in the message, else ``received_at``;
    ``time_source`` says which one was used. ``dedup_id`` is the network's own identifier of
    this uplink (ChirpStack ``deduplicationId``, The Things Stack ``as:up:`` correlation id).
    """

    network: str
    device_key: str
    observed_at: datetime
    received_at: datetime
    time_source: TimeSource
    dev_eui: str | None = None
    device_name: str | None = None
    application_id: str | None = None
    tenant_hint: str | None = None
    f_port: int | None = None
    f_cnt: int | None = None
    payload: bytes | None = None
    decoded: dict[str, Any] | None = None
    rssi: float | None = None
    snr: float | None = None
    gateways: int = 0
    dedup_id: str | None = None
    raw: Any = field(default=None, repr=False)


@dataclass(slots=True)
class DeviceEvent:
    """A non-uplink event about a device: link status, join, downlink (n)ack or outcome, log, location.

    ``battery`` is a percentage (0–100) when the device reports one; ``margin`` is the
    demodulation margin in dB of the last DevStatusAns; ``acknowledged`` is set for
    confirmed-downlink (n)acks. ``message`` and ``code`` carry log and failure details.
    """

    network: str
    kind: EventKind
    device_key: str
    observed_at: datetime
    dev_eui: str | None = None
    device_name: str | None = None
    application_id: str | None = None
    tenant_hint: str | None = None
    battery: float | None = None
    external_power: bool | None = None
    margin: int | None = None
    acknowledged: bool | None = None
    f_cnt_down: int | None = None
    f_port: int | None = None
    queue_item_id: str | None = None
    dev_addr: str | None = None
    gateway_id: str | None = None
    level: str | None = None
    code: str | None = None
    message: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    raw: Any = field(default=None, repr=False)

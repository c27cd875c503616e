"""Network-server messages of simulated uplinks: ChirpStack v4 events, The Things Stack v3 uplink
messages, generic MQTT and generic HTTP JSON. Pure builders: no I/O.

Formats follow what ``calanque.field.connectors`` parses (and the network servers' documentation):

* ChirpStack v4 integration events (JSON marshaler): ``up`` with ``deduplicationId``, ``time``,
  ``deviceInfo``, ``devAddr``, ``dr``, ``fCnt``, ``fPort``, base64 ``data``, ``rxInfo`` (one entry per
  gateway that heard the frame) and ``txInfo``; ``status`` with ``margin`` and ``batteryLevel``
  (or ``externalPowerSource`` for mains-powered devices), sent once a day per device. MQTT topic
  ``application/{applicationId}/device/{devEui}/event/{event}``.
* The Things Stack v3 uplink message: ``end_device_ids``, ``correlation_ids`` (``as:up:<ULID>``…),
  ``received_at``, ``uplink_message`` with ``f_port``, ``f_cnt``, base64 ``frm_payload``,
  ``rx_metadata``, ``settings``. MQTT topic ``v3/{application}@{tenant}/devices/{device}/up``.
* Generic MQTT: ``{"observedAt": …, "measurements": {…}}`` on a topic pattern such as
  ``calanque/{tenant}/devices/{device}/up``; generic HTTP: ``{"device", "observedAt", "measurements"}``.

The gateway time of every reception is the instant the device measured (the end of its
period), so a parsed uplink's ``observed_at`` is that instant. Identifiers (deduplication ids,
correlation ULIDs) are derived from the device and frame counter: sending the same history twice
gives the same ids, which the platform's de-duplication recognises.
"""

from __future__ import annotations

import base64
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from calanque.field.connectors.generic import TopicPattern
from calanque.simulator import _rand as rnd
from calanque.simulator.fleet import Network, SimDevice, chirpstack_application_id, tts_application_id
from calanque.simulator.geo import GATEWAYS, Gateway, distance_km

# An empty {tenant} level (the default tenant "") is how generic topics name the default tenant.
DEFAULT_TOPIC_PATTERN = "calanque/{tenant}/devices/{device}/up"
CHIRPSTACK_TENANT_NAME = "Calanque simulator"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_EU868 = (868_100_000, 868_300_000, 868_500_000, 867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000)
_RANGE_KM = 12.0
_MAX_GATEWAYS = 3


@dataclass(frozen=True)
class MessageOptions:
    """Network-side settings of the messages: tenants and the generic MQTT topic pattern."""

    tenant: str = ""
    tts_tenant: str = "ttn"
    topic_pattern: str = DEFAULT_TOPIC_PATTERN

    def __post_init__(self) -> None:
        """Validate the topic pattern and the TTS tenant."""
        TopicPattern(self.topic_pattern)  # raises ValueError on a bad pattern
        if any(level in ("+", "#") for level in self.topic_pattern.split("/")):
            raise ValueError(f"topic pattern {self.topic_pattern!r}: a publish topic cannot hold the wildcards + or #")
        if any(c in self.tenant for c in "/+#"):
            raise ValueError(f"tenant {self.tenant!r} cannot be an MQTT topic level: it holds '/', '+' or '#'")
        if not self.tts_tenant or any(c in self.tts_tenant for c in "/@+#"):
            raise ValueError(f"tts_tenant must be a non-empty id without '/', '@', '+' or '#', got {self.tts_tenant!r}")


@dataclass(frozen=True, slots=True)
class Reception:
    """One gateway hearing a frame."""

    gateway: Gateway
    rssi: float
    snr: float


@dataclass(frozen=True, slots=True)
class Frame:
    """An uplink frame: its counter, port and application payload."""

    f_cnt: int
    f_port: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """One message to deliver: its network and event, the MQTT topic (None for HTTP-only) and body."""

    network: Network
    event: str
    device: SimDevice
    topic: str | None
    body: dict[str, Any]

    def payload(self) -> bytes:
        """The body as compact JSON bytes."""
        return orjson.dumps(self.body)


def iso(t: datetime, *, zulu: bool = False) -> str:
    """RFC 3339 UTC with microseconds (ChirpStack writes +00:00, TTS writes Z)."""
    text = t.astimezone(UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z") if zulu else text


@lru_cache(maxsize=65536)
def _gateways_near(lat: float, lon: float) -> tuple[tuple[Gateway, float], ...]:
    """The gateways that hear a device at (lat, lon): up to three within 12 km, at least the nearest."""
    ranked = sorted((distance_km(lat, lon, g.lat, g.lon), i) for i, g in enumerate(GATEWAYS))
    return tuple((GATEWAYS[i], d) for n, (d, i) in enumerate(ranked[:_MAX_GATEWAYS]) if n == 0 or d <= _RANGE_KM)


def receptions(dev: SimDevice, f_cnt: int) -> list[Reception]:
    """The gateways (up to three within 12 km, at least the nearest) that hear a frame, with RSSI/SNR."""
    heard: list[Reception] = []
    for gw, d in _gateways_near(dev.lat, dev.lon):
        shadowing = 4.0 * rnd.normal(dev.seed, dev.index, f_cnt, gw.eui, "rssi")
        rssi = max(-125.0, min(-40.0, -45.0 - 28.0 * math.log10(max(d, 0.05) / 0.05) + shadowing))
        snr = max(-19.0, min(12.0, (rssi + 117.0) / 2.5 + rnd.normal(dev.seed, dev.index, f_cnt, gw.eui, "snr")))
        heard.append(Reception(gw, round(rssi), round(snr, 1)))
    return heard


def _spreading_factor(best_rssi: float) -> int:
    """The spreading factor ADR would settle on for this link."""
    return 7 if best_rssi > -100 else 9 if best_rssi > -110 else 12


def _dev_addr(dev: SimDevice) -> str:
    """A stable 32-bit device address (NetID 0x13 range, as The Things Network uses)."""
    return f"26{int(rnd.uniform(dev.seed, dev.index, 'devaddr') * (1 << 24)):06x}"


def _uuid(*key: object) -> str:
    """A version-4-shaped UUID determined by ``key``."""
    return str(uuid.UUID(bytes=rnd.digest(16, *key), version=4))


def _ulid(t: datetime, *key: object) -> str:
    """A ULID (48-bit millisecond time + 80 bits) whose random part is determined by ``key``."""
    millis = int(t.timestamp() * 1000) & ((1 << 48) - 1)
    randomness = int(rnd.uniform(*key, "a") * (1 << 40)) << 40 | int(rnd.uniform(*key, "b") * (1 << 40))
    value = millis << 80 | randomness
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def _b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


@lru_cache(maxsize=1024)
def _name_uuid(name: str) -> str:
    """A stable UUID for a simulator-side name (ChirpStack tenant, device profile)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"calanque-simulator:{name}"))


def chirpstack_device_info(dev: SimDevice, tenant: str) -> dict[str, Any]:
    """The ``deviceInfo`` object of a ChirpStack event."""
    return {
        "tenantId": _name_uuid(f"chirpstack-tenant:{tenant}"),
        "tenantName": CHIRPSTACK_TENANT_NAME,
        "applicationId": chirpstack_application_id(dev.kind),
        "applicationName": f"Calanque {dev.kind}",
        "deviceProfileId": _name_uuid(f"profile:{dev.codec}"),
        "deviceProfileName": dev.device_model,
        "deviceName": dev.tts_id,
        "devEui": dev.dev_eui,
        "deviceClassEnabled": "CLASS_A",
        "tags": {"entity": dev.entity_id},
    }


def chirpstack_up(dev: SimDevice, frame: Frame, at: datetime, tenant: str = "") -> dict[str, Any]:
    """A ChirpStack v4 ``up`` event for a frame the device sent at ``at``."""
    heard = receptions(dev, frame.f_cnt)
    sf = _spreading_factor(max(r.rssi for r in heard))
    channel = int(rnd.uniform(dev.seed, dev.index, frame.f_cnt, "channel") * len(_EU868))
    ns_time = at + timedelta(milliseconds=15 + int(20 * rnd.uniform(dev.seed, dev.index, frame.f_cnt, "ns")))
    body: dict[str, Any] = {
        "deduplicationId": _uuid(dev.seed, dev.index, frame.f_cnt, "dedup"),
        "time": iso(ns_time),
        "deviceInfo": chirpstack_device_info(dev, tenant),
        "devAddr": _dev_addr(dev),
        "adr": True,
        "dr": 12 - sf,
        "fCnt": frame.f_cnt,
        "fPort": frame.f_port,
        "data": _b64(frame.payload),
        "rxInfo": [
            {
                "gatewayId": r.gateway.eui,
                "uplinkId": int(rnd.uniform(dev.seed, dev.index, frame.f_cnt, r.gateway.eui, "up") * (1 << 32)),
                "gwTime": iso(at),
                "nsTime": iso(ns_time),
                "rssi": r.rssi,
                "snr": r.snr,
                "channel": channel,
                "location": {"latitude": r.gateway.lat, "longitude": r.gateway.lon},
                "context": _b64(rnd.digest(4, dev.seed, dev.index, frame.f_cnt, r.gateway.eui)),
                "metadata": {"region_config_id": "eu868", "region_common_name": "EU868"},
                "crcStatus": "CRC_OK",
            }
            for r in heard
        ],
        "txInfo": {
            "frequency": _EU868[channel],
            "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": sf, "codeRate": "CR_4_5"}},
        },
    }
    # proto3 JSON omits default values: a zero counter or port is absent.
    for key in ("fCnt", "fPort"):
        if body[key] == 0:
            del body[key]
    return body


def chirpstack_status(dev: SimDevice, at: datetime, battery: float | None, tenant: str = "") -> dict[str, Any]:
    """A ChirpStack v4 ``status`` event (DevStatusAns): link margin and battery (or mains power)."""
    body: dict[str, Any] = {
        "deduplicationId": _uuid(dev.seed, dev.index, at.timestamp(), "status"),
        "time": iso(at),
        "deviceInfo": chirpstack_device_info(dev, tenant),
        "margin": 5 + int(10 * rnd.uniform(dev.seed, dev.index, at.timestamp(), "margin")),
    }
    if battery is None:
        body["externalPowerSource"] = True
    else:
        body["batteryLevel"] = round(battery * 100, 1)
    return body


def tts_up(dev: SimDevice, frame: Frame, at: datetime, tts_tenant: str = "ttn") -> dict[str, Any]:
    """A The Things Stack v3 uplink message for a frame the device sent at ``at``."""
    heard = receptions(dev, frame.f_cnt)
    sf = _spreading_factor(max(r.rssi for r in heard))
    channel = int(rnd.uniform(dev.seed, dev.index, frame.f_cnt, "channel") * len(_EU868))
    key = (dev.seed, dev.index, frame.f_cnt)
    ns_received = at + timedelta(milliseconds=20 + int(20 * rnd.uniform(*key, "ns")))
    as_received = ns_received + timedelta(milliseconds=5 + int(10 * rnd.uniform(*key, "as")))
    concentrator = int(rnd.uniform(*key, "tmst") * (1 << 32))
    airtime = (0.061696, 0.061696, 0.205824, 0.205824, 0.205824, 1.482752)[min(5, sf - 7)]
    return {
        "end_device_ids": {
            "device_id": dev.tts_id,
            "application_ids": {"application_id": tts_application_id(dev.kind)},
            "dev_eui": (dev.dev_eui or "").upper(),
            "join_eui": "0000000000000000",
            "dev_addr": _dev_addr(dev).upper(),
        },
        "correlation_ids": [
            f"as:up:{_ulid(as_received, *key, 'as')}",
            f"gs:conn:{_ulid(at - timedelta(days=1), dev.seed, 'conn')}",
            f"gs:uplink:{_ulid(at, *key, 'gs')}",
            f"ns:uplink:{_ulid(ns_received, *key, 'ns')}",
            f"rpc:/ttn.lorawan.v3.GsNs/HandleUplink:{_ulid(ns_received, *key, 'rpc')}",
        ],
        "received_at": iso(as_received, zulu=True),
        "uplink_message": {
            "session_key_id": _b64(rnd.digest(16, dev.seed, dev.index, "session-key")),
            "f_port": frame.f_port,
            "f_cnt": frame.f_cnt,
            "frm_payload": _b64(frame.payload),
            "rx_metadata": [
                {
                    "gateway_ids": {"gateway_id": f"calanque-gw-{r.gateway.name}", "eui": r.gateway.eui.upper()},
                    "time": iso(at, zulu=True),
                    "timestamp": concentrator,
                    "rssi": r.rssi,
                    "channel_rssi": r.rssi,
                    "snr": r.snr,
                    "location": {"latitude": r.gateway.lat, "longitude": r.gateway.lon, "source": "SOURCE_REGISTRY"},
                    "uplink_token": _b64(f"{r.gateway.eui}:{concentrator}".encode()),
                    "channel_index": channel,
                    "received_at": iso(at + timedelta(milliseconds=3), zulu=True),
                }
                for r in heard
            ],
            "settings": {
                "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": sf, "coding_rate": "4/5"}},
                "frequency": str(_EU868[channel]),
                "timestamp": concentrator,
                "time": iso(at, zulu=True),
            },
            "received_at": iso(ns_received, zulu=True),
            "consumed_airtime": f"{airtime}s",
            "network_ids": {"net_id": "000013", "tenant_id": tts_tenant, "cluster_id": "eu1",
                            "cluster_address": "eu1.cloud.thethings.network"},
        },
    }


def generic_body(dev: SimDevice, at: datetime, values: dict[str, Any], *, with_device: bool) -> dict[str, Any]:
    """A generic JSON message: observedAt and measurements (plus the device key for HTTP pushes)."""
    body: dict[str, Any] = {"device": dev.id} if with_device else {}
    body["observedAt"] = iso(at, zulu=True)
    body["measurements"] = dict(values)
    return body


def chirpstack_topic(dev: SimDevice, event: str) -> str:
    """The ChirpStack MQTT topic of an event of this device."""
    return f"application/{chirpstack_application_id(dev.kind)}/device/{dev.dev_eui}/event/{event}"


def tts_topic(dev: SimDevice, tts_tenant: str) -> str:
    """The The Things Stack MQTT uplink topic of this device."""
    return f"v3/{tts_application_id(dev.kind)}@{tts_tenant}/devices/{dev.tts_id}/up"


def generic_topic(dev: SimDevice, options: MessageOptions) -> str:
    """The generic MQTT topic of this device from the options' pattern."""
    topic = options.topic_pattern
    for name, value in (("device", dev.id), ("tenant", options.tenant), ("application", tts_application_id(dev.kind))):
        topic = topic.replace("{" + name + "}", value)
    return topic


def status_due(dev: SimDevice, f_cnt: int) -> bool:
    """Whether the frame ``f_cnt`` also brings a daily status event (ChirpStack)."""
    return f_cnt % max(1, 86400 // dev.period_s) == 0


def build_messages(dev: SimDevice, f_cnt: int, at: datetime, values: dict[str, Any], frame: Frame | None,
                   options: MessageOptions, battery: float | None = None) -> list[Message]:
    """The messages one reading of ``dev`` produces on its network (an uplink, sometimes a status)."""
    if dev.network == "chirpstack":
        assert frame is not None, "a ChirpStack uplink carries an encoded frame"
        out = [Message("chirpstack", "up", dev, chirpstack_topic(dev, "up"), chirpstack_up(dev, frame, at, options.tenant))]
        if status_due(dev, f_cnt):
            out.append(Message("chirpstack", "status", dev, chirpstack_topic(dev, "status"),
                               chirpstack_status(dev, at, battery, options.tenant)))
        return out
    if dev.network == "tts":
        assert frame is not None, "a The Things Stack uplink carries an encoded frame"
        return [Message("tts", "up", dev, tts_topic(dev, options.tts_tenant), tts_up(dev, frame, at, options.tts_tenant))]
    if dev.network == "mqtt":
        return [Message("mqtt", "up", dev, generic_topic(dev, options), generic_body(dev, at, values, with_device=False))]
    return [Message("http", "up", dev, None, generic_body(dev, at, values, with_device=True))]

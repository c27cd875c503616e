"""Delivery of simulated messages: MQTT (QoS 1) to a broker, or HTTP to Calanque's ingestion endpoints.

* :class:`MqttSender` publishes each message on its topic with QoS 1 (the call returns once the
  broker acknowledged it) through aiomqtt.
* :class:`HttpSender` POSTs ChirpStack events to ``{base}{chirpstack path}?event=<up|status>``,
  TTS messages to ``{base}{tts path}`` and generic pushes to ``{base}{http path}``, with the
  integration key of the message's kind in ``X-Calanque-Key`` and the tenant in ``NGSILD-Tenant``.
  The platform answers 202 ``{"status": "stored"|"event"|"dead-letter", …}`` or 200 for a
  duplicate; anything else is an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import aiomqtt
import httpx

from calanque.simulator.messages import Message

Outcome = Literal["sent", "stored", "duplicate", "dead-letter", "event"]


class SendError(Exception):
    """A message could not be delivered; the message says where and why."""


@dataclass(frozen=True)
class IngestPaths:
    """The platform's HTTP ingestion endpoints (paths under the base URL)."""

    chirpstack: str = "/api/v1/ingest/chirpstack"
    tts: str = "/api/v1/ingest/tts"
    http: str = "/api/v1/ingest/http"


def parse_mqtt_address(text: str) -> tuple[str, int]:
    """``host:port``, ``host`` (port 1883) or ``mqtt://host:port`` as (host, port); ValueError otherwise."""
    raw = text.strip().removeprefix("mqtt://").rstrip("/")
    host, sep, port_text = raw.rpartition(":")
    if not sep:
        host, port_text = raw, "1883"
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad MQTT broker address {text!r}: expected host:port, e.g. 127.0.0.1:1883")
    return host, int(port_text)


class MqttSender:
    """Publishes messages to an MQTT broker with QoS 1."""

    def __init__(self, address: str, *, client_id: str | None = None, max_inflight: int = 64) -> None:
        """Connect (on entering the context) to the broker at ``address`` (host:port)."""
        self.host, self.port = parse_mqtt_address(address)
        self.client = aiomqtt.Client(
            self.host, self.port, identifier=client_id or f"calanque-simulator-{os.getpid()}-{id(self):x}",
            clean_session=True, max_inflight_messages=max_inflight, timeout=30,
        )

    async def __aenter__(self) -> MqttSender:
        """Connect to the broker; SendError when it cannot be reached."""
        try:
            await self.client.__aenter__()
        except aiomqtt.MqttError as err:
            raise SendError(f"cannot connect to the MQTT broker at {self.host}:{self.port}: {err}") from err
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """Disconnect."""
        try:
            await self.client.__aexit__(exc_type, exc, tb)
        except aiomqtt.MqttError:
            pass

    async def send(self, message: Message) -> Outcome:
        """Publish one message on its topic (QoS 1); SendError on failure."""
        if message.topic is None:
            raise SendError(f"{message.network} messages have no MQTT topic")
        try:
            await self.client.publish(message.topic, message.payload(), qos=1)
        except aiomqtt.MqttError as err:
            raise SendError(f"MQTT publish to {message.topic} failed: {err}") from err
        return "sent"


class HttpSender:
    """POSTs messages to the platform's ingestion endpoints."""

    def __init__(self, base_url: str, *, paths: IngestPaths = IngestPaths(), keys: dict[str, str] | None = None,
                 tenant: str = "", concurrency: int = 8, timeout: float = 30.0) -> None:
        """Send to ``base_url`` with the integration ``keys`` (per kind, or ``"*"`` for every kind)."""
        self.base_url = base_url.rstrip("/")
        self.paths = paths
        self.keys = dict(keys or {})
        self.tenant = tenant
        self.client = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    async def __aenter__(self) -> HttpSender:
        """Open the connection pool."""
        await self.client.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """Close the connection pool."""
        await self.client.__aexit__(exc_type, exc, tb)

    def key_for(self, network: str) -> str | None:
        """The integration key used for messages of ``network``."""
        return self.keys.get(network) or self.keys.get("*")

    def request_of(self, message: Message) -> tuple[str, dict[str, str], dict[str, str]]:
        """(path, query parameters, headers) of a message."""
        headers = {"Content-Type": "application/json"}
        key = self.key_for(message.network)
        if key:
            headers["X-Calanque-Key"] = key
        if self.tenant:
            headers["NGSILD-Tenant"] = self.tenant
        if message.network == "chirpstack":
            return self.paths.chirpstack, {"event": message.event}, headers
        if message.network == "tts":
            return self.paths.tts, {}, headers
        if message.network == "http":
            return self.paths.http, {}, headers
        raise SendError(f"{message.network} messages are published over MQTT, not HTTP")

    async def send(self, message: Message) -> Outcome:
        """POST one message; returns the platform's verdict, SendError on transport or HTTP errors."""
        path, params, headers = self.request_of(message)
        try:
            r = await self.client.post(path, params=params, content=message.payload(), headers=headers)
        except httpx.HTTPError as err:
            raise SendError(f"POST {self.base_url}{path} failed: {err!r}") from err
        if not 200 <= r.status_code < 300:
            raise SendError(f"POST {path} answered {r.status_code}: {_detail(r)}")
        try:
            status = r.json().get("status")
        except (ValueError, AttributeError):
            status = None
        if status == "dead-letter":
            raise DeadLettered(f"{message.device.id}: {r.json().get('reason')}")
        if r.status_code == 200 and status == "duplicate":
            return "duplicate"
        return "event" if status == "event" else "stored"


class DeadLettered(SendError):
    """The platform accepted the message but could not store it (it went to its dead letters)."""


def _detail(response: httpx.Response) -> str:
    """The ProblemDetails detail of an error answer, or the start of its body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:200]
    return str(body)[:200]

"""The MQTT ingest worker: subscribes to the network servers' topics and feeds the pipeline in batches.

Reliability rests on three MQTT features and one transaction:

* QoS 1 subscriptions on a persistent MQTT v5 session (``clean_start`` false, a session expiry
  interval, a stable client id), so the broker keeps what arrives while the worker is down;
* manual acknowledgements: a message is acknowledged (PUBACK) only after the batch holding it
  is committed to the store. A worker killed mid-batch leaves its messages unacknowledged and
  the broker delivers them again when it reconnects;
* the batch's dedup keys are committed with its history (see :mod:`calanque.pipeline.ingest`),
  so a redelivered message that had been committed is recognised and stored once;
* several workers share the load with an MQTT v5 shared subscription (``$share/<group>/…``).

The worker uses paho-mqtt directly: aiomqtt (which wraps paho) acknowledges a message as soon as
it reaches its queue and offers no manual acknowledgement, which would lose messages on a crash.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from calanque.field.connectors.generic import TopicPattern
from calanque.pipeline import paho_speedups
from calanque.pipeline.ingest import BatchReport, Inbound, Ingestor

log = logging.getLogger("calanque.ingest.mqtt")

CHIRPSTACK_FILTER = "application/+/device/+/event/+"
TTS_FILTER = "v3/+/devices/+/#"
DEFAULT_GENERIC_PATTERN = "calanque/{tenant}/devices/{device}/up"


def tune_gc_for_batches() -> None:
    """Tune Python's cyclic garbage collector for a long-running batch worker process.

    Everything alive after start-up (modules, codecs, caches) is frozen out of the collector, and
    young objects are collected less often: a batch allocates hundreds of thousands of short-lived
    objects that reference counting frees anyway, and each full collection walked every start-up
    object again (measured: a quarter of the worker's CPU). Call once, in the worker process only.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@dataclass(frozen=True)
class Subscription:
    """One connector's MQTT subscription: the connector name, its topic filter and, for generic MQTT, the pattern."""

    connector: str
    topic_filter: str
    pattern: TopicPattern | None = None

    @classmethod
    def parse(cls, spec: str) -> Subscription:
        """Build from a CLI spec: ``chirpstack``, ``tts`` or ``mqtt:<topic pattern with {device}>``."""
        if spec == "chirpstack":
            return cls("chirpstack", CHIRPSTACK_FILTER)
        if spec == "tts":
            return cls("tts", TTS_FILTER)
        if spec == "mqtt" or spec.startswith("mqtt:"):
            pattern = TopicPattern(spec[5:] if spec.startswith("mqtt:") else DEFAULT_GENERIC_PATTERN)
            return cls("mqtt", pattern.subscription, pattern)
        raise ValueError(f"unknown connector '{spec}': expected chirpstack, tts or mqtt:<pattern>")


@dataclass
class WorkerStats:
    """Running totals of a worker, for its progress lines and for tests."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    events: int = 0
    dead_letters: int = 0
    batches: int = 0
    store_retries: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, report: BatchReport) -> None:
        """Fold one batch report in."""
        summary = report.summary()
        self.received += summary["received"]
        self.stored += summary["stored"]
        self.duplicates += summary["duplicates"]
        self.events += summary["events"]
        self.dead_letters += summary["deadLetters"]
        self.batches += 1

    def line(self) -> str:
        """One progress line."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return (f"{self.received} messages ({self.received / elapsed:.0f}/s): {self.stored} stored, "
                f"{self.duplicates} duplicates, {self.events} events, {self.dead_letters} dead letters, "
                f"{self.batches} batches")


class MqttIngestWorker:
    """Consumes MQTT messages with manual acknowledgements and ingests them in committed batches."""

    def __init__(
        self,
        ingestor: Ingestor,
        mqtt_url: str,
        subscriptions: Sequence[Subscription],
        *,
        tenant: str = "",
        client_id: str = "calanque-ingest",
        shared_group: str | None = None,
        batch_size: int = 500,
        batch_wait: float = 0.05,
        session_expiry: int = 7 * 86400,
        progress: Callable[[WorkerStats], None] | None = None,
        progress_every: float = 10.0,
    ) -> None:
        """Configure a worker; nothing connects before :meth:`run`."""
        if not subscriptions:
            raise ValueError("give at least one connector subscription")
        url = urlparse(mqtt_url if "://" in mqtt_url else f"mqtt://{mqtt_url}")
        if url.scheme not in ("mqtt", "tcp"):
            raise ValueError(f"unsupported MQTT URL scheme '{url.scheme}': use mqtt://host:port")
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 1883
        self.ingestor = ingestor
        self.subscriptions = list(subscriptions)
        self.tenant = tenant
        self.client_id = client_id
        self.shared_group = shared_group
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.session_expiry = session_expiry
        self.progress = progress
        self.progress_every = progress_every
        self.stats = WorkerStats()
        self.connected = threading.Event()
        # paho's network thread appends, the batch loop pops: deque operations are atomic, and the
        # event only wakes an idle loop (setting it per message cost a lock round trip each)
        self._pending: deque[mqtt.MQTTMessage] = deque()
        self._arrived = threading.Event()
        self._stop = threading.Event()
        self._client: mqtt.Client | None = None

    # MQTT callbacks ------------------------------------------------------------------------
    def _filters(self) -> list[str]:
        prefix = f"$share/{self.shared_group}/" if self.shared_group else ""
        return [prefix + s.topic_filter for s in self.subscriptions]

    def _on_connect(self, client: mqtt.Client, _userdata: object, _flags: object, reason: object,
                    _props: object) -> None:
        if getattr(reason, "is_failure", False):
            log.error("MQTT connection refused: %s", reason)
            return
        client.subscribe([(f, mqtt.SubscribeOptions(qos=1)) for f in self._filters()])
        log.info("connected to %s:%s as %s, subscribed to %s", self.host, self.port, self.client_id,
                 ", ".join(self._filters()))

    def _on_subscribe(self, _client: mqtt.Client, _userdata: object, _mid: int, reasons: list, _props: object
                      ) -> None:
        failures = [r for r in reasons if getattr(r, "is_failure", False)]
        if failures:
            log.error("subscription refused by the broker: %s", failures)
            return
        self.connected.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        self._pending.append(message)
        if not self._arrived.is_set():
            self._arrived.set()

    def _on_disconnect(self, *_args: object) -> None:
        self.connected.clear()

    # the loop ---------------------------------------------------------------------------------
    def _connect(self) -> mqtt.Client:
        paho_speedups.install()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        client.manual_ack_set(True)
        client.max_inflight_messages_set(max(20, self.batch_size))
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry
        props.ReceiveMaximum = 65535
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        client.loop_start()
        return client

    def _classify(self, message: mqtt.MQTTMessage) -> Inbound:
        topic = message.topic
        for sub in self.subscriptions:
            # with one subscription, the broker only delivers what matches it
            if len(self.subscriptions) == 1 or mqtt.topic_matches_sub(sub.topic_filter, topic):
                return Inbound(sub.connector, self.tenant, topic, bytes(message.payload),
                               datetime.now(UTC), None, sub.pattern, "mqtt")
        # cannot happen for our own subscriptions; kept as a parse dead letter if a broker misroutes
        return Inbound("mqtt", self.tenant, topic, bytes(message.payload), datetime.now(UTC), None, None, "mqtt")

    def _next_batch(self) -> list[mqtt.MQTTMessage]:
        """Up to batch_size messages: waits up to 0.2 s for the first, then batch_wait for the rest."""
        pending = self._pending
        if not pending:
            self._arrived.clear()
            if not pending and not self._arrived.wait(0.2):
                return []
        deadline = time.monotonic() + self.batch_wait
        while len(pending) < self.batch_size and (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(remaining, 0.005))
        return [pending.popleft() for _ in range(min(len(pending), self.batch_size))]

    def _ingest_until_committed(self, batch: list[mqtt.MQTTMessage]) -> None:
        inbound = [self._classify(m) for m in batch]
        delay = 0.5
        while True:
            try:
                report = self.ingestor.ingest(inbound)
                break
            except Exception as err:  # store down: keep the messages unacknowledged and try again
                self.stats.store_retries += 1
                log.error("the store refused a batch of %d messages (%s); retrying in %.1f s", len(batch), err,
                          delay)
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, 10.0)
        self.stats.add(report)
        assert self._client is not None
        for message in batch:
            if message.qos > 0:
                self._client.ack(message.mid, message.qos)

    def run(self) -> WorkerStats:
        """Consume until :meth:`stop`; return the totals. Unacknowledged messages stay with the broker."""
        self._client = self._connect()
        last_progress = time.monotonic()
        try:
            while not self._stop.is_set():
                batch = self._next_batch()
                if batch:
                    self._ingest_until_committed(batch)
                if self.progress and time.monotonic() - last_progress >= self.progress_every:
                    last_progress = time.monotonic()
                    self.progress(self.stats)
        finally:
            self._client.disconnect()
            self._client.loop_stop()
        return self.stats

    def start(self) -> threading.Thread:
        """Run in a daemon thread (used by `calanque demo` and the tests); return the thread."""
        thread = threading.Thread(target=self.run, name=f"mqtt-ingest-{self.client_id}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Ask the loop to finish its current batch and disconnect."""
        self._stop.set()

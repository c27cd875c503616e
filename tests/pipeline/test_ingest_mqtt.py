"""MQTT ingestion end to end: a real Mosquitto, the real worker, real stores (SQLite and PostgreSQL).

Covers the ChirpStack, The Things Stack and generic MQTT connectors, duplicates, dead letters,
shared subscriptions between two workers, and a worker killed with SIGKILL mid-stream.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

from calanque.devices import repository as repo
from calanque.devices.deadletters import list_dead_letters
from calanque.devices.models import DeviceConfig
from calanque.pipeline.ingest import Ingestor
from calanque.pipeline.mqtt_worker import MqttIngestWorker, Subscription
from calanque.usecases.common import term_iri
from tests.pipeline.helpers import APP_ID, WS302_FRAME, chirpstack_up, noise_config, ws302_frame

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
LAEQ = term_iri("LAeq")


def publisher(url: str) -> mqtt.Client:
    """A connected MQTT v5 publishing client."""
    port = int(url.rsplit(":", 1)[1])
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def publish_all(client: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 and wait for every PUBACK."""
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=10)


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll until ``predicate`` holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def history_count(store, entity_id: str | None = None) -> int:  # type: ignore[no-untyped-def]
    """Number of LAeq history rows (of one entity or all)."""
    sql = "SELECT count(*) FROM attr_history WHERE attr = ?"
    params: list = [LAEQ]
    if entity_id:
        sql += " AND entity_id = ?"
        params.append(entity_id)
    with store.session() as s:
        return s._exec(sql, params).fetchone()[0]


@pytest.fixture
def worker_factory(store, mosquitto) -> Iterator[Callable[..., MqttIngestWorker]]:  # type: ignore[no-untyped-def]
    """Start MQTT ingest workers on the private broker; stop them after the test."""
    started: list[tuple[MqttIngestWorker, threading.Thread]] = []

    def make(*specs: str, client_id: str | None = None, shared_group: str | None = None) -> MqttIngestWorker:
        worker = MqttIngestWorker(Ingestor(store), mosquitto.url, [Subscription.parse(s) for s in specs],
                                  client_id=client_id or f"w-{uuid.uuid4().hex[:8]}", shared_group=shared_group,
                                  batch_size=200, batch_wait=0.02)
        started.append((worker, worker.start()))
        assert worker.connected.wait(10), "the worker did not subscribe"
        return worker

    yield make
    for worker, thread in started:
        worker.stop()
        thread.join(timeout=10)


def register(store, *configs: DeviceConfig) -> None:  # type: ignore[no-untyped-def]
    """Register devices in the default tenant."""
    with store.session(write=True) as s:
        for config in configs:
            repo.create_device(s, "", config)


def test_chirpstack_mqtt_uplinks_duplicates_and_dead_letters(store, mosquitto, worker_factory) -> None:  # type: ignore[no-untyped-def]
    eui = "70b3d57ed0000001"
    register(store, noise_config(eui, "urn:ngsi-ld:NoiseLevelObserved:mqtt-1"))
    worker_factory("chirpstack")
    topic = f"application/{APP_ID}/device/{eui}/event/up"
    first = orjson.dumps(chirpstack_up(WS302_FRAME, 1, T0, eui))
    unknown = orjson.dumps(chirpstack_up(WS302_FRAME, 1, T0, "70b3d57ed00000ff"))
    client = publisher(mosquitto.url)
    publish_all(client, [
        (topic, first), (topic, first),  # broker redelivery / repeated publish
        (topic, orjson.dumps(chirpstack_up(ws302_frame(480), 2, T0 + timedelta(minutes=1), eui))),
        (f"application/{APP_ID}/device/70b3d57ed00000ff/event/up", unknown),
        (topic, b"not json"),
    ])
    client.disconnect()
    wait_until(lambda: history_count(store) == 2, what="two stored uplinks")
    with store.session() as s:
        rows = s.read_series("", "urn:ngsi-ld:NoiseLevelObserved:mqtt-1", LAEQ)
    assert [v for _, v in rows] == [61.0, 48.0]
    wait_until(lambda: len(list_dead_letters_now(store)) == 2, what="two dead letters")
    kinds = sorted(d.error_kind for d in list_dead_letters_now(store))
    assert kinds == ["parse", "unknown_device"]
    assert all(d.connector == "chirpstack-mqtt" for d in list_dead_letters_now(store))


def list_dead_letters_now(store):  # type: ignore[no-untyped-def]
    """The default tenant's dead letters."""
    with store.session() as s:
        return list_dead_letters(s, "", limit=100)[0]


def test_tts_and_generic_mqtt(store, mosquitto, worker_factory) -> None:  # type: ignore[no-untyped-def]
    eui = "70b3d57ed0000002"
    register(store, noise_config(eui, "urn:ngsi-ld:NoiseLevelObserved:tts-1", network="tts"))
    register(store, DeviceConfig.model_validate({
        "id": "wq-arc-1", "name": "Sonde Arc", "deviceModel": "probe", "codec": "json", "network": "mqtt",
        "entityId": "urn:ngsi-ld:WaterQualityObserved:arc-1", "entityType": "WaterQualityObserved",
        "mapping": {"pH": {"attribute": "pH", "unitCode": "C62"}}}))
    worker_factory("tts", "mqtt:calanque/{tenant}/devices/{device}/up")
    tts_message = {
        "end_device_ids": {"device_id": "ws302-0002", "application_ids": {"application_id": "calanque-noise"},
                           "dev_eui": eui},
        "correlation_ids": ["as:up:01HBBBBBBBBBBBBBBBBBBBBBBB"],
        "uplink_message": {"f_port": 85, "f_cnt": 9, "frm_payload": base64.b64encode(WS302_FRAME).decode(),
                           "received_at": "2026-11-24T08:00:00Z"},
    }
    client = publisher(mosquitto.url)
    publish_all(client, [
        ("v3/calanque-noise@ttn/devices/ws302-0002/up", orjson.dumps(tts_message)),
        # generic MQTT, default tenant: the topic's {tenant} level is empty
        ("calanque//devices/wq-arc-1/up", b'{"observedAt": "2026-11-24T09:00:00Z", "pH": 8.1}'),
    ])
    client.disconnect()
    wait_until(lambda: history_count(store, "urn:ngsi-ld:NoiseLevelObserved:tts-1") == 1, what="TTS uplink")
    def generic_entity() -> dict | None:
        with store.session() as s:
            return s.get_entity("", "urn:ngsi-ld:WaterQualityObserved:arc-1")

    wait_until(lambda: generic_entity() is not None, what="the generic MQTT uplink")
    doc = generic_entity()
    assert doc is not None
    assert doc["attrs"][term_iri("pH")][0]["value"] == 8.1
    assert doc["attrs"][term_iri("pH")][0]["observedAt"] == "2026-11-24T09:00:00.000000Z"


def test_two_workers_share_one_subscription(store, mosquitto, worker_factory) -> None:  # type: ignore[no-untyped-def]
    euis = [f"70b3d57ed00001{i:02x}" for i in range(10)]
    register(store, *(noise_config(e, f"urn:ngsi-ld:NoiseLevelObserved:shared-{e[-2:]}") for e in euis))
    a = worker_factory("chirpstack", client_id="shared-a", shared_group="calanque")
    b = worker_factory("chirpstack", client_id="shared-b", shared_group="calanque")
    client = publisher(mosquitto.url)
    messages = []
    for n in range(30):
        for e in euis:
            up = chirpstack_up(ws302_frame(400 + n), n + 1, T0 + timedelta(minutes=n), e)
            messages.append((f"application/{APP_ID}/device/{e}/event/up", orjson.dumps(up)))
    publish_all(client, messages)
    client.disconnect()
    wait_until(lambda: history_count(store) == 300, what="300 stored uplinks")
    # a worker counts a batch just after committing it: the rows can be seen a moment before the count
    wait_until(lambda: a.stats.stored + b.stats.stored == 300, what="both workers' counts")
    assert a.stats.received > 0 and b.stats.received > 0
    assert a.stats.received + b.stats.received == 300
    assert a.stats.stored + b.stats.stored == 300


def _count_pg(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM attr_history WHERE attr = %s", (LAEQ,)).fetchone()[0]


def test_worker_killed_mid_stream_loses_nothing_and_stores_nothing_twice(mosquitto, tmp_path: Path) -> None:
    """SIGKILL an ingest worker process while 3 000 uplinks stream in; after restart each is stored once."""
    from tests.conftest import drop_pg_database, fresh_pg_database

    url = fresh_pg_database(f"calanque_sigkill_{os.getpid()}")
    from calanque.store.postgres import PostgresStore

    store = PostgresStore(url)
    euis = [f"70b3d57ed00002{i:02x}" for i in range(30)]
    register(store, *(noise_config(e, f"urn:ngsi-ld:NoiseLevelObserved:kill-{e[-2:]}") for e in euis))
    store.close()
    log = tmp_path / "worker.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "calanque.cli", "ingest", "--mqtt", mosquitto.url, "--connector",
               "chirpstack", "--client-id", "sigkill-worker", "--batch-size", "100", "--database-url", url]

    def start() -> subprocess.Popen:
        return subprocess.Popen(command, stdout=log.open("a"), stderr=subprocess.STDOUT, env=env)

    worker = start()
    # wait for the worker's subscription to exist (a persistent session): publish a probe and see it stored
    client = publisher(mosquitto.url)
    total = 3000
    messages = []
    for n in range(total // len(euis)):
        for e in euis:
            up = chirpstack_up(ws302_frame(300 + n % 400), n + 1, T0 + timedelta(seconds=10 * n), e)
            messages.append((f"application/{APP_ID}/device/{e}/event/up", orjson.dumps(up)))
    # until the worker has subscribed, nothing holds its messages: repeat the first uplink (a duplicate for
    # the pipeline once stored) until it is stored
    deadline = time.monotonic() + 60
    while _count_pg(url) == 0:
        assert time.monotonic() < deadline, "the worker did not start: see " + str(log)
        publish_all(client, messages[:1])
        time.sleep(0.3)

    def stream() -> None:
        for start_at in range(1, total, 50):
            publish_all(client, messages[start_at : start_at + 50])
            time.sleep(0.05)

    streamer = threading.Thread(target=stream)
    streamer.start()
    wait_until(lambda: _count_pg(url) >= 600, timeout=60, what="600 stored uplinks before the kill")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    at_kill = _count_pg(url)
    time.sleep(0.5)  # the stream goes on while the worker is dead: the broker queues for its session
    worker = start()
    streamer.join(timeout=120)
    client.disconnect()
    try:
        wait_until(lambda: _count_pg(url) >= total, timeout=120, what="all uplinks after the restart")
        time.sleep(1.0)  # let any redelivered message land: it must be recognised as a duplicate
        assert at_kill < total, "the kill happened after the stream ended: the test proves nothing"
        import psycopg

        with psycopg.connect(url) as conn:
            rows, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (entity_id, ts)) FROM attr_history WHERE attr = %s", (LAEQ,)
            ).fetchone()
            dead = conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
        assert (rows, distinct, dead) == (total, total, 0)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)
        drop_pg_database(url)

"""The engine: time plans, slots, configuration checks, and real runs — over HTTP into the live server
(both backends) and over MQTT through the real Mosquitto at 127.0.0.1:1883."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import paho.mqtt.client as mqtt
import pytest

from calanque.field.codecs import get_codec
from calanque.field.connectors import Uplink, chirpstack, generic, tts
from calanque.simulator.engine import (
    SimulationError,
    Simulator,
    SimulatorConfig,
    count_slots,
    first_slot,
    iter_slots,
    network_plan,
    plan_phases,
    slot_time,
)
from calanque.simulator.fleet import FleetSpec, build_fleet
from calanque.simulator.signals import reading
from tests.simulator.helpers import integration_key

BROKER = ("127.0.0.1", 1883)
SMALL = dict(noise=2, containers=3, river=2, water=2, bikes=1, pedestrians=1, streetlights=4, lights_per_group=2)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# --- time plans and slots ----------------------------------------------------------------------
def test_phases_of_each_mode() -> None:
    hour = timedelta(hours=1)

    def plan(start: datetime | None, end: datetime | None, speed: float | None) -> list[tuple]:
        return [(p.name, p.start, p.end, p.speed, p.wall_clock) for p in plan_phases(start, end, speed, NOW)]

    assert plan(None, None, None) == [("live", NOW, None, 1.0, True)]
    assert plan(None, NOW + hour, None) == [("live", NOW, NOW + hour, 1.0, True)]
    assert plan(None, None, 60.0) == [("accelerated", NOW, None, 60.0, False)]
    assert plan(NOW - 2 * hour, NOW - hour, None) == [("backfill", NOW - 2 * hour, NOW - hour, None, False)]
    assert plan(NOW - hour, None, None) == [("backfill", NOW - hour, NOW, None, False), ("live", NOW, None, 1.0, True)]
    # A backfill, then the clock runs faster from where the backfill ended.
    assert plan(NOW - hour, None, 30.0) == [("backfill", NOW - hour, NOW, None, False),
                                            ("accelerated", NOW, None, 30.0, False)]
    # A period replayed at a pace, and a clock starting in the future.
    assert plan(NOW - 2 * hour, NOW - hour, 60.0) == [("accelerated", NOW - 2 * hour, NOW - hour, 60.0, False)]
    assert plan(NOW - 2 * hour, NOW - hour, 1.0) == [("replay", NOW - 2 * hour, NOW - hour, 1.0, False)]
    assert plan(NOW + hour, None, 10.0) == [("accelerated", NOW + hour, None, 10.0, False)]


@pytest.mark.parametrize(("start", "end", "speed", "message"), [
    (NOW, NOW - timedelta(hours=1), None, "must be before"),
    (NOW + timedelta(hours=1), None, None, "a backfill starts in the past"),
    (NOW - timedelta(hours=2), NOW + timedelta(hours=1), None, "is in the future"),
    (None, NOW - timedelta(hours=1), None, "is not after the start of the clock"),
    (None, None, 0.0, "positive factor"),
    (datetime(2026, 1, 1), None, None, "timezone-aware"),
])
def test_bad_time_plans(start: datetime | None, end: datetime | None, speed: float | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_phases(start, end, speed, NOW)


def test_slots_are_one_per_period_jittered_and_counted() -> None:
    fleet = build_fleet(FleetSpec(**SMALL))
    start, end = NOW - timedelta(hours=6), NOW
    for dev in fleet.devices:
        k = first_slot(dev, start)
        assert slot_time(dev, k) >= start > slot_time(dev, k - 1)
        gaps = [(slot_time(dev, k + i + 1) - slot_time(dev, k + i)).total_seconds() for i in range(50)]
        assert all(abs(g - dev.period_s) <= min(20, 0.05 * dev.period_s) for g in gaps)
        assert len(set(gaps)) > 1  # jittered
    slots = list(iter_slots(fleet.devices, start, end))
    assert len(slots) == count_slots(fleet.devices, start, end)
    assert [t for t, _, _ in slots] == sorted(t for t, _, _ in slots)
    assert all(start <= t < end and slot_time(d, k) == t for t, d, k in slots)
    # One reading per device per period: a noise sensor reports every 10 minutes.
    noise = fleet.of_kind("noise")[0]
    assert sum(1 for _, d, _ in slots if d is noise) == 36


def test_network_plans() -> None:
    assert network_plan("chirpstack", http=True, mqtt=False) == (("chirpstack",), ("http",))
    assert network_plan("chirpstack", http=True, mqtt=True) == (("chirpstack",), ("mqtt",))
    assert network_plan("tts", http=True, mqtt=True, transport="http") == (("tts",), ("http",))
    assert network_plan("http", http=True, mqtt=True) == (("http",), ("http",))
    assert network_plan("mixed", http=True, mqtt=True) == (("chirpstack", "tts", "mqtt", "http"), ("mqtt", "http"))
    assert network_plan("mixed", http=False, mqtt=True) == (("chirpstack", "tts", "mqtt"), ("mqtt",))
    with pytest.raises(ValueError, match="needs an MQTT broker"):
        network_plan("mqtt", http=True, mqtt=False)
    with pytest.raises(ValueError, match="nowhere to send"):
        network_plan("mixed", http=False, mqtt=False)


@pytest.mark.parametrize(("config", "message"), [
    (dict(target=None, mqtt=None), "nowhere to send"),
    (dict(target="http://127.0.0.1:1"), "needs an integration key of kind chirpstack"),
    (dict(target="http://127.0.0.1:1", keys={"chirpstack": "k"}), "needs an integration key of kind http"),
    (dict(mqtt="127.0.0.1:1883", fleet=FleetSpec(generic_networks=("http",))), "post over HTTP: give the Calanque URL"),
    (dict(mqtt="127.0.0.1:port"), "bad MQTT broker address"),
    (dict(mqtt="127.0.0.1:1883", fleet=FleetSpec(generic_networks=("mqtt",)), rate=0.0), "rate must be a positive"),
])
def test_bad_configurations_are_refused(config: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Simulator(SimulatorConfig(**config))


# --- MQTT ----------------------------------------------------------------------------------------
class Subscriber:
    """A paho client on the real broker collecting (topic, payload) of the given filters."""

    def __init__(self, filters: list[str]) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-test-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in filters]
        self.client.on_subscribe = lambda c, u, mid, rc, p: self.ready.set()
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.client.connect(*BROKER)
        self.client.loop_start()
        assert self.ready.wait(10), "the subscription to the real broker did not complete"

    def collect(self, count: int, timeout: float = 30.0) -> list[tuple[str, bytes]]:
        out: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            try:
                out.append(self.messages.get(timeout=0.5))
            except queue.Empty:
                pass
        return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def tag() -> str:
    """A unique tenant name for this test run, so parallel runs on the shared broker do not mix."""
    return f"simtest{uuid.uuid4().hex[:8]}"


@pytest.fixture
def subscriber(tag: str) -> Iterator[Subscriber]:
    sub = Subscriber(["v3/+/devices/+/up", "application/+/device/+/event/+", f"calanque/{tag}/devices/+/up"])
    yield sub
    sub.close()


def test_mqtt_backfill_reaches_the_broker_and_parses_back(subscriber: Subscriber, tag: str) -> None:
    seed = 900 + int(tag[-4:], 16) % 90  # DevEUIs carry the seed: our frames are told apart from others'
    sim = Simulator(SimulatorConfig(
        fleet=FleetSpec(**SMALL, seed=seed, lorawan_networks=("chirpstack", "tts", "mqtt"), generic_networks=("mqtt",)),
        mqtt=f"{BROKER[0]}:{BROKER[1]}", tenant=tag, tts_tenant=tag,
        start=datetime.now(UTC) - timedelta(hours=2), end=datetime.now(UTC) - timedelta(hours=1)))
    expected = list(sim.messages(sim.config.start, sim.config.end))  # type: ignore[arg-type]
    stats = sim.run()
    assert (stats.errors, stats.sent, stats.fatal) == (0, len(expected), None)
    assert stats.uplinks == count_slots(sim.fleet.devices, sim.config.start, sim.config.end)  # type: ignore[arg-type]
    ours = {d.id for d in sim.fleet.devices}
    received = []
    for topic, payload in subscriber.collect(len(expected) * 3, timeout=20):
        if topic.startswith("v3/") and f"@{tag}/" in topic:
            received.append(("tts", topic, tts.parse_message(payload, topic)))
        elif topic.startswith("application/") and topic.split("/")[3] in ours:
            received.append(("chirpstack", topic, chirpstack.parse_event(None, payload, topic)))
        elif topic.startswith(f"calanque/{tag}/"):
            received.append(("mqtt", topic, generic.parse_mqtt("calanque/{tenant}/devices/{device}/up", topic, payload)))
        if len(received) == len(expected):
            break
    assert sorted((m.network, m.topic) for m in expected) == sorted((n, t) for n, t, _ in received)
    by_network = {n for n, _, _ in received}
    assert by_network == {"chirpstack", "tts", "mqtt"}
    for network, _, parsed in received:
        if not isinstance(parsed, Uplink):
            continue
        dev = sim.fleet.device(parsed.device_key)
        assert sim.config.start <= parsed.observed_at < sim.config.end  # type: ignore[operator]
        if network == "mqtt":
            assert parsed.decoded == reading(dev, parsed.observed_at) and parsed.tenant_hint == tag
        else:
            assert parsed.observed_at == slot_time(dev, parsed.f_cnt or 0)
            assert get_codec(dev.codec).decode_uplink(parsed.payload or b"", parsed.f_port or 0).data == reading(
                dev, parsed.observed_at)


def test_accelerated_clock_and_background_thread(subscriber: Subscriber, tag: str) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    sim = Simulator(SimulatorConfig(
        fleet=FleetSpec(**SMALL, lorawan_networks=("mqtt",), generic_networks=("mqtt",)), mqtt="127.0.0.1:1883",
        tenant=tag, start=start, end=start + timedelta(minutes=30), speed=900.0))
    sim.start()
    assert sim.running
    sim._thread.join(30)  # type: ignore[union-attr]  # 30 simulated minutes at ×900: about 2 s
    stats = sim.stop()
    assert stats.finished and not sim.running and stats.fatal is None
    assert stats.sent == count_slots(sim.fleet.devices, start, start + timedelta(minutes=30)) > 0
    got = subscriber.collect(stats.sent, timeout=20)
    assert len(got) == stats.sent
    for topic, payload in got:
        up = generic.parse_mqtt("calanque/{tenant}/devices/{device}/up", topic, payload)
        assert start <= up.observed_at < start + timedelta(minutes=30)


def test_stop_ends_an_open_ended_run(tag: str) -> None:
    sim = Simulator(SimulatorConfig(
        fleet=FleetSpec(**SMALL, lorawan_networks=("mqtt",), generic_networks=("mqtt",)), mqtt="127.0.0.1:1883",
        tenant=tag, speed=600.0))
    sim.start()
    deadline = time.monotonic() + 20
    while sim.stats().sent == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = sim.stop()
    assert stats.sent > 0 and stats.finished and not sim.running and stats.phase == "done"
    assert stats.by_kind and sum(stats.by_kind.values()) == stats.sent


def test_rate_cap(tag: str) -> None:
    end = datetime.now(UTC) - timedelta(hours=1)
    sim = Simulator(SimulatorConfig(
        fleet=FleetSpec(**SMALL, lorawan_networks=("mqtt",), generic_networks=("mqtt",)), mqtt="127.0.0.1:1883",
        tenant=tag, start=end - timedelta(hours=1), end=end, rate=40.0))
    started = time.monotonic()
    stats = sim.run()
    elapsed = time.monotonic() - started
    assert stats.uplinks > 40
    # The cap is a floor on the duration (the achieved rate is at most 40 uplinks/s).
    assert elapsed >= (stats.uplinks - 1) / 40.0 * 0.95
    assert stats.uplink_rate <= 40.0 * 1.05


def test_unreachable_broker_is_a_clear_error() -> None:
    sim = Simulator(SimulatorConfig(fleet=FleetSpec(**SMALL, lorawan_networks=("mqtt",), generic_networks=("mqtt",)),
                                    mqtt="127.0.0.1:9", start=NOW - timedelta(hours=1), end=NOW))
    with pytest.raises(SimulationError, match="cannot connect to the MQTT broker at 127.0.0.1:9"):
        sim.run()


# --- HTTP into the live server -------------------------------------------------------------------
def test_http_backfill_is_stored_and_a_replay_is_recognised(root: httpx.Client) -> None:
    keys = {kind: integration_key(root, kind) for kind in ("chirpstack", "tts", "http")}
    end = datetime.now(UTC) - timedelta(minutes=30)
    start = end - timedelta(hours=1)
    sim = Simulator(SimulatorConfig(
        fleet=FleetSpec(**SMALL, seed=21, lorawan_networks=("chirpstack", "tts", "http"), generic_networks=("http",)),
        target=str(root.base_url), keys=keys, start=start, end=end))
    report = sim.provision()
    assert report.errors == []
    expected = list(sim.messages(start, end))
    stats = sim.run()
    assert (stats.errors, stats.dead_letters, stats.duplicates, stats.fatal) == (0, 0, 0, None), stats.last_errors
    assert stats.sent == len(expected) and set(stats.by_network) == {"chirpstack", "tts", "http"}
    # The entities hold each device's last reading, at its time.
    for dev in sim.fleet.of_kind("noise") + sim.fleet.of_kind("river"):
        last_t, _, last_k = [s for s in iter_slots([dev], start, end)][-1]
        values = reading(dev, last_t)
        entity = root.get(f"/ngsi-ld/v1/entities/{dev.entity_id}").json()
        attr, key = ("LAeq", "LAeq") if dev.kind == "noise" else ("currentLevel", "waterDepth")
        assert entity[attr]["value"] == values[key]
        assert datetime.fromisoformat(entity[attr]["observedAt"].replace("Z", "+00:00")) == last_t
    device = root.get(f"/api/v1/devices/{sim.fleet.of_kind('noise')[0].id}").json()
    assert device["lastFcnt"] == last_fcnt(sim, "noise", start, end) and device["battery"] is not None
    # Sending the same history again: the platform recognises every uplink.
    again = Simulator(sim.config).run()
    assert again.sent == stats.sent and again.duplicates == stats.uplinks


def last_fcnt(sim: Simulator, kind: str, start: datetime, end: datetime) -> int:
    dev = sim.fleet.of_kind(kind)[0]  # type: ignore[arg-type]
    return [k for _, _, k in iter_slots([dev], start, end)][-1]


def test_unprovisioned_devices_become_dead_letters(root: httpx.Client) -> None:
    key = integration_key(root, "http")
    end = datetime.now(UTC) - timedelta(minutes=5)
    sim = Simulator(SimulatorConfig(fleet=FleetSpec(**SMALL, lorawan_networks=("http",), generic_networks=("http",)),
                                    target=str(root.base_url), keys={"http": key}, start=end - timedelta(minutes=30),
                                    end=end))
    stats = sim.run()
    assert stats.uplinks > 0 and stats.dead_letters == stats.uplinks and stats.errors == 0 and stats.sent == 0
    assert "no device" in stats.last_errors[-1]


def test_a_wrong_key_stops_the_run(root: httpx.Client) -> None:
    end = datetime.now(UTC) - timedelta(minutes=5)
    sim = Simulator(SimulatorConfig(fleet=FleetSpec(**SMALL, lorawan_networks=("http",), generic_networks=("http",)),
                                    target=str(root.base_url), keys={"http": "clq_wrong"}, start=end - timedelta(hours=2),
                                    end=end, max_consecutive_errors=5, concurrency=1))
    with pytest.raises(SimulationError, match="stopped after 5 failed deliveries in a row; last: POST /api/v1/ingest/http "
                                              "answered 401"):
        sim.run()


def test_live_run_after_a_backfill_follows_the_real_clock(tag: str) -> None:
    # A slow backfill (rate cap) must not leave the live clock behind real time.
    sim = Simulator(SimulatorConfig(
        fleet=FleetSpec(**SMALL, lorawan_networks=("mqtt",), generic_networks=("mqtt",)), mqtt="127.0.0.1:1883",
        tenant=tag, start=datetime.now(UTC) - timedelta(minutes=15), rate=4.0))
    sim.start()
    try:
        deadline = time.monotonic() + 30
        while sim.stats().phase != "live" and time.monotonic() < deadline:
            time.sleep(0.05)
        backfill = sim.stats()
        assert backfill.phase == "live" and backfill.uplinks >= 8  # the backfill took two seconds or more
        time.sleep(0.6)
        lag = (datetime.now(UTC) - sim.stats().sim_time).total_seconds()  # type: ignore[operator]
        assert 0 <= lag < 1.0
    finally:
        stats = sim.stop()
    assert stats.errors == 0 and stats.fatal is None

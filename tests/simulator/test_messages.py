"""Simulated network-server messages parsed back by Calanque's own connectors: right device, frame
counter, observed time and decoded values; stable identifiers; well-formed topics."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from calanque.field.codecs import get_codec
from calanque.field.connectors import DeviceEvent, Uplink, chirpstack, generic, tts
from calanque.simulator.engine import Simulator, SimulatorConfig, slot_time
from calanque.simulator.fleet import FleetSpec, chirpstack_application_id, tts_application_id
from calanque.simulator.messages import DEFAULT_TOPIC_PATTERN, MessageOptions
from calanque.simulator.signals import reading

SPEC = dict(noise=2, containers=3, river=2, water=2, bikes=2, pedestrians=2, streetlights=4, lights_per_group=2, seed=5)
START = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
END = START + timedelta(hours=6)


def simulator(lorawan: tuple, generic_nets: tuple, **config: object) -> Simulator:
    """A simulator whose messages are only built, never sent."""
    return Simulator(SimulatorConfig(
        fleet=FleetSpec(**SPEC, lorawan_networks=lorawan, generic_networks=generic_nets),  # type: ignore[arg-type]
        target="http://127.0.0.1:9", mqtt="127.0.0.1:9", keys={"*": "clq_test"}, **config))  # type: ignore[arg-type]


def check_uplink(up: Uplink, message, network: str) -> None:
    """The parsed uplink names the device, its frame counter and time, and decodes to its reading."""
    dev = message.device
    f_cnt = message.body.get("fCnt", message.body.get("uplink_message", {}).get("f_cnt", 0))
    assert up.network == network
    assert up.observed_at == slot_time(dev, f_cnt)
    assert up.time_source == "gateway"
    assert up.device_key == dev.id == up.dev_eui
    assert up.f_cnt == f_cnt
    decoded = get_codec(dev.codec).decode_uplink(up.payload, up.f_port).data
    assert decoded == reading(dev, up.observed_at)
    assert up.rssi is not None and -125 <= up.rssi <= -40 and 1 <= up.gateways <= 3
    assert up.dedup_id


def test_chirpstack_up_and_status_events_parse_back() -> None:
    sim = simulator(("chirpstack",), ("mqtt",))
    ups = statuses = 0
    seen_kinds = set()
    for message in sim.messages(START, END):
        if message.network != "chirpstack":
            continue
        dev = message.device
        topic = f"application/{chirpstack_application_id(dev.kind)}/device/{dev.dev_eui}/event/{message.event}"
        assert message.topic == topic
        parsed = chirpstack.parse_event(None, message.payload(), topic)
        again = chirpstack.parse_event(message.event, message.payload())  # as the HTTP integration posts it
        assert type(parsed) is type(again)
        if message.event == "up":
            assert isinstance(parsed, Uplink)
            check_uplink(parsed, message, "chirpstack")
            assert uuid.UUID(parsed.dedup_id or "").version == 4
            assert parsed.application_id == chirpstack_application_id(dev.kind)
            assert parsed.device_name == dev.tts_id
            seen_kinds.add(dev.kind)
            ups += 1
        else:
            assert message.event == "status" and isinstance(parsed, DeviceEvent) and parsed.kind == "status"
            assert parsed.device_key == dev.id
            if dev.mains_powered:
                assert parsed.battery is None and parsed.external_power
            else:
                assert 5 <= (parsed.battery or 0) <= 100 and not parsed.external_power
            statuses += 1
    assert ups > 100 and statuses > 0
    assert seen_kinds == {"noise", "waste", "river", "bike", "pedestrian", "streetlight", "cabinet"}


def test_the_things_stack_uplinks_parse_back() -> None:
    sim = simulator(("tts",), ("http",), tts_tenant="metropole")
    count = 0
    for message in sim.messages(START, END):
        if message.network != "tts":
            continue
        dev = message.device
        topic = f"v3/{tts_application_id(dev.kind)}@metropole/devices/{dev.tts_id}/up"
        assert message.topic == topic
        up = tts.parse_message(message.payload(), topic)
        assert isinstance(up, Uplink)
        check_uplink(up, message, "tts")
        assert re.fullmatch(r"as:up:[0-9A-HJKMNP-TV-Z]{26}", up.dedup_id or "")
        assert up.tenant_hint == "metropole" and up.device_name == dev.tts_id
        count += 1
    assert count > 100


@pytest.mark.parametrize("tenant", ["", "aix-marseille"])
def test_generic_mqtt_messages_parse_back(tenant: str) -> None:
    sim = simulator(("mqtt",), ("mqtt",), tenant=tenant)
    count = 0
    for message in sim.messages(START, END):
        dev = message.device
        assert message.topic == f"calanque/{tenant}/devices/{dev.id}/up"
        up = generic.parse_mqtt(DEFAULT_TOPIC_PATTERN, message.topic, message.payload())
        assert up.device_key == dev.id and up.network == "mqtt"
        assert up.tenant_hint == tenant
        assert up.time_source == "message"
        assert up.decoded == reading(dev, up.observed_at)
        count += 1
    assert count > 100


def test_generic_http_pushes_parse_back() -> None:
    sim = simulator(("chirpstack",), ("http",))
    pushes = [m for m in sim.messages(START, END) if m.network == "http"]
    assert pushes and {m.device.kind for m in pushes} == {"water"}
    for message in pushes:
        up = generic.parse_http(message.payload())
        assert up.device_key == message.device.id and up.network == "http"
        assert set(up.decoded or {}) == {"temperature", "pH", "conductivity", "turbidity", "O2"}
        assert up.decoded == reading(message.device, up.observed_at)
        assert START <= up.observed_at < END


def test_identifiers_are_stable_and_distinct() -> None:
    sim = simulator(("chirpstack",), ("http",))
    first = [m.body["deduplicationId"] for m in sim.messages(START, END) if m.event == "up" and m.network == "chirpstack"]
    second = [m.body["deduplicationId"] for m in sim.messages(START, END) if m.event == "up" and m.network == "chirpstack"]
    assert first == second and len(set(first)) == len(first)


def test_chirpstack_body_follows_the_documented_event() -> None:
    sim = simulator(("chirpstack",), ("http",))
    message = next(m for m in sim.messages(START, END) if m.network == "chirpstack" and m.event == "up")
    body = message.body
    assert set(body) >= {"deduplicationId", "time", "deviceInfo", "devAddr", "dr", "fCnt", "fPort", "data", "rxInfo",
                         "txInfo"}
    assert set(body["deviceInfo"]) >= {"tenantId", "tenantName", "applicationId", "applicationName",
                                       "deviceProfileId", "deviceProfileName", "deviceName", "devEui"}
    rx = body["rxInfo"][0]
    assert set(rx) >= {"gatewayId", "uplinkId", "gwTime", "nsTime", "rssi", "snr"}
    assert re.fullmatch(r"[0-9a-f]{16}", rx["gatewayId"]) and re.fullmatch(r"[0-9a-f]{8}", body["devAddr"])
    assert base64.b64decode(body["data"])
    assert body["txInfo"]["modulation"]["lora"]["spreadingFactor"] == 12 - body["dr"]


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a '\\{device\\}' level"):
        MessageOptions(topic_pattern="calanque/{tenant}/up")
    with pytest.raises(ValueError, match="wildcards"):
        MessageOptions(topic_pattern="calanque/+/{device}")
    with pytest.raises(ValueError, match="tts_tenant"):
        MessageOptions(tts_tenant="a/b")

"""Connector parsers against messages written from the ChirpStack and The Things Stack documentation.

Base64 payloads are worked by hand in the comments (6-bit groups → bytes).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calanque.field.connectors import DeviceEvent, ParseError, Uplink, chirpstack, generic, tts

FIXTURES = Path(__file__).parent / "fixtures"
RECEIVED = datetime(2026, 3, 2, 8, 15, 1, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    """Read one recorded message."""
    return json.loads((FIXTURES / name).read_text())


def utc(*args: int) -> datetime:
    """Shorthand for an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


# --- ChirpStack ---------------------------------------------------------------------------------


def test_chirpstack_documented_up_event() -> None:
    body = (FIXTURES / "chirpstack_up.json").read_bytes()
    up = chirpstack.parse_event("up", body, received_at=RECEIVED)
    assert isinstance(up, Uplink)
    assert up.network == "chirpstack"
    assert up.device_key == up.dev_eui == "0101010101010101"
    assert up.application_id == "17c82e96-be03-4f38-aef3-f83d48582d97"
    assert up.tenant_hint == "52f14cd4-c6f1-4fbd-8f87-4025e1d49242"
    assert up.device_name == "Test device"
    assert up.dedup_id == "3ac7e3c4-4401-4b8d-9386-a5c902f9202d"
    # "qg==": q=42=101010, g=32=100000 → 10101010 → 0xAA (the trailing 4 bits are padding)
    assert up.payload == b"\xaa"
    assert up.f_port == 1
    assert up.f_cnt == 0  # omitted in the JSON mapping because it is the proto3 default 0
    assert up.decoded is None
    assert (up.rssi, up.snr, up.gateways) == (-36.0, 10.5, 1)
    # no gwTime in rxInfo: the event "time", nanoseconds truncated to microseconds
    assert up.observed_at == utc(2022, 7, 18, 9, 34, 15, 775023)
    assert up.time_source == "network"
    assert up.received_at == RECEIVED


def test_chirpstack_up_two_gateways_takes_earliest_gateway_time_and_best_rssi() -> None:
    topic = "application/17c82e96-be03-4f38-aef3-f83d48582d97/device/a84041000181c0de/event/up"
    up = chirpstack.parse_event(None, load("chirpstack_up_ldds75.json"), topic, received_at=RECEIVED)
    assert isinstance(up, Uplink)
    assert up.device_key == "a84041000181c0de"  # upper-case DevEUI normalised to lower case
    assert (up.f_port, up.f_cnt, up.gateways) == (2, 42, 2)
    # "C0UIAgAA+gE=": C0UI → 000010 110100 010100 001000 → 0B 45 08;
    # AgAA → 000000 100000 000000 000000 → 02 00 00; +gE= → 111110 100000 000100 → FA 01
    assert up.payload == bytes([0x0B, 0x45, 0x08, 0x02, 0x00, 0x00, 0xFA, 0x01])
    # gateway 2 has the higher RSSI (-81 > -97) and its SNR 7.5; it also heard it first (.103)
    assert (up.rssi, up.snr) == (-81.0, 7.5)
    assert up.observed_at == utc(2026, 3, 2, 8, 15, 0, 103000)
    assert up.time_source == "gateway"


def test_chirpstack_status_join_ack_txack_log() -> None:
    status = chirpstack.parse_event("status", load("chirpstack_status.json"))
    assert isinstance(status, DeviceEvent)
    assert (status.kind, status.margin, status.battery, status.external_power) == ("status", 10, 88.3, False)
    assert status.observed_at == utc(2022, 7, 18, 9, 35, 6, 927172)

    join = chirpstack.parse_event("join", load("chirpstack_join.json"))
    assert isinstance(join, DeviceEvent)
    assert (join.kind, join.dev_addr, join.device_key) == ("join", "00189440", "0101010101010101")

    ack = chirpstack.parse_event("ack", load("chirpstack_ack.json"))
    assert isinstance(ack, DeviceEvent)
    assert (ack.kind, ack.acknowledged, ack.f_cnt_down, ack.queue_item_id) == (
        "ack", True, 3, "1bbcab1d-6ec6-4136-b3f5-d63be1dc08de")

    txack = chirpstack.parse_event("txack", load("chirpstack_txack.json"))
    assert isinstance(txack, DeviceEvent)
    assert (txack.kind, txack.f_cnt_down, txack.gateway_id, txack.queue_item_id) == (
        "txack", 2, "0016c001f153a14c", "42cb6459-a640-46ec-9623-bdff39dc4736")

    log = chirpstack.parse_event("log", load("chirpstack_log.json"))
    assert isinstance(log, DeviceEvent)
    assert (log.kind, log.level, log.code) == ("log", "ERROR", "UPLINK_MIC")
    assert log.message == "MIC of join-request is invalid, make sure keys are correct"


def test_chirpstack_status_without_battery_and_nack_defaults() -> None:
    body = load("chirpstack_status.json") | {"batteryLevelUnavailable": True, "externalPowerSource": True}
    status = chirpstack.parse_event("status", body)
    assert isinstance(status, DeviceEvent)
    assert (status.battery, status.external_power) == (None, True)
    nack = load("chirpstack_ack.json")
    del nack["acknowledged"]  # proto3 false is omitted
    event = chirpstack.parse_event("ack", nack)
    assert isinstance(event, DeviceEvent) and event.acknowledged is False


def test_chirpstack_topic() -> None:
    parsed = chirpstack.parse_topic("application/app-1/device/0101010101010101/event/status")
    assert (parsed.application_id, parsed.dev_eui, parsed.event) == ("app-1", "0101010101010101", "status")
    for bad in ("application/app-1/device/0101/event/up", "application/a/device/0101010101010101/up",
                "v3/app@ttn/devices/dev1/up", ""):
        with pytest.raises(ParseError):
            chirpstack.parse_topic(bad)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("deviceInfo"), "missing 'deviceInfo'"),
        (lambda d: d["deviceInfo"].pop("devEui"), "missing 'deviceInfo.devEui'"),
        (lambda d: d["deviceInfo"].update(devEui="01020304"), "'deviceInfo.devEui' must be an EUI-64"),
        (lambda d: d.update(fPort="one"), "'fPort' must be an integer"),
        (lambda d: d.update(fPort=300), "'fPort' = 300 is out of range"),
        (lambda d: d.update(data="not base64!"), "'data' is not valid base64"),
        (lambda d: d.update(time="yesterday"), "'time': 'yesterday' is not an ISO 8601 date-time"),
        (lambda d: d.update(rxInfo={"rssi": 1}), "'rxInfo' must be an array"),
        (lambda d: d["rxInfo"][0].update(rssi="strong"), "'rxInfo[0].rssi' must be a finite number"),
        (lambda d: d.update(object=[1, 2]), "'object' must be an object"),
    ],
)
def test_chirpstack_malformed_up_names_the_field(mutate: Any, message: str) -> None:
    body = load("chirpstack_up.json")
    mutate(body)
    with pytest.raises(ParseError, match=re.escape(message)):
        chirpstack.parse_event("up", body)


def test_chirpstack_event_type_checks() -> None:
    body = load("chirpstack_up.json")
    with pytest.raises(ParseError, match="unsupported ChirpStack event type 'integration'"):
        chirpstack.parse_event("integration", body)
    with pytest.raises(ParseError, match="does not match the topic's event 'status'"):
        chirpstack.parse_event("up", body, "application/a/device/0101010101010101/event/status")
    with pytest.raises(ParseError, match="does not match the topic's devEui 0202020202020202"):
        chirpstack.parse_event("up", body, "application/a/device/0202020202020202/event/up")
    with pytest.raises(ParseError, match="not valid JSON"):
        chirpstack.parse_event("up", b"{oops")
    with pytest.raises(ParseError, match="expected a JSON object at the top level, got array"):
        chirpstack.parse_event("up", b"[1]")


def test_chirpstack_downlink_command() -> None:
    topic, body = chirpstack.downlink_command("A84041000181C0DE", 2, b"\x01\x00\x02\x58", True,
                                              application_id="app-1")
    assert topic == "application/app-1/device/a84041000181c0de/command/down"
    # 01 00 02 → 000000 010000 000000 000010 → A Q A C; 58 → 010110 00(0000) → W A = =
    assert orjson.loads(body) == {"devEui": "a84041000181c0de", "confirmed": True, "fPort": 2, "data": "AQACWA=="}
    with pytest.raises(ValueError, match="f_port must be an application port 1..223"):
        chirpstack.downlink_command("a84041000181c0de", 0, b"\x01", application_id="app-1")


# --- The Things Stack ---------------------------------------------------------------------------


def test_tts_documented_uplink() -> None:
    up = tts.parse_message((FIXTURES / "tts_uplink.json").read_bytes(), received_at=RECEIVED)
    assert isinstance(up, Uplink)
    assert up.network == "tts"
    assert up.device_key == up.dev_eui == "0004a30b001c0530"
    assert (up.device_name, up.application_id, up.tenant_hint) == ("dev1", "app1", "tenant1")
    assert up.dedup_id == "as:up:01E0WZGT6Y7657CPFPE5WEYDSQ"
    # "gkHe": g=32 k=36 H=7 e=30 → 100000 100100 000111 011110 → 10000010 01000001 11011110
    assert up.payload == bytes([0x82, 0x41, 0xDE])
    assert up.decoded == {"temperature": 1.0, "luminosity": 0.64}
    assert (up.f_cnt, up.f_port) == (1, 0)  # f_port omitted in the documented example → 0
    assert (up.rssi, up.snr, up.gateways) == (-35.0, 5.0, 1)
    assert up.observed_at == utc(2020, 2, 12, 15, 15, 45, 787000)
    assert up.time_source == "gateway"


def test_tts_uplink_over_mqtt_topic_and_time_fallbacks() -> None:
    body = load("tts_uplink.json")
    up = tts.parse_message(body, "v3/app1@metropole/devices/dev1/up")
    assert isinstance(up, Uplink) and up.tenant_hint == "metropole"
    message = body["uplink_message"]
    del message["rx_metadata"], message["settings"]
    up = tts.parse_message(body)
    assert isinstance(up, Uplink)
    assert (up.observed_at, up.time_source) == (utc(2020, 2, 12, 15, 15, 45, 789585), "network")
    with pytest.raises(ParseError, match="do not match the topic's app1/dev2"):
        tts.parse_message(body, "v3/app1@ttn/devices/dev2/up")
    with pytest.raises(ParseError, match="topic event 'join' does not match the message member 'uplink_message'"):
        tts.parse_message(body, "v3/app1@ttn/devices/dev1/join")


def test_tts_join_ack_failed() -> None:
    join = tts.parse_message(load("tts_join.json"))
    assert isinstance(join, DeviceEvent)
    assert (join.kind, join.dev_addr) == ("join", "01497ECC")
    assert join.observed_at == utc(2020, 2, 17, 7, 49, 9, 935284)
    ack = tts.parse_message(load("tts_downlink_ack.json"), "v3/app1@ttn/devices/dev1/down/ack")
    assert isinstance(ack, DeviceEvent)
    assert (ack.kind, ack.acknowledged, ack.f_port, ack.f_cnt_down, ack.queue_item_id) == (
        "ack", True, 15, 1, "as:downlink:01E19B99501X84X6CV471TVSZ1")
    failed = tts.parse_message(load("tts_downlink_failed.json"), received_at=RECEIVED)
    assert isinstance(failed, DeviceEvent)
    assert failed.device_key == "dev1"  # no dev_eui in this message: the device id is the key
    assert (failed.kind, failed.code, failed.f_port, failed.observed_at) == (
        "downlink-failed", "application_downlink_too_long", 15, RECEIVED)
    assert failed.message == "application downlink payload is too long"


def test_tts_malformed_messages() -> None:
    body = load("tts_uplink.json")
    body["end_device_ids"]["application_ids"] = {}
    with pytest.raises(ParseError, match="missing 'end_device_ids.application_ids.application_id'"):
        tts.parse_message(body)
    body = load("tts_uplink.json") | {"join_accept": {"session_key_id": "x"}}
    with pytest.raises(ParseError, match="expected exactly one of uplink_message"):
        tts.parse_message(body)
    body = load("tts_uplink.json")
    body["uplink_message"]["f_cnt"] = -1
    with pytest.raises(ParseError, match="'uplink_message.f_cnt' = -1 is out of range"):
        tts.parse_message(body)
    with pytest.raises(ParseError, match="unsupported event 'down/push'"):
        tts.parse_topic("v3/app1@ttn/devices/dev1/down/push")


def test_tts_downlink_push() -> None:
    topic, body = tts.downlink_push("app1", "ttn", "dev1", 15, b"\xbe\xef", confirmed=True)
    assert topic == "v3/app1@ttn/devices/dev1/down/push"
    # be ef → 101111 101110 1111(00) → v u 8 = (the documented example "vu8=")
    assert orjson.loads(body) == {"downlinks": [{"f_port": 15, "frm_payload": "vu8=", "priority": "NORMAL",
                                                 "confirmed": True}]}
    with pytest.raises(ValueError, match="priority must be one of"):
        tts.downlink_push("app1", "ttn", "dev1", 15, b"\x00", priority="URGENT")


# --- generic ------------------------------------------------------------------------------------


def test_generic_mqtt_pattern_and_flat_payload() -> None:
    pattern = generic.TopicPattern("city/{tenant}/sensors/{device}/data")
    assert pattern.subscription == "city/+/sensors/+/data"
    up = generic.parse_mqtt(pattern, "city/marseille/sensors/noise-07/data",
                            b'{"LAeq": 61.2, "time": "2026-03-02T09:15:00+01:00"}', received_at=RECEIVED)
    assert (up.network, up.device_key, up.tenant_hint) == ("mqtt", "noise-07", "marseille")
    assert up.decoded == {"LAeq": 61.2}
    assert (up.observed_at, up.time_source) == (utc(2026, 3, 2, 8, 15), "message")
    assert (up.payload, up.f_cnt) == (None, None)


def test_generic_mqtt_wildcards_and_epoch_time() -> None:
    up = generic.parse_mqtt("city/+/sensors/{device}/#", "city/x/sensors/c1/data/v2",
                            {"measurements": {"count": 12}, "observedAt": 1772439300})
    # 1772439300 s = 20514 days (2026-03-02) + 29700 s (08:15:00) since 1970-01-01
    assert up.observed_at == utc(2026, 3, 2, 8, 15)
    assert up.decoded == {"count": 12}
    with pytest.raises(ParseError, match="does not match the pattern"):
        generic.parse_mqtt("city/+/sensors/{device}/data", "city/x/sensors/c1/status", b"{}")
    with pytest.raises(ParseError, match="no measurements"):
        generic.parse_mqtt("city/+/sensors/{device}/data", "city/x/sensors/c1/data", b'{"time": 0}')
    with pytest.raises(ValueError, match="needs a '\\{device\\}' level"):
        generic.TopicPattern("city/+/sensors/data")


def test_generic_http_push() -> None:
    up = generic.parse_http(b'{"device": "counter-3", "measurements": {"bikes": 5}}', received_at=RECEIVED)
    assert (up.network, up.device_key, up.decoded) == ("http", "counter-3", {"bikes": 5})
    assert (up.observed_at, up.time_source) == (RECEIVED, "received")
    with pytest.raises(ParseError, match="missing 'device'"):
        generic.parse_http(b'{"measurements": {"bikes": 5}}')
    with pytest.raises(ParseError, match="'measurements' must be an object, got array"):
        generic.parse_http(b'{"device": "c", "measurements": [5]}')


# --- robustness: random JSON only ever raises ParseError ---------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
EUI = st.text(alphabet="0123456789abcdefABCDEF", min_size=16, max_size=16)
# Messages that keep the documented skeleton but put random JSON in every member.
CHIRPSTACK_LIKE = st.fixed_dictionaries(
    {"deviceInfo": st.fixed_dictionaries({"devEui": EUI | JSON}, optional={"applicationId": JSON})},
    optional={k: JSON for k in ("time", "fPort", "fCnt", "data", "object", "rxInfo", "margin", "batteryLevel",
                                 "acknowledged", "fCntDown", "location", "level", "deduplicationId")},
)
TTS_LIKE = st.fixed_dictionaries(
    {"end_device_ids": st.fixed_dictionaries(
        {"device_id": st.text(min_size=1, max_size=8) | JSON,
         "application_ids": st.fixed_dictionaries({"application_id": st.just("app1") | JSON})},
        optional={"dev_eui": EUI | JSON})},
    optional={"uplink_message": st.dictionaries(
        st.sampled_from(["f_port", "f_cnt", "frm_payload", "decoded_payload", "rx_metadata", "settings",
                         "received_at", "network_ids"]), JSON) | JSON,
              "downlink_failed": JSON, "downlink_ack": JSON, "correlation_ids": JSON, "received_at": JSON},
)


def _only_parse_errors(call: Any) -> None:
    """Run ``call``; anything other than success or ParseError fails the test."""
    try:
        call()
    except ParseError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=CHIRPSTACK_LIKE | JSON, event=st.sampled_from(chirpstack.EVENT_TYPES))
def test_chirpstack_random_json_raises_only_parse_error(body: Any, event: str) -> None:
    _only_parse_errors(lambda: chirpstack.parse_event(event, orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
                                                      if _dumpable(body) else body))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=TTS_LIKE | JSON)
def test_tts_random_json_raises_only_parse_error(body: Any) -> None:
    _only_parse_errors(lambda: tts.parse_message(body if isinstance(body, dict) else json.dumps(body)))


@settings(max_examples=200, deadline=None)
@given(body=JSON, topic=st.text(max_size=30))
def test_generic_random_json_raises_only_parse_error(body: Any, topic: str) -> None:
    _only_parse_errors(lambda: generic.parse_mqtt("s/{device}/up", topic, body if isinstance(body, dict)
                                                  else json.dumps(body)))
    _only_parse_errors(lambda: generic.parse_http(body if isinstance(body, dict) else json.dumps(body)))


def _dumpable(body: Any) -> bool:
    """True when orjson can serialise ``body`` (NaN/inf become null, huge ints fail)."""
    try:
        orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return False
    return True


def test_received_at_defaults_to_now() -> None:
    before = datetime.now(UTC)
    up = generic.parse_http({"device": "d", "measurements": {"x": 1}})
    assert before <= up.received_at <= before + timedelta(seconds=5)

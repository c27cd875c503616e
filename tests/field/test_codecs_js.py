"""Sandboxed TS013 JavaScript codecs: vendor-style codec, legacy Decoder, failures and limits."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calanque.field.codecs import CodecError, JsCodec, get_codec

# A vendor-style TS013 codec (modelled on a Dragino ultrasonic level sensor): fPort 2 carries
# battery (mV, 14 bits), distance (mm) and a signed 0.1 °C temperature; downlinks set the interval.
VENDOR_CODEC = r"""
function readUInt16BE(bytes, i) { return (bytes[i] << 8) | bytes[i + 1]; }
function readInt16BE(bytes, i) { var v = readUInt16BE(bytes, i); return v > 0x7fff ? v - 0x10000 : v; }

function decodeUplink(input) {
  if (input.fPort !== 2) {
    return { errors: ["unknown FPort " + input.fPort] };
  }
  if (input.bytes.length < 7) {
    return { errors: ["payload too short: " + input.bytes.length + " bytes"] };
  }
  var warnings = [];
  var data = {
    battery_v: (readUInt16BE(input.bytes, 0) & 0x3fff) / 1000,
    distance_mm: readUInt16BE(input.bytes, 2),
    temperature_c: readInt16BE(input.bytes, 4) / 10,
    alarm: input.bytes[6] === 1
  };
  if (data.battery_v < 3.0) { warnings.push("low battery"); }
  if (input.recvTime) { data.received_year = input.recvTime.getUTCFullYear(); }
  return { data: data, warnings: warnings };
}

function encodeDownlink(input) {
  if (typeof input.data.interval !== "number") {
    return { errors: ["interval (seconds) is required"] };
  }
  var s = input.data.interval;
  return { bytes: [0x01, (s >> 16) & 0xff, (s >> 8) & 0xff, s & 0xff], fPort: 2, warnings: [] };
}
"""


@pytest.fixture(scope="module")
def vendor() -> JsCodec:
    codec = get_codec("js", script=VENDOR_CODEC)
    assert isinstance(codec, JsCodec)
    return codec


def test_vendor_codec_decodes(vendor: JsCodec) -> None:
    # 0x0D3B & 0x3FFF = 3387 mV; 0x0AEF = 2799 mm; 0xFF9C = -100 -> -10.0 °C; alarm byte 1
    result = vendor.decode_uplink(bytes([0x0D, 0x3B, 0x0A, 0xEF, 0xFF, 0x9C, 0x01]), 2)
    assert result.data == {"battery_v": 3.387, "distance_mm": 2799, "temperature_c": -10.0, "alarm": True}
    assert result.warnings == []


def test_vendor_codec_warnings_and_recv_time(vendor: JsCodec) -> None:
    # 0x0B45 = 2885 mV < 3.0 V -> "low battery"
    result = vendor.decode_uplink(
        bytes([0x0B, 0x45, 0x00, 0x64, 0x00, 0xC8, 0x00]), 2, datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    )
    assert result.data["battery_v"] == 2.885
    assert result.data["temperature_c"] == 20.0  # 0x00C8 = 200 -> /10
    assert result.data["received_year"] == 2026
    assert result.warnings == ["low battery"]


def test_vendor_codec_errors_raise(vendor: JsCodec) -> None:
    with pytest.raises(CodecError, match="reported errors: unknown FPort 5"):
        vendor.decode_uplink(b"\x00" * 7, 5)


def test_vendor_codec_encodes_downlink(vendor: JsCodec) -> None:
    # 600 s = 0x000258
    assert vendor.encode_downlink({"interval": 600}) == (bytes([0x01, 0x00, 0x02, 0x58]), 2)
    with pytest.raises(CodecError, match="interval \\(seconds\\) is required"):
        vendor.encode_downlink({})


def test_legacy_ttn_v2_decoder() -> None:
    codec = JsCodec(
        "function Decoder(bytes, port) { return { value: (bytes[0] << 8 | bytes[1]) / 100, port: port }; }"
    )
    # 0x04D2 = 1234 -> 12.34
    assert codec.decode_uplink(bytes([0x04, 0xD2]), 7).data == {"value": 12.34, "port": 7}
    with pytest.raises(CodecError, match="no encodeDownlink"):
        codec.encode_downlink({"x": 1})


def test_throwing_codec() -> None:
    codec = JsCodec("function decodeUplink(input) { throw new Error('bad header byte ' + input.bytes[0]); }")
    with pytest.raises(CodecError, match="threw while decoding an uplink: Error: bad header byte 171"):
        codec.decode_uplink(b"\xab", 1)


def test_infinite_loop_is_stopped_and_codec_recovers() -> None:
    codec = JsCodec(
        "function decodeUplink(input) {"
        " if (input.fPort === 99) { while (true) {} } return { data: { ok: 1 } }; }"
    )
    start = time.perf_counter()
    with pytest.raises(CodecError, match="codec 'js' exceeded its 100 ms time limit"):
        codec.decode_uplink(b"\x00", 99)
    assert time.perf_counter() - start < 2.0
    assert codec.decode_uplink(b"\x00", 1).data == {"ok": 1}


def test_loop_in_catch_cannot_escape_the_limit() -> None:
    codec = JsCodec("function decodeUplink(i) { try { while (true) {} } catch (e) { return { data: {} }; } }")
    with pytest.raises(CodecError, match="time limit"):
        codec.decode_uplink(b"", 1)


def test_custom_time_limit_in_message() -> None:
    codec = JsCodec("function decodeUplink(i) { while (true) {} }", time_limit_ms=30)
    with pytest.raises(CodecError, match="30 ms time limit"):
        codec.decode_uplink(b"", 1)


def test_memory_hog_is_stopped() -> None:
    codec = JsCodec(
        "function decodeUplink(i) { var a = []; while (true) { a.push(new Array(100000).fill(i.fPort)); } }"
    )
    start = time.perf_counter()
    with pytest.raises(CodecError, match="exceeded its 16 MiB memory limit"):
        codec.decode_uplink(b"", 1)
    assert time.perf_counter() - start < 2.0


def test_runaway_recursion() -> None:
    codec = JsCodec(
        "function f(n) { return f(n + 1) + 1; } function decodeUplink(i) { return { data: f(0) }; }"
    )
    with pytest.raises(CodecError, match="overflowed its stack"):
        codec.decode_uplink(b"", 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return 42;", "must return an object, got number"),
        ("return { data: [1, 2] };", "data=array"),
        ("return {};", "data=null/undefined"),
        ("return { data: {}, warnings: 'careful' };", "warnings that is not an array"),
        ("return { data: {}, errors: 'bad' };", "errors that is not an array"),
    ],
)
def test_malformed_decode_output(body: str, message: str) -> None:
    codec = JsCodec("function decodeUplink(input) { " + body + " }")
    with pytest.raises(CodecError, match=message):
        codec.decode_uplink(b"", 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return { bytes: [1, 256], fPort: 1 };", "integers 0..255"),
        ("return { bytes: 'AQI=', fPort: 1 };", "integers 0..255"),
        ("return { bytes: [1] };", "fPort as an integer 1..223"),
        ("return { bytes: [1], fPort: 0 };", "fPort as an integer 1..223"),
        ("return { errors: ['unknown command'] };", "reported errors: unknown command"),
    ],
)
def test_malformed_encode_output(body: str, message: str) -> None:
    codec = JsCodec(
        "function decodeUplink(i) { return { data: {} }; } function encodeDownlink(input) { " + body + " }"
    )
    with pytest.raises(CodecError, match=message):
        codec.encode_downlink({})


def test_no_outside_access() -> None:
    codec = JsCodec(
        "function decodeUplink(i) { return { data: { r: typeof require, f: typeof fetch, s: typeof std,"
        " o: typeof os, x: typeof XMLHttpRequest, t: typeof setTimeout } }; }"
    )
    assert set(codec.decode_uplink(b"", 1).data.values()) == {"undefined"}


def test_load_errors() -> None:
    with pytest.raises(CodecError, match="threw while loading the script: SyntaxError"):
        JsCodec("function decodeUplink(input) { return {")
    with pytest.raises(CodecError, match="defines neither decodeUplink"):
        JsCodec("var x = 1;")
    with pytest.raises(CodecError, match="time limit while loading"):
        JsCodec("while (true) {}")
    with pytest.raises(CodecError, match="needs a script"):
        get_codec("js")


def test_contexts_are_per_thread(vendor: JsCodec) -> None:
    results: list[float] = []
    errors: list[BaseException] = []

    def work(mm: int) -> None:
        try:
            for _ in range(200):
                payload = bytes([0x0D, 0x3B, mm >> 8, mm & 0xFF, 0, 0, 0])
                assert vendor.decode_uplink(payload, 2).data["distance_mm"] == mm
            results.append(mm)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(1000 + n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [1000, 1001, 1002, 1003]


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 0x3FFF), st.integers(0, 0xFFFF), st.integers(-32768, 32767))
def test_js_matches_hand_decoding(battery_mv: int, distance: int, temp: int) -> None:
    codec = _shared()
    payload = (
        battery_mv.to_bytes(2, "big")
        + distance.to_bytes(2, "big")
        + temp.to_bytes(2, "big", signed=True)
        + b"\0"
    )
    data = codec.decode_uplink(payload, 2).data
    assert data["battery_v"] == battery_mv / 1000
    assert data["distance_mm"] == distance
    assert data["temperature_c"] == temp / 10


_SHARED: list[JsCodec] = []


def _shared() -> JsCodec:
    if not _SHARED:
        _SHARED.append(JsCodec(VENDOR_CODEC))
    return _SHARED[0]

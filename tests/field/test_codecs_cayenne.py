"""Cayenne LPP codec: hand-encoded frames for every type, TTN documentation examples, errors, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calanque.field.codecs import CodecError, get_codec
from calanque.field.codecs.cayenne import LPP_TYPES, decode_frame

CODEC = get_codec("cayenne-lpp")

# (frame bytes, expected TTN-style data); arithmetic in the comments.
HAND_FRAMES = [
    (bytes([1, 0, 1]), {"digital_in_1": 1}),
    (bytes([2, 1, 0]), {"digital_out_2": 0}),
    (bytes([3, 2, 0xFF, 0x38]), {"analog_in_3": -2.0}),  # 0xFF38 = 65336 - 65536 = -200 -> /100
    (bytes([4, 3, 0x04, 0xD2]), {"analog_out_4": 12.34}),  # 0x04D2 = 1234 -> /100
    (bytes([5, 100, 0x00, 0x01, 0xE2, 0x40]), {"generic_5": 123456}),  # 0x01E240 = 123456
    (bytes([6, 101, 0x01, 0xF4]), {"luminosity_6": 500}),  # 0x01F4 = 500 lux
    (bytes([7, 102, 1]), {"presence_7": 1}),
    (bytes([5, 103, 0xFF, 0xD7]), {"temperature_5": -4.1}),  # 0xFFD7 = -41 -> /10
    (bytes([8, 104, 0x61]), {"relative_humidity_8": 48.5}),  # 0x61 = 97 -> /2
    # x 0x04D2 = 1234 -> 1.234 G; y 0xFB2E = 64302 - 65536 = -1234 -> -1.234 G; z 0
    (bytes([9, 113, 0x04, 0xD2, 0xFB, 0x2E, 0, 0]), {"accelerometer_9": {"x": 1.234, "y": -1.234, "z": 0.0}}),
    (bytes([10, 116, 0x01, 0x5E]), {"voltage_10": 3.5}),  # 0x015E = 350 -> /100 V
    (bytes([11, 117, 0x03, 0xE8]), {"current_11": 1.0}),  # 0x03E8 = 1000 -> /1000 A
    (bytes([12, 118, 0, 0, 0xC3, 0x50]), {"frequency_12": 50000}),  # 0xC350 = 50000 Hz
    (bytes([13, 120, 0x64]), {"percentage_13": 100}),  # 0x64 = 100 %
    (bytes([14, 121, 0xFF, 0x9C]), {"altitude_14": -100}),  # 0xFF9C = 65436 - 65536 = -100 m
    (
        bytes([15, 122, 0xFF, 0xFC, 0x18]),
        {"load_15": -1.0},
    ),  # 0xFFFC18 = 16776216 - 16777216 = -1000 -> /1000 kg
    (bytes([16, 125, 0x01, 0x90]), {"concentration_16": 400}),  # 0x0190 = 400 ppm
    (bytes([17, 128, 0x00, 0x96]), {"power_17": 150}),  # 0x96 = 150 W
    (bytes([18, 130, 0, 0, 0x0A, 0xEF]), {"distance_18": 2.799}),  # 0x0AEF = 2799 -> /1000 m
    (bytes([19, 131, 0, 0x01, 0x86, 0xA0]), {"energy_19": 100.0}),  # 0x0186A0 = 100000 -> /1000 kWh
    (bytes([20, 132, 0x01, 0x0E]), {"direction_20": 270}),  # 0x010E = 270 °
    # 0x65920080 = 101*16777216 + 146*65536 + 128 = 1704067200 (2024-01-01T00:00:00Z)
    (bytes([21, 133, 0x65, 0x92, 0x00, 0x80]), {"time_21": 1704067200}),
    # 0x0064 = 100 -> 1.00; 0xFF9C = -100 -> -1.00; 0x2710 = 10000 -> 100.00 °/s
    (
        bytes([22, 134, 0x00, 0x64, 0xFF, 0x9C, 0x27, 0x10]),
        {"gyrometer_22": {"x": 1.0, "y": -1.0, "z": 100.0}},
    ),
    (bytes([23, 135, 0xFF, 0x80, 0x00]), {"colour_23": {"r": 255, "g": 128, "b": 0}}),
    # myDevices LPP documentation GPS example: 0x06765F = 423519 -> 42.3519 °;
    # 0xF2960A = 15898122 - 16777216 = -879094 -> -87.9094 °; 0x0003E8 = 1000 -> 10.00 m
    (
        bytes([1, 136, 0x06, 0x76, 0x5F, 0xF2, 0x96, 0x0A, 0x00, 0x03, 0xE8]),
        {"gps_1": {"latitude": 42.3519, "longitude": -87.9094, "altitude": 10.0}},
    ),
    (bytes([24, 142, 1]), {"switch_24": 1}),
]


def test_every_type_has_a_hand_frame() -> None:
    covered = {frame[1] for frame, _ in HAND_FRAMES} | {103, 115}  # 103/115: TTN examples below
    assert covered == set(LPP_TYPES)


@pytest.mark.parametrize(("frame", "expected"), HAND_FRAMES, ids=[next(iter(e)) for _, e in HAND_FRAMES])
def test_hand_encoded_frames_decode(frame: bytes, expected: dict) -> None:
    result = CODEC.decode_uplink(frame, 1)
    assert result.data == expected
    assert result.warnings == []


@pytest.mark.parametrize(("frame", "expected"), HAND_FRAMES, ids=[next(iter(e)) for _, e in HAND_FRAMES])
def test_encoder_reproduces_hand_frames(frame: bytes, expected: dict) -> None:
    assert CODEC.encode_uplink(expected) == frame


def test_ttn_documentation_examples() -> None:
    # The Things Stack CayenneLPP docs: [03 67 01 10 05 67 00 FF] -> temperature_3 27.2, temperature_5 25.5
    # (0x0110 = 272 -> 27.2; 0x00FF = 255 -> 25.5)
    assert CODEC.decode_uplink(bytes([3, 0x67, 0x01, 0x10, 5, 0x67, 0x00, 0xFF]), 8).data == {
        "temperature_3": 27.2,
        "temperature_5": 25.5,
    }
    # "AHMnvwBnAN4=" = 00 73 27 BF 00 67 00 DE -> barometric_pressure_0 1017.5 (10175/10), temperature_0 22.2
    assert CODEC.decode_uplink(bytes.fromhex("007327BF006700DE"), 8).data == {
        "barometric_pressure_0": 1017.5,
        "temperature_0": 22.2,
    }


def test_multi_record_frame_keeps_order() -> None:
    frame = bytes([3, 103, 0x01, 0x10, 1, 0, 1])
    assert list(CODEC.decode_uplink(frame, 1).data) == ["temperature_3", "digital_in_1"]


def test_duplicate_key_warns() -> None:
    result = CODEC.decode_uplink(bytes([1, 0, 1, 1, 0, 0]), 1)
    assert result.data == {"digital_in_1": 0}
    assert "digital_in_1" in result.warnings[0]


def test_unknown_type_names_the_position() -> None:
    with pytest.raises(CodecError, match=r"unknown type 99 \(0x63\) at byte 4 on channel 2"):
        CODEC.decode_uplink(bytes([1, 0, 1, 2, 99, 0]), 1)


def test_truncated_value_names_the_position() -> None:
    with pytest.raises(
        CodecError, match=r"truncated temperature on channel 3 at byte 2: needs 2 byte\(s\), only 1 left"
    ):
        CODEC.decode_uplink(bytes([3, 103, 0x01]), 1)


def test_missing_type_byte() -> None:
    with pytest.raises(CodecError, match="byte 3: channel 9 has no type byte"):
        CODEC.decode_uplink(bytes([1, 0, 1, 9]), 1)


def test_empty_frame_decodes_to_nothing() -> None:
    assert CODEC.decode_uplink(b"", 1).data == {}


def test_encoder_rejects_bad_input() -> None:
    with pytest.raises(CodecError, match="not '<type>_<channel>'"):
        CODEC.encode_uplink({"temperature": 20.0})
    with pytest.raises(CodecError, match="unknown type 'humidity'"):
        CODEC.encode_uplink({"humidity_1": 20.0})
    with pytest.raises(CodecError, match="does not fit"):
        CODEC.encode_uplink({"relative_humidity_1": 200.0})  # 400 > 255
    with pytest.raises(CodecError, match="keys"):
        CODEC.encode_uplink({"gps_1": {"latitude": 1.0}})


def test_no_downlinks() -> None:
    with pytest.raises(CodecError, match="no downlink"):
        CODEC.encode_downlink({"digital_out_1": 1})


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """Random valid frames: distinct channels, arbitrary value bytes for each record."""
    n = draw(st.integers(0, 6))
    channels = draw(st.lists(st.integers(0, 255), min_size=n, max_size=n, unique=True))
    out = bytearray()
    for channel in channels:
        lpp = LPP_TYPES[draw(st.sampled_from(sorted(LPP_TYPES)))]
        out += bytes([channel, lpp.type_id]) + draw(st.binary(min_size=lpp.size, max_size=lpp.size))
    return bytes(out)


@given(frames())
def test_decode_then_encode_is_identity(frame: bytes) -> None:
    assert CODEC.encode_uplink(CODEC.decode_uplink(frame, 1).data) == frame


@given(st.sampled_from(sorted(LPP_TYPES)), st.data())
def test_encode_then_decode_recovers_values(type_id: int, data: st.DataObject) -> None:
    lpp = LPP_TYPES[type_id]
    values = []
    for size, mult in zip(lpp.sizes, lpp.multipliers, strict=True):
        bits = 8 * size
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if lpp.signed else (0, (1 << bits) - 1)
        raw = data.draw(st.integers(lo, hi))
        values.append(raw if mult == 1 else raw / mult)
    value = values[0] if lpp.fields == ("",) else dict(zip(lpp.fields, values, strict=True))
    frame = CODEC.encode_uplink({f"{lpp.name}_7": value})
    assert decode_frame(frame) == [(7, lpp, value)]

"""Reference device codecs: vendor examples, hand-computed frames, downlinks, errors, round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calanque.field.codecs import Codec, CodecError, DeviceCodec, get_codec, list_codecs, register_codec
from calanque.field.codecs.cayenne import CayenneLppCodec

LDDS75 = get_codec("dragino-ldds75")
WS302 = get_codec("milesight-ws302")
CTD10 = get_codec("decentlab-dl-ctd10")
VS350 = get_codec("milesight-vs350")
WS558 = get_codec("milesight-ws558")
LIGHT = get_codec("calanque-streetlight")


# ---- Dragino LDDS75 -----------------------------------------------------------------------------
def test_ldds75_vendor_example() -> None:
    # TTN device repository ldds75-114 example: 0D 3B 0A EF 00 00 00 01 ->
    # Bat 3.387 V (0x0D3B = 3387 mV), Distance 2799 mm (0x0AEF), Interrupt 0, Temp 0.00, Sensor_flag 1
    result = LDDS75.decode_uplink(bytes.fromhex("0D3B0AEF00000001"), 2)
    assert result.data == {
        "batteryVoltage": 3.387,
        "distance": 2.799,
        "temperature": 0.0,
        "interruptFlag": False,
        "sensorDetected": True,
    }


def test_ldds75_hand_frame() -> None:
    # 0xCB45 & 0x3FFF = 0x0B45 = 2885 mV (status bits ignored); 0x04B0 = 1200 mm;
    # interrupt 1; 0xFF38 = 65336 - 65536 = -200 -> -20.0 °C; sensor flag 1
    result = LDDS75.decode_uplink(bytes.fromhex("CB4504B001FF3801"), 2)
    assert result.data == {
        "batteryVoltage": 2.885,
        "distance": 1.2,
        "temperature": -20.0,
        "interruptFlag": True,
        "sensorDetected": True,
    }


@pytest.mark.parametrize(
    ("raw", "warning"), [("0000", "no ultrasonic sensor"), ("0014", "invalid ultrasonic")]
)
def test_ldds75_missing_distance(raw: str, warning: str) -> None:
    result = LDDS75.decode_uplink(bytes.fromhex("0D3B" + raw + "00000000"), 2)
    assert "distance" not in result.data
    assert warning in result.warnings[0]


def test_ldds75_errors() -> None:
    with pytest.raises(CodecError, match="fPort 2, got fPort 3"):
        LDDS75.decode_uplink(bytes(8), 3)
    with pytest.raises(CodecError, match="8-byte payload, got 5"):
        LDDS75.decode_uplink(bytes(5), 2)


def test_ldds75_downlink() -> None:
    # 30 s -> 01 00 00 1E (Dragino "set TDC" command)
    assert LDDS75.encode_downlink({"transmitInterval": 30}) == (bytes.fromhex("0100001E"), 2)
    with pytest.raises(CodecError, match="transmitInterval"):
        LDDS75.encode_downlink({"dimmingLevel": 3})
    with pytest.raises(CodecError, match="does not fit in 3"):
        LDDS75.encode_downlink({"transmitInterval": 1 << 24})


@given(
    st.integers(0, 0x3FFF),
    st.integers(21, 0xFFFF),
    st.integers(-32768, 32767),
    st.booleans(),
    st.booleans(),
)
def test_ldds75_round_trip(mv: int, mm: int, deci: int, interrupt: bool, sensor: bool) -> None:
    m = {
        "batteryVoltage": mv / 1000,
        "distance": mm / 1000,
        "temperature": deci / 10,
        "interruptFlag": interrupt,
        "sensorDetected": sensor,
    }
    assert LDDS75.decode_uplink(LDDS75.encode_uplink(m, 2), 2).data == m


# ---- Milesight WS302 ----------------------------------------------------------------------------
def test_ws302_vendor_example() -> None:
    # Milesight README: 017564 055B053F02DA016A02 -> battery 100, LAF 57.5, LAeq 47.4, LAFmax 61.8
    # weighting 0x05: bits1-0 = 1 (A), bits3-2 = 1 (F); 0x023F = 575, 0x01DA = 474, 0x026A = 618 (LE, /10)
    result = WS302.decode_uplink(bytes.fromhex("017564055B053F02DA016A02"), 85)
    assert result.data == {
        "batteryLevel": 1.0,
        "frequencyWeighting": "A",
        "timeWeighting": "F",
        "LAF": 57.5,
        "LAeq": 47.4,
        "LAmax": 61.8,
    }


def test_ws302_hand_frame_c_slow() -> None:
    # weighting 0x0A = 0b1010: frequency 2 (C), time 2 (S); 0x02EE = 750 -> 75.0;
    # 0x0320 = 800 -> 80.0; 0x0384 = 900 -> 90.0; battery 0x32 = 50 % -> 0.5
    result = WS302.decode_uplink(bytes.fromhex("017532055B0AEE0220038403"), 85)
    assert result.data == {
        "batteryLevel": 0.5,
        "frequencyWeighting": "C",
        "timeWeighting": "S",
        "LCS": 75.0,
        "LCeq": 80.0,
        "LCmax": 90.0,
    }


def test_ws302_attributes_and_errors() -> None:
    # FF 0A 01 20 -> firmware v1.20 ; FF 0F 00 -> class A
    assert WS302.decode_uplink(bytes.fromhex("FF0A0120FF0F00"), 85).data == {
        "firmwareVersion": "v1.20",
        "lorawanClass": "A",
    }
    with pytest.raises(CodecError, match="unknown channel 0x09 type 0x99 at byte 3"):
        WS302.decode_uplink(bytes.fromhex("017564099900"), 85)
    with pytest.raises(CodecError, match="truncated payload at byte 3"):
        WS302.decode_uplink(bytes.fromhex("055B053F"), 85)
    with pytest.raises(CodecError, match="fPort 85"):
        WS302.decode_uplink(bytes.fromhex("017564"), 1)
    with pytest.raises(CodecError, match="no downlink"):
        WS302.encode_downlink({})


@given(st.integers(0, 100), st.integers(0, 1300), st.integers(0, 1300), st.integers(0, 1300))
def test_ws302_round_trip(battery: int, la: int, leq: int, lmax: int) -> None:
    m = {
        "batteryLevel": battery / 100,
        "frequencyWeighting": "A",
        "timeWeighting": "F",
        "LAF": la / 10,
        "LAeq": leq / 10,
        "LAmax": lmax / 10,
    }
    assert WS302.decode_uplink(WS302.encode_uplink(m, 85), 85).data == m


# ---- Decentlab DL-CTD10 -------------------------------------------------------------------------
def test_ctd10_vendor_example() -> None:
    # decentlab-decoders DL-CTD10 example 0207d9000390888081006400000c60:
    # version 2, device 0x07D9 = 2009, flags 0x0003; 0x9088 = 37000 - 32768 = 4232 mm;
    # 0x8081 = 32897 - 32768 = 129 -> 12.9 °C; 0x0064 = 100 µS/cm; freezing 0; 0x0C60 = 3168 mV
    result = CTD10.decode_uplink(bytes.fromhex("0207d9000390888081006400000c60"), 1)
    assert result.data == {
        "deviceId": 2009,
        "waterDepth": 4.232,
        "temperature": 12.9,
        "conductivity": 100,
        "freezingFlag": False,
        "batteryVoltage": 3.168,
    }


def test_ctd10_battery_only_vendor_example() -> None:
    # 0207d900020c60: flags 0x0002 = battery only; 0x0C60 = 3168 mV
    assert CTD10.decode_uplink(bytes.fromhex("0207d900020c60"), 1).data == {
        "deviceId": 2009,
        "batteryVoltage": 3.168,
    }


def test_ctd10_negative_temperature_by_hand() -> None:
    # flags 1; 0x8000 = 32768 -> 0 mm; 0x7FCE = 32718 - 32768 = -50 -> -5.0 °C; 0x01F4 = 500 µS/cm; freezing 1
    data = CTD10.decode_uplink(bytes.fromhex("02000100018000" + "7FCE01F40001"), 1).data
    assert data == {
        "deviceId": 1,
        "waterDepth": 0.0,
        "temperature": -5.0,
        "conductivity": 500,
        "freezingFlag": True,
    }


def test_ctd10_errors() -> None:
    with pytest.raises(CodecError, match="protocol version 3, expected 2"):
        CTD10.decode_uplink(bytes.fromhex("0307d900020c60"), 1)
    with pytest.raises(CodecError, match="truncated payload at byte 5"):
        CTD10.decode_uplink(bytes.fromhex("0207d90003"), 1)
    with pytest.raises(CodecError, match="trailing"):
        CTD10.decode_uplink(bytes.fromhex("0207d900020c6000"), 1)


@given(st.integers(-32768, 32767), st.integers(-32768, 32767), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_ctd10_round_trip(depth_mm: int, deci: int, ec: int, mv: int) -> None:
    m = {
        "deviceId": 7,
        "waterDepth": depth_mm / 1000,
        "temperature": deci / 10,
        "conductivity": ec,
        "freezingFlag": False,
        "batteryVoltage": mv / 1000,
    }
    assert CTD10.decode_uplink(CTD10.encode_uplink(m, 1), 1).data == m


# ---- Milesight VS350 ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hex_payload", "expected"),
    [
        # Milesight README examples; 0x010C = 268 -> 26.8 °C
        ("01756403670C01", {"batteryLevel": 1.0, "temperature": 26.8}),
        # 0x0012 = 18, 0x0016 = 22, 0x0013 = 19, 0x0014 = 20 (little-endian)
        ("04CC1200160005CC13001400", {"totalIn": 18, "totalOut": 22, "intensityIn": 19, "intensityOut": 20}),
        # 0x1101 = 4353, 0x1108 = 4360, 0x03E8 = 1000, 0x03E9 = 1001
        (
            "84CC011108110185CCE803E90301",
            {
                "totalIn": 4353,
                "totalOut": 4360,
                "totalCountAlarm": "threshold alarm",
                "intensityIn": 1000,
                "intensityOut": 1001,
                "periodCountAlarm": "threshold alarm",
            },
        ),
        # 0x0150 = 336 -> 33.6 °C, alarm 3
        ("8367500103", {"temperature": 33.6, "temperatureAlarm": "high temperature alarm"}),
        # 0x64F13A7B = 1693530747 s = 2023-09-01T01:12:27Z; type 0; 0x000B = 11, 0x0004 = 4
        (
            "20CE7B3AF164000B000400",
            {"history": [{"observedAt": "2023-09-01T01:12:27Z", "intensityIn": 11, "intensityOut": 4}]},
        ),
        # 0x64F13DFF = 1693531647 s = 2023-09-01T01:27:27Z; type 1; 7, 2, 0x1D = 29, 8
        (
            "20CEFF3DF16401070002001D000800",
            {
                "history": [
                    {
                        "observedAt": "2023-09-01T01:27:27Z",
                        "intensityIn": 7,
                        "intensityOut": 2,
                        "totalIn": 29,
                        "totalOut": 8,
                    }
                ]
            },
        ),
    ],
)
def test_vs350_vendor_examples(hex_payload: str, expected: dict[str, Any]) -> None:
    assert VS350.decode_uplink(bytes.fromhex(hex_payload), 85).data == expected


def test_vs350_negative_temperature_and_timestamp() -> None:
    # 0xFF9C = -100 -> -10.0 °C; 0x65920080 LE bytes 80 00 92 65 = 1704067200 = 2024-01-01T00:00:00Z
    data = VS350.decode_uplink(bytes.fromhex("03679CFF0AEF80009265"), 85).data
    assert data == {"temperature": -10.0, "observedAt": "2024-01-01T00:00:00Z"}


def test_vs350_errors() -> None:
    with pytest.raises(CodecError, match="unknown history type 2 at byte 6"):
        VS350.decode_uplink(bytes.fromhex("20CE7B3AF164020B000400"), 85)
    with pytest.raises(CodecError, match="unknown temperature alarm code 9"):
        VS350.decode_uplink(bytes.fromhex("8367500109"), 85)


@given(st.integers(0, 100), st.integers(-400, 850), *[st.integers(0, 0xFFFF)] * 4)
def test_vs350_round_trip(battery: int, deci: int, ti: int, to: int, pi: int, po: int) -> None:
    m = {
        "batteryLevel": battery / 100,
        "temperature": deci / 10,
        "totalIn": ti,
        "totalOut": to,
        "intensityIn": pi,
        "intensityOut": po,
    }
    assert VS350.decode_uplink(VS350.encode_uplink(m, 85), 85).data == m


# ---- Milesight WS558 ----------------------------------------------------------------------------
def test_ws558_vendor_example() -> None:
    # README: 08310001 058164 07C90200 0374B208 068301000000 048001000000 ->
    # switch state 0x01 -> circuit 1 on; PF 0x64 = 100 %; current 2 mA; 0x08B2 = 2226 -> 222.6 V;
    # energy 1 Wh = 0.001 kWh; active power 1 W
    result = WS558.decode_uplink(bytes.fromhex("0831000105816407C902000374B208068301000000048001000000"), 85)
    expected = {f"circuit{n}": "off" for n in range(2, 9)} | {
        "circuit1": "on",
        "powerState": "on",
        "powerFactor": 1.0,
        "current": 0.002,
        "voltage": 222.6,
        "energy": 0.001,
        "activePower": 1,
    }
    assert result.data == expected


def test_ws558_hand_frame() -> None:
    # state 0xA0 = 0b10100000 -> circuits 6 and 8 on; 0x0DAC = 3500 mA = 3.5 A;
    # 0x0000C350 = 50000 Wh = 50 kWh; 0x00000302 = 770 W; PF 0x5F = 95 % -> 0.95; 0x0910 = 2320 -> 232.0 V
    data = WS558.decode_uplink(
        bytes.fromhex("0831A0A007C9AC0D068350C300000480020300000581" + "5F" + "03741009"), 85
    ).data
    assert [data[f"circuit{n}"] for n in range(1, 9)] == ["off"] * 5 + ["on", "off", "on"]
    assert data["current"] == 3.5
    assert data["energy"] == 50.0
    assert data["activePower"] == 770
    assert data["powerFactor"] == 0.95
    assert data["voltage"] == 232.0


def test_ws558_downlink() -> None:
    # circuits 1 on, 3 off: mask 0b101 = 0x05, state 0b001 = 0x01 -> 08 05 01 (vendor controlSwitch)
    assert WS558.encode_downlink({"circuits": {1: "on", 3: "off"}}) == (bytes.fromhex("080501"), 85)
    # all eight on: mask 0xFF state 0xFF
    assert WS558.encode_downlink({"circuits": {n: "on" for n in range(1, 9)}}) == (
        bytes.fromhex("08FFFF"),
        85,
    )
    with pytest.raises(CodecError, match="circuit numbers are 1..8"):
        WS558.encode_downlink({"circuits": {9: "on"}})
    with pytest.raises(CodecError, match="must be 'on' or 'off'"):
        WS558.encode_downlink({"circuits": {1: "dim"}})


@given(
    st.lists(st.booleans(), min_size=8, max_size=8),
    st.integers(0, 100),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
)
def test_ws558_round_trip(states: list[bool], pf: int, ma: int, dv: int, wh: int, w: int) -> None:
    m: dict[str, Any] = {f"circuit{n + 1}": "on" if s else "off" for n, s in enumerate(states)}
    m |= {
        "powerState": "on" if any(states) else "off",
        "powerFactor": pf / 100,
        "current": ma / 1000,
        "voltage": dv / 10,
        "energy": wh / 1000,
        "activePower": w,
    }
    assert WS558.decode_uplink(WS558.encode_uplink(m, 85), 85).data == m


# ---- Calanque streetlight -----------------------------------------------------------------------
def test_streetlight_hand_frame() -> None:
    # 01 | flags 0x05 (on + manual override) | dim 0x3C = 60 % | 0x0226 = 550 -> 55.0 W |
    # 0x0001E240 = 123456 Wh -> 123.456 kWh | 0x0910 = 2320 -> 232.0 V
    data = LIGHT.decode_uplink(bytes.fromhex("01053C02260001E2400910"), 10).data
    assert data == {
        "powerState": "on",
        "dimmingLevel": 60,
        "lampFailure": False,
        "manualOverride": True,
        "activePower": 55.0,
        "energy": 123.456,
        "voltage": 232.0,
    }


@pytest.mark.parametrize(
    ("command", "payload"),
    [
        ({"powerState": "off"}, "0100"),
        ({"powerState": "on"}, "0164"),  # 100 % = 0x64
        ({"powerState": "on", "dimmingLevel": 60}, "013C"),  # 60 = 0x3C
        ({"dimmingLevel": 25}, "0119"),  # 25 = 0x19
        ({"command": "status"}, "02"),
    ],
)
def test_streetlight_downlinks(command: dict[str, Any], payload: str) -> None:
    assert LIGHT.encode_downlink(command) == (bytes.fromhex(payload), 20)


@pytest.mark.parametrize(
    "command",
    [
        {"dimmingLevel": 101},
        {"dimmingLevel": -1},
        {"powerState": "dim"},
        {"powerState": "off", "dimmingLevel": 50},
        {"powerState": "on", "dimmingLevel": 0},
        {"colour": "red"},
        {},
    ],
)
def test_streetlight_invalid_commands(command: dict[str, Any]) -> None:
    with pytest.raises(CodecError):
        LIGHT.encode_downlink(command)


def test_streetlight_errors() -> None:
    with pytest.raises(CodecError, match="format version 2, expected 1"):
        LIGHT.decode_uplink(bytes.fromhex("02053C02260001E2400910"), 10)
    with pytest.raises(CodecError, match="dimming level 101"):
        LIGHT.decode_uplink(bytes.fromhex("010565" + "02260001E2400910"), 10)
    with pytest.raises(CodecError, match="truncated payload at byte 9"):
        LIGHT.decode_uplink(bytes.fromhex("01053C02260001E240"), 10)


@given(
    st.sampled_from(["on", "off"]),
    st.integers(0, 100),
    st.booleans(),
    st.booleans(),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFF),
)
def test_streetlight_round_trip(
    state: str, dim: int, failure: bool, override: bool, dw: int, wh: int, dv: int
) -> None:
    m = {
        "powerState": state,
        "dimmingLevel": dim,
        "lampFailure": failure,
        "manualOverride": override,
        "activePower": dw / 10,
        "energy": wh / 1000,
        "voltage": dv / 10,
    }
    assert LIGHT.decode_uplink(LIGHT.encode_uplink(m, 10), 10).data == m


# ---- registry -----------------------------------------------------------------------------------
def test_registry_lists_builtins() -> None:
    assert {
        "cayenne-lpp",
        "js",
        "json",
        "dragino-ldds75",
        "milesight-ws302",
        "decentlab-dl-ctd10",
        "milesight-vs350",
        "milesight-ws558",
        "calanque-streetlight",
    } <= set(list_codecs())
    for name in list_codecs():
        if name != "js":
            codec = get_codec(name)
            assert isinstance(codec, Codec) and codec.name == name
            if name != "cayenne-lpp":
                assert isinstance(codec, DeviceCodec)


def test_registry_errors_and_extension() -> None:
    with pytest.raises(CodecError, match="unknown codec 'nope'"):
        get_codec("nope")
    with pytest.raises(CodecError, match="takes no script"):
        get_codec("cayenne-lpp", script="x")
    with pytest.raises(ValueError, match="already registered"):
        register_codec("cayenne-lpp", CayenneLppCodec)

    class Echo:
        name = "test-echo"

        def decode_uplink(self, payload: bytes, f_port: int, recv_time: Any = None) -> Any:
            return CayenneLppCodec().decode_uplink(payload, f_port)

        def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
            raise CodecError("no downlinks")

    register_codec("test-echo", Echo, replace=True)
    assert "test-echo" in list_codecs()
    assert get_codec("test-echo").decode_uplink(bytes([1, 0, 1]), 1).data == {"digital_in_1": 1}


def test_json_codec_reads_objects_and_refuses_the_rest() -> None:
    from calanque.field.codecs import CodecError, get_codec

    codec = get_codec("json")
    assert codec.decode_uplink(b'{"pH": 7.2, "O2": 8.5}', 1).data == {"pH": 7.2, "O2": 8.5}
    for bad in (b"[1, 2]", b"\xff\xfe", b"{"):
        with pytest.raises(CodecError):
            codec.decode_uplink(bad, 1)
    assert codec.encode_downlink({"interval": 600}) == (b'{"interval":600}', 1)
    assert codec.decode_uplink(codec.encode_uplink({"turbidity": 3.5}, 1), 1).data == {"turbidity": 3.5}

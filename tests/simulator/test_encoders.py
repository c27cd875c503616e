"""Uplink encoders: byte strings worked by hand from the codec docstrings, and decode(encode(v)) == v
for the readings the simulated fleet really produces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calanque.field.codecs import get_codec
from calanque.simulator.encoders import FPORTS, encode, encode_reading
from calanque.simulator.fleet import CODECS, KINDS, FleetSpec, build_fleet
from calanque.simulator.signals import FloodEvent, Scenario, reading

# (kind, values, fPort, hex frame). Each frame is worked out by hand from the layout in the codec docstring.
HAND_FRAMES = [
    # WS302: 01 75 battery 87 % = 0x57 | 05 5B weighting A (1) + Fast (1 << 2) = 0x05,
    # LAF 623 = 0x026F, LAeq 641 = 0x0281, LAmax 789 = 0x0315, each little-endian.
    ("noise", {"batteryLevel": 0.87, "frequencyWeighting": "A", "timeWeighting": "F",
               "LAF": 62.3, "LAeq": 64.1, "LAmax": 78.9}, 85, "017557055b056f0281021503"),
    # LDDS75 (big-endian): battery 3482 mV = 0x0D9A, distance 1234 mm = 0x04D2, no interrupt,
    # temperature 146 (0.1 °C) = 0x0092, sensor flag 1.
    ("waste", {"batteryVoltage": 3.482, "distance": 1.234, "interruptFlag": False, "temperature": 14.6,
               "sensorDetected": True}, 2, "0d9a04d200009201"),
    # Same sensor at -3.5 °C: -35 as int16 = 0xFFDD.
    ("waste", {"batteryVoltage": 3.3, "distance": 0.35, "interruptFlag": False, "temperature": -3.5,
               "sensorDetected": True}, 2, "0ce4015e00ffdd01"),
    # DL-CTD10: version 2 | device 1001 = 0x03E9 | flags 0x0003 | depth 758 + 32768 = 0x82F6 |
    # temperature 121 + 32768 = 0x8079 | conductivity 850 = 0x0352 | freezing 0 | battery 3450 mV = 0x0D7A.
    ("river", {"deviceId": 1001, "waterDepth": 0.758, "temperature": 12.1, "conductivity": 850,
               "freezingFlag": False, "batteryVoltage": 3.45}, 1, "0203e9000382f68079035200000d7a"),
    # VS350: 01 75 battery 76 % = 0x4C | 03 67 temperature 123 = 0x007B LE | 05 CC in 37 = 0x0025, out 12 = 0x000C LE.
    ("bike", {"batteryLevel": 0.76, "temperature": 12.3, "intensityIn": 37, "intensityOut": 12},
     85, "01754c03677b0005cc25000c00"),
    # Streetlight (big-endian): version 1 | flags lamp on = 0x01 | dimming 50 = 0x32 | power 330 (0.1 W) = 0x014A |
    # energy 352616 Wh = 0x00056168 | voltage 2276 (0.1 V) = 0x08E4.
    ("streetlight", {"powerState": "on", "dimmingLevel": 50, "lampFailure": False, "manualOverride": False,
                     "activePower": 33.0, "energy": 352.616, "voltage": 227.6}, 10, "010132014a0005616808e4"),
    # Failed lamp commanded on at full level: flags on + failure = 0x03, dimming 100 = 0x64, power 5 (0.1 W) = 0x0005,
    # energy 1000 Wh = 0x000003E8, voltage 2310 = 0x0906.
    ("streetlight", {"powerState": "on", "dimmingLevel": 100, "lampFailure": True, "manualOverride": False,
                     "activePower": 0.5, "energy": 1.0, "voltage": 231.0}, 10, "0103640005000003e80906"),
    # WS558 (little-endian): 08 31 mask 00 state circuits 1+2 = 0x03 | 05 81 PF 93 % = 0x5D |
    # 07 C9 current 5575 mA = 0x15C7 | 03 74 voltage 2315 = 0x090B | 06 83 energy 6619408 Wh = 0x00650110 |
    # 04 80 power 1200 W = 0x000004B0.
    ("cabinet", {"voltage": 231.5, "activePower": 1200, "powerFactor": 0.93, "energy": 6619.408, "current": 5.575,
                 "circuit1": "on", "circuit2": "on", "circuit3": "off", "circuit4": "off", "circuit5": "off",
                 "circuit6": "off", "circuit7": "off", "circuit8": "off", "powerState": "on"},
     85, "0831000305815d07c9c71503740b090683100165000480b0040000"),
]


@pytest.mark.parametrize(("kind", "values", "port", "frame"), HAND_FRAMES)
def test_hand_worked_frames(kind: str, values: dict, port: int, frame: str) -> None:
    payload, f_port = encode(kind, values)  # type: ignore[arg-type]
    assert (payload.hex(), f_port) == (frame, port)
    assert get_codec(CODECS[kind]).decode_uplink(payload, port).data == values  # type: ignore[index]


def test_ports_are_the_documented_uplink_ports() -> None:
    # Milesight 85, Dragino LDDS75 2, Decentlab 1, the streetlight format 10 (codec docstrings).
    assert FPORTS == {"noise": 85, "waste": 2, "river": 1, "water": 1, "bike": 85, "pedestrian": 85,
                      "streetlight": 10, "cabinet": 85}


def test_round_trip_of_real_fleet_readings() -> None:
    fleet = build_fleet(FleetSpec(seed=7, streetlights=24, lights_per_group=12))
    start = datetime(2026, 3, 2, tzinfo=UTC)  # a week across the spring DST change (29 March is later)
    scenario = Scenario((FloodEvent(start + timedelta(days=2)),))
    checked = dict.fromkeys(KINDS, 0)
    for dev in fleet.devices:
        for hour in range(0, 7 * 24, 7):
            t = start + timedelta(hours=hour, minutes=dev.number)
            values = reading(dev, t, scenario)
            payload, port = encode_reading(dev, values)
            assert get_codec(dev.codec).decode_uplink(payload, port).data == values, (dev.id, t, values)
            checked[dev.kind] += 1
    assert all(n > 0 for n in checked.values()), checked

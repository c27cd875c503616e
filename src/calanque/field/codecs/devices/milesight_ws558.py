"""Milesight WS558 LoRaWAN smart light controller, the lighting cabinet of a street lighting circuit.

Eight switched output circuits and a built-in energy meter. Milesight channel framing on
fPort 85 (``id | type | data``, little-endian; vendor decoder and encoder ``ws-series/ws558``
in Milesight-IoT/SensorDecoders)::

    03 74  voltage, uint16, 0.1 V
    04 80  active power, uint32, W
    05 81  power factor, uint8, %
    06 83  energy consumed, uint32, Wh
    07 C9  current, uint16, mA
    08 31  switches: change mask (1 byte) + state bits (1 byte), bit n = circuit n+1
    FF xx  device attributes

Decoded keys and units:

* ``voltage`` — V;  ``current`` — A;  ``activePower`` — W;  ``powerFactor`` — ratio 0..1
* ``energy`` — kWh (cumulative)
* ``circuit1`` … ``circuit8`` — "on"/"off";  ``powerState`` — "on" if any circuit is on

Downlink (vendor encoder ``controlSwitch``), fPort 85:
``{"circuits": {1: "on", 3: "off"}}`` → ``08 | mask | state``, only the listed circuits change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calanque.field.codecs.base import ByteReader, CodecError, DecodeResult, put_uint, require, scaled
from calanque.field.codecs.devices._milesight import MILESIGHT_FPORT, check_port, decode_channels

NAME = "milesight-ws558"
STATES = ("off", "on")


def _switches(reader: ByteReader, data: dict[str, Any]) -> None:
    reader.uint(1, "switch change mask")
    state = reader.uint(1, "switch state")
    for n in range(8):
        data[f"circuit{n + 1}"] = STATES[(state >> n) & 1]
    data["powerState"] = "on" if state else "off"


CHANNELS = {
    (0x03, 0x74): lambda r, d: d.__setitem__("voltage", r.uint(2, "voltage", little=True) / 10),
    (0x04, 0x80): lambda r, d: d.__setitem__("activePower", r.uint(4, "active power", little=True)),
    (0x05, 0x81): lambda r, d: d.__setitem__("powerFactor", r.uint(1, "power factor") / 100),
    (0x06, 0x83): lambda r, d: d.__setitem__("energy", r.uint(4, "energy", little=True) / 1000),
    (0x07, 0xC9): lambda r, d: d.__setitem__("current", r.uint(2, "current", little=True) / 1000),
    (0x08, 0x31): _switches,
}


def _circuit_state(value: Any, circuit: Any) -> int:
    if value in ("on", True, 1):
        return 1
    if value in ("off", False, 0):
        return 0
    raise CodecError(f"{NAME}: circuit {circuit} must be 'on' or 'off', got {value!r}")


class MilesightWs558Codec:
    """Codec of the Milesight WS558 eight-circuit light controller with energy meter."""

    name = NAME

    def decode_uplink(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> DecodeResult:
        """Decode a WS558 uplink into electrical measurements and circuit states."""
        check_port(f_port, self.name)
        return DecodeResult(decode_channels(payload, self.name, CHANNELS))

    def encode_uplink(self, measurements: dict[str, Any], f_port: int = MILESIGHT_FPORT) -> bytes:
        """Encode measurements (decode_uplink's keys; circuits default to off) into an uplink."""
        check_port(f_port, self.name)
        state = 0
        for n in range(8):
            state |= _circuit_state(measurements.get(f"circuit{n + 1}", "off"), n + 1) << n
        return b"".join(
            (
                b"\x08\x31\x00" + put_uint(state, 1, "circuits"),
                b"\x05\x81" + scaled(require(measurements, "powerFactor", self.name), 100, 1, "powerFactor"),
                b"\x07\xc9"
                + scaled(require(measurements, "current", self.name), 1000, 2, "current", little=True),
                b"\x03\x74"
                + scaled(require(measurements, "voltage", self.name), 10, 2, "voltage", little=True),
                b"\x06\x83"
                + scaled(require(measurements, "energy", self.name), 1000, 4, "energy", little=True),
                b"\x04\x80"
                + scaled(require(measurements, "activePower", self.name), 1, 4, "activePower", little=True),
            )
        )

    def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
        """Encode ``{"circuits": {n: "on"|"off"}}`` (n = 1..8) into the switch control command."""
        circuits = data.get("circuits")
        if set(data) != {"circuits"} or not isinstance(circuits, dict) or not circuits:
            raise CodecError(
                f"{self.name}: expected {{'circuits': {{1: 'on', 2: 'off', ...}}}}, got {data!r}"
            )
        mask = state = 0
        for key, value in circuits.items():
            try:
                n = int(key)
            except (TypeError, ValueError):
                n = 0
            if not 1 <= n <= 8:
                raise CodecError(f"{self.name}: circuit numbers are 1..8, got {key!r}")
            mask |= 1 << (n - 1)
            state |= _circuit_state(value, n) << (n - 1)
        return bytes((0x08, mask, state)), MILESIGHT_FPORT

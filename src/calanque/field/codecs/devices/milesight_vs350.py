"""Milesight VS350 passage people counter, used for pedestrian and bike counting points.

Milesight channel framing on fPort 85 (``id | type | data``, little-endian; vendor decoder
``vs-series/vs350`` in Milesight-IoT/SensorDecoders)::

    01 75  battery, 1 byte, %
    03 67  temperature, int16, 0.1 °C
    04 CC  total in (uint16) + total out (uint16), cumulative counts
    05 CC  period in (uint16) + period out (uint16), counts over the report period
    0A EF  timestamp, uint32, Unix seconds
    83 67  temperature (int16, 0.1 °C) + alarm (1 byte)
    84 CC  total in/out + alarm (1 byte);  85 CC  period in/out + alarm (1 byte)
    20 CE  history: timestamp (uint32) + type (1) + period in/out, and total in/out when type = 1
    FF xx  device attributes

Decoded keys and units (direction "in"/"out" as configured on the device's counting line):

* ``intensityIn`` / ``intensityOut`` — crossings during the report period (count)
* ``totalIn`` / ``totalOut`` — cumulative crossings since the last reset (count)
* ``temperature`` — °C;  ``batteryLevel`` — ratio 0..1
* ``observedAt`` — ISO 8601 UTC from the device clock, when sent
* ``temperatureAlarm``, ``totalCountAlarm``, ``periodCountAlarm`` — alarm code name
* ``history`` — list of ``{observedAt, intensityIn, intensityOut[, totalIn, totalOut]}``

No downlinks in Calanque (encode_downlink raises).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from calanque.field.codecs.base import ByteReader, CodecError, DecodeResult, put_uint, scaled
from calanque.field.codecs.devices._milesight import MILESIGHT_FPORT, check_port, decode_channels

NAME = "milesight-vs350"
ALARMS = {
    0: "threshold alarm release",
    1: "threshold alarm",
    3: "high temperature alarm",
    4: "high temperature alarm release",
}


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _alarm(reader: ByteReader, what: str) -> str:
    at = reader.pos
    code = reader.uint(1, what)
    if code not in ALARMS:
        raise CodecError(f"{NAME}: unknown {what} code {code} at byte {at}")
    return ALARMS[code]


def _pair(reader: ByteReader, first: str, second: str, data: dict[str, Any]) -> None:
    data[first] = reader.uint(2, first, little=True)
    data[second] = reader.uint(2, second, little=True)


def _battery(r: ByteReader, d: dict[str, Any]) -> None:
    d["batteryLevel"] = r.uint(1, "battery") / 100


def _temperature(r: ByteReader, d: dict[str, Any]) -> None:
    d["temperature"] = r.uint(2, "temperature", signed=True, little=True) / 10


def _temperature_alarm(r: ByteReader, d: dict[str, Any]) -> None:
    _temperature(r, d)
    d["temperatureAlarm"] = _alarm(r, "temperature alarm")


def _total_alarm(r: ByteReader, d: dict[str, Any]) -> None:
    _pair(r, "totalIn", "totalOut", d)
    d["totalCountAlarm"] = _alarm(r, "total count alarm")


def _period_alarm(r: ByteReader, d: dict[str, Any]) -> None:
    _pair(r, "intensityIn", "intensityOut", d)
    d["periodCountAlarm"] = _alarm(r, "period count alarm")


def _history(r: ByteReader, d: dict[str, Any]) -> None:
    entry: dict[str, Any] = {"observedAt": _iso(r.uint(4, "history timestamp", little=True))}
    at = r.pos
    kind = r.uint(1, "history type")
    if kind not in (0, 1):
        raise CodecError(f"{NAME}: unknown history type {kind} at byte {at}, expected 0 or 1")
    _pair(r, "intensityIn", "intensityOut", entry)
    if kind == 1:
        _pair(r, "totalIn", "totalOut", entry)
    d.setdefault("history", []).append(entry)


CHANNELS = {
    (0x01, 0x75): _battery,
    (0x03, 0x67): _temperature,
    (0x04, 0xCC): lambda r, d: _pair(r, "totalIn", "totalOut", d),
    (0x05, 0xCC): lambda r, d: _pair(r, "intensityIn", "intensityOut", d),
    (0x0A, 0xEF): lambda r, d: d.__setitem__("observedAt", _iso(r.uint(4, "timestamp", little=True))),
    (0x83, 0x67): _temperature_alarm,
    (0x84, 0xCC): _total_alarm,
    (0x85, 0xCC): _period_alarm,
    (0x20, 0xCE): _history,
}


class MilesightVs350Codec:
    """Codec of the Milesight VS350 bidirectional passage counter."""

    name = NAME

    def decode_uplink(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> DecodeResult:
        """Decode a VS350 uplink into directional counts, temperature and battery level."""
        check_port(f_port, self.name)
        return DecodeResult(decode_channels(payload, self.name, CHANNELS))

    def encode_uplink(self, measurements: dict[str, Any], f_port: int = MILESIGHT_FPORT) -> bytes:
        """Encode periodic measurements (batteryLevel, temperature, totals, intensities) into an uplink."""
        check_port(f_port, self.name)
        out = bytearray()
        if "batteryLevel" in measurements:
            out += b"\x01\x75" + scaled(measurements["batteryLevel"], 100, 1, "batteryLevel")
        if "temperature" in measurements:
            out += b"\x03\x67" + scaled(
                measurements["temperature"], 10, 2, "temperature", signed=True, little=True
            )
        for channel, first, second in ((0x04, "totalIn", "totalOut"), (0x05, "intensityIn", "intensityOut")):
            if first in measurements or second in measurements:
                out += bytes((channel, 0xCC))
                out += put_uint(measurements.get(first, 0), 2, first, little=True)
                out += put_uint(measurements.get(second, 0), 2, second, little=True)
        if not out:
            raise CodecError(f"{self.name}: nothing to encode; expected batteryLevel, temperature or counts")
        return bytes(out)

    def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
        """The VS350 gets no commands from Calanque: always raise CodecError."""
        raise CodecError(f"{self.name} has no downlink commands in Calanque")

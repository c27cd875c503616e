"""Cayenne Low Power Payload (LPP) codec, v1 types plus the common extended types.

A frame is a sequence of ``channel (1 byte) | type (1 byte) | value (size bytes)`` records,
values big-endian. Decoded data follows The Things Stack's CayenneLPP formatter: one key per
record, ``<type name>_<channel>`` (e.g. ``{"temperature_3": 27.2}``); multi-axis values are
objects. Type IDs, sizes, resolutions and signedness follow the ElectronicCats/TTN CayenneLPP
library (``LPP_*`` constants); ``load`` (122) follows pycayennelpp.

====  ====================  =====  =========================  ======
ID    name                  bytes  resolution                 signed
====  ====================  =====  =========================  ======
0     digital_in            1      1                          no
1     digital_out           1      1                          no
2     analog_in             2      0.01                       yes
3     analog_out            2      0.01                       yes
100   generic               4      1                          no
101   luminosity            2      1 lux                      no
102   presence              1      1                          no
103   temperature           2      0.1 °C                     yes
104   relative_humidity     1      0.5 %                      no
113   accelerometer         6      0.001 G per axis x,y,z     yes
115   barometric_pressure   2      0.1 hPa                    no
116   voltage               2      0.01 V                     no
117   current               2      0.001 A                    no
118   frequency             4      1 Hz                       no
120   percentage            1      1 %                        no
121   altitude              2      1 m                        yes
122   load                  3      0.001 kg                   yes
125   concentration         2      1 ppm                      no
128   power                 2      1 W                        no
130   distance              4      0.001 m                    no
131   energy                4      0.001 kWh                  no
132   direction             2      1 °                        no
133   time                  4      1 s (Unix time)            no
134   gyrometer             6      0.01 °/s per axis x,y,z    yes
135   colour                3      1 per channel r,g,b        no
136   gps                   9      lat/lon 0.0001 °, alt 0.01 m  yes
142   switch                1      0/1                        no
====  ====================  =====  =========================  ======

The encoder rounds to the nearest step (the Arduino library truncates). Cayenne LPP defines no
downlink commands in Calanque; ``encode_downlink`` raises CodecError.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from calanque.field.codecs.base import CodecError, DecodeResult, put_uint, scaled


@dataclass(frozen=True, slots=True)
class LppType:
    """One Cayenne LPP data type: its ID, name and the layout of its value."""

    type_id: int
    name: str
    fields: tuple[str, ...]  # component names; ("",) for a scalar
    sizes: tuple[int, ...]
    multipliers: tuple[int, ...]
    signed: bool

    @property
    def size(self) -> int:
        """Total number of value bytes."""
        return sum(self.sizes)


def _scalar(type_id: int, name: str, size: int, mult: int, signed: bool = False) -> LppType:
    return LppType(type_id, name, ("",), (size,), (mult,), signed)


LPP_TYPES: dict[int, LppType] = {
    t.type_id: t
    for t in (
        _scalar(0, "digital_in", 1, 1),
        _scalar(1, "digital_out", 1, 1),
        _scalar(2, "analog_in", 2, 100, True),
        _scalar(3, "analog_out", 2, 100, True),
        _scalar(100, "generic", 4, 1),
        _scalar(101, "luminosity", 2, 1),
        _scalar(102, "presence", 1, 1),
        _scalar(103, "temperature", 2, 10, True),
        _scalar(104, "relative_humidity", 1, 2),
        LppType(113, "accelerometer", ("x", "y", "z"), (2, 2, 2), (1000, 1000, 1000), True),
        _scalar(115, "barometric_pressure", 2, 10),
        _scalar(116, "voltage", 2, 100),
        _scalar(117, "current", 2, 1000),
        _scalar(118, "frequency", 4, 1),
        _scalar(120, "percentage", 1, 1),
        _scalar(121, "altitude", 2, 1, True),
        _scalar(122, "load", 3, 1000, True),
        _scalar(125, "concentration", 2, 1),
        _scalar(128, "power", 2, 1),
        _scalar(130, "distance", 4, 1000),
        _scalar(131, "energy", 4, 1000),
        _scalar(132, "direction", 2, 1),
        _scalar(133, "time", 4, 1),
        LppType(134, "gyrometer", ("x", "y", "z"), (2, 2, 2), (100, 100, 100), True),
        LppType(135, "colour", ("r", "g", "b"), (1, 1, 1), (1, 1, 1), False),
        LppType(136, "gps", ("latitude", "longitude", "altitude"), (3, 3, 3), (10000, 10000, 100), True),
        _scalar(142, "switch", 1, 1),
    )
}
LPP_TYPES_BY_NAME: dict[str, LppType] = {t.name: t for t in LPP_TYPES.values()}


def _component(raw: bytes, mult: int, signed: bool) -> int | float:
    value = int.from_bytes(raw, "big", signed=signed)
    return value if mult == 1 else value / mult


def decode_frame(payload: bytes) -> list[tuple[int, LppType, Any]]:
    """Decode a Cayenne LPP frame into (channel, type, value) records, in order."""
    records: list[tuple[int, LppType, Any]] = []
    pos = 0
    n = len(payload)
    while pos < n:
        channel = payload[pos]
        if pos + 1 >= n:
            raise CodecError(
                f"cayenne-lpp: truncated frame at byte {pos}: channel {channel} has no type byte"
            )
        type_id = payload[pos + 1]
        lpp = LPP_TYPES.get(type_id)
        if lpp is None:
            raise CodecError(
                f"cayenne-lpp: unknown type {type_id} (0x{type_id:02X}) at byte {pos + 1} "
                f"on channel {channel}; "
                f"known types: {sorted(LPP_TYPES)}"
            )
        start = pos + 2
        if start + lpp.size > n:
            raise CodecError(
                f"cayenne-lpp: truncated {lpp.name} on channel {channel} at byte {start}: "
                f"needs {lpp.size} byte(s), only {n - start} left"
            )
        values: list[int | float] = []
        offset = start
        for size, mult in zip(lpp.sizes, lpp.multipliers, strict=True):
            values.append(_component(payload[offset : offset + size], mult, lpp.signed))
            offset += size
        value: Any = values[0] if lpp.fields == ("",) else dict(zip(lpp.fields, values, strict=True))
        records.append((channel, lpp, value))
        pos = offset
    return records


def encode_records(records: Iterable[tuple[int, str | int, Any]]) -> bytes:
    """Encode (channel, type name or ID, value) records into a Cayenne LPP frame."""
    out = bytearray()
    for channel, type_ref, value in records:
        lpp = LPP_TYPES.get(type_ref) if isinstance(type_ref, int) else LPP_TYPES_BY_NAME.get(type_ref)
        if lpp is None:
            raise CodecError(
                f"cayenne-lpp: unknown type {type_ref!r}; expected one of {sorted(LPP_TYPES_BY_NAME)}"
            )
        out += put_uint(channel, 1, f"{lpp.name} channel")
        out.append(lpp.type_id)
        if lpp.fields == ("",):
            components = [value]
        else:
            if not isinstance(value, dict) or set(value) != set(lpp.fields):
                raise CodecError(
                    f"cayenne-lpp: {lpp.name} on channel {channel} needs an object "
                    f"with keys {list(lpp.fields)}, "
                    f"got {value!r}"
                )
            components = [value[f] for f in lpp.fields]
        for component, size, mult in zip(components, lpp.sizes, lpp.multipliers, strict=True):
            out += scaled(component, mult, size, f"{lpp.name}_{channel}", signed=lpp.signed)
    return bytes(out)


class CayenneLppCodec:
    """Cayenne LPP codec producing The Things Stack style ``<type>_<channel>`` keys."""

    name = "cayenne-lpp"

    def decode_uplink(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> DecodeResult:
        """Decode a Cayenne LPP frame (any fPort) into ``{"<type>_<channel>": value}``."""
        data: dict[str, Any] = {}
        warnings: list[str] = []
        for channel, lpp, value in decode_frame(payload):
            key = f"{lpp.name}_{channel}"
            if key in data:
                warnings.append(f"{key} appears more than once in the frame; the last value is kept")
            data[key] = value
        return DecodeResult(data, warnings)

    def encode_uplink(self, measurements: dict[str, Any], f_port: int = 1) -> bytes:
        """Encode ``{"<type>_<channel>": value}`` (the decoder's output shape) into a frame."""
        records: list[tuple[int, str, Any]] = []
        for key, value in measurements.items():
            type_name, sep, channel_text = key.rpartition("_")
            if not sep or not channel_text.isdigit():
                raise CodecError(f"cayenne-lpp: key '{key}' is not '<type>_<channel>' (e.g. 'temperature_3')")
            records.append((int(channel_text), type_name, value))
        return encode_records(records)

    def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
        """Cayenne LPP defines no downlinks here: always raise CodecError."""
        raise CodecError("cayenne-lpp has no downlink commands; use a device codec or a JS codec")

"""Calanque compact streetlight controller format (no public vendor format fits a single luminaire node).

Streetlight nodes (NEMA/Zhaga socket controllers driving one luminaire over DALI or 1-10 V) use
proprietary or very large (uCIFI LwM2M) encodings, so the fleet uses this documented compact
format. All multi-byte fields are big-endian.

Status uplink, fPort 10, 11 bytes::

    byte  0     format version, 0x01
    byte  1     flags: bit 0 = lamp on, bit 1 = lamp failure, bit 2 = manual override
    byte  2     dimming level, 0..100 %
    bytes 3-4   active power, uint16, 0.1 W
    bytes 5-8   energy consumed, uint32, Wh (cumulative)
    bytes 9-10  supply voltage, uint16, 0.1 V

Decoded keys and units:

* ``powerState`` — "on"/"off";  ``dimmingLevel`` — % (0..100)
* ``activePower`` — W;  ``energy`` — kWh;  ``voltage`` — V
* ``lampFailure``, ``manualOverride`` — bool

Command downlink, fPort 20::

    01 LL   switch and dim: LL = 0 switches the lamp off, 1..100 switches it on at LL %
    02      request an immediate status uplink

``encode_downlink`` accepts ``{"powerState": "off"}``, ``{"powerState": "on"}`` (100 %),
``{"powerState": "on", "dimmingLevel": 60}``, ``{"dimmingLevel": 60}`` or ``{"command": "status"}``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calanque.field.codecs.base import ByteReader, CodecError, DecodeResult, put_uint, require, scaled

VERSION = 1
UPLINK_FPORT = 10
DOWNLINK_FPORT = 20
FLAG_ON, FLAG_FAILURE, FLAG_OVERRIDE = 0x01, 0x02, 0x04


class CalanqueStreetlightCodec:
    """Codec of the Calanque compact streetlight controller format."""

    name = "calanque-streetlight"

    def decode_uplink(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> DecodeResult:
        """Decode an 11-byte status uplink into lamp state, dimming and energy values."""
        if f_port != UPLINK_FPORT:
            raise CodecError(f"{self.name}: status uplinks come on fPort {UPLINK_FPORT}, got fPort {f_port}")
        reader = ByteReader(payload, self.name)
        version = reader.uint(1, "format version")
        if version != VERSION:
            raise CodecError(f"{self.name}: byte 0 is format version {version}, expected {VERSION}")
        flags = reader.uint(1, "flags")
        if flags & ~0x07:
            raise CodecError(f"{self.name}: flags 0x{flags:02X} at byte 1 set reserved bits 3-7")
        dimming = reader.uint(1, "dimming level")
        if dimming > 100:
            raise CodecError(f"{self.name}: dimming level {dimming} at byte 2 is above 100 %")
        data = {
            "powerState": "on" if flags & FLAG_ON else "off",
            "dimmingLevel": dimming,
            "lampFailure": bool(flags & FLAG_FAILURE),
            "manualOverride": bool(flags & FLAG_OVERRIDE),
            "activePower": reader.uint(2, "active power") / 10,
            "energy": reader.uint(4, "energy") / 1000,
            "voltage": reader.uint(2, "voltage") / 10,
        }
        if reader.remaining:
            raise CodecError(f"{self.name}: expected 11 bytes, got {len(payload)}")
        return DecodeResult(data)

    def encode_uplink(self, measurements: dict[str, Any], f_port: int = UPLINK_FPORT) -> bytes:
        """Encode measurements (decode_uplink's keys) into a status uplink."""
        if f_port != UPLINK_FPORT:
            raise CodecError(f"{self.name}: status uplinks are sent on fPort {UPLINK_FPORT}, not {f_port}")
        state = require(measurements, "powerState", self.name)
        if state not in ("on", "off"):
            raise CodecError(f"{self.name}: powerState must be 'on' or 'off', got {state!r}")
        flags = (
            (FLAG_ON if state == "on" else 0)
            | (FLAG_FAILURE if measurements.get("lampFailure") else 0)
            | (FLAG_OVERRIDE if measurements.get("manualOverride") else 0)
        )
        dimming = measurements.get("dimmingLevel", 100 if state == "on" else 0)
        if isinstance(dimming, bool) or not isinstance(dimming, int) or not 0 <= dimming <= 100:
            raise CodecError(f"{self.name}: dimmingLevel must be an integer 0..100, got {dimming!r}")
        return b"".join(
            (
                bytes((VERSION, flags, dimming)),
                scaled(require(measurements, "activePower", self.name), 10, 2, "activePower"),
                scaled(require(measurements, "energy", self.name), 1000, 4, "energy"),
                scaled(require(measurements, "voltage", self.name), 10, 2, "voltage"),
            )
        )

    def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
        """Encode a switch/dim or status-request command (see the module docstring)."""
        if data == {"command": "status"}:
            return b"\x02", DOWNLINK_FPORT
        unknown = set(data) - {"powerState", "dimmingLevel"}
        if unknown or not data:
            raise CodecError(
                f"{self.name}: expected powerState ('on'/'off') and/or dimmingLevel (0..100), "
                f"or {{'command': 'status'}}; got {data!r}"
            )
        state = data.get("powerState", "on")
        if state not in ("on", "off"):
            raise CodecError(f"{self.name}: powerState must be 'on' or 'off', got {state!r}")
        level = data.get("dimmingLevel", 100)
        if isinstance(level, bool) or not isinstance(level, int | float) or not 0 <= level <= 100:
            raise CodecError(f"{self.name}: dimmingLevel must be a number 0..100 %, got {level!r}")
        if state == "off":
            if "dimmingLevel" in data and level != 0:
                raise CodecError(f"{self.name}: powerState 'off' contradicts dimmingLevel {level}")
            return b"\x01\x00", DOWNLINK_FPORT
        rounded = round(level)
        if rounded == 0:
            raise CodecError(
                f"{self.name}: powerState 'on' needs a dimmingLevel of at least 1 %, got {level}"
            )
        return b"\x01" + put_uint(rounded, 1, "dimmingLevel"), DOWNLINK_FPORT

"""Decentlab DL-CTD10 pressure/liquid level, temperature and electrical conductivity sensor.

Used for river level (water depth above the probe) and water quality (temperature and
conductivity). Decentlab protocol version 2, big-endian (decentlab/decentlab-decoders
``DL-CTD10``)::

    byte  0    protocol version, must be 2
    bytes 1-2  device ID
    bytes 3-4  flags: bit 0 = sensor values present, bit 1 = battery present
    then, for each flag set, 16-bit words:
      sensor (4 words): water depth = w0 - 32768 (mm), temperature = (w1 - 32768) / 10 (°C),
                        electrical conductivity = w2 (µS/cm), freezing flag = w3
      battery (1 word): battery voltage = w0 / 1000 (V)

Decoded keys and units:

* ``deviceId`` — int
* ``waterDepth`` — m
* ``temperature`` — °C
* ``conductivity`` — µS/cm (electrical conductivity, not temperature-compensated)
* ``freezingFlag`` — bool
* ``batteryVoltage`` — V

Decentlab devices send on fPort 1 (the port is not checked). No downlinks in Calanque.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calanque.field.codecs.base import ByteReader, CodecError, DecodeResult, put_uint, require, scaled

PROTOCOL_VERSION = 2
UPLINK_FPORT = 1
OFFSET = 32768


class DecentlabDlCtd10Codec:
    """Codec of the Decentlab DL-CTD10 water level / temperature / conductivity sensor."""

    name = "decentlab-dl-ctd10"

    def decode_uplink(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> DecodeResult:
        """Decode a Decentlab v2 frame into water depth, temperature, conductivity and battery."""
        reader = ByteReader(payload, self.name)
        version = reader.uint(1, "protocol version")
        if version != PROTOCOL_VERSION:
            raise CodecError(
                f"{self.name}: byte 0 is protocol version {version}, expected {PROTOCOL_VERSION}"
            )
        data: dict[str, Any] = {"deviceId": reader.uint(2, "device ID")}
        flags = reader.uint(2, "flags")
        if flags & ~0x03:
            raise CodecError(
                f"{self.name}: flags 0x{flags:04X} at byte 3 set unknown sensors (expected bits 0-1)"
            )
        if flags & 0x01:
            data["waterDepth"] = (reader.uint(2, "water depth") - OFFSET) / 1000
            data["temperature"] = (reader.uint(2, "temperature") - OFFSET) / 10
            data["conductivity"] = reader.uint(2, "electrical conductivity")
            data["freezingFlag"] = bool(reader.uint(2, "freezing flag"))
        if flags & 0x02:
            data["batteryVoltage"] = reader.uint(2, "battery voltage") / 1000
        if reader.remaining:
            raise CodecError(
                f"{self.name}: {reader.remaining} unexpected trailing byte(s) at byte {reader.pos} "
                f"for flags 0x{flags:04X}"
            )
        return DecodeResult(data)

    def encode_uplink(self, measurements: dict[str, Any], f_port: int = UPLINK_FPORT) -> bytes:
        """Encode measurements (decode_uplink's keys) into a Decentlab v2 frame."""
        has_sensor = "waterDepth" in measurements
        has_battery = "batteryVoltage" in measurements
        out = bytearray([PROTOCOL_VERSION])
        out += put_uint(measurements.get("deviceId", 0), 2, "deviceId")
        out += put_uint(int(has_sensor) | (int(has_battery) << 1), 2, "flags")
        if has_sensor:
            depth_mm = round(measurements["waterDepth"] * 1000)
            temp = round(require(measurements, "temperature", self.name) * 10)
            out += put_uint(depth_mm + OFFSET, 2, "waterDepth")
            out += put_uint(temp + OFFSET, 2, "temperature")
            out += put_uint(require(measurements, "conductivity", self.name), 2, "conductivity")
            out += put_uint(int(bool(measurements.get("freezingFlag", False))), 2, "freezingFlag")
        if has_battery:
            out += scaled(measurements["batteryVoltage"], 1000, 2, "batteryVoltage")
        return bytes(out)

    def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
        """The DL-CTD10 gets no commands from Calanque: always raise CodecError."""
        raise CodecError(f"{self.name} has no downlink commands in Calanque")

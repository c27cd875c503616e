"""Dragino LDDS75 LoRaWAN ultrasonic distance sensor (firmware v1.1.4 and later).

Used for the fill level of glass/paper/packaging drop-off containers and for river level by
distance to the water surface. Uplink on fPort 2, 8 bytes, big-endian (Dragino LDDS75 user
manual, TTN device repository ``ldds75`` codec)::

    bytes 0-1  battery: bits 13..0 = battery voltage in mV (top two bits are status, ignored)
    bytes 2-3  distance in mm; 0 = no ultrasonic sensor, 20 = invalid reading
    byte  4    interrupt flag (1 = uplink triggered by the interrupt pin)
    bytes 5-6  DS18B20 probe temperature, signed, 0.1 °C (0 when no probe is fitted)
    byte  7    sensor flag (1 = ultrasonic sensor detected)

Decoded keys and units:

* ``batteryVoltage`` — V
* ``distance`` — m (absent, with a warning, when the reading is missing or invalid)
* ``temperature`` — °C
* ``interruptFlag`` — bool
* ``sensorDetected`` — bool

Downlink (Dragino common command set, accepted on any fPort; Calanque sends on fPort 2):
``{"transmitInterval": seconds}`` → ``0x01`` + interval on 3 bytes big-endian.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calanque.field.codecs.base import ByteReader, CodecError, DecodeResult, put_uint, require, scaled

UPLINK_FPORT = 2
DOWNLINK_FPORT = 2
NO_SENSOR_MM = 0
INVALID_READING_MM = 20


class DraginoLdds75Codec:
    """Codec of the Dragino LDDS75 ultrasonic distance sensor."""

    name = "dragino-ldds75"

    def decode_uplink(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> DecodeResult:
        """Decode an 8-byte fPort 2 uplink into distance, temperature and battery."""
        if f_port != UPLINK_FPORT:
            raise CodecError(f"{self.name}: uplinks come on fPort {UPLINK_FPORT}, got fPort {f_port}")
        if len(payload) != 8:
            raise CodecError(f"{self.name}: expected an 8-byte payload, got {len(payload)} bytes")
        reader = ByteReader(payload, self.name)
        battery_mv = reader.uint(2, "battery") & 0x3FFF
        distance_mm = reader.uint(2, "distance")
        interrupt = reader.uint(1, "interrupt flag")
        temperature = reader.uint(2, "temperature", signed=True)
        sensor_flag = reader.uint(1, "sensor flag")
        data: dict[str, Any] = {
            "batteryVoltage": battery_mv / 1000,
            "temperature": temperature / 10,
            "interruptFlag": bool(interrupt),
            "sensorDetected": bool(sensor_flag),
        }
        warnings: list[str] = []
        if distance_mm == NO_SENSOR_MM:
            warnings.append("no ultrasonic sensor reading (distance field is 0)")
        elif distance_mm == INVALID_READING_MM:
            warnings.append("invalid ultrasonic reading (distance field is 20 mm: target out of range)")
        else:
            data["distance"] = distance_mm / 1000
        return DecodeResult(data, warnings)

    def encode_uplink(self, measurements: dict[str, Any], f_port: int = UPLINK_FPORT) -> bytes:
        """Encode measurements (decode_uplink's keys; no ``distance`` = no reading) into an uplink."""
        if f_port != UPLINK_FPORT:
            raise CodecError(f"{self.name}: uplinks are sent on fPort {UPLINK_FPORT}, not {f_port}")
        battery = scaled(require(measurements, "batteryVoltage", self.name), 1000, 2, "batteryVoltage")
        if int.from_bytes(battery, "big") > 0x3FFF:
            raise CodecError(f"{self.name}: batteryVoltage must be below 16.384 V")
        distance = measurements.get("distance")
        distance_bytes = (
            put_uint(NO_SENSOR_MM, 2, "distance")
            if distance is None
            else scaled(distance, 1000, 2, "distance")
        )
        return b"".join(
            (
                battery,
                distance_bytes,
                put_uint(int(bool(measurements.get("interruptFlag", False))), 1, "interruptFlag"),
                scaled(measurements.get("temperature", 0.0), 10, 2, "temperature", signed=True),
                put_uint(int(bool(measurements.get("sensorDetected", True))), 1, "sensorDetected"),
            )
        )

    def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
        """Encode ``{"transmitInterval": seconds}`` into the 0x01 set-interval command."""
        unknown = set(data) - {"transmitInterval"}
        if unknown or "transmitInterval" not in data:
            raise CodecError(
                f"{self.name}: the only command is {{'transmitInterval': seconds}}, got keys {sorted(data)}"
            )
        seconds = data["transmitInterval"]
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
            raise CodecError(
                f"{self.name}: transmitInterval must be a positive integer of seconds, got {seconds!r}"
            )
        return b"\x01" + put_uint(seconds, 3, "transmitInterval"), DOWNLINK_FPORT

"""Milesight WS302 LoRaWAN sound level sensor (street noise).

Milesight channel framing on fPort 85 (``id | type | data``, little-endian; vendor decoder
``ws-series/ws302`` in Milesight-IoT/SensorDecoders)::

    01 75  battery, 1 byte, %
    05 5B  sound level, 7 bytes: weighting (1) + L (2) + Leq (2) + Lmax (2), each 0.1 dB
           weighting bits 1..0 = frequency weighting (0 Z, 1 A, 2 C),
           bits 3..2 = time weighting (0 I impulse, 1 F fast, 2 S slow)
    FF xx  device attributes (versions, serial number, ...)

Decoded keys and units (``<f>`` = frequency weighting letter, ``<t>`` = time weighting letter):

* ``L<f><t>`` — instantaneous level, dB (e.g. ``LAF``)
* ``L<f>eq`` — equivalent continuous level over the report period, dB (e.g. ``LAeq``)
* ``L<f>max`` — maximum ``<t>``-weighted level over the period, dB (e.g. ``LAmax``)
* ``frequencyWeighting`` ("A"/"C"/"Z"), ``timeWeighting`` ("F"/"S"/"I")
* ``batteryLevel`` — ratio 0..1

The WS302 takes configuration commands only; Calanque sends it none (encode_downlink raises).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from calanque.field.codecs.base import ByteReader, CodecError, DecodeResult, put_uint, require, scaled
from calanque.field.codecs.devices._milesight import MILESIGHT_FPORT, check_port, decode_channels

FREQUENCY_WEIGHTINGS = {0: "Z", 1: "A", 2: "C"}
TIME_WEIGHTINGS = {0: "I", 1: "F", 2: "S"}
NAME = "milesight-ws302"


def _battery(reader: ByteReader, data: dict[str, Any]) -> None:
    data["batteryLevel"] = reader.uint(1, "battery") / 100


def _sound(reader: ByteReader, data: dict[str, Any]) -> None:
    at = reader.pos
    weighting = reader.uint(1, "sound weighting")
    f = FREQUENCY_WEIGHTINGS.get(weighting & 0x03)
    t = TIME_WEIGHTINGS.get((weighting >> 2) & 0x03)
    if f is None or t is None:
        raise CodecError(f"{NAME}: unknown weighting byte 0x{weighting:02X} at byte {at}")
    data["frequencyWeighting"] = f
    data["timeWeighting"] = t
    data[f"L{f}{t}"] = reader.uint(2, "sound level", little=True) / 10
    data[f"L{f}eq"] = reader.uint(2, "equivalent sound level", little=True) / 10
    data[f"L{f}max"] = reader.uint(2, "maximum sound level", little=True) / 10


CHANNELS = {(0x01, 0x75): _battery, (0x05, 0x5B): _sound}


class MilesightWs302Codec:
    """Codec of the Milesight WS302 sound level sensor."""

    name = NAME

    def decode_uplink(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> DecodeResult:
        """Decode a WS302 uplink into sound levels (dB) and battery level."""
        check_port(f_port, self.name)
        return DecodeResult(decode_channels(payload, self.name, CHANNELS))

    def encode_uplink(self, measurements: dict[str, Any], f_port: int = MILESIGHT_FPORT) -> bytes:
        """Encode ``batteryLevel`` and the three sound levels (decode_uplink's keys) into an uplink."""
        check_port(f_port, self.name)
        f = measurements.get("frequencyWeighting", "A")
        t = measurements.get("timeWeighting", "F")
        f_code = {v: k for k, v in FREQUENCY_WEIGHTINGS.items()}.get(f)
        t_code = {v: k for k, v in TIME_WEIGHTINGS.items()}.get(t)
        if f_code is None or t_code is None:
            raise CodecError(f"{self.name}: weightings must be A/C/Z and F/S/I, got {f!r}/{t!r}")
        out = bytearray()
        if "batteryLevel" in measurements:
            out += b"\x01\x75" + scaled(measurements["batteryLevel"], 100, 1, "batteryLevel")
        out += b"\x05\x5b" + put_uint(f_code | (t_code << 2), 1, "weighting")
        for key in (f"L{f}{t}", f"L{f}eq", f"L{f}max"):
            out += scaled(require(measurements, key, self.name), 10, 2, key, little=True)
        return bytes(out)

    def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
        """The WS302 gets no commands from Calanque: always raise CodecError."""
        raise CodecError(f"{self.name} has no downlink commands in Calanque")

"""The ``json`` codec: devices whose payload is a UTF-8 JSON object of measurements.

Generic MQTT and HTTP devices send JSON that the connector already reads, so their uplinks
arrive decoded; this codec also serves LoRaWAN or other devices that put a small JSON object
in the frame. Downlinks are the command object as compact JSON on fPort 1.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from calanque.field.codecs.base import CodecError, DecodeResult

JSON_DOWNLINK_FPORT = 1


class JsonCodec:
    """Decode a JSON-object payload into measurements; encode commands as JSON."""

    name = "json"

    def decode_uplink(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> DecodeResult:
        """Parse the payload as a JSON object; CodecError when it is not one."""
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError as err:
            raise CodecError(f"json: the payload is not valid UTF-8 JSON ({err})") from None
        if not isinstance(data, dict):
            raise CodecError(f"json: the payload must be a JSON object of measurements, got {type(data).__name__}")
        return DecodeResult(data)

    def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
        """The command as compact JSON on fPort 1."""
        if not isinstance(data, dict) or not data:
            raise CodecError("json: a command must be a non-empty JSON object")
        return orjson.dumps(data), JSON_DOWNLINK_FPORT

    def encode_uplink(self, measurements: dict[str, Any], f_port: int) -> bytes:
        """The measurements as compact JSON (what a JSON-speaking device sends)."""
        if not isinstance(measurements, dict):
            raise CodecError("json: measurements must be an object")
        return orjson.dumps(measurements)

"""Common types of the payload codecs: results, errors, the Codec protocol and a bounded byte reader."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


class CodecError(Exception):
    """A payload or a command could not be decoded or encoded; the message says where and why."""


@dataclass(slots=True)
class DecodeResult:
    """The outcome of decoding one uplink: measurement values and non-fatal warnings."""

    data: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@runtime_checkable
class Codec(Protocol):
    """A payload codec: decodes uplinks and, when the device takes commands, encodes downlinks."""

    name: str

    def decode_uplink(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> DecodeResult:
        """Decode an uplink payload received on ``f_port``; raise CodecError when it is malformed."""
        ...

    def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
        """Encode a command into (payload, fPort); raise CodecError if none exist or it is invalid."""
        ...


@runtime_checkable
class DeviceCodec(Codec, Protocol):
    """A codec of a reference device that can also produce uplinks (used by the fleet simulator)."""

    def encode_uplink(self, measurements: dict[str, Any], f_port: int) -> bytes:
        """Encode measurements (the shape decode_uplink returns) into an uplink payload for ``f_port``."""
        ...


_FORMATS = {
    (1, False): "B",
    (1, True): "b",
    (2, False): "H",
    (2, True): "h",
    (4, False): "I",
    (4, True): "i",
}


class ByteReader:
    """Reads fixed-size integers from a payload, raising CodecError with the byte position on truncation."""

    __slots__ = ("_buf", "_device", "pos")

    def __init__(self, payload: bytes, device: str) -> None:
        """Wrap ``payload``; ``device`` names the format in error messages."""
        self._buf = bytes(payload)
        self._device = device
        self.pos = 0

    @property
    def remaining(self) -> int:
        """Number of bytes not read yet."""
        return len(self._buf) - self.pos

    def read(self, size: int, what: str) -> bytes:
        """Return the next ``size`` bytes; ``what`` names the field for the error message."""
        end = self.pos + size
        if end > len(self._buf):
            raise CodecError(
                f"{self._device}: truncated payload at byte {self.pos}: {what} needs {size} byte(s), "
                f"only {len(self._buf) - self.pos} left (payload is {len(self._buf)} bytes)"
            )
        chunk = self._buf[self.pos : end]
        self.pos = end
        return chunk

    def uint(self, size: int, what: str, *, signed: bool = False, little: bool = False) -> int:
        """Read an integer of ``size`` bytes (1, 2, 3 or 4), big-endian unless ``little``."""
        chunk = self.read(size, what)
        fmt = _FORMATS.get((size, signed))
        if fmt is not None:
            return struct.unpack(("<" if little else ">") + fmt, chunk)[0]
        return int.from_bytes(chunk, "little" if little else "big", signed=signed)


def put_uint(value: int, size: int, what: str, *, signed: bool = False, little: bool = False) -> bytes:
    """Encode an integer on ``size`` bytes, raising CodecError when it does not fit."""
    low = -(1 << (8 * size - 1)) if signed else 0
    high = (1 << (8 * size - 1)) - 1 if signed else (1 << (8 * size)) - 1
    if not low <= value <= high:
        raise CodecError(f"{what}={value} does not fit in {size} byte(s): expected {low}..{high}")
    return value.to_bytes(size, "little" if little else "big", signed=signed)


def scaled(
    value: float, multiplier: int, size: int, what: str, *, signed: bool = False, little: bool = False
) -> bytes:
    """Encode ``value * multiplier`` rounded to the nearest integer on ``size`` bytes."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CodecError(f"{what} must be a number, got {type(value).__name__}")
    return put_uint(round(value * multiplier), size, what, signed=signed, little=little)


def require(measurements: dict[str, Any], key: str, device: str) -> Any:
    """Return ``measurements[key]`` or raise CodecError naming the missing key."""
    try:
        return measurements[key]
    except KeyError:
        raise CodecError(f"{device}: measurement '{key}' is required to encode this uplink") from None

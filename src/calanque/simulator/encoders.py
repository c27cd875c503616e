"""Uplink payloads of the simulated devices: measurement values in, radio frame bytes and fPort out.

Each reference device's codec (``calanque.field.codecs.devices``) implements ``encode_uplink``,
the inverse of its ``decode_uplink`` (the ``DeviceCodec`` protocol exists for this simulator),
so the byte layouts live in one place: the codec module and its docstring. This module picks
the codec and fPort of each device kind and reports encoding problems with the device named.
"""

from __future__ import annotations

from typing import Any

from calanque.field.codecs import CodecError, DeviceCodec, get_codec
from calanque.simulator.fleet import CODECS, Kind, SimDevice

# Uplink fPort of each kind's device (see the codec docstrings).
FPORTS: dict[Kind, int] = {
    "noise": 85, "waste": 2, "river": 1, "water": 1, "bike": 85, "pedestrian": 85, "streetlight": 10, "cabinet": 85,
}
_codecs: dict[str, DeviceCodec] = {}


def codec_for(kind: Kind) -> DeviceCodec:
    """The (cached) codec of a device kind, as a DeviceCodec that can encode uplinks."""
    name = CODECS[kind]
    codec = _codecs.get(name)
    if codec is None:
        built = get_codec(name)
        if not isinstance(built, DeviceCodec):
            raise CodecError(f"codec {name!r} cannot encode uplinks, so the simulator cannot emulate it")
        codec = _codecs[name] = built
    return codec


def encode(kind: Kind, values: dict[str, Any]) -> tuple[bytes, int]:
    """Encode a reading of a device of ``kind`` into (payload, fPort)."""
    port = FPORTS[kind]
    return codec_for(kind).encode_uplink(values, port), port


def encode_reading(device: SimDevice, values: dict[str, Any]) -> tuple[bytes, int]:
    """Encode ``device``'s reading into (payload, fPort); CodecError names the device on failure."""
    try:
        return encode(device.kind, values)
    except CodecError as err:
        raise CodecError(f"device {device.id} ({device.kind}): {err}") from err


def decode(kind: Kind, payload: bytes, f_port: int) -> dict[str, Any]:
    """Decode a payload of a device of ``kind`` with its codec (the receiving side, for checks)."""
    return codec_for(kind).decode_uplink(payload, f_port).data

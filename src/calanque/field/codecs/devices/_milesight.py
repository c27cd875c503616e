"""Shared framing of Milesight uplinks: ``channel id (1 byte) | type (1 byte) | data``, little-endian."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from calanque.field.codecs.base import ByteReader, CodecError

MILESIGHT_FPORT = 85

ChannelHandler = Callable[[ByteReader, dict[str, Any]], None]


def _version(reader: ByteReader, what: str) -> str:
    major, minor = reader.read(2, what)
    return f"v{major:x}.{minor:x}"


# Device attribute records (0xFF channel) sent after join or on request, common to all models.
ATTRIBUTE_CHANNELS: dict[tuple[int, int], ChannelHandler] = {
    (0xFF, 0x01): lambda r, d: d.__setitem__("ipsoVersion", r.uint(1, "IPSO version")),
    (0xFF, 0x09): lambda r, d: d.__setitem__("hardwareVersion", _version(r, "hardware version")),
    (0xFF, 0x0A): lambda r, d: d.__setitem__("firmwareVersion", _version(r, "firmware version")),
    (0xFF, 0xFF): lambda r, d: d.__setitem__("tslVersion", _version(r, "TSL version")),
    (0xFF, 0x16): lambda r, d: d.__setitem__("serialNumber", r.read(8, "serial number").hex()),
    (0xFF, 0x0F): lambda r, d: d.__setitem__("lorawanClass", "ABCC"[min(r.uint(1, "LoRaWAN class"), 3)]),
    (0xFF, 0xFE): lambda r, d: (r.read(1, "reset event"), d.__setitem__("resetEvent", True)),
    (0xFF, 0x0B): lambda r, d: (r.read(1, "device status"), d.__setitem__("deviceStatus", "on")),
}


def decode_channels(
    payload: bytes, device: str, channels: dict[tuple[int, int], ChannelHandler]
) -> dict[str, Any]:
    """Walk the channel records of ``payload`` with the model's handlers (plus the attribute ones)."""
    reader = ByteReader(payload, device)
    data: dict[str, Any] = {}
    while reader.remaining:
        at = reader.pos
        channel_id = reader.uint(1, "channel id")
        channel_type = reader.uint(1, f"type of channel 0x{channel_id:02X}")
        handler = channels.get((channel_id, channel_type)) or ATTRIBUTE_CHANNELS.get(
            (channel_id, channel_type)
        )
        if handler is None:
            raise CodecError(
                f"{device}: unknown channel 0x{channel_id:02X} type 0x{channel_type:02X} at byte {at}; "
                f"expected one of {sorted(f'{i:02X}{t:02X}' for i, t in channels)}"
            )
        handler(reader, data)
    return data


def check_port(f_port: int, device: str) -> None:
    """Raise CodecError unless ``f_port`` is the Milesight uplink port 85."""
    if f_port != MILESIGHT_FPORT:
        raise CodecError(f"{device}: uplinks come on fPort {MILESIGHT_FPORT}, got fPort {f_port}")

"""From an uplink to NGSI-LD attribute instances: payload decoding and measurement mapping.

A device's mapping says, per measurement key, which attribute it feeds::

    {"distance": {"attribute": "<attribute name or IRI>", "unitCode": "MTR", "scale": 1000,
                  "datasetId": "urn:ngsi-ld:Dataset:probe1"}}

``attribute`` is required and used as given (the caller stores expanded IRIs for the
canonical form). When ``unitCode`` or ``scale`` is set the measurement must be a number
(not a boolean); ``scale`` multiplies it. Measurement keys the mapping does not name are
ignored (:func:`unmapped_keys` lists them), and ``None`` values are skipped as readings the
device did not provide.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime
from typing import Any

from calanque.field.codecs import CodecError, DecodeResult, get_codec
from calanque.field.connectors.model import Uplink
from calanque.ngsild.canonical import format_ts

_SPEC_KEYS = frozenset({"attribute", "unitCode", "scale", "datasetId"})


class MappingError(ValueError):
    """A measurement does not fit its mapping (wrong type) or a mapping entry is invalid."""


class DecodeFailure(Exception):
    """An uplink could not be decoded; carries what the dead-letter store needs to keep."""

    def __init__(self, reason: str, uplink: Uplink, codec: str) -> None:
        """Describe why ``uplink`` failed to decode with ``codec``."""
        self.reason = reason
        self.codec = codec
        self.network = uplink.network
        self.device_key = uplink.device_key
        self.f_port = uplink.f_port
        self.payload_hex = uplink.payload.hex() if uplink.payload is not None else None
        super().__init__(f"cannot decode uplink of device {uplink.device_key} with codec '{codec}': {reason}")


def decode_full(uplink: Uplink, codec_name: str, script: str | None = None) -> DecodeResult:
    """Return the uplink's measurements and warnings: the network server's decoded object when
    present, else the payload decoded by the registered codec ``codec_name``.

    Raises DecodeFailure with the reason when neither is possible.
    """
    if uplink.decoded is not None:
        return DecodeResult(dict(uplink.decoded))
    if uplink.payload is None:
        raise DecodeFailure("the message carries neither a payload nor a decoded object", uplink, codec_name)
    if uplink.f_port is None:
        raise DecodeFailure("the message has no fPort, which the codec needs", uplink, codec_name)
    try:
        codec = _codec(codec_name, script)
        return codec.decode_uplink(uplink.payload, uplink.f_port, recv_time=uplink.observed_at)
    except CodecError as err:
        raise DecodeFailure(str(err), uplink, codec_name) from err


_local = threading.local()
_CODEC_CACHE_SIZE = 256


def _codec(name: str, script: str | None) -> Any:
    """A codec instance reused per thread (a JS codec compiles its script once, not per uplink)."""
    cache: dict[tuple[str, str | None], Any] | None = getattr(_local, "codecs", None)
    if cache is None:
        cache = _local.codecs = {}
    key = (name, script)
    codec = cache.get(key)
    if codec is None:
        if len(cache) >= _CODEC_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        codec = cache[key] = get_codec(name, script=script)
    return codec


def decode(uplink: Uplink, codec_name: str, script: str | None = None) -> dict[str, Any]:
    """Return the uplink's measurements (see :func:`decode_full`, which also gives the warnings)."""
    return decode_full(uplink, codec_name, script).data


def unmapped_keys(measurements: dict[str, Any], mapping: dict[str, Any]) -> list[str]:
    """Return the measurement keys the mapping ignores, sorted."""
    return sorted(k for k in measurements if k not in mapping)


def measurements_to_attributes(
    measurements: dict[str, Any], mapping: dict[str, Any], observed_at: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Map measurements to attribute instances in the canonical form ``{attribute: [instance, ...]}``.

    One instance per mapped measurement (``type`` Property, ``value``, ``observedAt`` and the
    optional ``unitCode``/``datasetId``); several measurements may feed one attribute under
    different datasetIds. Raises MappingError naming the key on a non-numeric value where a
    number is expected, an invalid mapping entry, or two measurements on the same instance.
    """
    stamp = format_ts(observed_at)
    attrs: dict[str, list[dict[str, Any]]] = {}
    for key, value in measurements.items():
        spec = mapping.get(key)
        if spec is None or value is None:
            continue
        attribute, unit, scale, dataset = _check_spec(key, spec)
        if unit is not None or scale is not None:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise MappingError(
                    f"measurement '{key}' must be a finite number for attribute '{attribute}', got {value!r}"
                )
            if scale is not None:
                value = value * scale
        instance: dict[str, Any] = {"type": "Property", "value": value, "observedAt": stamp}
        if unit is not None:
            instance["unitCode"] = unit
        if dataset is not None:
            instance["datasetId"] = dataset
        instances = attrs.setdefault(attribute, [])
        if any(inst.get("datasetId") == dataset for inst in instances):
            raise MappingError(
                f"measurement '{key}' maps to attribute '{attribute}' with datasetId {dataset!r}, "
                "which another measurement already fills; give each a distinct datasetId"
            )
        instances.append(instance)
    return attrs


def _check_spec(key: str, spec: Any) -> tuple[str, str | None, float | None, str | None]:
    """Validate one mapping entry; return (attribute, unitCode, scale, datasetId)."""
    if not isinstance(spec, dict):
        raise MappingError(f"mapping of '{key}' must be an object with an 'attribute', got {type(spec).__name__}")
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise MappingError(f"mapping of '{key}' has unknown member(s) {sorted(unknown)}; "
                           f"expected {sorted(_SPEC_KEYS)}")
    attribute = spec.get("attribute")
    if not isinstance(attribute, str) or not attribute:
        raise MappingError(f"mapping of '{key}' needs a non-empty string 'attribute'")
    unit = spec.get("unitCode")
    if unit is not None and (not isinstance(unit, str) or not unit):
        raise MappingError(f"mapping of '{key}': 'unitCode' must be a non-empty string (UN/CEFACT code)")
    scale = spec.get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float)
                              or not math.isfinite(scale)):
        raise MappingError(f"mapping of '{key}': 'scale' must be a finite number, got {scale!r}")
    dataset = spec.get("datasetId")
    if dataset is not None and (not isinstance(dataset, str) or not dataset):
        raise MappingError(f"mapping of '{key}': 'datasetId' must be a non-empty URI string")
    return attribute, unit, scale, dataset

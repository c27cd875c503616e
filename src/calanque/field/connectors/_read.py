"""Typed accessors over decoded JSON that raise ParseError naming the field path on any mismatch."""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import datetime
from typing import Any

import orjson

from calanque.field.connectors.model import ParseError
from calanque.ngsild.canonical import parse_ts

_INT_TEXT = re.compile(r"-?[0-9]{1,20}")


def load_json(body: bytes | str | dict[str, Any], what: str) -> dict[str, Any]:
    """Return ``body`` as a JSON object, parsing bytes/str; ``what`` names the message in errors."""
    if isinstance(body, dict):
        return body
    if not isinstance(body, bytes | bytearray | memoryview | str):
        raise ParseError(f"{what}: expected a JSON object as bytes, str or dict, got {type(body).__name__}")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise ParseError(f"{what}: body is not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise ParseError(f"{what}: expected a JSON object at the top level, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    """The JSON name of a Python value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def obj(data: dict[str, Any], key: str, path: str, *, required: bool = False) -> dict[str, Any] | None:
    """Return the object member ``key`` (None when absent and not required)."""
    value = data.get(key)
    if value is None:
        if required:
            raise ParseError(f"missing '{path}' (expected an object)")
        return None
    if not isinstance(value, dict):
        raise ParseError(f"'{path}' must be an object, got {_kind(value)}")
    return value


def array(data: dict[str, Any], key: str, path: str) -> list[Any]:
    """Return the array member ``key`` ([] when absent)."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(f"'{path}' must be an array, got {_kind(value)}")
    return value


def text(data: dict[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
    """Return the string member ``key`` (None when absent or empty and not required)."""
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ParseError(f"missing '{path}' (expected a non-empty string)")
        return None
    if not isinstance(value, str):
        raise ParseError(f"'{path}' must be a string, got {_kind(value)}")
    return value


def integer(data: dict[str, Any], key: str, path: str, *, default: int | None = None,
            low: int = 0, high: int = 0xFFFFFFFF) -> int | None:
    """Return the integer member ``key`` within ``low..high`` (``default`` when absent)."""
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParseError(f"'{path}' must be an integer, got {_kind(value)}")
    if not low <= value <= high:
        raise ParseError(f"'{path}' = {value} is out of range: expected {low}..{high}")
    return value


def number(data: dict[str, Any], key: str, path: str) -> float | None:
    """Return the finite numeric member ``key`` as a float (None when absent)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParseError(f"'{path}' must be a finite number, got {_kind(value)}")
    return float(value)


def flag(data: dict[str, Any], key: str, path: str) -> bool | None:
    """Return the boolean member ``key`` (None when absent)."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ParseError(f"'{path}' must be a boolean, got {_kind(value)}")
    return value


def timestamp(data: dict[str, Any], key: str, path: str) -> datetime | None:
    """Return the ISO 8601 member ``key`` as an aware UTC datetime (None when absent)."""
    value = text(data, key, path)
    if value is None:
        return None
    try:
        return parse_ts(value)
    except (ValueError, OverflowError) as err:
        raise ParseError(f"'{path}': {err}") from None


def base64_bytes(data: dict[str, Any], key: str, path: str) -> bytes | None:
    """Return the base64 member ``key`` decoded (None when absent; b"" for an empty string)."""
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ParseError(f"'{path}' must be a base64 string, got {_kind(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ParseError(f"'{path}' is not valid base64: {value[:40]!r}") from None


def hex_eui(value: str | None, path: str) -> str | None:
    """Return an EUI-64 as 16 lower-case hex digits, raising ParseError when it is not one."""
    if value is None:
        return None
    cleaned = value.replace("-", "").replace(":", "")
    if len(cleaned) != 16 or any(c not in "0123456789abcdefABCDEF" for c in cleaned):
        raise ParseError(f"'{path}' must be an EUI-64 of 16 hex digits, got {value[:40]!r}")
    return cleaned.lower()

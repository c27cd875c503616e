"""Payload codecs of the field layer and their registry.

``get_codec("cayenne-lpp")``, ``get_codec("js", script=source)``, ``get_codec("dragino-ldds75")``…
A use-case package outside ``calanque`` adds its own with ``register_codec(name, factory)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from calanque.field.codecs.base import ByteReader, Codec, CodecError, DecodeResult, DeviceCodec
from calanque.field.codecs.cayenne import CayenneLppCodec
from calanque.field.codecs.devices.calanque_streetlight import CalanqueStreetlightCodec
from calanque.field.codecs.devices.decentlab_dl_ctd10 import DecentlabDlCtd10Codec
from calanque.field.codecs.devices.dragino_ldds75 import DraginoLdds75Codec
from calanque.field.codecs.devices.milesight_vs350 import MilesightVs350Codec
from calanque.field.codecs.devices.milesight_ws302 import MilesightWs302Codec
from calanque.field.codecs.devices.milesight_ws558 import MilesightWs558Codec
from calanque.field.codecs.js import JsCodec
from calanque.field.codecs.json_codec import JsonCodec

__all__ = [
    "ByteReader",
    "Codec",
    "CodecError",
    "DecodeResult",
    "DeviceCodec",
    "JsCodec",
    "get_codec",
    "list_codecs",
    "register_codec",
]

CodecFactory = Callable[..., Codec]

_lock = threading.Lock()
# name -> (factory, takes_script)
_registry: dict[str, tuple[CodecFactory, bool]] = {}


def register_codec(
    name: str, factory: CodecFactory, *, takes_script: bool = False, replace: bool = False
) -> None:
    """Register ``factory`` under ``name``; a script-taking factory is called as ``factory(script=...)``."""
    if not name or not isinstance(name, str):
        raise ValueError("codec name must be a non-empty string")
    with _lock:
        if name in _registry and not replace:
            raise ValueError(
                f"a codec named '{name}' is already registered; pass replace=True to override it"
            )
        _registry[name] = (factory, takes_script)


def list_codecs() -> list[str]:
    """Return the registered codec names, sorted."""
    with _lock:
        return sorted(_registry)


def get_codec(name: str, *, script: str | None = None) -> Codec:
    """Build the codec registered under ``name``; ``script`` is the source for script codecs such as "js"."""
    with _lock:
        entry = _registry.get(name)
    if entry is None:
        raise CodecError(f"unknown codec '{name}'; registered codecs: {', '.join(list_codecs())}")
    factory, takes_script = entry
    if takes_script:
        if script is None:
            raise CodecError(f"codec '{name}' needs a script (e.g. the vendor's TS013 .js file)")
        return factory(script=script)
    if script is not None:
        raise CodecError(f"codec '{name}' is built in and takes no script")
    return factory()


for _factory in (
    CayenneLppCodec,
    DraginoLdds75Codec,
    MilesightWs302Codec,
    DecentlabDlCtd10Codec,
    MilesightVs350Codec,
    MilesightWs558Codec,
    CalanqueStreetlightCodec,
    JsonCodec,
):
    register_codec(_factory.name, _factory)
register_codec("js", JsCodec, takes_script=True)

"""LoRaWAN Payload Codec API (TS013-1.0.0) JavaScript codecs run in a sandboxed QuickJS engine.

The script defines ``decodeUplink(input)`` returning ``{data, warnings, errors}`` and optionally
``encodeDownlink(input)`` returning ``{bytes, fPort, warnings, errors}``; the legacy TTN v2
``Decoder(bytes, port)`` (returning the data object itself) is used when decodeUplink is absent.

Sandbox: a bare QuickJS context (no ``require``, ``fetch``, ``std``/``os`` modules, timers or
filesystem), a CPU time limit per call and a memory limit per context. The script is compiled
once per thread: QuickJS contexts must not be shared between threads, so each thread that uses
a codec gets its own context (created on first use) and no lock is needed. A context that hit a
resource limit is discarded and rebuilt on the next call, since its state may be inconsistent.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import quickjs

from calanque.field.codecs.base import CodecError, DecodeResult

DEFAULT_TIME_LIMIT_MS = 100
DEFAULT_MEMORY_LIMIT = 16 * 1024 * 1024

# Entry points added after the user's script. They take and return JSON text so that no JS
# object crosses the boundary; recvTime is turned into a Date as TS013 requires.
_GLUE = r"""
var __calanque_decode = (function (g) {
  return function (text) {
    var input = JSON.parse(text);
    if (typeof g.decodeUplink === "function") {
      var args = { bytes: input.bytes, fPort: input.fPort };
      if (input.recvTime !== null) { args.recvTime = new Date(input.recvTime); }
      return JSON.stringify({ ts013: g.decodeUplink(args) });
    }
    return JSON.stringify({ legacy: g.Decoder(input.bytes, input.fPort) });
  };
})(globalThis);
var __calanque_encode = (function (g) {
  return function (text) {
    return JSON.stringify({ ts013: g.encodeDownlink({ data: JSON.parse(text) }) });
  };
})(globalThis);
"""

_PROBE = (
    "JSON.stringify({decode: typeof decodeUplink === 'function', legacy: typeof Decoder === 'function', "
    "encode: typeof encodeDownlink === 'function'})"
)


class JsCodec:
    """A TS013 JavaScript codec executed in a per-thread, resource-limited QuickJS context."""

    def __init__(
        self,
        script: str,
        *,
        name: str = "js",
        time_limit_ms: int = DEFAULT_TIME_LIMIT_MS,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
    ) -> None:
        """Compile ``script``; raise CodecError if it does not load or defines no decoder."""
        if not isinstance(script, str) or not script.strip():
            raise CodecError("js codec: the script is empty; expected JavaScript defining decodeUplink()")
        self.name = name
        self.time_limit_ms = time_limit_ms
        self.memory_limit = memory_limit
        self._script = script
        self._local = threading.local()
        probe = json.loads(self._context().eval(_PROBE))
        if not (probe["decode"] or probe["legacy"]):
            raise CodecError(
                "js codec: the script defines neither decodeUplink(input) (TS013) "
                "nor Decoder(bytes, port) (TTN v2)"
            )
        self._has_encoder = bool(probe["encode"])

    # -- context management -------------------------------------------------------------
    def _context(self) -> quickjs.Context:
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            ctx = quickjs.Context()
            ctx.set_memory_limit(self.memory_limit)
            ctx.set_time_limit(self.time_limit_ms / 1000)
            self._run(lambda: ctx.eval(self._script), "loading the script")
            self._run(lambda: ctx.eval(_GLUE), "loading the script")
            self._local.ctx = ctx
            self._local.decode = ctx.get("__calanque_decode")
            self._local.encode = ctx.get("__calanque_encode")
        return ctx

    def _run(self, call: Any, doing: str) -> Any:
        """Run ``call`` in this thread's context and translate every engine failure into a CodecError."""
        try:
            return call()
        except quickjs.StackOverflow:
            self._local.ctx = None
            raise CodecError(
                f"js codec '{self.name}' overflowed its stack while {doing} (runaway recursion?)"
            ) from None
        except quickjs.JSException as exc:
            message = str(exc).strip()
            if "interrupted" in message:
                self._local.ctx = None
                raise CodecError(
                    f"js codec '{self.name}' exceeded its {self.time_limit_ms} ms time limit while {doing}"
                ) from None
            if "out of memory" in message:
                self._local.ctx = None
                raise self._memory_error(doing) from None
            first_line = message.splitlines()[0] if message else "unknown error"
            raise CodecError(f"js codec '{self.name}' threw while {doing}: {first_line}") from None
        except MemoryError:
            self._local.ctx = None
            raise self._memory_error(doing) from None

    def _memory_error(self, doing: str) -> CodecError:
        mib = self.memory_limit / (1024 * 1024)
        return CodecError(f"js codec '{self.name}' exceeded its {mib:g} MiB memory limit while {doing}")

    def _call(self, entry: str, argument: str, doing: str) -> dict[str, Any]:
        self._context()
        func = getattr(self._local, entry)
        text = self._run(lambda: func(argument), doing)
        if not isinstance(text, str):
            raise CodecError(f"js codec '{self.name}' returned nothing usable while {doing}")
        return json.loads(text)

    # -- Codec API -------------------------------------------------------------------------
    def decode_uplink(self, payload: bytes, f_port: int, recv_time: datetime | None = None) -> DecodeResult:
        """Run the script's decodeUplink (or legacy Decoder) and validate its output."""
        when = None if recv_time is None else recv_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
        argument = json.dumps({"bytes": list(payload), "fPort": f_port, "recvTime": when})
        out = self._call("decode", argument, "decoding an uplink")
        if "legacy" in out:
            data = out["legacy"]
            if not isinstance(data, dict):
                raise CodecError(
                    f"js codec '{self.name}': Decoder() must return an object, got {_js_type(data)}"
                )
            return DecodeResult(data, [])
        result = _expect_result(out.get("ts013"), self.name, "decodeUplink")
        data = result.get("data")
        if not isinstance(data, dict):
            raise CodecError(
                f"js codec '{self.name}': decodeUplink() must return {{data: {{...}}}}, "
                f"got data={_js_type(data)}"
            )
        return DecodeResult(data, _warnings(result, self.name, "decodeUplink"))

    def encode_downlink(self, data: dict[str, Any]) -> tuple[bytes, int]:
        """Run the script's encodeDownlink and return (payload, fPort)."""
        if not self._has_encoder:
            raise CodecError(
                f"js codec '{self.name}' defines no encodeDownlink(input); it cannot send commands"
            )
        out = self._call("encode", json.dumps(data), "encoding a downlink")
        result = _expect_result(out.get("ts013"), self.name, "encodeDownlink")
        _warnings(result, self.name, "encodeDownlink")
        raw = result.get("bytes")
        if not isinstance(raw, list) or not all(
            isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in raw
        ):
            raise CodecError(
                f"js codec '{self.name}': encodeDownlink() must return bytes as an array of integers 0..255, "
                f"got {raw!r}"
            )
        f_port = result.get("fPort")
        if not isinstance(f_port, int) or isinstance(f_port, bool) or not 1 <= f_port <= 223:
            raise CodecError(
                f"js codec '{self.name}': encodeDownlink() must return fPort as an integer 1..223, "
                f"got {f_port!r}"
            )
        return bytes(raw), f_port


def _js_type(value: Any) -> str:
    if value is None:
        return "null/undefined"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), "number")


def _expect_result(result: Any, name: str, func: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise CodecError(f"js codec '{name}': {func}() must return an object, got {_js_type(result)}")
    errors = result.get("errors")
    if errors is not None and not isinstance(errors, list):
        raise CodecError(f"js codec '{name}': {func}() returned errors that is not an array: {errors!r}")
    if errors:
        raise CodecError(f"js codec '{name}': {func}() reported errors: " + "; ".join(str(e) for e in errors))
    return result


def _warnings(result: dict[str, Any], name: str, func: str) -> list[str]:
    warnings = result.get("warnings", [])
    if warnings is None:
        return []
    if not isinstance(warnings, list):
        raise CodecError(f"js codec '{name}': {func}() returned warnings that is not an array: {warnings!r}")
    return [str(w) for w in warnings]

"""A pure ASGI middleware that refuses request bodies over the configured size with a 413."""

from __future__ import annotations

from typing import Any

import orjson

from calanque.ngsild.api.http import PayloadTooLarge


class BodySizeLimit:
    """Reject bodies larger than max_bytes, whether announced by Content-Length or streamed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Wrap receive() to count body bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    await self._reject(send, "Content-Length is not a number")
                    return
                if announced > self.max_bytes:
                    await self._reject(send, f"the body is {announced} bytes; the limit is {self.max_bytes} bytes")
                    return
        # Buffer the body (bounded by the limit) before the app sees it, so an oversized
        # streamed body is refused cleanly instead of failing half-way inside a handler.
        chunks: list[bytes] = []
        seen = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._reject(send, f"the body is larger than the limit of {self.max_bytes} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}],
                                      receive), send)

    async def _reject(self, send: Any, detail: str) -> None:
        body = orjson.dumps(PayloadTooLarge(detail).to_problem())
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[dict], then: Any = None) -> Any:
    """A receive() that returns the buffered messages, then defers to the real receive."""
    queue = list(messages)

    async def receive() -> dict:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive

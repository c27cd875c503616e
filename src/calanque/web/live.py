"""Live changes for the pages: ``GET /api/v1/live``, a stream of server-sent events.

Writes may happen in any server process (API workers, ingest workers), so changes are found in the
store, not in this process's memory: one poller per tenant and process asks the store every
POLL_SECONDS for the entities whose ``modifiedAt`` is after the last one seen
(:meth:`calanque.store.base.Session.changed_entities`, indexed), computes their map state once, and
hands the batch to every page connected to this process for that tenant.

A transaction may commit a little after the time it stamped, and server clocks differ slightly: each
poll looks OVERLAP_SECONDS back and drops the (entity, modifiedAt) pairs already sent. Each event
carries the poll cursor as its id; a browser reconnecting (EventSource does it by itself) sends it
back as ``Last-Event-ID`` and first gets what changed since. A stream ends after STREAM_SECONDS and
the browser reconnects, so that no connection outlives a server shutdown for long.

Event ``changes``: a JSON list of ``{"id", "type", "modifiedAt", "asset"}`` where ``asset`` is the
entity's row of ``GET /api/v1/map`` (None when it is not drawn on the map). Event ``reload``: more
changed than a stream carries (MAX_BATCH); the page reloads its data.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from calanque.ngsild.api.http import tenant_of
from calanque.ngsild.canonical import format_ts, parse_ts
from calanque.ngsild.errors import BadRequestData
from calanque.store.base import Store
from calanque.store.scope import CURRENT as CURRENT_SCOPE
from calanque.store.scope import ReadScope
from calanque.usecases.common import term_iri
from calanque.usecases.registry import MapContext, UseCase
from calanque.web.app import principal_of
from calanque.web.mapdata import MappedTypes, allowed_tenant, asset_row

log = logging.getLogger("calanque.web")
router = APIRouter(tags=["web UI"])
POLL_SECONDS = 1.0
OVERLAP_SECONDS = 5.0
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 120.0
MAX_BATCH = 2000
RELOAD = object()


@dataclass(eq=False)
class Subscription:
    """One page's connection: what it wants, what its caller may read, and the batches waiting for it."""

    tenant: str
    types: frozenset[str] | None  # expanded type IRIs, None for all
    ids: frozenset[str] | None
    scope: ReadScope | None = None  # the caller's read narrowing (an operator's use cases, communes, sites)
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=100))

    def wants(self, change: dict[str, Any]) -> bool:
        """Whether a change concerns this page and its caller may see the entity."""
        if self.ids is not None and change["id"] not in self.ids:
            return False
        if self.types is not None and self.types.isdisjoint(change["_entity"].get("type", [])):
            return False
        return self.scope is None or self.scope.visible(change["_entity"], self.tenant)

    def offer(self, batch: list[dict[str, Any]] | object, cursor: str) -> None:
        """Queue a batch (its cursor with it); a page too slow to keep up is told to reload."""
        try:
            self.queue.put_nowait((batch, cursor))
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait((RELOAD, cursor))


class TenantFeed:
    """The poller of one tenant in this process and the subscriptions it feeds."""

    def __init__(self, hub: LiveHub, tenant: str) -> None:
        self.hub = hub
        self.tenant = tenant
        self.subscriptions: set[Subscription] = set()
        self.cursor = format_ts(datetime.now(UTC))
        self.sent: dict[tuple[str, str], str] = {}  # (id, modifiedAt) -> modifiedAt, within the overlap
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        """Start polling (once)."""
        if self.task is None or self.task.done():
            # a context of its own: the task must not inherit the read scope of the request that started it
            self.task = asyncio.get_running_loop().create_task(
                self._run(), name=f"calanque-live-{self.tenant}", context=contextvars.Context()
            )

    async def _run(self) -> None:
        while self.subscriptions:
            try:
                batch, cursor = await anyio.to_thread.run_sync(
                    self.hub.read_changes, self.tenant, self.cursor, self.sent
                )
            except Exception as err:  # noqa: BLE001 - a store hiccup must not end every page's stream
                log.warning("live changes of tenant '%s' could not be read: %s", self.tenant, err)
                await asyncio.sleep(POLL_SECONDS * 5)
                continue
            self.cursor = cursor
            if batch is RELOAD:
                for sub in list(self.subscriptions):
                    sub.offer(RELOAD, cursor)
            elif batch:
                for sub in list(self.subscriptions):
                    mine = [c for c in batch if sub.wants(c)]
                    if mine:
                        sub.offer(mine, cursor)
            await asyncio.sleep(POLL_SECONDS)


class LiveHub:
    """Every tenant feed of this process (created by mount_web, kept on ``app.state.live``)."""

    def __init__(self, store: Store, usecases: list[UseCase]) -> None:
        self.store = store
        self.types = MappedTypes.of(usecases)
        self.feeds: dict[str, TenantFeed] = {}

    def read_changes(
        self, tenant: str, cursor: str, sent: dict[tuple[str, str], str] | None, limit: int = MAX_BATCH
    ) -> tuple[list[dict[str, Any]] | object, str]:
        """The changes after ``cursor`` minus the overlap, not already in ``sent`` (which is updated and
        pruned); the new cursor. RELOAD when more than ``limit`` changed (blocking: reads the store)."""
        since = format_ts(parse_ts(cursor) - timedelta(seconds=OVERLAP_SECONDS))
        now = datetime.now(UTC)
        with self.store.session() as session:
            if tenant and not session.tenant_exists(tenant):
                return [], cursor
            entities = session.changed_entities(tenant, since, limit + 1)
            if len(entities) > limit:
                return RELOAD, entities[-1].get("modifiedAt") or cursor
            ctx = MapContext(tenant=tenant, now=now, session=session)
            changes = []
            for entity in entities:
                modified = entity.get("modifiedAt") or ""
                key = (entity["id"], modified)
                if sent is not None and key in sent:
                    continue
                found = self.types.find(entity)
                changes.append(
                    {
                        "id": entity["id"],
                        "type": found[0] if found else None,
                        "modifiedAt": modified,
                        "asset": asset_row(entity, self.types, ctx),
                        "_entity": entity,
                    }
                )
                if sent is not None:
                    sent[key] = modified
        newest = max([cursor, *(c["modifiedAt"] for c in changes)])
        if sent is not None:
            floor = format_ts(parse_ts(newest) - timedelta(seconds=OVERLAP_SECONDS * 2))
            for key in [k for k, m in sent.items() if m < floor]:
                del sent[key]
        return changes, newest

    def subscribe(self, tenant: str, sub: Subscription) -> TenantFeed:
        """Attach a page to its tenant's feed, starting the poller when it is the first."""
        feed = self.feeds.get(tenant)
        if feed is None:
            feed = self.feeds[tenant] = TenantFeed(self, tenant)
        feed.subscriptions.add(sub)
        feed.start()
        return feed

    def unsubscribe(self, tenant: str, sub: Subscription) -> None:
        """Detach a page; the poller stops by itself when no page is left."""
        feed = self.feeds.get(tenant)
        if feed is not None:
            feed.subscriptions.discard(sub)
            if not feed.subscriptions:
                self.feeds.pop(tenant, None)


def _event(name: str, data: Any, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


def _public(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "_entity"} for c in changes]


def _list(value: str | None, name: str, limit: int) -> list[str] | None:
    if value is None or not value.strip():
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if len(items) > limit:
        raise BadRequestData(f"parameter '{name}' lists {len(items)} values; at most {limit} are accepted")
    return items


@router.get(
    "/api/v1/live", summary="Live changes (server-sent events): entities modified, with their map state"
)
async def live(
    request: Request,
    types: str | None = Query(None, description="entity types (terms), comma-separated; all by default"),
    ids: str | None = Query(None, description="entity ids, comma-separated; all by default"),
    tenant: str | None = Query(None, description="the tenant (EventSource cannot send NGSILD-Tenant)"),
) -> StreamingResponse:
    """A text/event-stream of ``changes`` events for the caller's tenant."""
    chosen = tenant if tenant is not None else tenant_of(request)
    if chosen and (len(chosen) > 64 or not all(c.isalnum() or c in "_.-" for c in chosen)):
        raise BadRequestData(f"invalid tenant '{chosen[:80]}': use 1 to 64 letters, digits, '_', '-' or '.'")
    principal = principal_of(request)
    allowed_tenant(principal, chosen)
    type_list, id_list = _list(types, "types", 50), _list(ids, "ids", 500)
    auth = getattr(request.app.state, "auth", None)
    narrowed = (
        auth.narrowed_scope(principal, chosen) if auth is not None and principal.kind != "noauth" else None
    )
    sub = Subscription(
        tenant=chosen,
        types=frozenset(term_iri(t) for t in type_list) if type_list else None,
        ids=frozenset(id_list) if id_list else None,
        scope=narrowed,
    )
    hub: LiveHub = request.app.state.live
    resume = request.headers.get("last-event-id")
    backlog: list[dict[str, Any]] | object = []
    cursor = format_ts(datetime.now(UTC))
    if resume:
        try:
            parse_ts(resume)
        except ValueError:
            resume = None
    if resume:
        token = CURRENT_SCOPE.set(None)  # read everything, then keep what this caller may see (sub.wants)
        try:
            backlog, cursor = await anyio.to_thread.run_sync(hub.read_changes, chosen, resume, None)
        finally:
            CURRENT_SCOPE.reset(token)
        if backlog is not RELOAD:
            backlog = [c for c in backlog if sub.wants(c)]  # type: ignore[union-attr]

    async def stream() -> AsyncIterator[bytes]:
        hub.subscribe(chosen, sub)
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        try:
            yield b"retry: 2000\n: connected\n\n"
            if backlog is RELOAD:
                yield _event("reload", {}, cursor)
            elif backlog:
                yield _event("changes", _public(backlog), cursor)  # type: ignore[arg-type]
            while (left := ends - loop.time()) > 0:
                try:
                    batch, at = await asyncio.wait_for(sub.queue.get(), min(KEEPALIVE_SECONDS, left))
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield _event("reload", {}, at) if batch is RELOAD else _event("changes", _public(batch), at)
        finally:
            hub.unsubscribe(chosen, sub)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )

"""The department home's data: every located asset of every use case with its map state, in compact columns.

``GET /api/v1/map`` answers arrays (one per column) rather than NGSI-LD entities: 20 000 assets fit in a
few hundred kilobytes and the page draws them without reshaping. Each use case says how its entities
show through its ``map_state`` hook (:class:`calanque.usecases.registry.MapState`); an entity whose hook
answers None, or that has no location, is not drawn.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from shapely.geometry import shape

from calanque.auth.model import Principal
from calanque.ngsild.api.http import tenant_of
from calanque.ngsild.canonical import format_ts, parse_ts
from calanque.ngsild.errors import NgsiLdError
from calanque.store.base import EntityQuery, Session, Store
from calanque.store.scope import CURRENT as CURRENT_SCOPE
from calanque.store.scope import ReadScope
from calanque.usecases.common import term_iri
from calanque.usecases.registry import MAP_LEVELS, MapContext, MapState, UseCase
from calanque.web.app import principal_of

log = logging.getLogger("calanque.web")
router = APIRouter(tags=["web UI"])
# the order of the attention list: the most serious first
SEVERITY = {"bad": 0, "high": 1, "silent": 2, "unknown": 3, "warn": 4, "info": 5, "ok": 6, "off": 7}
PAGE = 5000


class Forbidden(NgsiLdError):
    """The identity may not read this tenant (403)."""

    kind, status, title = "Forbidden", 403, "Forbidden"


@dataclass(frozen=True, slots=True)
class MappedTypes:
    """The entity types of the use cases that draw assets, by expanded IRI."""

    by_iri: dict[str, tuple[str, UseCase]]  # type IRI -> (type term, use case)

    @classmethod
    def of(cls, usecases: Iterable[UseCase]) -> MappedTypes:
        """The types of every use case declaring a map_state hook."""
        return cls(
            {term_iri(t): (t, uc) for uc in usecases if uc.map_state is not None for t in uc.entity_types}
        )

    def find(self, entity: dict) -> tuple[str, UseCase] | None:
        """The type term and use case of an entity, or None when no use case draws it."""
        for iri in entity.get("type", []):
            if iri in self.by_iri:
                return self.by_iri[iri]
        return None


def allowed_tenant(principal: Principal, tenant: str) -> str:
    """The tenant, when the principal may read it; 403 otherwise."""
    if not principal.may_use_tenant(tenant):
        raise Forbidden(f"this {principal.kind} belongs to tenant '{principal.tenant}', not '{tenant}'")
    return tenant


def _value(entity: dict, term: str) -> Any:
    for inst in entity.get("attrs", {}).get(term_iri(term), []):
        if "datasetId" not in inst:
            return inst.get("value")
    return None


def lon_lat(entity: dict) -> tuple[float, float] | None:
    """The asset's position: its location Point, or a point inside another geometry; None without one."""
    geometry = _value(entity, "location")
    if not isinstance(geometry, dict):
        return None
    try:
        if geometry.get("type") == "Point":
            lon, lat = geometry["coordinates"][:2]
            return float(lon), float(lat)
        point = shape(geometry).representative_point()
        return float(point.x), float(point.y)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def state_of(entity: dict, hook: Any, ctx: MapContext) -> MapState | None:
    """The hook's state of one entity; a hook failing on a malformed entity shows it as unknown (logged)."""
    try:
        return hook(entity, ctx)
    except Exception as err:  # noqa: BLE001 - one bad entity must not hide the whole map
        log.warning("map state of %s failed: %s: %s", entity.get("id"), type(err).__name__, err)
        return MapState("unknown", "State cannot be computed", attention=True)


def asset_row(entity: dict, types: MappedTypes, ctx: MapContext) -> dict[str, Any] | None:
    """One asset: id, name, type, use case, position, commune, site and map state; None when not drawn."""
    found = types.find(entity)
    if found is None:
        return None
    type_term, usecase = found
    position = lon_lat(entity)
    if position is None:
        return None
    state = state_of(entity, usecase.map_state, ctx)
    if state is None:
        return None
    if state.level not in MAP_LEVELS:
        log.warning("map state of %s has unknown level %r", entity.get("id"), state.level)
        state = MapState("unknown", state.label, state.params, state.attention)
    name = _value(entity, "name")
    code = _value(entity, "municipalityCode")
    address = _value(entity, "address")
    site = _value(entity, "site")
    return {
        "id": entity["id"],
        "name": name if isinstance(name, str) else None,
        "type": type_term,
        "usecase": usecase.name,
        "lon": round(position[0], 6),
        "lat": round(position[1], 6),
        "commune": code if isinstance(code, str) else None,
        "communeName": address.get("addressLocality") if isinstance(address, dict) else None,
        "site": site if isinstance(site, str) else None,
        "level": state.level,
        "label": state.label,
        "params": state.params or None,
        "attention": state.attention,
        "modifiedAt": entity.get("modifiedAt"),
    }


def scan(
    session: Session, tenant: str, types: MappedTypes, now: datetime | None = None
) -> Iterator[tuple[dict, dict | None]]:
    """Every entity of the use cases' types in storage order, with its asset row (None: not drawn)."""
    if not types.by_iri or (tenant and not session.tenant_exists(tenant)):
        return
    ctx = MapContext(tenant=tenant, now=now or datetime.now(UTC), session=session)
    offset = 0
    while True:
        page, _ = session.query_entities(
            tenant, EntityQuery(type_iris=list(types.by_iri), limit=PAGE, offset=offset)
        )
        for entity in page:
            yield entity, asset_row(entity, types, ctx)
        if len(page) < PAGE:
            return
        offset += PAGE


def read_assets(session: Session, tenant: str, types: MappedTypes, now: datetime | None = None) -> list[dict]:
    """Every drawn asset of a tenant, in storage order."""
    return [row for _, row in scan(session, tenant, types, now) if row is not None]


def count_entities(session: Session, tenant: str, types: MappedTypes) -> int:
    """How many entities of the use cases' types the tenant has (an index count)."""
    if not types.by_iri or (tenant and not session.tenant_exists(tenant)):
        return 0
    _, count = session.query_entities(tenant, EntityQuery(type_iris=list(types.by_iri), limit=0, count=True))
    return int(count or 0)


def columns(rows: Sequence[dict]) -> dict[str, Any]:
    """The compact answer: lists of repeated values, one array per column, and the attention order."""
    usecases = sorted({r["usecase"] for r in rows})
    types = sorted({r["type"] for r in rows})
    communes = dict(
        sorted(
            {(r["commune"], r["communeName"] or r["commune"]) for r in rows if r["commune"]},
            key=lambda c: (c[1], c[0]),
        )
    )
    commune_list = list(communes)
    sites = sorted({r["site"] for r in rows if r["site"]})
    labels = sorted({r["label"] for r in rows})
    uc_i = {u: i for i, u in enumerate(usecases)}
    type_i = {t: i for i, t in enumerate(types)}
    commune_i = {c: i for i, c in enumerate(commune_list)}
    site_i = {s: i for i, s in enumerate(sites)}
    label_i = {x: i for i, x in enumerate(labels)}
    level_i = {x: i for i, x in enumerate(MAP_LEVELS)}
    attention = sorted(
        (i for i, r in enumerate(rows) if r["attention"]),
        key=lambda i: (SEVERITY.get(rows[i]["level"], 9), rows[i]["name"] or rows[i]["id"]),
    )
    return {
        "count": len(rows),
        "levels": list(MAP_LEVELS),
        "usecases": usecases,
        "types": types,
        "communes": [{"code": c, "name": communes[c]} for c in commune_list],
        "sites": sites,
        "labels": labels,
        "assets": {
            "id": [r["id"] for r in rows],
            "name": [r["name"] for r in rows],
            "type": [type_i[r["type"]] for r in rows],
            "usecase": [uc_i[r["usecase"]] for r in rows],
            "lon": [r["lon"] for r in rows],
            "lat": [r["lat"] for r in rows],
            "commune": [commune_i.get(r["commune"], -1) for r in rows],
            "site": [site_i.get(r["site"], -1) for r in rows],
            "level": [level_i[r["level"]] for r in rows],
            "label": [label_i[r["label"]] for r in rows],
            "params": [r["params"] for r in rows],
        },
        "attention": attention,
    }


def _stub(entity: dict) -> dict:
    """What a read scope needs to decide whether a staff member sees an entity: its types, commune, site."""
    attrs = {}
    for term in ("municipalityCode", "site"):
        value = _value(entity, term)
        if value is not None:
            attrs[term_iri(term)] = [{"type": "Property", "value": value}]
    return {"id": entity["id"], "type": entity.get("type", []), "attrs": attrs}


@dataclass
class _Computed:
    rows: dict[str, dict]  # entity id -> asset row, in storage order (new assets at the end)
    stubs: dict[str, dict]
    known: set[str]  # every entity of the types, drawn or not: a count that differs means deletions
    cursor: str  # changes after this modifiedAt (minus the overlap) are not in the rows yet
    full_at: float  # time.monotonic() of the last full computation


class MapCache:
    """The asset rows of each tenant in this process: a full computation at most every FULL_SECONDS,
    patched in between with the entities changed since (an indexed store query) when no entity was
    deleted (an index count), so that opening the home costs two small queries instead of reading every
    entity. Silence is time-driven, not change-driven: an asset falling silent shows within FULL_SECONDS."""

    FULL_SECONDS = 60.0
    OVERLAP_SECONDS = 5.0
    MAX_CHANGES = 5000

    def __init__(self) -> None:
        self._computed: dict[str, _Computed] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def rows(self, store: Store, tenant: str, types: MappedTypes, scope: ReadScope | None) -> list[dict]:
        """The tenant's asset rows that the read scope shows (blocking: reads the store).

        The rows are computed without any read scope (shared by every caller of the process), then kept
        or dropped per caller with ``scope.visible`` on each entity's types, commune and site."""
        with self._guard:
            lock = self._locks.setdefault(tenant, threading.Lock())
        with lock:
            token = CURRENT_SCOPE.set(None)
            try:
                computed = self._update(store, tenant, types)
            finally:
                CURRENT_SCOPE.reset(token)
        if scope is None:
            return list(computed.rows.values())
        return [
            row
            for entity_id, row in computed.rows.items()
            if scope.visible(computed.stubs[entity_id], tenant)
        ]

    def _update(self, store: Store, tenant: str, types: MappedTypes) -> _Computed:
        now = datetime.now(UTC)
        computed = self._computed.get(tenant)
        with store.session() as session:
            if computed is not None and time.monotonic() - computed.full_at < self.FULL_SECONDS:
                since = format_ts(parse_ts(computed.cursor) - timedelta(seconds=self.OVERLAP_SECONDS))
                changed = session.changed_entities(tenant, since, self.MAX_CHANGES + 1)
                changed = [e for e in changed if types.find(e) is not None]
                known = computed.known | {e["id"] for e in changed}
                if len(changed) <= self.MAX_CHANGES and len(known) == count_entities(session, tenant, types):
                    ctx = MapContext(tenant=tenant, now=now, session=session)
                    for entity in changed:
                        row = asset_row(entity, types, ctx)
                        if row is None:
                            computed.rows.pop(entity["id"], None)
                            computed.stubs.pop(entity["id"], None)
                        else:  # an asset already drawn keeps its place (storage order); a new one goes last
                            computed.rows[entity["id"]] = row
                            computed.stubs[entity["id"]] = _stub(entity)
                        computed.cursor = max(computed.cursor, entity.get("modifiedAt") or "")
                    computed.known = known
                    return computed
            started = time.monotonic()
            rows, stubs, every = {}, {}, set()
            for entity, row in scan(session, tenant, types, now):
                every.add(entity["id"])
                if row is not None:
                    rows[row["id"]] = row
                    stubs[row["id"]] = _stub(entity)
        computed = _Computed(rows=rows, stubs=stubs, known=every, cursor=format_ts(now), full_at=started)
        self._computed[tenant] = computed
        return computed


@router.get(
    "/api/v1/map", summary="Every located asset with its map state (compact columns), for the home map"
)
def map_data(request: Request) -> Any:
    """The assets of the request's tenant (``NGSILD-Tenant``) drawn on the department home, with the
    list of those needing attention today (indices into the columns, most serious first)."""
    tenant = allowed_tenant(principal_of(request), tenant_of(request))
    types = MappedTypes.of(request.app.state.usecases)
    rows = request.app.state.map_cache.rows(request.app.state.store, tenant, types, CURRENT_SCOPE.get())
    body = orjson.dumps({"generatedAt": format_ts(datetime.now(UTC)), **columns(rows)})
    headers = {"cache-control": "no-store"}
    if len(body) > 1024 and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=5)  # 2 MB of columns for 20 000 assets become ~0.4 MB
        headers["content-encoding"] = "gzip"
        headers["vary"] = "Accept-Encoding"
    return Response(body, media_type="application/json", headers=headers)

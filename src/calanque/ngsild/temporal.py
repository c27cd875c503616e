"""The temporal API's semantics: time windows, history queries, aggregation and representations."""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from calanque.ngsild import qlang, typesel
from calanque.ngsild.canonical import VALUE_MEMBER, normalize_ts, now_ts
from calanque.ngsild.context_protocol import PinnedTerm, TermContext
from calanque.ngsild.entity import parse_attributes, parse_entity
from calanque.ngsild.errors import BadRequestData, InvalidRequest, ResourceNotFound, TooManyResults
from calanque.ngsild.render import _render_instance
from calanque.ngsild.service import Broker, Change, history_rows
from calanque.store.base import EntityQuery, HistoryQuery
from calanque.store.sql import AGGREGATION_METHODS, ts_to_us, us_to_ts

TEMPORAL_PARAMS = {
    "id", "idPattern", "type", "attrs", "q", "geometry", "georel", "coordinates", "geoproperty", "timerel",
    "timeAt", "endTimeAt", "timeproperty", "lastN", "options", "format", "aggrMethods", "aggrPeriodDuration",
    "limit", "offset", "count", "lang", "local", "pick", "omit",
}
_DURATION = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration_us(text: str) -> int:
    """Parse an ISO 8601 duration into microseconds (weeks, days, hours, minutes, seconds)."""
    m = _DURATION.match(text or "")
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise BadRequestData(f"aggrPeriodDuration '{text[:40]}' is not an ISO 8601 duration such as PT1H or P1D")
    if m.group("y") or m.group("mo"):
        raise BadRequestData(
            f"aggrPeriodDuration '{text}' uses years or months, whose length varies; use weeks, days or hours"
        )
    seconds = (
        int(m.group("w") or 0) * 604_800 + int(m.group("d") or 0) * 86_400 + int(m.group("h") or 0) * 3_600
        + int(m.group("mi") or 0) * 60 + float(m.group("s") or 0)
    )
    return int(round(seconds * 1_000_000))


@dataclass(slots=True)
class TemporalRequest:
    """A validated temporal query."""

    start: str | None = None
    end: str | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None
    attrs: list[str] | None = None
    fmt: str = "normalized"  # normalized | temporalValues | aggregatedValues
    sys_attrs: bool = False
    methods: list[str] = field(default_factory=list)
    period: str | None = None
    lang: str | None = None


def parse_temporal_params(params: Mapping[str, Any], ctx: TermContext) -> TemporalRequest:
    """Validate timerel, timeAt, endTimeAt, timeproperty, lastN, options and aggregation parameters."""
    req = TemporalRequest()
    timerel = params.get("timerel")
    time_at = params.get("timeAt")
    end_at = params.get("endTimeAt")
    if timerel is not None:
        if timerel not in ("before", "after", "between"):
            raise BadRequestData(f"timerel must be before, after or between, got '{str(timerel)[:30]}'")
        if time_at is None:
            raise BadRequestData(f"timerel={timerel} needs timeAt")
        try:
            t0 = normalize_ts(time_at)
        except ValueError as err:
            raise BadRequestData(f"timeAt: {err}") from None
        if timerel == "before":
            req.end = t0
        elif timerel == "after":
            req.start = t0
        else:
            if end_at is None:
                raise BadRequestData("timerel=between needs endTimeAt")
            try:
                t1 = normalize_ts(end_at)
            except ValueError as err:
                raise BadRequestData(f"endTimeAt: {err}") from None
            if ts_to_us(t1) <= ts_to_us(t0):
                raise BadRequestData("endTimeAt must be after timeAt")
            req.start, req.end = t0, t1
    elif time_at is not None or end_at is not None:
        raise BadRequestData("timeAt and endTimeAt need timerel (before, after or between)")
    tp = params.get("timeproperty", "observedAt")
    if tp not in ("observedAt", "createdAt", "modifiedAt", "deletedAt"):
        raise BadRequestData(
            f"timeproperty must be observedAt, createdAt, modifiedAt or deletedAt, got '{str(tp)[:30]}'"
        )
    req.timeproperty = tp
    if params.get("lastN") is not None:
        try:
            req.last_n = int(params["lastN"])
        except (TypeError, ValueError):
            raise BadRequestData(f"lastN must be a positive integer, got '{str(params['lastN'])[:20]}'") from None
        if req.last_n < 1:
            raise BadRequestData("lastN must be at least 1")
    if params.get("attrs") is not None:
        names = [a.strip() for a in str(params["attrs"]).split(",")]
        if any(not a for a in names):
            raise BadRequestData("attrs holds an empty name")
        req.attrs = [ctx.expand(a) for a in names]
    options = {o.strip() for o in str(params.get("options") or "").split(",") if o.strip()}
    fmt = params.get("format")
    # "count" in options is the pre-1.3 spelling of count=true, still sent by clients such as ngsildclient.
    allowed = {"temporalValues", "aggregatedValues", "sysAttrs", "normalized", "simplified", "keyValues", "count"}
    unknown = options - allowed
    if unknown:
        raise BadRequestData(f"unknown option(s) {', '.join(sorted(unknown))}: expected {', '.join(sorted(allowed))}")
    if fmt is not None and fmt not in ("temporalValues", "aggregatedValues", "normalized", "simplified"):
        raise BadRequestData(f"unknown format '{str(fmt)[:30]}'")
    chosen = {o for o in options if o in ("temporalValues", "aggregatedValues", "simplified", "keyValues")}
    if fmt is not None:
        chosen.add(fmt)
    chosen = {"temporalValues" if c in ("simplified", "keyValues") else c for c in chosen} - {"normalized"}
    if len(chosen) > 1:
        raise BadRequestData("choose one of temporalValues and aggregatedValues")
    req.fmt = chosen.pop() if chosen else "normalized"
    req.sys_attrs = "sysAttrs" in options
    if req.fmt == "aggregatedValues":
        if req.timeproperty == "deletedAt":
            raise BadRequestData("aggregatedValues needs values: deletions carry none (timeproperty=deletedAt)")
        methods = [m.strip() for m in str(params.get("aggrMethods") or "").split(",") if m.strip()]
        if not methods:
            raise BadRequestData(f"aggregatedValues needs aggrMethods, among {', '.join(AGGREGATION_METHODS)}")
        bad = [m for m in methods if m not in AGGREGATION_METHODS]
        if bad:
            raise BadRequestData(f"unknown aggrMethods {', '.join(bad)}: expected {', '.join(AGGREGATION_METHODS)}")
        req.methods = list(dict.fromkeys(methods))
        req.period = params.get("aggrPeriodDuration") or "PT0S"
    elif params.get("aggrMethods") is not None or params.get("aggrPeriodDuration") is not None:
        raise BadRequestData("aggrMethods and aggrPeriodDuration need options=aggregatedValues")
    if params.get("lang") is not None:
        req.lang = str(params["lang"])
    return req


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic answers (lists of buckets).

    Tens of thousands of small lists otherwise trigger repeated full collections of the whole heap;
    these objects hold no cycles, so nothing is lost. Reference counting still frees memory.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class TemporalService:
    """Reads and writes the temporal evolution of entities."""

    def __init__(self, broker: Broker, *, max_rows: int = 2_000_000) -> None:
        self.broker = broker
        self.store = broker.store
        self.max_rows = max_rows

    # reading ---------------------------------------------------------------------------
    def entity(self, tenant: str, entity_id: str, req: TemporalRequest, ctx: TermContext) -> dict:
        """The temporal representation of one entity."""
        with self.store.session() as s:
            self.broker.check_tenant(s, tenant)
            ident = s.temporal_entity(tenant, entity_id)
        if ident is None:
            raise ResourceNotFound(f"entity '{entity_id}' has no temporal evolution")
        return self.represent(tenant, [ident], req, ctx)[0]

    def query(self, tenant: str, params: Mapping[str, Any], req: TemporalRequest, ctx: TermContext, *,
              limit: int, offset: int, count: bool) -> tuple[list[dict], int | None]:
        """Temporal representations of the entities matching id/type/q/geo filters."""
        from calanque.ngsild.query import build_query

        filters = {k: v for k, v in params.items()
                   if k in ("id", "idPattern", "type", "q", "geometry", "georel", "coordinates", "geoproperty")}
        if not any(k in filters for k in ("id", "idPattern", "type", "q", "geometry")) and req.attrs is None:
            raise BadRequestData("a temporal query needs at least one of type, id, idPattern, attrs, q or a geo-query")
        query, _ = build_query(filters, ctx, tenant=tenant, dialect=self.store.dialect, default_limit=limit,
                               max_limit=10**9)
        type_expr = typesel.parse_types(params["type"], ctx.expand) if params.get("type") else None
        q_expr = qlang.parse_q(params["q"], ctx.expand) if params.get("q") else None
        with self.store.session() as s:
            self.broker.check_tenant(s, tenant)
            idents = s.temporal_entity_ids(tenant, EntityQuery(ids=query.ids, id_pattern=query.id_pattern,
                                                               type_iris=query.type_iris))
            if type_expr is not None:
                idents = [i for i in idents if typesel.types_match(type_expr, i["type"])]
            if q_expr is not None or query.post_filter is not None:
                # q and geo-queries apply to the entity's current state.
                current = s.get_entities(tenant, [i["id"] for i in idents])
                # under a read scope, a filter naming a hidden attribute matches nothing (calanque.store.scope)
                named = (qlang.q_attributes(q_expr) if q_expr is not None else frozenset()) | (
                    {query.geo_attr} if query.geo_attr else set())
                keep = []
                for ident in idents:
                    doc = current.get(ident["id"])
                    if doc is None or (s.scope is not None and not s.scope.may_filter(doc, named)):
                        continue
                    if q_expr is not None and not qlang.q_matches(q_expr, doc):
                        continue
                    if query.post_filter is not None and not query.post_filter(doc):
                        continue
                    keep.append(ident)
                idents = keep
        total = len(idents) if count else None
        page = idents[offset : offset + limit]
        return self.represent(tenant, page, req, ctx), total

    def represent(self, tenant: str, idents: list[dict], req: TemporalRequest, ctx: TermContext) -> list[dict]:
        """Build the representation of each entity from its history."""
        if not idents:
            return []
        ids = [i["id"] for i in idents]
        hq = HistoryQuery(entity_ids=ids, attrs=req.attrs, timeproperty=req.timeproperty, start=req.start,
                          end=req.end, last_n=req.last_n, limit=self.max_rows + 1)
        out = {i["id"]: self._head(i, ctx, req) for i in idents}
        if req.fmt == "aggregatedValues":
            self._aggregate(tenant, hq, req, ctx, out)
            return [out[i] for i in ids]
        with self.store.session() as s:
            rows = s.read_history(tenant, hq)
        if len(rows) > self.max_rows:
            raise TooManyResults(
                f"more than {self.max_rows} instances match: narrow the time window, attrs or use lastN"
            )
        for row in rows:
            name = ctx.compact(row.attr)
            target = out[row.entity_id]
            inst = dict(row.instance)
            inst["instanceId"] = row.instance_id
            if req.fmt == "temporalValues":
                slot = target.setdefault(name, {"type": inst.get("type", "Property")})
                key = {"Relationship": "objects", "LanguageProperty": "languageMaps", "VocabProperty": "vocabs",
                       "ListProperty": "valueLists", "ListRelationship": "objectLists", "JsonProperty": "jsons"
                       }.get(slot["type"], "values")
                value = inst.get(VALUE_MEMBER.get(inst.get("type", "Property"), "value"))
                stamp = {"observedAt": row.observed_at, "createdAt": row.created_at,
                         "modifiedAt": row.modified_at, "deletedAt": row.modified_at}[req.timeproperty]
                slot.setdefault(key, []).append([value, stamp])
            else:
                rendered = _render_instance(inst, ctx, "normalized", req.sys_attrs, None)
                rendered["instanceId"] = row.instance_id
                target.setdefault(name, []).append(rendered)
        return [out[i] for i in ids]

    def _head(self, ident: dict, ctx: TermContext, req: TemporalRequest) -> dict:
        types = [ctx.compact(t) for t in ident["type"]]
        head: dict[str, Any] = {"id": ident["id"], "type": types[0] if len(types) == 1 else types}
        if req.sys_attrs:
            head["createdAt"] = ident["createdAt"]
            head["modifiedAt"] = ident["modifiedAt"]
            if "deletedAt" in ident:  # clause 6.3.11: the entity was deleted; its history stays
                head["deletedAt"] = ident["deletedAt"]
        return head

    def _aggregate(self, tenant: str, hq: HistoryQuery, req: TemporalRequest, ctx: TermContext,
                   out: dict[str, dict]) -> None:
        with _no_cyclic_gc():
            self._aggregate_into(tenant, hq, req, ctx, out)

    def _aggregate_into(self, tenant: str, hq: HistoryQuery, req: TemporalRequest, ctx: TermContext,
                        out: dict[str, dict]) -> None:
        period = parse_duration_us(req.period or "PT0S")
        with self.store.session() as s:
            origin = hq.start
            if origin is None:
                origin = s.earliest_history(tenant, hq)
            if origin is None:
                return
            end_us = ts_to_us(hq.end) if hq.end else ts_to_us(now_ts()) + 1
            span = max(end_us - ts_to_us(origin), 1)
            period_us = period if period > 0 else span
            buckets = s.aggregate_history(tenant, hq, origin=origin, period_us=period_us, methods=req.methods)
        origin_us = ts_to_us(origin)
        labels: dict[int, tuple[str, str]] = {}  # bucket -> (start, end) text, shared by every entity

        def label(b: int) -> tuple[str, str]:
            found = labels.get(b)
            if found is None:
                found = labels[b] = (
                    us_to_ts(origin_us + b * period_us),
                    us_to_ts(min(origin_us + (b + 1) * period_us, end_us) if period == 0 else
                             origin_us + (b + 1) * period_us),
                )
            return found

        for (entity_id, attr), (indexes, values) in buckets.items():
            spans = [label(b) for b in indexes]
            slot: dict[str, Any] = {"type": "Property"}
            for method in req.methods:
                slot[method] = [[v, start, end] for v, (start, end) in zip(values[method], spans)]
            out[entity_id][ctx.compact(attr)] = slot

    # writing ---------------------------------------------------------------------------
    def upsert(self, tenant: str, body: Any, ctx: TermContext) -> bool:
        """POST /temporal/entities: add instances to an entity's history; True when it was new."""
        if not isinstance(body, dict):
            raise BadRequestData("the body must be a temporal entity (a JSON object)")
        entity = parse_temporal_entity(body, ctx, now_ts())
        rows = history_rows(entity)
        with self.store.session(write=True) as s:
            s.ensure_tenant(tenant)
            created = s.temporal_entity(tenant, entity["id"]) is None
            s.add_history(tenant, rows)
            s.upsert_temporal_entities(tenant, [entity], revive=False)  # history only: a deleted entity stays so
        self.broker.notify([Change(tenant, entity["id"], "temporal", None, None, list(entity["attrs"]))])
        return created

    def append(self, tenant: str, entity_id: str, body: Any, ctx: TermContext) -> None:
        """POST /temporal/entities/{id}/attrs: add attribute instances to the history."""
        if not isinstance(body, dict):
            raise BadRequestData("the body must be a JSON object of attribute instances")
        with self.store.session() as s:
            self.broker.check_tenant(s, tenant)
            ident = s.temporal_entity(tenant, entity_id)
        if ident is None:
            raise ResourceNotFound(f"entity '{entity_id}' has no temporal evolution")
        payload = {k: v for k, v in body.items() if k not in ("@context", "id", "type")}
        entity = parse_temporal_entity({"id": entity_id, "type": ident["type"], **payload}, ctx, now_ts())
        with self.store.session(write=True) as s:
            s.add_history(tenant, history_rows(entity))
            s.upsert_temporal_entities(tenant, [{**ident, "modifiedAt": entity["modifiedAt"]}], revive=False)

    def delete_entity(self, tenant: str, entity_id: str) -> None:
        """DELETE /temporal/entities/{id}."""
        with self.store.session(write=True) as s:
            self.broker.check_tenant(s, tenant)
            if not s.delete_temporal_entity(tenant, entity_id):
                raise ResourceNotFound(f"entity '{entity_id}' has no temporal evolution")

    def delete_attr(self, tenant: str, entity_id: str, attr: str, *, dataset_id: str | None,
                    delete_all: bool) -> None:
        """DELETE /temporal/entities/{id}/attrs/{attr}: the default instances, a datasetId, or all."""
        with self.store.session(write=True) as s:
            self.broker.check_tenant(s, tenant)
            if s.temporal_entity(tenant, entity_id) is None:
                raise ResourceNotFound(f"entity '{entity_id}' has no temporal evolution")
            ds = None if delete_all else (dataset_id or "")
            if s.delete_history(tenant, entity_id, attr, dataset_id=ds) == 0:
                raise ResourceNotFound(f"entity '{entity_id}' has no history for that attribute")

    def modify_instance(self, tenant: str, entity_id: str, attr: str, instance_id: str, body: Any,
                        ctx: TermContext) -> None:
        """PATCH /temporal/entities/{id}/attrs/{attr}/{instanceId}: correct one stored instance."""
        if not isinstance(body, dict):
            raise BadRequestData("the body must be a JSON object holding the attribute instance")
        raw = body.get(ctx.compact(attr), body.get(attr))
        if raw is None:
            raw = {k: v for k, v in body.items() if k != "@context"}
        if isinstance(raw, list):
            if len(raw) != 1:
                raise BadRequestData("give exactly one instance to modify")
            raw = raw[0]
        now = now_ts()
        parsed = parse_entity({"id": entity_id, "type": "Temporal", "__a__": raw}, PinnedTerm(ctx, "__a__", attr),
                              now=now)
        inst = parsed["attrs"][attr][0]
        with self.store.session(write=True) as s:
            self.broker.check_tenant(s, tenant)
            if not s.update_history_instance(tenant, entity_id, attr, instance_id, inst):
                raise ResourceNotFound(f"no instance '{instance_id}' of that attribute exists")

    def delete_instance(self, tenant: str, entity_id: str, attr: str, instance_id: str) -> None:
        """DELETE /temporal/entities/{id}/attrs/{attr}/{instanceId}."""
        with self.store.session(write=True) as s:
            self.broker.check_tenant(s, tenant)
            if s.delete_history(tenant, entity_id, attr, instance_id=instance_id) == 0:
                raise ResourceNotFound(f"no instance '{instance_id}' of that attribute exists")


def parse_temporal_entity(body: dict, ctx: TermContext, now: str) -> dict:
    """Parse a temporal entity: each attribute is an array of instances in time, parsed one by one."""
    head = {k: v for k, v in body.items() if k in ("id", "type", "scope")}
    entity = parse_entity(head, ctx, now=now)
    for name, value in body.items():
        if name in ("id", "type", "scope", "@context", "createdAt", "modifiedAt"):
            continue
        instances = value if isinstance(value, list) else [value]
        if not instances:
            raise BadRequestData(f"attribute '{name}' holds no instance")
        for inst in instances:
            parsed = parse_attributes({name: inst}, ctx, now=now)
            for iri, items in parsed.items():
                entity["attrs"].setdefault(iri, []).extend(items)
    return entity


def check_temporal_params(params: Mapping[str, Any], allowed: set[str]) -> None:
    """Reject unknown query parameters with a clear error."""
    unknown = set(params) - allowed
    if unknown:
        raise InvalidRequest(f"unknown query parameter(s): {', '.join(sorted(unknown))}")

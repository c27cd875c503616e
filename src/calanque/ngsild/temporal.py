"""The temporal API's semantics: time windows, history queries, aggregation and representations."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from calanque.ngsild import qlang, typesel
from calanque.ngsild.canonical import VALUE_MEMBER, normalize_ts, now_ts
from calanque.ngsild.context_protocol import PinnedTerm, TermContext
from calanque.ngsild.entity import parse_attributes, parse_entity
from calanque.ngsild.errors import BadRequestData, InvalidRequest, ResourceNotFound, TooManyResults
from calanque.ngsild.render import _render_instance
from calanque.ngsild.service import Broker, Change, history_rows
from calanque.store.base import EntityQuery, HistoryQuery, HistoryRow
from calanque.store.sql import AGGREGATION_METHODS, SqlSession, instance_value, numeric, ts_to_us, us_to_ts

# For each entity, the time frames [start, end) in µs (None: unbounded) during which q and the geo-query held.
Frames = dict[str, list[tuple[int | None, int | None]]]

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


def _row_time(row: HistoryRow, timeproperty: str) -> str | None:
    """A history row's time on a time property (a deletion's deletedAt is its modifiedAt)."""
    if timeproperty == "observedAt":
        return row.observed_at
    return row.created_at if timeproperty == "createdAt" else row.modified_at


def _row_us(row: HistoryRow, timeproperty: str) -> int:
    return ts_to_us(_row_time(row, timeproperty) or row.created_at)


def matching_frames(idents: list[dict], before: list[HistoryRow], rows: list[HistoryRow], axis: str,
                    q_expr: qlang.QExpr | None, geo: Callable[[dict], bool] | None,
                    start_us: int | None, end_us: int | None) -> Frames:
    """When q and the geo-query held, for each entity, within [start_us, end_us).

    The temporal evolution is a succession of states: the state at a time t holds, for each attribute
    instance (attribute and datasetId), its latest row at or before t on the time axis; a deletion removes
    the instance; before any row the instance is absent. ``before`` holds each instance's last row before
    the interval (its state at the start), ``rows`` the rows within it, on the same axis. The filters are
    evaluated on every state (q with the same semantics as on current entities, the geo-query on the
    GeoProperty's geometry of that state); a frame runs from the state's time to the next change.
    """
    events: dict[str, list[tuple[int, HistoryRow]]] = {}
    for row in before:  # only read when the interval has a start
        events.setdefault(row.entity_id, []).append((start_us or 0, row))
    for row in rows:
        events.setdefault(row.entity_id, []).append((_row_us(row, axis), row))

    def add(found: list, lo: int | None, hi: int | None) -> None:
        if lo is None or hi is None or lo < hi:  # a state replaced at the moment it began never held
            found.append((lo, hi))

    frames: Frames = {}
    for ident in idents:
        timeline = sorted(events.get(ident["id"], []), key=lambda e: e[0])
        state: dict[str, dict[str, dict]] = {}
        found: list[tuple[int | None, int | None]] = []
        opened: int | None = None
        is_open = False
        moment: int | None = start_us
        i = 0
        while True:
            doc = {"id": ident["id"], "type": ident["type"],
                   "attrs": {a: list(by_ds.values()) for a, by_ds in state.items() if by_ds}}
            held = (q_expr is None or qlang.q_matches(q_expr, doc)) and (geo is None or geo(doc))
            if held and not is_open:
                opened, is_open = moment, True
            elif not held and is_open:
                add(found, opened, moment)
                is_open = False
            if i >= len(timeline):
                break
            moment = timeline[i][0]
            while i < len(timeline) and timeline[i][0] == moment:
                row = timeline[i][1]
                by_ds = state.setdefault(row.attr, {})
                if row.deleted:
                    by_ds.pop(row.dataset_id, None)
                else:
                    by_ds[row.dataset_id] = row.instance
                i += 1
        if is_open:
            add(found, opened, end_us)
        if found:
            frames[ident["id"]] = found
    return frames


def _in_frames(rows: list[HistoryRow], timeproperty: str, frames: Frames) -> list[HistoryRow]:
    """The rows whose time on the time property falls in one of their entity's frames."""
    kept = []
    for row in rows:
        t = _row_us(row, timeproperty)
        if any((lo is None or lo <= t) and (hi is None or t < hi) for lo, hi in frames.get(row.entity_id, ())):
            kept.append(row)
    return kept


def _last_n(rows: list[HistoryRow], last_n: int | None) -> list[HistoryRow]:
    """Keep the last_n latest rows of each (entity, attribute); rows come ordered by entity, attribute, time."""
    if not last_n:
        return rows
    kept: list[HistoryRow] = []
    for index, row in enumerate(rows):
        following = rows[index + 1 : index + 1 + last_n]
        same = sum(1 for r in following if (r.entity_id, r.attr) == (row.entity_id, row.attr))
        if same < last_n:
            kept.append(row)
    return kept


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
        """Temporal representations of the entities matching id/type/q/geo filters.

        q and geo-queries are resolved on the temporal evolution, not on the current state: an entity
        matches when they hold at some moment of the requested time interval, and its representation
        holds the instances of the moments they held (see :func:`matching_frames`).
        """
        from calanque.ngsild.query import build_query

        filters = {k: v for k, v in params.items()
                   if k in ("id", "idPattern", "type", "q", "geometry", "georel", "coordinates", "geoproperty")}
        if not any(k in filters for k in ("id", "idPattern", "type", "q", "geometry")) and req.attrs is None:
            raise BadRequestData("a temporal query needs at least one of type, id, idPattern, attrs, q or a geo-query")
        query, _ = build_query(filters, ctx, tenant=tenant, dialect=self.store.dialect, default_limit=limit,
                               max_limit=10**9)
        type_expr = typesel.parse_types(params["type"], ctx.expand) if params.get("type") else None
        q_expr = qlang.parse_q(params["q"], ctx.expand) if params.get("q") else None
        frames: Frames | None = None
        with self.store.session() as s:
            self.broker.check_tenant(s, tenant)
            idents = s.temporal_entity_ids(tenant, EntityQuery(ids=query.ids, id_pattern=query.id_pattern,
                                                               type_iris=query.type_iris))
            if type_expr is not None:
                idents = [i for i in idents if typesel.types_match(type_expr, i["type"])]
            if q_expr is not None or query.post_filter is not None:
                # under a read scope, a filter naming a hidden attribute matches nothing (calanque.store.scope)
                named = (qlang.q_attributes(q_expr) if q_expr is not None else frozenset()) | (
                    {query.geo_attr} if query.geo_attr else set())
                if s.scope is not None:
                    idents = [i for i in idents if s.scope.may_filter(i, named)]
                frames = self._frames(s, tenant, idents, named, q_expr, query.post_filter, req)
                idents = [i for i in idents if frames.get(i["id"])]
        total = len(idents) if count else None
        page = idents[offset : offset + limit]
        return self.represent(tenant, page, req, ctx, frames=frames), total

    def _frames(self, s: Any, tenant: str, idents: list[dict], named: frozenset[str] | set[str],
                q_expr: qlang.QExpr | None, geo: Callable[[dict], bool] | None, req: TemporalRequest) -> Frames:
        """Read the history of the attributes the filters name and find when the filters held."""
        if not idents:
            return {}
        # deletions live on the modification axis: a deletedAt query follows the states along it
        axis = "modifiedAt" if req.timeproperty == "deletedAt" else req.timeproperty
        base = HistoryQuery(entity_ids=[i["id"] for i in idents], attrs=sorted(named), timeproperty=axis)  # type: ignore[arg-type]
        before: list[HistoryRow] = []
        if req.start is not None:  # the state at the start of the interval: each instance's last row before it
            before = s.read_history(tenant, replace(base, end=req.start, last_n=1, last_n_by_dataset=True))
        rows = s.read_history(tenant, replace(base, start=req.start, end=req.end, limit=self.max_rows + 1))
        if len(rows) > self.max_rows:
            raise TooManyResults(f"more than {self.max_rows} instances match the q or geo filter's attributes: "
                                 "narrow the time window")
        return matching_frames(idents, before, rows, axis, q_expr, geo,
                               ts_to_us(req.start) if req.start else None, ts_to_us(req.end) if req.end else None)

    def represent(self, tenant: str, idents: list[dict], req: TemporalRequest, ctx: TermContext, *,
                  frames: Frames | None = None) -> list[dict]:
        """Build the representation of each entity from its history (restricted to ``frames`` if given)."""
        if not idents:
            return []
        ids = [i["id"] for i in idents]
        hq = HistoryQuery(entity_ids=ids, attrs=req.attrs, timeproperty=req.timeproperty,  # type: ignore[arg-type]
                          start=req.start, end=req.end, last_n=req.last_n if frames is None else None,
                          limit=self.max_rows + 1)
        out = {i["id"]: self._head(i, ctx, req) for i in idents}
        if req.fmt == "aggregatedValues":
            if frames is None:
                self._aggregate(tenant, hq, req, ctx, out)
            else:
                self._aggregate_frames(tenant, hq, req, ctx, out, frames)
            return [out[i] for i in ids]
        with self.store.session() as s:
            rows = s.read_history(tenant, hq)
        if len(rows) > self.max_rows:
            raise TooManyResults(
                f"more than {self.max_rows} instances match: narrow the time window, attrs or use lastN"
            )
        if frames is not None:
            rows = _last_n(_in_frames(rows, req.timeproperty, frames), req.last_n)
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
                slot.setdefault(key, []).append([value, _row_time(row, req.timeproperty)])
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
        self._fill_aggregates(out, buckets, ts_to_us(origin), end_us, period == 0, period_us, req, ctx)

    def _aggregate_frames(self, tenant: str, hq: HistoryQuery, req: TemporalRequest, ctx: TermContext,
                          out: dict[str, dict], frames: Frames) -> None:
        """Aggregations over the instances of the moments q and the geo-query held, in the same buckets
        and with the same definitions as the store's (``calanque.store.sql``)."""
        with _no_cyclic_gc():
            with self.store.session() as s:
                rows = s.read_history(tenant, hq)
            if len(rows) > self.max_rows:
                raise TooManyResults(f"more than {self.max_rows} instances match: narrow the time window or attrs")
            kept = [(r, _row_us(r, req.timeproperty)) for r in _in_frames(rows, req.timeproperty, frames)
                    if not r.deleted]
            if not kept:
                return
            period = parse_duration_us(req.period or "PT0S")
            origin_us = ts_to_us(hq.start) if hq.start else min(t for _, t in kept)
            end_us = ts_to_us(hq.end) if hq.end else ts_to_us(now_ts()) + 1
            period_us = period if period > 0 else max(end_us - origin_us, 1)
            groups: dict[tuple[str, str, int], list[Any]] = {}
            for row, t in kept:
                groups.setdefault((row.entity_id, row.attr, (t - origin_us) // period_us), []).append(
                    instance_value(row.instance))
            table = []
            for (entity_id, attr, bucket), values in sorted(groups.items()):
                nums = [n for n in map(numeric, values) if n is not None]
                distinct = {orjson.dumps(v) for v in values if v is not None}
                table.append((entity_id, attr, bucket, len(values), len(distinct), sum(nums) if nums else None,
                              min(nums, default=None), max(nums, default=None),
                              sum(n * n for n in nums) if nums else None, len(nums)))
            buckets = SqlSession._buckets(table, req.methods)
            self._fill_aggregates(out, buckets, origin_us, end_us, period == 0, period_us, req, ctx)

    @staticmethod
    def _fill_aggregates(out: dict[str, dict], buckets: dict[tuple[str, str], tuple[list[int], dict[str, list[Any]]]],
                         origin_us: int, end_us: int, whole: bool, period_us: int, req: TemporalRequest,
                         ctx: TermContext) -> None:
        """Put each attribute's buckets, labelled with their start and end, into the representations."""
        period = 0 if whole else period_us
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

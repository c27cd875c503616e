"""Turn the query parameters of GET /entities (or a POST query body) into a store query."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from calanque.ngsild import qlang, typesel
from calanque.ngsild.context_protocol import TermContext
from calanque.ngsild.errors import BadRequestData, InvalidRequest, TooManyResults
from calanque.store.base import Dialect, EntityQuery, SqlPredicate

FORMATS = {"normalized": "normalized", "concise": "concise", "keyValues": "keyValues", "simplified": "keyValues"}
QUERY_PARAMS = {
    "id", "idPattern", "type", "attrs", "pick", "omit", "q", "geometry", "georel", "coordinates", "geoproperty",
    "lang", "limit", "offset", "count", "options", "format", "local", "datasetId",
}


@dataclass(slots=True)
class RenderOptions:
    """How the selected entities are to be represented."""

    fmt: str = "normalized"
    sys_attrs: bool = False
    attrs: set[str] | None = None
    pick: set[str] | None = None
    omit: set[str] | None = None
    lang: str | None = None
    dataset_id: str | None = None
    geoproperty: str = "location"
    options: set[str] = field(default_factory=set)


def parse_options(options: str | None, fmt: str | None, allowed: set[str]) -> tuple[str, set[str]]:
    """Parse `options` and `format`; return the representation format and the other flags."""
    flags: set[str] = set()
    chosen: str | None = None
    for item in (options or "").split(","):
        item = item.strip()
        if not item:
            continue
        if item in FORMATS:
            if chosen and chosen != FORMATS[item]:
                raise BadRequestData(f"options ask for both '{chosen}' and '{item}': choose one representation")
            chosen = FORMATS[item]
        elif item in allowed:
            flags.add(item)
        else:
            raise BadRequestData(
                f"unknown option '{item[:50]}': expected one of {', '.join(sorted(set(FORMATS) | allowed))}"
            )
    if fmt is not None:
        if fmt not in FORMATS:
            raise BadRequestData(f"unknown format '{fmt[:50]}': expected one of {', '.join(FORMATS)}")
        if chosen and chosen != FORMATS[fmt]:
            raise BadRequestData(f"'format={fmt}' contradicts 'options': choose one representation")
        chosen = FORMATS[fmt]
    return chosen or "normalized", flags


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",")]
    if any(not v for v in items):
        raise BadRequestData("an empty name appears in a comma-separated list")
    return items


def _check_uri(value: str, what: str) -> str:
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$", value) or len(value) > 2048:
        raise BadRequestData(f"{what} '{value[:100]}' is not a valid URI")
    return value


def build_query(
    params: Mapping[str, Any],
    ctx: TermContext,
    *,
    tenant: str,
    dialect: Dialect,
    default_limit: int,
    max_limit: int,
    require_filter: bool = False,
) -> tuple[EntityQuery, RenderOptions]:
    """Validate and compile query parameters into an EntityQuery and rendering options."""
    unknown = set(params) - QUERY_PARAMS
    if unknown:
        raise InvalidRequest(
            f"unknown query parameter(s): {', '.join(sorted(unknown))}; see the NGSI-LD Query Entities operation"
        )
    for key, value in params.items():
        if isinstance(value, str) and "\x00" in value:
            raise BadRequestData(f"query parameter '{key}' contains a NUL character at position {value.index(chr(0))}")
    query = EntityQuery()
    ids = _names(params.get("id"))
    if ids is not None:
        query.ids = [_check_uri(i, "entity id") for i in ids]
    if params.get("idPattern") is not None:
        pattern = params["idPattern"]
        try:
            re.compile(pattern)
        except re.error as err:
            raise BadRequestData(f"idPattern '{pattern[:100]}' is not a valid regular expression: {err}") from None
        query.id_pattern = pattern
    if params.get("type") is not None:
        type_expr = typesel.parse_types(params["type"], ctx.expand)
        iris = sorted(type_expr.iris())
        query.type_iris = iris
        ph = "?" if dialect == "sqlite" else "%s"

        def has_type(iri: str) -> tuple[str, list[Any]]:
            return (
                f"e.seq IN (SELECT t.entity_seq FROM entity_types t WHERE t.tenant = {ph} AND t.type = {ph})",
                [tenant, iri],
            )

        sql, sql_params = typesel.types_to_sql(type_expr, has_type)
        if not _is_plain_or(params["type"]):
            query.predicates.append(SqlPredicate(sql, sql_params))
            query.type_selection_complex = True
    attrs = _names(params.get("attrs"))
    render = RenderOptions()
    if attrs is not None:
        render.attrs = {ctx.expand(a) for a in attrs}
        query.attrs_any = sorted(render.attrs)
    pick = _names(params.get("pick"))
    omit = _names(params.get("omit"))
    if pick is not None and omit is not None:
        raise BadRequestData("'pick' and 'omit' cannot be used together")
    if pick is not None:
        render.pick = {p if p in ("id", "type") else ctx.expand(p) for p in pick}
    if omit is not None:
        render.omit = {p if p in ("id", "type") else ctx.expand(p) for p in omit}
    if params.get("q") is not None:
        expr = qlang.parse_q(params["q"], ctx.expand)
        query.filter_attrs = qlang.q_attributes(expr)
        sql, sql_params = qlang.q_to_sql(expr, dialect, "e.doc", index=("e.seq", tenant))
        query.predicates.append(SqlPredicate(sql, sql_params))
        candidates = qlang.q_candidates(expr, dialect, tenant)
        if candidates is not None:
            query.candidates = SqlPredicate(*candidates)
    geo_keys = [k for k in ("geometry", "georel", "coordinates") if params.get(k) is not None]
    if geo_keys:
        from calanque.ngsild.geo import parse_geoquery

        missing = {"geometry", "georel", "coordinates"} - set(geo_keys)
        if missing:
            raise BadRequestData(f"a geo-query needs geometry, georel and coordinates; missing: {', '.join(sorted(missing))}")
        geoproperty = ctx.expand(params.get("geoproperty") or "location")
        geo = parse_geoquery(params["geometry"], params["coordinates"], params["georel"], geoproperty)
        query.geo_attr = geoproperty
        query.geo_bbox = geo.search_bbox()
        query.post_filter = _geo_filter(geo, geoproperty)
        query.geo_query = geo
    if params.get("geoproperty") is not None:
        render.geoproperty = ctx.expand(params["geoproperty"])
    else:
        render.geoproperty = ctx.expand("location")
    if params.get("lang") is not None:
        render.lang = str(params["lang"])
    if params.get("datasetId") is not None:
        dataset_id = str(params["datasetId"])
        render.dataset_id = dataset_id if dataset_id == "@none" else _check_uri(dataset_id, "datasetId")
    query.limit = _int(params.get("limit"), "limit", default_limit, 0, None)
    if query.limit > max_limit:
        raise TooManyResults(f"limit {query.limit} is above the maximum of {max_limit}: page with offset")
    query.offset = _int(params.get("offset"), "offset", 0, 0, 10**9)
    count = params.get("count")
    if count not in (None, "true", "false", True, False):
        raise BadRequestData(f"count must be true or false, got '{str(count)[:20]}'")
    query.count = count in ("true", True)
    if query.limit == 0 and not query.count:
        raise BadRequestData("limit=0 is only meaningful with count=true")
    render.fmt, render.options = parse_options(params.get("options"), params.get("format"), {"sysAttrs"})
    render.sys_attrs = "sysAttrs" in render.options
    if require_filter and not any(
        params.get(k) is not None for k in ("id", "idPattern", "type", "attrs", "q", "geometry")
    ):
        raise BadRequestData("a query needs at least one of type, id, idPattern, attrs, q or a geo-query")
    return query, render


def _is_plain_or(text: str) -> bool:
    """True when a type selection is a plain list of alternatives (no ';' and no parentheses)."""
    return not any(c in text for c in ";()")


def _geo_filter(geo: Any, geoproperty: str) -> Any:
    def matches(entity: dict) -> bool:
        for inst in entity.get("attrs", {}).get(geoproperty, []):
            value = inst.get("value")
            if inst.get("type") == "GeoProperty" and isinstance(value, dict) and geo.matches(value):
                return True
        return False

    return matches


def _int(value: Any, name: str, default: int, minimum: int, maximum: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequestData(f"'{name}' must be an integer, got '{str(value)[:50]}'") from None
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise BadRequestData(f"'{name}' must be {bound}, got {number}")
    return number


def params_from_query_body(body: Any) -> dict[str, Any]:
    """Map a POST /entityOperations/query body (a Query object) onto GET-style parameters."""
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData("the body must be a Query object with \"type\": \"Query\"")
    params: dict[str, Any] = {}
    entities = body.get("entities")
    if entities is not None:
        if not isinstance(entities, list) or not entities or not all(isinstance(e, dict) for e in entities):
            raise BadRequestData("'entities' must be a non-empty array of {type, id?, idPattern?} objects")
        types = [e.get("type") for e in entities]
        if not all(isinstance(t, str) and t for t in types):
            raise BadRequestData("every item of 'entities' needs a 'type'")
        params["type"] = ",".join(types)
        ids = [e["id"] for e in entities if isinstance(e.get("id"), str)]
        if ids:
            params["id"] = ",".join(ids)
        patterns = [e["idPattern"] for e in entities if isinstance(e.get("idPattern"), str)]
        if patterns:
            params["idPattern"] = "|".join(f"(?:{p})" for p in patterns)
    for key in ("attrs", "pick", "omit"):
        if key in body:
            if not isinstance(body[key], list) or not all(isinstance(a, str) for a in body[key]):
                raise BadRequestData(f"'{key}' must be an array of names")
            params[key] = ",".join(body[key])
    if "q" in body:
        if not isinstance(body["q"], str):
            raise BadRequestData("'q' must be a string")
        params["q"] = body["q"]
    if "geoQ" in body:
        geo = body["geoQ"]
        if not isinstance(geo, dict):
            raise BadRequestData("'geoQ' must be an object with geometry, coordinates and georel")
        for key in ("geometry", "coordinates", "georel", "geoproperty"):
            if key in geo:
                params[key] = geo[key]
    if "lang" in body:
        params["lang"] = body["lang"]
    extra = set(body) - {"type", "entities", "attrs", "pick", "omit", "q", "geoQ", "lang", "@context",
                         "temporalQ", "local"}
    if extra:
        raise BadRequestData(f"unknown member(s) in the Query object: {', '.join(sorted(extra))}")
    return params

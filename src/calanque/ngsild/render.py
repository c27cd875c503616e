"""Rendering of canonical entities into the NGSI-LD output representations.

Formats (ETSI GS CIM 009 clause 4.5): ``normalized`` (every attribute with its ``type``),
``concise`` (``type`` dropped where it can be inferred, bare values for plain Properties) and
``keyValues`` (the *simplified* representation: each attribute reduced to its value). GeoJSON
output (clauses 4.5.16/4.5.17) wraps the rendered entity as a Feature. Language filtering
(clause 4.15) turns LanguageProperties into Properties carrying ``value`` and ``lang``.

The ``@context`` member is never added here: the route decides whether and how to send it.
"""

from __future__ import annotations

from typing import Any, Literal

from calanque.ngsild.context_protocol import TermContext
from calanque.ngsild.entity import looks_like_geometry
from calanque.ngsild.errors import BadRequestData

Format = Literal["normalized", "concise", "keyValues"]
FORMATS: tuple[str, ...] = ("normalized", "concise", "keyValues")

_OPTIONAL_MEMBERS = ("observedAt", "unitCode", "datasetId", "lang")
_SYS_MEMBERS = ("createdAt", "modifiedAt", "deletedAt")


def render_entity(
    entity: dict[str, Any],
    ctx: TermContext,
    *,
    fmt: Format = "normalized",
    sys_attrs: bool = False,
    attrs: set[str] | None = None,
    pick: set[str] | None = None,
    omit: set[str] | None = None,
    lang: str | None = None,
    dataset_id: str | None = None,
) -> dict[str, Any]:
    """Render a canonical entity for a caller, compacting IRIs with the caller's context.

    ``attrs``, ``pick`` and ``omit`` hold expanded attribute IRIs; ``pick``/``omit`` may also
    name ``"id"``, ``"type"`` and ``"scope"``. ``dataset_id`` keeps only the instances with that
    datasetId (``"@none"`` selects the default instance). ``lang`` is a language filter such as
    ``"fr"``, ``"*"`` or ``"fr,en;q=0.8"``.
    """
    if fmt not in FORMATS:
        raise BadRequestData(f"unknown representation {fmt!r}; expected one of {', '.join(FORMATS)}")
    ranges = parse_lang_filter(lang) if lang is not None else None

    def wanted(key: str) -> bool:
        return (pick is None or key in pick) and (omit is None or key not in omit)

    out: dict[str, Any] = {}
    if wanted("id"):
        out["id"] = entity["id"]
    if wanted("type"):
        types = [ctx.compact(t) for t in entity["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if entity.get("scope") and wanted("scope"):
        scopes = entity["scope"]
        out["scope"] = scopes[0] if len(scopes) == 1 else list(scopes)
    if sys_attrs:
        for member in _SYS_MEMBERS:
            if member in entity:
                out[member] = entity[member]
    for iri, instances in entity.get("attrs", {}).items():
        if attrs is not None and iri not in attrs:
            continue
        if not wanted(iri):
            continue
        selected = [inst for inst in instances if _dataset_matches(inst, dataset_id)]
        if not selected:
            continue
        out[ctx.compact(iri)] = _render_attribute(selected, ctx, fmt, sys_attrs, ranges)
    return out


def render_geojson_feature(
    entity: dict[str, Any],
    ctx: TermContext,
    *,
    geoproperty: str,
    fmt: Format = "normalized",
    sys_attrs: bool = False,
    attrs: set[str] | None = None,
    pick: set[str] | None = None,
    omit: set[str] | None = None,
    lang: str | None = None,
    dataset_id: str | None = None,
) -> dict[str, Any]:
    """Render one entity as a GeoJSON Feature (clause 4.5.17).

    ``geoproperty`` is the expanded IRI of the GeoProperty providing ``geometry`` (null when the
    entity has no such GeoProperty); ``properties`` holds the rendered entity members except ``id``.
    """
    rendered = render_entity(
        entity, ctx, fmt=fmt, sys_attrs=sys_attrs, attrs=attrs, pick=pick, omit=omit, lang=lang,
        dataset_id=dataset_id,
    )
    feature: dict[str, Any] = {}
    if "id" in rendered:
        feature["id"] = rendered.pop("id")
    feature["type"] = "Feature"
    feature["geometry"] = _geometry_of(entity, geoproperty, dataset_id)
    feature["properties"] = rendered
    return feature


def render_geojson(
    entities: list[dict[str, Any]],
    ctx: TermContext,
    *,
    geoproperty: str,
    fmt: Format = "normalized",
    sys_attrs: bool = False,
    attrs: set[str] | None = None,
    pick: set[str] | None = None,
    omit: set[str] | None = None,
    lang: str | None = None,
    dataset_id: str | None = None,
) -> dict[str, Any]:
    """Render a list of entities as a GeoJSON FeatureCollection (clause 4.5.16)."""
    features = [
        render_geojson_feature(
            e, ctx, geoproperty=geoproperty, fmt=fmt, sys_attrs=sys_attrs, attrs=attrs, pick=pick,
            omit=omit, lang=lang, dataset_id=dataset_id,
        )
        for e in entities
    ]
    return {"type": "FeatureCollection", "features": features}


def parse_lang_filter(lang: str) -> list[str]:
    """Parse a language filter ("fr", "*", "fr,en;q=0.8") into ranges ordered by preference.

    Ranges with ``q=0`` are dropped; equal weights keep their order. Raises BadRequestData on
    a malformed filter.
    """
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(lang.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        tag = tag.strip()
        quality = 1.0
        if params:
            key, _, number = params.strip().partition("=")
            try:
                if key.strip() != "q":
                    raise ValueError
                quality = float(number)
            except ValueError:
                raise BadRequestData(
                    f"lang filter {lang!r}: '{piece}' has a bad weight (expected ';q=0.8')"
                ) from None
            if not 0.0 <= quality <= 1.0:
                raise BadRequestData(f"lang filter {lang!r}: weight {quality} is outside 0..1")
        if tag != "*" and not all(sub.isalnum() and 0 < len(sub) <= 8 for sub in tag.split("-")):
            raise BadRequestData(
                f"lang filter {lang!r}: {tag!r} is not a language tag such as 'fr' or 'en-GB'"
            )
        if quality > 0:
            weighted.append((-quality, position, tag))
    if not weighted:
        raise BadRequestData(f"lang filter {lang!r} names no acceptable language")
    return [tag for _, _, tag in sorted(weighted)]


def select_language(language_map: dict[str, Any], ranges: list[str]) -> tuple[str, Any]:
    """Pick the best entry of a languageMap for preference ``ranges`` (RFC 4647 lookup).

    Each range in turn is matched exactly (case-insensitively), then against tags it prefixes
    ("en" matches "en-GB"), then truncated ("fr-CA" falls back to "fr"); "*" matches any tag.
    With no match, the "@none" entry is returned, else the first tag in sorted order.
    """
    tags = sorted(language_map)
    lowered = {t.lower(): t for t in tags}
    real_tags = [t for t in tags if t != "@none"]
    for wanted in ranges:
        if wanted == "*":
            if real_tags:
                return real_tags[0], language_map[real_tags[0]]
            continue
        key = wanted.lower()
        if key in lowered:
            return lowered[key], language_map[lowered[key]]
        for tag in real_tags:
            if tag.lower().startswith(key + "-"):
                return tag, language_map[tag]
        parts = key.split("-")
        while len(parts) > 1:
            parts.pop()
            if "-".join(parts) in lowered:
                tag = lowered["-".join(parts)]
                return tag, language_map[tag]
    fallback = "@none" if "@none" in language_map else tags[0]
    return fallback, language_map[fallback]


# -- internals --------------------------------------------------------------------------------------


def _dataset_matches(inst: dict[str, Any], dataset_id: str | None) -> bool:
    """Return True if the instance passes the datasetId filter."""
    if dataset_id is None:
        return True
    if dataset_id == "@none":
        return "datasetId" not in inst
    return inst.get("datasetId") == dataset_id


def _geometry_of(entity: dict[str, Any], geoproperty: str, dataset_id: str | None) -> dict[str, Any] | None:
    """Return the GeoJSON geometry of the entity's GeoProperty (default instance first), or None."""
    instances = [
        inst
        for inst in entity.get("attrs", {}).get(geoproperty, [])
        if inst.get("type") == "GeoProperty" and _dataset_matches(inst, dataset_id)
    ]
    if not instances:
        return None
    instances.sort(key=lambda inst: "datasetId" in inst)
    return instances[0]["value"]


def _render_attribute(
    instances: list[dict[str, Any]], ctx: TermContext, fmt: str, sys_attrs: bool, ranges: list[str] | None
) -> Any:
    """Render all instances of one attribute (an array when several)."""
    if fmt == "keyValues":
        if len(instances) == 1:
            return _simplified(instances[0], ctx, ranges)
        by_dataset = {inst.get("datasetId", "@none"): _simplified(inst, ctx, ranges) for inst in instances}
        return {"dataset": by_dataset}
    rendered = [_render_instance(inst, ctx, fmt, sys_attrs, ranges) for inst in instances]
    return rendered[0] if len(rendered) == 1 else rendered


def _language_filtered(inst: dict[str, Any], ranges: list[str] | None) -> dict[str, Any]:
    """Turn a LanguageProperty into a Property with ``value`` and ``lang`` when a filter is set."""
    if ranges is None or inst.get("type") != "LanguageProperty":
        return inst
    tag, text = select_language(inst["languageMap"], ranges)
    out = {k: v for k, v in inst.items() if k != "languageMap"}
    out["type"] = "Property"
    out["value"] = text
    out["lang"] = tag
    return out


def _simplified(inst: dict[str, Any], ctx: TermContext, ranges: list[str] | None) -> Any:
    """The simplified (keyValues) value of one instance."""
    inst = _language_filtered(inst, ranges)
    kind = inst.get("type")
    if kind in ("Property", "GeoProperty"):
        return inst["value"]
    if kind == "Relationship":
        return inst["object"]
    if kind == "LanguageProperty":
        return {"languageMap": inst["languageMap"]}
    if kind == "VocabProperty":
        return {"vocab": _compact_vocab(inst["vocab"], ctx)}
    if kind == "ListProperty":
        return {"valueList": inst["valueList"]}
    if kind == "ListRelationship":
        return {"objectList": list(inst["objectList"])}
    return {"json": inst["json"]}


def _compact_vocab(vocab: str | list[str], ctx: TermContext) -> str | list[str]:
    """Compact a vocab IRI or list of IRIs."""
    if isinstance(vocab, list):
        return [ctx.compact_vocab(v) for v in vocab]
    return ctx.compact_vocab(vocab)


def _render_instance(
    inst: dict[str, Any], ctx: TermContext, fmt: str, sys_attrs: bool, ranges: list[str] | None
) -> Any:
    """Render one instance in normalized or concise form, sub-attributes included."""
    inst = _language_filtered(inst, ranges)
    kind = inst["type"]
    out: dict[str, Any] = {"type": kind}
    if kind in ("Property", "GeoProperty"):
        out["value"] = inst["value"]
    elif kind == "Relationship":
        out["object"] = inst["object"]
    elif kind == "LanguageProperty":
        out["languageMap"] = inst["languageMap"]
    elif kind == "VocabProperty":
        out["vocab"] = _compact_vocab(inst["vocab"], ctx)
    elif kind == "ListProperty":
        out["valueList"] = inst["valueList"]
    elif kind == "ListRelationship":
        out["objectList"] = [{"object": target} for target in inst["objectList"]]
    else:
        out["json"] = inst["json"]
    if "objectType" in inst:
        object_type = inst["objectType"]
        if isinstance(object_type, list):
            out["objectType"] = [ctx.compact(t) for t in object_type]
        else:
            out["objectType"] = ctx.compact(object_type)
    for member in _OPTIONAL_MEMBERS:
        if member in inst:
            out[member] = inst[member]
    if sys_attrs:
        for member in _SYS_MEMBERS:
            if member in inst:
                out[member] = inst[member]
    for sub_iri, sub_inst in inst.get("sub", {}).items():
        out[ctx.compact(sub_iri)] = _render_instance(sub_inst, ctx, fmt, sys_attrs, ranges)
    if fmt == "concise":
        return _concise(out)
    return out


def _concise(out: dict[str, Any]) -> Any:
    """Drop ``type`` where the value member implies it; a lone scalar/array-free value becomes bare."""
    kind = out["type"]
    if kind == "Property":
        value = out["value"]
        if looks_like_geometry(value):
            return out  # without its type this Property would read back as a GeoProperty
        del out["type"]
        if len(out) == 1 and not isinstance(value, (dict, list)):
            return value
        return out
    if kind == "GeoProperty" and not looks_like_geometry(out["value"]):
        return out
    del out["type"]
    return out

"""Parsing and validation of NGSI-LD entity payloads into the canonical form.

Input may be in *normalized* form (every attribute carries its ``type``) or in *concise* form
(ETSI GS CIM 009 clause 4.5.x: the ``type`` is inferred from the member that carries the value,
and a bare JSON value stands for a Property). The output is the canonical expanded form
described in :mod:`calanque.ngsild.canonical`: entity types and attribute names expanded with
the caller's term context, timestamps normalised, sub-attributes under ``"sub"``.

Every function here is pure: no I/O, no clock (the caller passes ``now``).
"""

from __future__ import annotations

import re
from typing import Any

from calanque.ngsild.canonical import (
    ATTRIBUTE_TYPES,
    GEO_ATTRIBUTES,
    NGSI_LD,
    VALUE_MEMBER,
    normalize_ts,
)
from calanque.ngsild.context_protocol import TermContext
from calanque.ngsild.errors import BadRequestData

# The NGSI-LD Null (clause 4.5.18): in merge/update payloads it deletes what it stands for.
NGSI_NULL = "urn:ngsi-ld:null"

# Limits (module constants so that deployments may tune them).
MAX_ATTRIBUTES = 1000  # attributes per entity or per attribute payload
MAX_INSTANCES = 100  # instances (datasetIds) per attribute
MAX_SUB_DEPTH = 6  # nesting depth of sub-attributes (an attribute is depth 1)
MAX_VALUE_DEPTH = 32  # nesting depth of JSON arrays/objects inside a value
MAX_NAME_LENGTH = 512  # entity id, type names, attribute names, datasetIds
MAX_STRING_LENGTH = 1_000_000  # any string inside a value

GEOJSON_GEOMETRY_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)

# Members of an input instance set by the broker: silently ignored on input.
_SYSTEM_MEMBERS = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId", "previousValue"})
# Members any attribute type may carry (besides its value member).
_COMMON_MEMBERS = frozenset({"type", "observedAt", "datasetId"})
# Extra optional members per attribute type.
_TYPE_MEMBERS: dict[str, frozenset[str]] = {
    "Property": frozenset({"unitCode", "lang"}),
    "GeoProperty": frozenset(),
    "Relationship": frozenset({"objectType"}),
    "LanguageProperty": frozenset(),
    "VocabProperty": frozenset(),
    "ListProperty": frozenset({"unitCode"}),
    "ListRelationship": frozenset({"objectType"}),
    "JsonProperty": frozenset(),
}
_OPTIONAL_MEMBERS = frozenset({"observedAt", "datasetId", "unitCode", "objectType", "lang"})
# Value member → attribute type, used to infer the type in concise form.
_TYPE_OF_MEMBER = {
    "object": "Relationship",
    "languageMap": "LanguageProperty",
    "vocab": "VocabProperty",
    "valueList": "ListProperty",
    "objectList": "ListRelationship",
    "json": "JsonProperty",
}
_VALUE_MEMBERS = frozenset(VALUE_MEMBER.values())
_CORE_GEO_IRIS = frozenset(NGSI_LD + name for name in GEO_ATTRIBUTES)

_FORBIDDEN_NAME_CHARS = re.compile(r"[<>\"'=;()\s\x00-\x1f\x7f]")
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
_SCOPE_RE = re.compile(r"^(/[^/\s<>\"'=;()#+]+)+$")
# BCP 47 language tag (RFC 5646), simplified: primary subtag then alphanumeric subtags.
_LANG_TAG_RE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


def is_uri(text: Any) -> bool:
    """Return True if ``text`` is a string shaped like an absolute URI (scheme ':' rest)."""
    return isinstance(text, str) and len(text) <= MAX_NAME_LENGTH and bool(_URI_RE.match(text))


def looks_like_geometry(value: Any) -> bool:
    """Return True if ``value`` is a dict shaped like a GeoJSON geometry object."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("type"), str)
        and value["type"] in GEOJSON_GEOMETRY_TYPES
        and ("coordinates" in value or "geometries" in value)
    )


def is_ngsi_null_instance(instance: dict[str, Any]) -> bool:
    """Return True if a canonical instance is the NGSI-LD Null of its type (it deletes the instance)."""
    if instance.get("value") == NGSI_NULL or instance.get("object") == NGSI_NULL:
        return True
    if instance.get("json") == NGSI_NULL or instance.get("vocab") == NGSI_NULL:
        return True
    if instance.get("languageMap") == {"@none": NGSI_NULL}:
        return True
    if instance.get("valueList") == [NGSI_NULL] or instance.get("objectList") == [NGSI_NULL]:
        return True
    return False


def parse_entity(
    body: dict[str, Any], ctx: TermContext, *, now: str, allow_null: bool = False, partial: bool = False
) -> dict[str, Any]:
    """Parse an entity payload (normalized or concise) into a canonical entity.

    ``allow_null`` accepts the NGSI-LD Null (``urn:ngsi-ld:null``) for merge/upsert payloads;
    ``partial`` accepts attribute fragments without a value member (merge-patch payloads).
    Raises BadRequestData naming the offending member.
    """
    if not isinstance(body, dict):
        raise BadRequestData(f"an entity must be a JSON object, got {_json_type(body)}")
    if "@id" in body or "@type" in body:
        raise BadRequestData("use the NGSI-LD members 'id' and 'type' instead of '@id'/'@type'")
    entity_id = body.get("id")
    if entity_id is None:
        raise BadRequestData(
            "the entity has no 'id': an absolute URI such as 'urn:ngsi-ld:Type:1' is required"
        )
    if not is_uri(entity_id):
        raise BadRequestData(
            f"entity id {entity_id!r} is not an absolute URI (expected e.g. 'urn:ngsi-ld:Type:1', "
            f"at most {MAX_NAME_LENGTH} characters, no spaces)"
        )
    if "type" not in body:
        raise BadRequestData(f"entity {entity_id!r} has no 'type': a type name or a list of them is required")
    entity: dict[str, Any] = {"id": entity_id, "type": parse_types(body["type"], ctx)}
    if "scope" in body:
        entity["scope"] = parse_scope(body["scope"])
    entity["createdAt"] = now
    entity["modifiedAt"] = now
    attr_body = {k: v for k, v in body.items() if k not in ("id", "type", "scope", "@context")}
    entity["attrs"] = parse_attributes(attr_body, ctx, now=now, allow_null=allow_null, partial=partial)
    return entity


def parse_types(raw: Any, ctx: TermContext) -> list[str]:
    """Validate and expand an entity ``type`` member (a string or a non-empty list of strings)."""
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        got = "an empty array" if names == [] else _json_type(raw)
        raise BadRequestData(f"entity 'type' must be a string or a non-empty list of strings, got {got}")
    types: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise BadRequestData(f"entity 'type' entries must be strings, got {_json_type(name)}")
        _check_name(name, "entity type")
        iri = ctx.expand(name)
        if iri not in types:
            types.append(iri)
    return types


def parse_scope(raw: Any) -> list[str]:
    """Validate a ``scope`` member: a scope such as '/Marseille/Vieux-Port' or a list of them."""
    scopes = [raw] if isinstance(raw, str) else raw
    if not isinstance(scopes, list) or not scopes:
        raise BadRequestData(
            f"'scope' must be a string or a non-empty list of strings, got {_json_type(raw)}"
        )
    out: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str) or not _SCOPE_RE.match(scope):
            raise BadRequestData(
                f"scope {scope!r} is invalid: expected a path of non-empty segments "
                "like '/Marseille/Vieux-Port'"
            )
        if scope not in out:
            out.append(scope)
    return out


def parse_attributes(
    body: dict[str, Any],
    ctx: TermContext,
    *,
    now: str,
    allow_null: bool = False,
    partial: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """Parse an attribute-only payload (POST/PATCH .../attrs) into ``{attribute IRI: [instance, ...]}``.

    Every instance gets ``createdAt``/``modifiedAt`` = ``now``. See :func:`parse_entity` for the flags.
    """
    if not isinstance(body, dict):
        raise BadRequestData(f"an attribute payload must be a JSON object, got {_json_type(body)}")
    if len(body) > MAX_ATTRIBUTES:
        raise BadRequestData(f"too many attributes: {len(body)} (at most {MAX_ATTRIBUTES} are accepted)")
    attrs: dict[str, list[dict[str, Any]]] = {}
    for name, raw in body.items():
        if name in ("@context", "createdAt", "modifiedAt", "deletedAt"):
            continue
        if name in ("id", "type", "scope", "@id", "@type"):
            raise BadRequestData(f"'{name}' is an entity member, not an attribute: it cannot be set here")
        _check_name(name, "attribute name")
        iri = ctx.expand(name)
        instances = _parse_instances(name, raw, ctx, now=now, allow_null=allow_null, partial=partial)
        for inst in instances:
            _check_geo_reserved(name, iri, inst)
        merged = attrs.setdefault(iri, [])
        merged.extend(instances)
        _check_distinct_datasets(name, merged)
    return attrs


def parse_attribute_fragment(body: dict[str, Any], ctx: TermContext, attr_iri: str) -> dict[str, Any]:
    """Parse the body of PATCH .../attrs/{attr}: one instance whose members may be missing.

    The NGSI-LD Null is accepted (it removes sub-attributes and optional members). No system
    timestamps are set: the algebra sets them when it applies the fragment.
    """
    name = ctx.compact(attr_iri)
    if isinstance(body, list):
        raise BadRequestData(
            f"attribute '{name}': a partial update takes a single instance (one JSON object)"
        )
    inst = _parse_instance(name, body, ctx, now=None, depth=1, allow_null=True, partial=True)
    _check_geo_reserved(name, attr_iri, inst)
    return inst


# -- instances ------------------------------------------------------------------------------------


def _parse_instances(
    name: str, raw: Any, ctx: TermContext, *, now: str | None, allow_null: bool, partial: bool
) -> list[dict[str, Any]]:
    """Parse one attribute: a single instance or a list of instances (one per datasetId)."""
    if isinstance(raw, list) and raw and all(isinstance(item, dict) for item in raw):
        if len(raw) > MAX_INSTANCES:
            raise BadRequestData(
                f"attribute '{name}' has {len(raw)} instances; "
                f"at most {MAX_INSTANCES} datasetIds are accepted"
            )
        return [
            _parse_instance(name, item, ctx, now=now, depth=1, allow_null=allow_null, partial=partial)
            for item in raw
        ]
    return [_parse_instance(name, raw, ctx, now=now, depth=1, allow_null=allow_null, partial=partial)]


def _infer_type(name: str, raw: dict[str, Any], partial: bool) -> str | None:
    """Return the attribute type of a JSON object instance, inferring it in concise form."""
    declared = raw.get("type")
    if declared is not None:
        if isinstance(declared, str) and declared.startswith(NGSI_LD):
            declared = declared[len(NGSI_LD):]
        if declared in ATTRIBUTE_TYPES:
            return str(declared)
        raise BadRequestData(
            f"attribute '{name}' has type {declared!r}; expected one of {', '.join(ATTRIBUTE_TYPES)}"
        )
    present = [m for m in ("value", *_TYPE_OF_MEMBER) if m in raw]
    if len(present) > 1:
        raise BadRequestData(
            f"attribute '{name}' has several value members ({', '.join(present)}) and no 'type': "
            "keep only the one that matches the attribute type"
        )
    if present == ["value"]:
        return "GeoProperty" if looks_like_geometry(raw["value"]) else "Property"
    if present:
        return _TYPE_OF_MEMBER[present[0]]
    if partial:
        return None
    raise BadRequestData(
        f"attribute '{name}' is a JSON object without 'type' nor any of value, object, languageMap, vocab, "
        "valueList, objectList, json: give a 'type', or wrap a JSON object value as {\"value\": {...}}"
    )


def _parse_instance(
    name: str,
    raw: Any,
    ctx: TermContext,
    *,
    now: str | None,
    depth: int,
    allow_null: bool,
    partial: bool,
) -> dict[str, Any]:
    """Parse and validate one attribute instance (normalized or concise)."""
    if depth > MAX_SUB_DEPTH:
        raise BadRequestData(f"attribute '{name}': sub-attributes nested deeper than {MAX_SUB_DEPTH} levels")
    if raw is None:
        raise BadRequestData(
            f"attribute '{name}' is null: JSON null is not a valid attribute (use '{NGSI_NULL}' to delete "
            "in a merge or update)"
        )
    if looks_like_geometry(raw):
        raw = {"type": "GeoProperty", "value": raw}  # concise: a bare GeoJSON geometry
    elif not isinstance(raw, dict) or ("@value" in raw and "type" not in raw):
        raw = {"value": raw}  # concise: a bare JSON value or a JSON-LD value object is a Property value
    attr_type = _infer_type(name, raw, partial)
    inst: dict[str, Any] = {}
    if attr_type is not None:
        inst["type"] = attr_type
        allowed = _COMMON_MEMBERS | {VALUE_MEMBER[attr_type]} | _TYPE_MEMBERS[attr_type]
    else:
        allowed = _COMMON_MEMBERS | _VALUE_MEMBERS | frozenset({"unitCode", "objectType", "lang"})
    sub: dict[str, Any] = {}
    for member, value in raw.items():
        if member in _SYSTEM_MEMBERS or member == "type":
            continue
        if member in _VALUE_MEMBERS or member in _OPTIONAL_MEMBERS:
            if member not in allowed:
                raise BadRequestData(_misplaced_member(name, attr_type, member))
            inst[member] = _parse_member(name, attr_type, member, value, ctx, allow_null=allow_null)
            continue
        _check_name(member, f"sub-attribute name of '{name}'")
        sub_iri = ctx.expand(member)
        path = f"{name}.{member}"
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            raise BadRequestData(f"sub-attribute '{path}' must be a single instance, not a list of instances")
        sub[sub_iri] = _parse_instance(
            path, value, ctx, now=now, depth=depth + 1, allow_null=allow_null, partial=partial
        )
    if attr_type is not None and not partial and VALUE_MEMBER[attr_type] not in inst:
        raise BadRequestData(
            f"attribute '{name}' is a {attr_type} without its '{VALUE_MEMBER[attr_type]}' member"
        )
    if now is not None:
        inst["createdAt"] = now
        inst["modifiedAt"] = now
    if sub:
        inst["sub"] = sub
    return inst


def _misplaced_member(name: str, attr_type: str | None, member: str) -> str:
    """Build the detail of an error for a member that does not belong to the attribute type."""
    if member in _VALUE_MEMBERS and attr_type is not None:
        expected = VALUE_MEMBER[attr_type]
        return (
            f"attribute '{name}' is a {attr_type}: member '{member}' is not allowed "
            f"(a {attr_type} carries its content in '{expected}')"
        )
    return f"attribute '{name}' is a {attr_type}: member '{member}' does not apply to this attribute type"


def _parse_member(
    name: str, attr_type: str | None, member: str, value: Any, ctx: TermContext, *, allow_null: bool
) -> Any:
    """Validate one core member of an instance and return its canonical value."""
    if value is None:
        raise BadRequestData(f"attribute '{name}': member '{member}' is null; a value is required")
    if value == NGSI_NULL or (member in ("valueList", "objectList") and value == [NGSI_NULL]):
        if member == "datasetId":
            raise BadRequestData(f"attribute '{name}': datasetId cannot be '{NGSI_NULL}'")
        if not allow_null:
            raise BadRequestData(
                f"attribute '{name}': '{NGSI_NULL}' (NGSI-LD Null) is only allowed "
                "in update and merge operations"
            )
        return value
    if member in ("value", "json", "valueList"):
        _check_json(name, value, 0)
        if member == "value" and attr_type == "GeoProperty":
            return _validate_geometry(name, value)
        if member == "valueList" and not isinstance(value, list):
            raise BadRequestData(
                f"attribute '{name}': 'valueList' must be a JSON array, got {_json_type(value)}"
            )
        return value
    if member == "object":
        return _parse_object(name, value)
    if member == "objectList":
        return _parse_object_list(name, value)
    if member == "objectType":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise BadRequestData(f"attribute '{name}': 'objectType' must be a type name or a list of them")
        expanded = [ctx.expand(n) for n in names]
        return expanded[0] if isinstance(value, str) else expanded
    if member == "languageMap":
        return _parse_language_map(name, value, allow_null)
    if member == "vocab":
        return _parse_vocab(name, value, ctx)
    if member == "observedAt":
        try:
            return normalize_ts(value)
        except ValueError as exc:
            raise BadRequestData(
                f"attribute '{name}': observedAt {exc}; expected e.g. '2026-11-25T10:00:00Z'"
            )
    if member == "unitCode":
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_LENGTH:
            raise BadRequestData(
                f"attribute '{name}': 'unitCode' must be a non-empty UN/CEFACT code string such as 'CEL'"
            )
        return value
    if member == "datasetId":
        if not is_uri(value):
            raise BadRequestData(f"attribute '{name}': datasetId {value!r} is not an absolute URI")
        return value
    # member == "lang"
    if not isinstance(value, str) or not (value == "@none" or _LANG_TAG_RE.match(value)):
        raise BadRequestData(f"attribute '{name}': 'lang' must be a language tag such as 'fr', got {value!r}")
    return value


def _parse_object(name: str, value: Any) -> str | list[str]:
    """Validate a Relationship ``object``: a URI or a non-empty list of URIs."""
    targets = [value] if isinstance(value, str) else value
    if not isinstance(targets, list) or not targets:
        raise BadRequestData(
            f"attribute '{name}': Relationship 'object' must be a URI or a list of URIs, "
            f"got {_json_type(value)}"
        )
    for target in targets:
        if not is_uri(target):
            raise BadRequestData(f"attribute '{name}': Relationship target {target!r} is not an absolute URI")
    return value


def _parse_object_list(name: str, value: Any) -> list[str]:
    """Validate a ListRelationship ``objectList``: URIs or {"object": URI} items, kept as URIs."""
    if not isinstance(value, list):
        raise BadRequestData(
            f"attribute '{name}': 'objectList' must be a JSON array, got {_json_type(value)}"
        )
    out: list[str] = []
    for item in value:
        target = item.get("object") if isinstance(item, dict) else item
        if not is_uri(target):
            raise BadRequestData(
                f"attribute '{name}': objectList entry {item!r} is not a URI nor {{\"object\": URI}}"
            )
        out.append(target)
    return out


def _parse_language_map(name: str, value: Any, allow_null: bool) -> dict[str, Any]:
    """Validate a LanguageProperty ``languageMap``: language tag → string or list of strings."""
    if not isinstance(value, dict) or not value:
        raise BadRequestData(
            f"attribute '{name}': 'languageMap' must be a non-empty object of language tag → string"
        )
    for tag, text in value.items():
        if tag != "@none" and not _LANG_TAG_RE.match(tag):
            raise BadRequestData(
                f"attribute '{name}': {tag!r} is not a language tag (expected e.g. 'fr', 'en-GB')"
            )
        if text == NGSI_NULL and allow_null:
            continue
        texts = text if isinstance(text, list) else [text]
        if not texts or not all(isinstance(t, str) for t in texts):
            raise BadRequestData(
                f"attribute '{name}': languageMap['{tag}'] must be a string or a list of strings"
            )
        for t in texts:
            if len(t) > MAX_STRING_LENGTH:
                raise BadRequestData(
                    f"attribute '{name}': languageMap['{tag}'] exceeds {MAX_STRING_LENGTH} chars"
                )
    return dict(value)


def _parse_vocab(name: str, value: Any, ctx: TermContext) -> str | list[str]:
    """Validate and expand a VocabProperty ``vocab``: a term or a non-empty list of terms."""
    terms = [value] if isinstance(value, str) else value
    if not isinstance(terms, list) or not terms or not all(isinstance(t, str) and t for t in terms):
        raise BadRequestData(f"attribute '{name}': 'vocab' must be a term or a non-empty list of terms")
    expanded = [ctx.expand_vocab(t) for t in terms]
    return expanded[0] if isinstance(value, str) else expanded


def _validate_geometry(name: str, value: Any) -> dict[str, Any]:
    """Validate a GeoProperty value with the geo module (imported lazily)."""
    from calanque.ngsild.geo import GeoError, validate_geometry

    try:
        return validate_geometry(value)
    except GeoError as exc:
        raise BadRequestData(f"attribute '{name}': invalid GeoJSON geometry: {exc.detail}") from exc


# -- checks ---------------------------------------------------------------------------------------


def _check_name(name: str, what: str) -> None:
    """Reject empty, too long, or forbidden-character names (ETSI GS CIM 009 clause 4.6.2)."""
    if not name:
        raise BadRequestData(f"{what} is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequestData(f"{what} '{name[:40]}…' is longer than {MAX_NAME_LENGTH} characters")
    bad = _FORBIDDEN_NAME_CHARS.search(name)
    if bad:
        raise BadRequestData(
            f"{what} {name!r} contains the forbidden character {bad.group()!r} "
            "(not allowed: < > \" ' = ; ( ), whitespace and control characters)"
        )


def _check_geo_reserved(name: str, iri: str, inst: dict[str, Any]) -> None:
    """The core attributes location/observationSpace/operationSpace must be GeoProperties."""
    if iri in _CORE_GEO_IRIS and inst.get("type", "GeoProperty") != "GeoProperty":
        raise BadRequestData(
            f"attribute '{name}' is reserved for a GeoProperty (GeoJSON geometry), got a {inst['type']}"
        )


def _check_distinct_datasets(name: str, instances: list[dict[str, Any]]) -> None:
    """Reject two instances of one attribute sharing a datasetId (or two default instances)."""
    seen: set[str | None] = set()
    for inst in instances:
        ds = inst.get("datasetId")
        if ds in seen:
            which = f"datasetId '{ds}'" if ds is not None else "no datasetId (the default instance)"
            raise BadRequestData(
                f"attribute '{name}' has two instances with {which}; datasetIds must be distinct"
            )
        seen.add(ds)


def _check_json(name: str, value: Any, depth: int) -> None:
    """Bound the nesting depth and string sizes of a JSON value; reject nested nulls at top level only."""
    if depth > MAX_VALUE_DEPTH:
        raise BadRequestData(f"attribute '{name}': value nested deeper than {MAX_VALUE_DEPTH} levels")
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            raise BadRequestData(f"attribute '{name}': a string value exceeds {MAX_STRING_LENGTH} characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            if len(key) > MAX_NAME_LENGTH:
                raise BadRequestData(
                    f"attribute '{name}': a key of the value exceeds {MAX_NAME_LENGTH} characters"
                )
            _check_json(name, item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(name, item, depth + 1)


def _json_type(value: Any) -> str:
    """Name the JSON type of a Python value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"

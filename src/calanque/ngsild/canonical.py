"""The canonical (stored) form of an NGSI-LD entity, shared by every layer.

Every entity is kept in *expanded* form: entity types and attribute names are full IRIs,
obtained by expanding the caller's terms against its JSON-LD @context. Rendering for a
caller compacts them again against that caller's context.

An entity::

    {
      "id": "urn:ngsi-ld:NoiseLevelObserved:n1",
      "type": ["https://smartdatamodels.org/dataModel.Environment/NoiseLevelObserved"],
      "scope": ["/Marseille/Vieux-Port"],          # optional
      "createdAt": "2026-11-25T10:00:00.000000Z",  # system attributes, always present
      "modifiedAt": "2026-11-25T10:00:00.000000Z",
      "attrs": {
        "<attribute IRI>": [instance, ...],         # one instance per datasetId
      },
    }

An attribute instance is a dict whose keys are the NGSI-LD core members below; any other
member is a sub-attribute, stored under ``"sub"`` keyed by its expanded IRI::

    {
      "type": "Property",          # one of ATTRIBUTE_TYPES
      "value": 61.2,               # Property / GeoProperty (GeoJSON geometry dict)
      "object": "urn:...",         # Relationship (str or list of str)
      "objectType": "<IRI>",       # Relationship, optional
      "languageMap": {"fr": "…"},  # LanguageProperty
      "vocab": "<IRI>" | [...],    # VocabProperty (expanded)
      "valueList": [...],          # ListProperty
      "objectList": [...],         # ListRelationship (list of ids)
      "json": {...},               # JsonProperty
      "observedAt": "…Z", "unitCode": "2N", "datasetId": "urn:…",   # optional
      "createdAt": "…Z", "modifiedAt": "…Z",                          # system, always set
      "sub": {"<sub-attribute IRI>": instance},                      # optional
    }

The default instance has no ``datasetId`` key. Timestamps are ISO 8601 UTC strings with
microseconds and a ``Z`` suffix (see :func:`format_ts`). Property values are JSON; the keys
of compound values are not expanded.
"""

from __future__ import annotations

from datetime import UTC, datetime

CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"
NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
DEFAULT_PREFIX = "https://uri.etsi.org/ngsi-ld/default-context/"

ATTRIBUTE_TYPES = (
    "Property",
    "Relationship",
    "GeoProperty",
    "LanguageProperty",
    "VocabProperty",
    "ListProperty",
    "ListRelationship",
    "JsonProperty",
)

# The member of an instance that carries its value, per attribute type.
VALUE_MEMBER = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
    "JsonProperty": "json",
}

# Core members of an attribute instance; anything else is a sub-attribute.
INSTANCE_MEMBERS = frozenset(
    {
        "type",
        "value",
        "object",
        "objectType",
        "languageMap",
        "vocab",
        "valueList",
        "objectList",
        "json",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "instanceId",
        "previousValue",
        "lang",
    }
)

# Entity-level members that are not attributes.
ENTITY_MEMBERS = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt", "@context"})

# Attribute names reserved by the core context that keep their short name in every context.
GEO_ATTRIBUTES = ("location", "observationSpace", "operationSpace")


def format_ts(dt: datetime) -> str:
    """Format an aware datetime as the canonical UTC timestamp string."""
    utc = dt.astimezone(UTC)
    if utc.year < 1000:  # strftime does not pad such years; keep its output for them
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def now_ts() -> str:
    """Return the current time as a canonical timestamp string."""
    return format_ts(datetime.now(UTC))


def parse_ts(text: str) -> datetime:
    """Parse an ISO 8601 date-time (with offset or Z) into an aware UTC datetime.

    Raises ValueError with a readable message when the text is not a date-time with a zone.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO 8601 date-time string, got {type(text).__name__}")
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"'{text}' is not an ISO 8601 date-time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def normalize_ts(text: str) -> str:
    """Return the canonical form of an ISO 8601 date-time string."""
    return format_ts(parse_ts(text))

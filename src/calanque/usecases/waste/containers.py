"""Reading waste containers and their models from the platform's stored (canonical) entities.

Canonical entities hold expanded attribute IRIs (see calanque.ngsild.canonical); the terms here
are those of docs/data-conventions.md, expanded with :func:`calanque.usecases.common.term_iri`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from calanque.ngsild.canonical import parse_ts
from calanque.store.base import EntityQuery, Session
from calanque.usecases.common import term_iri
from calanque.usecases.waste.fill import fill_ratio

PAGE = 1000
# Lengths a distance or a model dimension may be given in (UN/CEFACT codes), in metres.
LENGTH_UNITS = {"MTR": 1.0, "CMT": 0.01, "MMT": 0.001}


def instance(entity: dict | None, term: str) -> dict | None:
    """The default instance (no datasetId) of attribute ``term``, else its first instance, else None."""
    if entity is None:
        return None
    instances = entity.get("attrs", {}).get(term_iri(term))
    if not instances:
        return None
    for inst in instances:
        if "datasetId" not in inst:
            return inst
    return instances[0]


def number(inst: dict | None) -> float | None:
    """A finite numeric Property value, else None."""
    value = inst.get("value") if inst else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def metres(inst: dict | None) -> float | None:
    """A length Property in metres (unitCode MTR by default, CMT and MMT converted), else None."""
    value = number(inst)
    factor = LENGTH_UNITS.get((inst or {}).get("unitCode") or "MTR")
    return None if value is None or factor is None else value * factor


def timestamp(text: Any) -> datetime | None:
    """An ISO 8601 date-time string, or a JSON-LD {"@type": "DateTime", "@value": …} object, as UTC; else None."""
    if isinstance(text, dict):
        text = text.get("@value")
    if not isinstance(text, str):
        return None
    try:
        return parse_ts(text)
    except ValueError:
        return None


def observed(inst: dict | None) -> datetime | None:
    """The observedAt of an instance, else None."""
    return timestamp(inst.get("observedAt")) if inst else None


def seen(inst: dict | None) -> datetime | None:
    """When an instance's value was true: its observedAt, else when it was last written (modifiedAt)."""
    return (observed(inst) or timestamp(inst.get("modifiedAt"))) if inst else None


def relationship(entity: dict | None, term: str) -> str | None:
    """The target id of Relationship ``term`` (the first one of a list), else None."""
    inst = instance(entity, term)
    target = inst.get("object") if inst else None
    if isinstance(target, list):
        target = target[0] if target else None
    return target if isinstance(target, str) else None


def point(entity: dict | None) -> tuple[float, float] | None:
    """The (longitude, latitude) of the entity's ``location`` when it is a GeoJSON Point, else None."""
    inst = instance(entity, "location")
    geometry = inst.get("value") if inst else None
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return None
    coords = geometry.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2 or not all(isinstance(c, int | float) for c in coords[:2]):
        return None
    return float(coords[0]), float(coords[1])


def entities_of_type(session: Session, tenant: str, type_term: str) -> Iterator[dict]:
    """Every entity of a type, read page by page (the store's queries are paged)."""
    offset = 0
    while True:
        page, _ = session.query_entities(
            tenant, EntityQuery(type_iris=[term_iri(type_term)], limit=PAGE, offset=offset)
        )
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


@dataclass(frozen=True)
class Geometry:
    """A container model's lid-sensor geometry: the sensor distance (m) when empty and when full."""

    empty_m: float
    full_m: float

    def fill(self, distance_m: float) -> float:
        """The fill ratio (0..1) for a distance reading."""
        return fill_ratio(distance_m, self.empty_m, self.full_m)

    def fills(self, distances_m: np.ndarray) -> np.ndarray:
        """:meth:`fill` over an array of distance readings."""
        return np.clip((self.empty_m - distances_m) / (self.empty_m - self.full_m), 0.0, 1.0)


def geometry(model: dict | None) -> Geometry | None:
    """The lid-sensor geometry of a WasteContainerModel entity, None when absent or inconsistent."""
    empty = metres(instance(model, "emptyDistance"))
    full = metres(instance(model, "fullDistance"))
    if empty is None or full is None or not empty > full >= 0:
        return None
    return Geometry(empty, full)


@dataclass(frozen=True)
class Container:
    """What a container entity says now: kind, position, latest fill and when, last emptying, own threshold."""

    id: str
    kind: str | None
    lon_lat: tuple[float, float] | None
    fill: float | None
    observed_at: datetime | None
    last_emptying: datetime | None
    threshold: float | None
    model_id: str | None
    isle_id: str | None
    fill_from_distance: bool


def stored_kind(entity: dict) -> str | None:
    """The container's storedWasteKind (a string; the first of a list)."""
    value = (instance(entity, "storedWasteKind") or {}).get("value")
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def container(entity: dict, models: dict[str, Geometry | None]) -> Container:
    """Read a WasteContainer entity; ``models`` maps model ids to geometry, used when fillingLevel is absent."""
    model_id = relationship(entity, "refWasteContainerModel")
    level = instance(entity, "fillingLevel")
    fill, at, from_distance = number(level), seen(level), False
    if fill is None:
        distance = instance(entity, "distance")
        shape = models.get(model_id) if model_id else None
        metres_now = metres(distance)
        if shape is not None and metres_now is not None:
            fill, at, from_distance = shape.fill(metres_now), seen(distance), True
    if fill is not None:
        fill = min(1.0, max(0.0, fill))
    percent = number(instance(entity, "binFullnessThreshold"))
    emptied = instance(entity, "dateLastEmptying")
    return Container(
        id=entity["id"],
        kind=stored_kind(entity),
        lon_lat=point(entity),
        fill=fill if at is not None else None,
        observed_at=at if fill is not None else None,
        last_emptying=timestamp(emptied.get("value")) if emptied else None,
        threshold=percent / 100 if percent is not None and 0 < percent <= 100 else None,
        model_id=model_id,
        isle_id=relationship(entity, "refWasteContainerIsle"),
        fill_from_distance=from_distance,
    )


def load_models(session: Session, tenant: str) -> dict[str, Geometry | None]:
    """Every WasteContainerModel of the tenant with its geometry (None when it has none)."""
    return {m["id"]: geometry(m) for m in entities_of_type(session, tenant, "WasteContainerModel")}

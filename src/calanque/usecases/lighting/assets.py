"""The lighting assets as the stored entities describe them: lights, groups, cabinets and models.

Canonical entities hold expanded attribute IRIs (see calanque.ngsild.canonical); the terms are
those of docs/data-conventions.md, expanded with :func:`calanque.usecases.common.term_iri`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from calanque.ngsild.canonical import parse_ts
from calanque.store.base import EntityQuery, Session
from calanque.usecases.common import term_iri
from calanque.usecases.lighting.schedule import DimmingWindow

PAGE = 1000
# Attributes a streetlight controller reports: any of them dates a message.
REPORTED = ("powerState", "illuminanceLevel", "powerConsumption", "lifetimePowerConsumption", "voltage", "status")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _instance(entity: dict, term: str) -> dict | None:
    """The default instance (no datasetId) of an attribute, else its first one."""
    instances = entity.get("attrs", {}).get(term_iri(term)) or []
    return next((i for i in instances if "datasetId" not in i), instances[0] if instances else None)


def value(entity: dict, term: str) -> Any:
    """The value of a Property (None when absent)."""
    inst = _instance(entity, term)
    return inst.get("value") if inst else None


def number(entity: dict, term: str) -> float | None:
    """A finite numeric Property value, else None."""
    v = value(entity, term)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def targets(entity: dict, term: str) -> list[str]:
    """The ids a Relationship (one or a list) or ListRelationship points to."""
    inst = _instance(entity, term)
    if inst is None:
        return []
    found = inst.get("object", inst.get("objectList"))
    items = found if isinstance(found, list) else [found]
    return [i for i in items if isinstance(i, str)]


def lon_lat(entity: dict) -> tuple[float, float] | None:
    """The (longitude, latitude) of the entity's location when it is a GeoJSON Point."""
    geometry = value(entity, "location")
    coords = geometry.get("coordinates") if isinstance(geometry, dict) and geometry.get("type") == "Point" else None
    if not isinstance(coords, list) or len(coords) < 2 or not all(isinstance(c, int | float) for c in coords[:2]):
        return None
    return float(coords[0]), float(coords[1])


def observed_at(entity: dict, term: str) -> datetime | None:
    """The observedAt of an attribute's default instance."""
    inst = _instance(entity, term)
    stamp = inst.get("observedAt") if inst else None
    try:
        return parse_ts(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


def of_type(session: Session, tenant: str, type_term: str) -> Iterator[dict]:
    """Every entity of a type, page by page (the store's queries are paged)."""
    offset = 0
    while True:
        page, _ = session.query_entities(tenant, EntityQuery(type_iris=[term_iri(type_term)], limit=PAGE, offset=offset))
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


def parse_profile(raw: Any) -> list[DimmingWindow]:
    """A dimmingProfile value ``[{"from": "23:00", "to": "05:00", "level": 0.5}, ...]`` as dimming windows.

    Raises ValueError naming the faulty window.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"dimmingProfile must be a list of {{from, to, level}} windows, got {type(raw).__name__}")
    windows: list[DimmingWindow] = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or set(item) != {"from", "to", "level"}:
            raise ValueError(f"dimmingProfile[{n}] must be an object with exactly 'from', 'to' and 'level'")
        bounds = []
        for key in ("from", "to"):
            match = _HHMM.fullmatch(str(item[key]))
            if match is None:
                raise ValueError(f"dimmingProfile[{n}].{key} must be a local time HH:MM, got {item[key]!r}")
            bounds.append(time(int(match[1]), int(match[2])))
        level = item["level"]
        if isinstance(level, bool) or not isinstance(level, int | float) or not 0 <= level <= 1:
            raise ValueError(f"dimmingProfile[{n}].level must be a ratio in 0..1, got {level!r}")
        windows.append((bounds[0], bounds[1], float(level)))
    return windows


@dataclass
class Group:
    """A streetlight group switched together: where it is, its offsets, dimming profile and cabinet."""

    id: str
    location: tuple[float, float] | None  # (lon, lat), the group's own or its lights' centroid
    location_source: str  # "group" or "lights"
    on_offset: timedelta
    off_offset: timedelta
    profile_raw: Any
    cabinet_id: str | None
    light_ids: list[str] = field(default_factory=list)

    def profile(self) -> list[DimmingWindow]:
        """The parsed dimming profile (ValueError when malformed)."""
        return parse_profile(self.profile_raw)


@dataclass(frozen=True)
class Light:
    """A streetlight: position, group, cabinet, nominal power, last message and reported status."""

    id: str
    location: tuple[float, float] | None
    group_id: str | None
    cabinet_id: str | None
    nominal_w: float | None
    last_seen: datetime | None
    status: str | None
    status_at: datetime | None


@dataclass
class Fleet:
    """Every lighting asset of a tenant."""

    lights: dict[str, Light]
    groups: dict[str, Group]
    cabinets: dict[str, dict]


def load_fleet(session: Session, tenant: str) -> Fleet:
    """Read the tenant's streetlights, groups, cabinets and models."""
    nominal = {m["id"]: number(m, "powerConsumption") for m in of_type(session, tenant, "StreetlightModel")}
    cabinets = {c["id"]: c for c in of_type(session, tenant, "StreetlightControlCabinet")}
    groups: dict[str, Group] = {}
    for g in of_type(session, tenant, "StreetlightGroup"):
        cabinet = targets(g, "refStreetlightControlCabinet")
        groups[g["id"]] = Group(
            id=g["id"], location=lon_lat(g), location_source="group",
            on_offset=timedelta(minutes=number(g, "switchOnOffset") or 0.0),
            off_offset=timedelta(minutes=number(g, "switchOffOffset") or 0.0),
            profile_raw=value(g, "dimmingProfile"), cabinet_id=cabinet[0] if cabinet else None,
            light_ids=targets(g, "refStreetlight"),
        )
    member_of = {lid: g.id for g in groups.values() for lid in g.light_ids}
    lights: dict[str, Light] = {}
    for e in of_type(session, tenant, "Streetlight"):
        group = (targets(e, "refStreetlightGroup") or [member_of.get(e["id"])])[0]
        cabinet = targets(e, "refStreetlightControlCabinet")
        model = targets(e, "refStreetlightModel")
        seen = [t for t in (observed_at(e, a) for a in REPORTED) if t is not None]
        status = value(e, "status")
        lights[e["id"]] = Light(
            id=e["id"], location=lon_lat(e), group_id=group if group in groups else None,
            cabinet_id=cabinet[0] if cabinet else (groups[group].cabinet_id if group in groups else None),
            nominal_w=nominal.get(model[0]) if model else None, last_seen=max(seen) if seen else None,
            status=status if isinstance(status, str) else None, status_at=observed_at(e, "status"),
        )
    for g in groups.values():
        if g.location is None:
            points = [lt.location for lt in lights.values() if lt.group_id == g.id and lt.location is not None]
            if points:
                g.location = (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
                g.location_source = "lights"
    return Fleet(lights, groups, cabinets)

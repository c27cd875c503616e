"""Helpers for the use cases' map-state hooks (``UseCase.map_state``): values of a canonical entity, silence.

A hook gets the canonical (expanded) entity and a :class:`~calanque.usecases.registry.MapContext`, and
returns a :class:`~calanque.usecases.registry.MapState`. Hooks read what the entity document already
holds (latest values) and only touch the history when a state needs it (a river's rate of rise).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from calanque.ngsild.canonical import parse_ts
from calanque.usecases.common import term_iri
from calanque.usecases.registry import MapContext, MapState

SILENT_AFTER_PERIODS = 3  # an asset silent for this many reporting periods is shown as silent


def instances(entity: dict, term: str) -> list[dict]:
    """Every instance of an attribute (one per datasetId)."""
    return entity.get("attrs", {}).get(term_iri(term), [])


def default_instance(entity: dict, term: str) -> dict | None:
    """The default instance (no datasetId) of an attribute, or None."""
    for instance in instances(entity, term):
        if "datasetId" not in instance:
            return instance
    return None


def value(entity: dict, term: str) -> Any:
    """The value of an attribute's default instance (a Property's value), or None."""
    instance = default_instance(entity, term)
    return None if instance is None else instance.get("value")


def number(entity: dict, term: str) -> float | None:
    """A finite numeric value of an attribute's default instance, or None."""
    raw = value(entity, term)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return None
    return float(raw)


def text(entity: dict, term: str) -> str | None:
    """A text value of an attribute's default instance, or None."""
    raw = value(entity, term)
    return raw if isinstance(raw, str) else None


def observed_at(instance: dict | None) -> datetime | None:
    """The observedAt of an instance, or None (also when malformed)."""
    if not instance or not isinstance(instance.get("observedAt"), str):
        return None
    try:
        return parse_ts(instance["observedAt"])
    except ValueError:
        return None


def last_observed(entity: dict, terms: tuple[str, ...]) -> datetime | None:
    """The latest observedAt over the instances of the given attributes."""
    times = [t for term in terms for inst in instances(entity, term) if (t := observed_at(inst)) is not None]
    return max(times) if times else None


def period(entity: dict, default_s: float) -> float:
    """The entity's reporting period (``measurementPeriod``, seconds) or the default."""
    own = number(entity, "measurementPeriod")
    return own if own is not None and 0 < own <= 86_400 else default_s


def silence(entity: dict, ctx: MapContext, terms: tuple[str, ...], period_s: float) -> MapState | None:
    """A "silent" state when the measured attributes have reported nothing for SILENT_AFTER_PERIODS
    reporting periods (or never), else None."""
    last = last_observed(entity, terms)
    if last is None:
        return MapState("silent", "No measurement yet", attention=True)
    if ctx.now - last > timedelta(seconds=SILENT_AFTER_PERIODS * period_s):
        return MapState("silent", "Silent since {since}", {"since": last.isoformat()}, attention=True)
    return None

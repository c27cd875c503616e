"""How river stations and water-quality probes show on the home map.

A river-level station (FloodMonitoring, or WaterObserved from Hub'Eau) takes its vigilance colour, the
same as ``GET /api/v1/water/{id}/status`` computes: its latest level and its rate of rise over the last
hour against its ``vigilanceThresholds`` (or the use-case defaults). A water-quality probe is out of
range when one of its latest parameters lies outside its acceptable range (``qualityRanges`` or the
defaults). Any colour above green, and any parameter out of range, needs attention.
"""

from __future__ import annotations

from datetime import timedelta

from calanque.ngsild.errors import NgsiLdError
from calanque.usecases import mapview
from calanque.usecases.common import from_us, term_iri, to_us
from calanque.usecases.registry import MapContext, MapState
from calanque.usecases.water.quality import check_quality
from calanque.usecases.water.status import station_status
from calanque.usecases.water.usecase import LEVEL_ATTRIBUTES, QUALITY_TYPE, quality_ranges, station_thresholds

WINDOW = timedelta(hours=1)
LEVELS = {"green": "ok", "yellow": "warn", "orange": "high", "red": "bad"}
LABELS = {
    "green": "Level {level} m: green vigilance",
    "yellow": "Level {level} m: yellow vigilance",
    "orange": "Level {level} m: orange vigilance",
    "red": "Level {level} m: red vigilance",
}
QUALITY_PARAMETERS = ("temperature", "pH", "conductivity", "turbidity", "O2")


def _river(entity: dict, ctx: MapContext, attr: str) -> MapState:
    silent = mapview.silence(entity, ctx, (attr,), mapview.period(entity, 600.0))
    if silent is not None:
        return silent
    latest = mapview.observed_at(mapview.default_instance(entity, attr))
    if latest is None:
        return MapState("unknown", "No measurement yet")
    rows = ctx.session.read_series(
        ctx.tenant,
        entity["id"],
        term_iri(attr),
        to_us(latest - WINDOW),
        to_us(latest) + 1,
        dataset_id="",
        limit=10_000,
    )
    if not rows:
        return MapState("unknown", "No measurement yet")
    try:
        thresholds, _ = station_thresholds(entity)
    except NgsiLdError:
        return MapState("unknown", "Invalid vigilance thresholds: fix the entity", attention=True)
    status = station_status([(from_us(t), float(v)) for t, v in rows], thresholds, WINDOW, now=latest)
    colour = status["colour"]
    return MapState(
        LEVELS[colour], LABELS[colour], {"level": round(status["level_m"], 2)}, attention=colour != "green"
    )


def _quality(entity: dict, ctx: MapContext) -> MapState:
    silent = mapview.silence(entity, ctx, QUALITY_PARAMETERS, mapview.period(entity, 900.0))
    if silent is not None:
        return silent
    sample = {p: mapview.number(entity, p) for p in QUALITY_PARAMETERS}
    try:
        violations = check_quality(sample, quality_ranges(entity, {}))
    except (NgsiLdError, ValueError):
        return MapState("unknown", "Invalid quality ranges: fix the entity", attention=True)
    if violations:
        return MapState(
            "high",
            "Out of range: {parameters}",
            {"parameters": ", ".join(v.parameter for v in violations)},
            attention=True,
        )
    return MapState("ok", "Every parameter within its range")


def map_state(entity: dict, ctx: MapContext) -> MapState | None:
    """River stations: vigilance colour; quality probes: parameters against their ranges."""
    types = entity.get("type", [])
    for entity_type, attr in LEVEL_ATTRIBUTES.items():
        if term_iri(entity_type) in types:
            return _river(entity, ctx, attr)
    if term_iri(QUALITY_TYPE) in types:
        return _quality(entity, ctx)
    return None

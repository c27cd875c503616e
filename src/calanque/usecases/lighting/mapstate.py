"""How streetlights and lighting cabinets show on the home map.

A streetlight reporting ``status`` "defectiveLamp" has a lamp fault (attention). Otherwise it is lit when
it draws at least 10 % of its model's nominal power (docs/data-conventions.md; ``powerState`` when it
reports no power) and shown with its dimming level. A light or cabinet silent for three reporting
periods has lost communication (attention). The time-based faults (day burner, cycling, lamp failure
against the schedule) are computed by ``GET /api/v1/lighting/faults`` and shown on the lighting dashboard.
"""

from __future__ import annotations

from calanque.usecases import mapview
from calanque.usecases.registry import MapContext, MapState

LIT_RATIO = 0.1
PERIOD_S = 900.0


def _nominal_power(entity: dict, ctx: MapContext) -> float | None:
    """The nominal power (W) of the light's model, read once per model and map computation."""
    instance = mapview.default_instance(entity, "refStreetlightModel")
    model_id = instance.get("object") if instance else None
    if not isinstance(model_id, str):
        return None
    models = ctx.cache.setdefault("lighting.models", {})
    if model_id not in models:
        model = ctx.session.get_entity(ctx.tenant, model_id)
        models[model_id] = mapview.number(model, "powerConsumption") if model else None
    return models[model_id]


def _lost(silent: MapState) -> MapState:
    """A silent light or cabinet: a communication loss."""
    if "since" in silent.params:
        return MapState("silent", "Communication lost since {since}", silent.params, attention=True)
    return silent


def _light(entity: dict, ctx: MapContext) -> MapState:
    silent = mapview.silence(
        entity, ctx, ("powerState", "powerConsumption", "illuminanceLevel"), mapview.period(entity, PERIOD_S)
    )
    if silent is not None:
        return _lost(silent)
    if mapview.text(entity, "status") == "defectiveLamp":
        return MapState("bad", "Lamp fault", attention=True)
    power = mapview.number(entity, "powerConsumption")
    nominal = _nominal_power(entity, ctx)
    if power is not None and nominal:
        lit = power >= LIT_RATIO * nominal
    else:
        lit = mapview.text(entity, "powerState") == "on"
    if not lit:
        return MapState("off", "Off")
    level = mapview.number(entity, "illuminanceLevel")
    if level is None:
        return MapState("info", "On")
    return MapState("info", "On at {level} %", {"level": round(level * 100)})


def _cabinet(entity: dict, ctx: MapContext) -> MapState:
    silent = mapview.silence(
        entity, ctx, ("totalActivePower", "energyConsumed"), mapview.period(entity, PERIOD_S)
    )
    if silent is not None:
        return _lost(silent)
    power = mapview.number(entity, "totalActivePower")
    if power is None:
        return MapState("unknown", "No measurement yet")
    return MapState("ok", "Drawing {power} W", {"power": round(power)})


def map_state(entity: dict, ctx: MapContext) -> MapState | None:
    """Streetlights and cabinets (groups and models are not drawn)."""
    types = entity.get("type", [])
    if mapview.term_iri("Streetlight") in types:
        return _light(entity, ctx)
    if mapview.term_iri("StreetlightControlCabinet") in types:
        return _cabinet(entity, ctx)
    return None

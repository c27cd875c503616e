"""How a bike or pedestrian counter shows on the home map: counting (its latest count) or silent.

A counter that has reported nothing for three counting periods is silent and needs attention (a
counter that stops reporting loses counts that cannot be recovered).
"""

from __future__ import annotations

from calanque.usecases import mapview
from calanque.usecases.mobility.counters import CounterError, counter_of
from calanque.usecases.registry import MapContext, MapState


def map_state(entity: dict, ctx: MapContext) -> MapState | None:
    """The latest count over every direction, or silence."""
    try:
        counter = counter_of(entity)
    except CounterError:
        return MapState("unknown", "Invalid counter settings: fix the entity", attention=True)
    silent = mapview.silence(entity, ctx, (counter.attribute,), counter.period_s)
    if silent is not None:
        return silent
    latest = mapview.last_observed(entity, (counter.attribute,))
    count = 0.0
    for inst in mapview.instances(entity, counter.attribute):
        raw = inst.get("value")
        if mapview.observed_at(inst) == latest and isinstance(raw, int | float) and not isinstance(raw, bool):
            count += raw
    minutes = round(counter.period_s / 60)
    return MapState(
        "info",
        "Counting: {count} passages in the last {minutes} min",
        {"count": round(count), "minutes": minutes},
    )

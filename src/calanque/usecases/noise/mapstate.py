"""How a noise sensor shows on the home map: its latest LAeq against the threshold of the time of day.

Thresholds: the French "points noirs du bruit" limits for road traffic (circulaire du 25 mai 2004),
LAeq(6h-22h) 70 dB(A) by day and LAeq(22h-6h) 65 dB(A) by night, applied to the latest reporting
period in local time (Europe/Paris). A level within 5 dB below the threshold is shown as a warning.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from calanque.usecases import mapview
from calanque.usecases.registry import MapContext, MapState

DAY_THRESHOLD_DB = 70.0
NIGHT_THRESHOLD_DB = 65.0
WARNING_MARGIN_DB = 5.0
PARIS = ZoneInfo("Europe/Paris")


def threshold_at(hour: int) -> float:
    """The LAeq threshold of a local hour: day 06-22, night 22-06."""
    return DAY_THRESHOLD_DB if 6 <= hour < 22 else NIGHT_THRESHOLD_DB


def map_state(entity: dict, ctx: MapContext) -> MapState | None:
    """The latest LAeq against the threshold of the time it was measured; silent sensors need attention."""
    silent = mapview.silence(entity, ctx, ("LAeq",), mapview.period(entity, 600.0))
    if silent is not None:
        return silent
    laeq = mapview.number(entity, "LAeq")
    at = mapview.observed_at(mapview.default_instance(entity, "LAeq"))
    if laeq is None or at is None:
        return MapState("unknown", "No measurement yet")
    limit = threshold_at(at.astimezone(PARIS).hour)
    params = {"laeq": round(laeq, 1), "threshold": limit}
    if laeq >= limit:
        return MapState(
            "high", "LAeq {laeq} dB(A), above the {threshold} dB(A) threshold", params, attention=True
        )
    if laeq >= limit - WARNING_MARGIN_DB:
        return MapState("warn", "LAeq {laeq} dB(A), near the {threshold} dB(A) threshold", params)
    return MapState("ok", "LAeq {laeq} dB(A), below the {threshold} dB(A) threshold", params)

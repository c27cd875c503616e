"""How a drop-off container shows on the home map: its fill against its collection threshold.

The threshold is the container's ``binFullnessThreshold`` (%), else the waste settings' collection
threshold (``CALANQUE_WASTE_COLLECTION_THRESHOLD``, default 0.8). At or above it the container needs
emptying today (attention); full (≥ 0.98, the overflow level of the incident rules) is shown apart;
within 0.2 below the threshold it is a warning.
"""

from __future__ import annotations

from functools import lru_cache

from calanque.usecases import mapview
from calanque.usecases.registry import MapContext, MapState
from calanque.usecases.waste.containers import container
from calanque.usecases.waste.settings import WasteSettings

FULL = 0.98
WARNING_BELOW = 0.2


@lru_cache(maxsize=1)
def _default_threshold() -> float:
    return WasteSettings().collection_threshold


def map_state(entity: dict, ctx: MapContext) -> MapState | None:
    """Containers only (not their models or isles); silent lid sensors need attention."""
    if mapview.term_iri("WasteContainer") not in entity.get("type", []):
        return None
    silent = mapview.silence(entity, ctx, ("distance", "fillingLevel"), mapview.period(entity, 3600.0))
    if silent is not None:
        return silent
    c = container(entity, {})
    if c.fill is None:
        return MapState("unknown", "No measurement yet")
    threshold = c.threshold if c.threshold is not None else _default_threshold()
    params = {"fill": round(c.fill * 100), "threshold": round(threshold * 100)}
    if c.fill >= FULL:
        return MapState("bad", "Full ({fill} %): empty today", params, attention=True)
    if c.fill >= threshold:
        return MapState(
            "high",
            "Fill {fill} %, at or above the {threshold} % threshold: empty today",
            params,
            attention=True,
        )
    if c.fill >= threshold - WARNING_BELOW:
        return MapState("warn", "Fill {fill} % (threshold {threshold} %)", params)
    return MapState("ok", "Fill {fill} % (threshold {threshold} %)", params)

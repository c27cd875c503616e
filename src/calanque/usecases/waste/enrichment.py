"""Ingestion-time derivations of the waste use case: fillingLevel from distance, dateLastEmptying on a sharp drop."""

from __future__ import annotations

import logging

from calanque.ngsild.canonical import format_ts
from calanque.usecases.common import term_iri
from calanque.usecases.registry import Enrichment
from calanque.usecases.waste.containers import geometry, instance, metres, number, observed, relationship, timestamp
from calanque.usecases.waste.fill import EmptyingRule

log = logging.getLogger(__name__)
RULE = EmptyingRule()


def _first(instances: list[dict] | None) -> dict | None:
    """The default instance (no datasetId) of a list, else its first one."""
    if not instances:
        return None
    return next((i for i in instances if "datasetId" not in i), instances[0])


def enrich(e: Enrichment) -> dict[str, list[dict]]:
    """Derive ``fillingLevel`` (and ``dateLastEmptying`` on an emptying) from a new ``distance`` instance.

    The fill is linear between the container model's ``emptyDistance`` and ``fullDistance``
    (``refWasteContainerModel``), clamped to 0..1, observed when the distance was. An emptying is a
    drop of at least 0.3 from the previous fillingLevel to below 0.2 (the thresholds of
    :class:`~calanque.usecases.waste.fill.EmptyingRule`) between two consecutive readings,
    whatever their interval: waste does not vanish otherwise. Nothing is derived when the uplink
    carries its own fillingLevel, when the container has no model with a usable geometry (logged),
    or for a reading older than the stored fill.
    """
    fill_iri = term_iri("fillingLevel")
    if fill_iri in e.attrs:
        return {}
    reading = _first(e.attrs.get(term_iri("distance")))
    distance = metres(reading)
    if reading is None or distance is None:
        return {}
    model_id = relationship({"attrs": e.attrs}, "refWasteContainerModel") or relationship(
        e.current, "refWasteContainerModel"
    )
    if model_id is None:
        log.warning("waste container %s has no refWasteContainerModel: fillingLevel not derived", e.entity_id)
        return {}
    shape = geometry(e.get_entity(model_id))
    if shape is None:
        log.warning(
            "waste container model %s (of %s) is missing or lacks emptyDistance > fullDistance >= 0 (m): "
            "fillingLevel not derived", model_id, e.entity_id,
        )
        return {}
    stamp = reading.get("observedAt") or format_ts(e.observed_at)
    fill = shape.fill(distance)
    derived: dict[str, list[dict]] = {
        fill_iri: [{"type": "Property", "value": fill, "unitCode": "C62", "observedAt": stamp}]
    }
    previous = instance(e.current, "fillingLevel")
    before, before_at, now_at = number(previous), observed(previous), timestamp(stamp)
    if (
        before is not None and before_at is not None and now_at is not None and before_at < now_at
        and fill < RULE.end_below and before - fill >= RULE.min_drop
    ):
        derived[term_iri("dateLastEmptying")] = [
            {"type": "Property", "value": {"@type": "DateTime", "@value": format_ts(now_at)}, "observedAt": stamp}
        ]
    return derived

"""Air quality: the example of a use case added as one folder (see docs/new-use-case.md).

Entities are Smart Data Models ``AirQualityObserved`` with ``NO2`` in µg/m³ (unitCode ``GQ``),
each sample observed at the end of its averaging period. The use case adds:

* the indicator "mean NO2 over a period", ``GET /api/v1/airquality/{entityId}/no2?from=…&to=…``
  (:mod:`.api`), compared with the EU annual limit value;
* a dashboard at ``/usecases/airquality`` (the ``dashboard/`` folder: its template, script and
  French catalogue), in the department UI's menu like the built-in ones;
* an ingestion enricher: every NO2 reading above the EU hourly limit value sets
  ``no2AboveHourlyLimit`` to true (false otherwise), observed at the same time.

Limit values: Directive 2008/50/EC, Annex XI: NO2 200 µg/m³ over one hour, 40 µg/m³ over a
calendar year.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calanque.ngsild.canonical import format_ts
from calanque.usecases.common import term_iri
from calanque.usecases.registry import Dashboard, Enrichment, Indicator, Publication, Threshold, UseCase

ENTITY_TYPE = "AirQualityObserved"
HOURLY_LIMIT_UG_M3 = 200.0
ANNUAL_LIMIT_UG_M3 = 40.0


def _router() -> Any:
    """The API router, imported only when the application mounts it."""
    from .api import router

    return router()


def enrich(uplink: Enrichment) -> dict[str, list[dict]]:
    """Flag NO2 readings above the hourly limit value (attribute ``no2AboveHourlyLimit``)."""
    out: dict[str, list[dict]] = {}
    for reading in uplink.attrs.get(term_iri("NO2"), []):
        value = reading.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[term_iri("no2AboveHourlyLimit")] = [{
                "type": "Property", "value": value > HOURLY_LIMIT_UG_M3,
                "observedAt": reading.get("observedAt") or format_ts(uplink.observed_at),
            }]
    return out


USECASE = UseCase(
    name="airquality",
    title="Air quality",
    description="Nitrogen dioxide from AirQualityObserved stations: mean over a period against the EU limit "
                "values (Directive 2008/50/EC), and a flag on readings above the hourly limit.",
    entity_types=(ENTITY_TYPE,),
    device_models=("json",),
    indicators=(
        Indicator("meanNO2", "Arithmetic mean of the NO2 readings observed in the period", "µg/m³",
                  "/{entityId}/no2"),
    ),
    thresholds=(
        Threshold("no2Hourly", HOURLY_LIMIT_UG_M3, "µg/m³", "EU hourly limit value (Directive 2008/50/EC)"),
        Threshold("no2Annual", ANNUAL_LIMIT_UG_M3, "µg/m³", "EU annual limit value (Directive 2008/50/EC)"),
    ),
    publishes=(Publication(ENTITY_TYPE, ("location", "NO2")),),
    router=_router,
    enrich=enrich,
    dashboard=Dashboard(folder=Path(__file__).parent / "dashboard"),  # its page at /usecases/airquality
)

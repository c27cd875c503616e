"""The mobility use case: bike and pedestrian counters (TrafficFlowObserved, CrowdFlowObserved).

Its API (:mod:`.api`, mounted at /api/v1/mobility) gives each counter's counts per hour, day,
week or month, its weekday × hour profile, a year-to-date summary and the public totem
display; it exports the tenant's counters in the national open-data schema "comptage des
mobilités" and imports counts from it (also as ``calanque mobility export|import``, :mod:`.cli`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calanque.usecases.mobility.cli import cli
from calanque.usecases.registry import Dashboard, Indicator, MapContext, MapState, Publication, UseCase


def _router() -> Any:
    """The API router, imported only when the application mounts it."""
    from calanque.usecases.mobility.api import router

    return router()


def _map_state(entity: dict, ctx: MapContext) -> MapState | None:
    """How an asset shows on the home map (:mod:`calanque.usecases.mobility.mapstate`, imported when first used)."""
    from calanque.usecases.mobility.mapstate import map_state

    return map_state(entity, ctx)


USECASE = UseCase(
    name="mobility",
    title="Bike and pedestrian counts",
    description="Counts of bike (TrafficFlowObserved, intensity) and pedestrian (CrowdFlowObserved, peopleCount) "
                "counters per direction: calendar totals, weekday × hour profiles, year to date and year on year, "
                "busiest hour and day, the street-totem display, and the national open-data files "
                "'comptage des mobilités' (export and import).",
    entity_types=("TrafficFlowObserved", "CrowdFlowObserved"),
    device_models=("milesight-vs350",),
    indicators=(
        Indicator("counts", "Passages per direction and in total per hour, day, ISO week or month", "passages",
                  "/{counterId}/counts"),
        Indicator("profile", "Average hourly passages per weekday and hour (hours with data only)",
                  "passages per hour", "/{counterId}/profile"),
        Indicator("yearToDate", "Passages since local 1 January", "passages", "/{counterId}/summary"),
        Indicator("yearOnYear", "Year to date compared with the same period of the previous year", "%",
                  "/{counterId}/summary"),
        Indicator("busiestHour", "The local hour with the most passages this year", "passages",
                  "/{counterId}/summary"),
        Indicator("busiestDay", "The local day with the most passages this year", "passages",
                  "/{counterId}/summary"),
        Indicator("display", "Today's and this year's passages and the last update (street totem, public)",
                  "passages", "/{counterId}/display"),
    ),
    # counts are public by default (street totems, the open-data files "comptage des mobilités"); the
    # counters' device links stay private
    publishes=(
        Publication("TrafficFlowObserved", ("location", "name", "address", "municipalityCode", "intensity", "vehicleType", "measurementPeriod")),
        Publication("CrowdFlowObserved", ("location", "name", "address", "municipalityCode", "peopleCount", "measurementPeriod")),
    ),
    public_paths=("/{counterId}/display", "/{counterId}/counts", "/{counterId}/profile", "/{counterId}/summary",
                  "/export/site.csv", "/export/channel.csv", "/export/measure.csv"),
    router=_router,
    cli=cli,
    map_state=_map_state,
    dashboard=Dashboard(folder=Path(__file__).parent / "dashboard"),
)

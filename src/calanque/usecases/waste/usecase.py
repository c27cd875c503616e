"""The waste use case (use case 2): drop-off containers with lid sensors, fill forecasts, collection rounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calanque.usecases.registry import Dashboard, Indicator, MapContext, MapState, Publication, Threshold, UseCase
from calanque.usecases.waste.enrichment import enrich
from calanque.usecases.waste.fill import EmptyingRule
from calanque.usecases.waste.settings import WasteSettings

_DEFAULTS = WasteSettings.model_fields


def router() -> Any:
    """The /api/v1/waste router, configured from the CALANQUE_WASTE_* environment variables."""
    from calanque.usecases.waste.api import build_router

    return build_router(WasteSettings())


def _map_state(entity: dict, ctx: MapContext) -> MapState | None:
    """How an asset shows on the home map (:mod:`calanque.usecases.waste.mapstate`, imported when first used)."""
    from calanque.usecases.waste.mapstate import map_state

    return map_state(entity, ctx)


USECASE = UseCase(
    name="waste",
    title="Waste collection",
    description="Drop-off containers (glass, paper, packaging) with ultrasonic lid sensors: fill levels derived "
    "at ingestion, fill-rate forecasts, collection plans ordered as a round from the depot, and incidents "
    "(overflows, stuck sensors, impossible jumps, moved or dropped containers).",
    entity_types=("WasteContainer", "WasteContainerModel", "WasteContainerIsle"),
    device_models=("dragino-ldds75",),
    indicators=(
        Indicator("fillingLevel", "Fill ratio of a container, derived from its lid-sensor distance and model "
                  "geometry at ingestion", "C62"),
        Indicator("fillForecast", "Current fill, fill rate per day since the last emptying and the predicted "
                  "date the collection threshold is reached", "C62", "/{entityId}/forecast"),
        Indicator("fillDistribution", "Latest fill of every container as a histogram, the containers at their "
                  "collection threshold and the kinds collected on a day", "C62", "/fill-distribution"),
        Indicator("collectionPlan", "Containers of one kind to empty on a collection day, with their predicted "
                  "fill, ordered as a round from the depot, and the round's length", "KMT", "/collection-plan"),
        Indicator("incidents", "Overflows, prolonged high fill, stuck readings, impossible jumps, moved or "
                  "dropped containers over a period", None, "/incidents"),
    ),
    thresholds=(
        Threshold("collectionThreshold", _DEFAULTS["collection_threshold"].default, "C62",
                  "fill ratio calling for a collection; a container's binFullnessThreshold (%) overrides it"),
        Threshold("overflowAfter", _DEFAULTS["overflow_hours"].default, "HUR",
                  "a container full (fill ≥ 0.98) for longer than this is an overflow incident"),
        Threshold("highFill", _DEFAULTS["high_fill"].default, "C62", "fill ratio of a prolonged high fill"),
        Threshold("highFillAfter", _DEFAULTS["high_fill_hours"].default, "HUR",
                  "high fill for longer than this is a prolonged-high-fill incident"),
        Threshold("stuckAfter", _DEFAULTS["stuck_hours"].default, "HUR",
                  "an unchanged reading for longer than this, while a container of the same isle changed, is a "
                  "stuck sensor"),
        Threshold("impossibleRise", _DEFAULTS["jump_rise"].default, "C62",
                  "a fill rise larger than this within one hour is a sensor artefact"),
        Threshold("emptyingDrop", EmptyingRule().min_drop, "C62",
                  f"a fill drop of at least this, ending below {EmptyingRule().end_below}, is an emptying "
                  "(sets dateLastEmptying)"),
    ),
    # where the containers are, what they take and how full they are; sensor readings, thresholds and
    # emptying dates stay private (collection planning is the operator's business)
    publishes=(
        Publication("WasteContainer", ("location", "name", "address", "municipalityCode", "storedWasteKind", "fillingLevel")),
        Publication("WasteContainerIsle", ("location", "name", "address", "municipalityCode",)),
    ),
    router=router,
    enrich=enrich,
    map_state=_map_state,
    dashboard=Dashboard(folder=Path(__file__).parent / "dashboard"),
)

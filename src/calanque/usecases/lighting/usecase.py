"""The lighting use case (use case 5): astronomical switching, lamp faults, energy and savings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calanque.usecases.lighting.settings import LightingSettings
from calanque.usecases.registry import Dashboard, Indicator, MapContext, MapState, Threshold, UseCase

_DEFAULTS = LightingSettings.model_fields


def router() -> Any:
    """The /api/v1/lighting router, configured from the CALANQUE_LIGHTING_* environment variables."""
    from calanque.usecases.lighting.api import build_router

    return build_router(LightingSettings())


def _map_state(entity: dict, ctx: MapContext) -> MapState | None:
    """How an asset shows on the home map (:mod:`calanque.usecases.lighting.mapstate`, imported when first used)."""
    from calanque.usecases.lighting.mapstate import map_state

    return map_state(entity, ctx)


USECASE = UseCase(
    name="lighting",
    title="Street lighting",
    description="Streetlights switched by groups on an astronomical clock with dimming profiles: the nightly "
    "schedule, open faults (lamp failure, day burner, cycling, communication loss) and energy consumed and saved "
    "against full power, per light, group and cabinet.",
    entity_types=("Streetlight", "StreetlightGroup", "StreetlightControlCabinet", "StreetlightModel"),
    device_models=("calanque-streetlight", "milesight-ws558"),
    indicators=(
        Indicator("schedule", "Switch-on and switch-off times (sunset + offset, sunrise − offset) and dimming "
                  "levels of each group for a night", None, "/schedule"),
        Indicator("network", "Lights lit, dimmed, off, silent and reported faulty now, and the power drawn", None,
                  "/network"),
        Indicator("faults", "Open faults of the streetlights: lamp failure, day burner, cycling, communication "
                  "loss", None, "/faults"),
        Indicator("energy", "Energy consumed per light, group and cabinet against the full-power baseline, and "
                  "the savings", "KWH", "/energy"),
    ),
    thresholds=(
        Threshold("lampFailurePowerRatio", _DEFAULTS["failure_power_ratio"].default, "C62",
                  "a light commanded on drawing less than this fraction of its nominal power has failed"),
        Threshold("dayBurnerTolerance", _DEFAULTS["day_burner_tolerance_minutes"].default, "MIN",
                  "slack around sunrise and sunset (beyond the group's offsets) before a lit lamp is a day burner"),
        Threshold("cyclingTransitions", _DEFAULTS["cycling_max_transitions"].default, None,
                  "more on/off transitions than this within an hour while commanded on is cycling"),
        Threshold("communicationLossIntervals", _DEFAULTS["comm_loss_intervals"].default, None,
                  "silent for more than this many reporting intervals is a communication loss"),
    ),
    router=router,
    map_state=_map_state,
    dashboard=Dashboard(folder=Path(__file__).parent / "dashboard"),
)

"""Water use case: river-level vigilance, water-quality checks and the Hub'Eau hydrometry import.

Endpoints (mounted under ``/api/v1/water``):

* ``GET /{entityId}/status?window=PT1H&at=…`` — latest level (m) of a ``FloodMonitoring``
  (``currentLevel``) or ``WaterObserved`` (``height``) entity, rate of rise (cm/h, least-squares
  slope over the window), vigilance colour with its reason and the predicted time of the next
  level threshold, computed from the stored history with :mod:`calanque.usecases.water.status`;
* ``GET /{entityId}/quality`` — latest value of each ``WaterQualityObserved`` parameter checked
  against its acceptable range (:mod:`calanque.usecases.water.quality`);
* ``POST /hubeau/import`` — imports Hub'Eau real-time observations into ``WaterObserved``
  entities (:mod:`calanque.usecases.water.importer`); the same as ``calanque water import-hubeau``.

Vigilance thresholds come from the entity's ``vigilanceThresholds`` Property
(docs/data-conventions.md), kind by kind ("level", "rise"), else from the use-case defaults.
Quality ranges come, bound by bound, from the request (``pH_min``, ``O2_min``…), else the
entity's ``qualityRanges`` Property ``{"pH": {"min": 6.5, "max": 8.5}, …}``, else the defaults.
"""

from __future__ import annotations

import math
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from calanque.ngsild.api.http import tenant_of
from calanque.ngsild.canonical import format_ts, parse_ts
from calanque.ngsild.errors import BadRequestData, NgsiLdError, ResourceNotFound, TooManyResults
from calanque.store.base import HistoryQuery
from calanque.usecases import common
from calanque.usecases.registry import Dashboard, Indicator, MapContext, MapState, Publication, Threshold, UseCase
from calanque.usecases.water import importer
from calanque.usecases.water.cli import water as water_cli
from calanque.usecases.water.hubeau import DEFAULT_BASE_URL, HubEauClient, HubEauError
from calanque.usecases.water.quality import DEFAULT_RANGES, Range, check_quality
from calanque.usecases.water.status import COLOURS, Thresholds, station_status

LEVEL_ATTRIBUTES = {"FloodMonitoring": "currentLevel", "WaterObserved": "height"}
QUALITY_TYPE = "WaterQualityObserved"
# unitCode each quality parameter must carry (docs/data-conventions.md); absent means these units.
QUALITY_UNIT_CODES = {"temperature": "CEL", "pH": "C62", "conductivity": "G42", "turbidity": "C62",
                      "O2": "M1"}
HUBEAU_URL_VARIABLE = "CALANQUE_HUBEAU_BASE_URL"
MAX_IMPORT_STATIONS = 50
_ALERTS = COLOURS[1:]
_GENERIC = ("generic default, to be replaced by each station's vigilanceThresholds (set from its own "
            "flood history)")
DEFAULT_THRESHOLDS = Thresholds(level_yellow=2.0, level_orange=2.5, level_red=3.0,
                                rise_yellow=10.0, rise_orange=20.0, rise_red=30.0)
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


class UpstreamError(NgsiLdError):
    """An outside service the platform relies on (Hub'Eau) failed; answered as 502."""

    kind, status, title = "UpstreamError", 502, "Upstream service failed"

    @property
    def type_uri(self) -> str:
        """A Calanque problem type: NGSI-LD defines none for a failing upstream service."""
        return "urn:calanque:error:UpstreamError"


def hubeau_base_url() -> str:
    """The Hub'Eau hydrometry base URL: CALANQUE_HUBEAU_BASE_URL, else the public service."""
    return os.environ.get(HUBEAU_URL_VARIABLE) or DEFAULT_BASE_URL


def parse_duration(text: str, name: str, *, shortest: timedelta, longest: timedelta) -> timedelta:
    """An ISO 8601 duration in days, hours, minutes and seconds (e.g. PT1H, PT30M, P1D); 400 otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if not match or not any(match.groups()):
        raise BadRequestData(f"parameter '{name}' must be an ISO 8601 duration such as PT1H, PT30M or P1D, "
                             f"got '{text[:40]}'")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    value = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if not shortest <= value <= longest:
        raise BadRequestData(f"parameter '{name}' must be between {shortest} and {longest}, got {text}")
    return value


def _default_instance(entity: dict, term: str) -> dict | None:
    """The default instance (no datasetId) of an attribute, or None."""
    for instance in entity.get("attrs", {}).get(common.term_iri(term), []):
        if "datasetId" not in instance:
            return instance
    return None


def _number(value: Any) -> bool:
    """Whether a JSON value is a finite number (booleans excluded)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


# --- river levels ------------------------------------------------------------------------------

def station_thresholds(entity: dict) -> tuple[Thresholds, dict[str, str]]:
    """The station's thresholds and where each kind comes from ("entity" or "default"); 400 when invalid."""
    instance = _default_instance(entity, "vigilanceThresholds")
    raw = instance.get("value") if instance else None
    sources = {"level": "default", "rise": "default"}
    if raw is None:
        return DEFAULT_THRESHOLDS, sources
    where = f"entity '{entity['id']}' vigilanceThresholds"
    if not isinstance(raw, dict) or set(raw) - {"level", "rise"}:
        raise BadRequestData(f"{where} must be an object with 'level' (m) and/or 'rise' (cm/h) members; "
                             "fix the entity")
    values: dict[str, float | None] = {}
    for kind in ("level", "rise"):
        part = raw.get(kind)
        if part is None:
            values.update({f"{kind}_{c}": getattr(DEFAULT_THRESHOLDS, f"{kind}_{c}") for c in _ALERTS})
            continue
        if not isinstance(part, dict) or set(part) - set(_ALERTS):
            raise BadRequestData(f"{where}.{kind} must map yellow, orange and/or red to numbers; "
                                 "fix the entity")
        for colour in _ALERTS:
            value = part.get(colour)
            if value is not None and not _number(value):
                raise BadRequestData(f"{where}.{kind}.{colour} must be a number, got {value!r}; "
                                     "fix the entity")
            values[f"{kind}_{colour}"] = value
        sources[kind] = "entity"
    try:
        return Thresholds(**values), sources
    except ValueError as err:
        raise BadRequestData(f"{where}: {err}; fix the entity") from None


def _level_attribute(entity: dict) -> str:
    """currentLevel for a FloodMonitoring entity, height for a WaterObserved one."""
    for entity_type, attr in LEVEL_ATTRIBUTES.items():
        if common.term_iri(entity_type) in entity.get("type", []):
            return attr
    raise BadRequestData(f"entity '{entity['id']}' is neither a FloodMonitoring nor a WaterObserved")


def _latest_time(request: Request, tenant: str, entity: dict, attr: str, moment: datetime) -> datetime:
    """Time of the latest observation of ``attr`` at or before ``moment``; 404 when there is none."""
    instance = _default_instance(entity, attr)
    if instance and instance.get("observedAt") and parse_ts(instance["observedAt"]) <= moment:
        return parse_ts(instance["observedAt"])
    with common.store_of(request).session() as session:
        rows = session.read_history(tenant, HistoryQuery(
            entity_ids=[entity["id"]], attrs=[common.term_iri(attr)],
            end=format_ts(moment + timedelta(microseconds=1)), last_n=1))
    if not rows or rows[-1].observed_at is None:
        raise ResourceNotFound(f"entity '{entity['id']}' has no {attr} observation at or before "
                               f"{format_ts(moment)}")
    return parse_ts(rows[-1].observed_at)


def status_endpoint(request: Request, entity_id: str, window: str, at: str | None) -> dict[str, Any]:
    """Vigilance status of a river-level station from its stored level history."""
    span = parse_duration(window, "window", shortest=timedelta(minutes=1), longest=timedelta(days=7))
    moment = common.parse_time(at, "at") if at else datetime.now(UTC)
    tenant, entity = common.load_entity(request, entity_id, tuple(LEVEL_ATTRIBUTES))
    attr = _level_attribute(entity)
    thresholds, sources = station_thresholds(entity)
    latest = _latest_time(request, tenant, entity, attr, moment)
    stamps, levels = common.series(request, tenant, entity_id, attr, latest - span,
                                   moment + timedelta(microseconds=1), dataset_id="")
    limit = getattr(request.app.state.settings, "max_history_rows", None)
    if limit is not None and len(stamps) >= limit:
        raise TooManyResults(f"the window holds {limit} or more {attr} samples, the configured limit "
                             "(max_history_rows); ask for a shorter window")
    if not stamps:
        raise ResourceNotFound(f"entity '{entity_id}' has no numeric {attr} observation at or before "
                               f"{format_ts(moment)}")
    status = station_status(list(zip(map(common.from_us, stamps), levels, strict=True)), thresholds, span,
                            now=moment)
    return {
        "entityId": entity_id,
        "attribute": attr,
        "at": format_ts(moment),
        "window": window,
        **status,
        "thresholds": {
            "level_m": {c: getattr(thresholds, f"level_{c}") for c in _ALERTS},
            "rise_cm_per_h": {c: getattr(thresholds, f"rise_{c}") for c in _ALERTS},
        },
        "thresholds_source": sources,
    }


# --- water quality -----------------------------------------------------------------------------

def quality_ranges(entity: dict, requested: dict[str, float | None]) -> dict[str, Range]:
    """Acceptable ranges: request bounds (e.g. {"pH_min": 6.5}), else entity qualityRanges, else defaults."""
    instance = _default_instance(entity, "qualityRanges")
    own = instance.get("value") if instance else None
    where = f"entity '{entity['id']}' qualityRanges"
    if own is None:
        own = {}
    if not isinstance(own, dict) or set(own) - set(DEFAULT_RANGES):
        raise BadRequestData(f"{where} must map parameters among {', '.join(DEFAULT_RANGES)} to "
                             "{\"min\": …, \"max\": …}; fix the entity")
    ranges = {}
    for name, default in DEFAULT_RANGES.items():
        part = own.get(name) or {}
        if not isinstance(part, dict) or set(part) - {"min", "max"}:
            raise BadRequestData(f"{where}.{name} must be an object with 'min' and/or 'max'; fix the entity")
        bounds, origins = [], []
        for bound, fallback in (("min", default.minimum), ("max", default.maximum)):
            asked = requested.get(f"{name}_{bound}")
            if asked is not None:
                if not math.isfinite(asked):
                    raise BadRequestData(f"parameter '{name}_{bound}' must be a finite number, got {asked}")
                bounds.append(asked)
                origins.append(f"{bound} from the request ({name}_{bound})")
            elif bound in part:
                if part[bound] is not None and not _number(part[bound]):
                    raise BadRequestData(f"{where}.{name}.{bound} must be a number or null, "
                                         f"got {part[bound]!r}")
                bounds.append(part[bound])
                origins.append(f"{bound} from the entity's qualityRanges")
            else:
                bounds.append(fallback)
        source = default.source if not origins else "; ".join(origins) + f" (defaults: {default.source})"
        try:
            ranges[name] = Range(bounds[0], bounds[1], default.unit, default.label, source)
        except ValueError as err:
            raise BadRequestData(f"{err}: fix the request or the entity's qualityRanges") from None
    return ranges


def quality_endpoint(request: Request, entity_id: str, requested: dict[str, float | None]) -> dict[str, Any]:
    """Latest value of each water-quality parameter of the entity, checked against its range."""
    _, entity = common.load_entity(request, entity_id, (QUALITY_TYPE,))
    ranges = quality_ranges(entity, requested)
    parameters: dict[str, dict[str, Any]] = {}
    sample: dict[str, float] = {}
    for name, rng in ranges.items():
        entry: dict[str, Any] = {"range": {"min": rng.minimum, "max": rng.maximum, "source": rng.source},
                                 "unit": rng.unit}
        parameters[name] = entry
        instance = _default_instance(entity, name)
        if instance is None:
            entry["status"] = "missing"
            continue
        value, code = instance.get("value"), instance.get("unitCode")
        entry.update({"value": value, "unitCode": code, "observedAt": instance.get("observedAt")})
        if not _number(value):
            entry.update(status="unchecked", reason=f"the value {value!r} is not a number")
        elif code is not None and code != QUALITY_UNIT_CODES[name]:
            entry.update(status="unchecked", reason=f"unitCode {code} is not {QUALITY_UNIT_CODES[name]} "
                                                    f"({rng.unit or 'no unit'}); store {name} in that unit")
        else:
            sample[name] = float(value)
            entry["status"] = "ok"
    violations = check_quality(sample, ranges)
    for violation in violations:
        parameters[violation.parameter].update(status="violation", message=violation.message)
    return {
        "entityId": entity_id,
        "parameters": parameters,
        "violations": [{"parameter": v.parameter, "value": v.value, "bound": v.bound, "limit": v.limit,
                        "unit": v.unit, "message": v.message} for v in violations],
        "checked": len(sample),
        "compliant": not violations,
    }


# --- Hub'Eau import ----------------------------------------------------------------------------

class HubEauImport(BaseModel):
    """Body of POST /api/v1/water/hubeau/import."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    stations: list[str] = Field(description="Hub'Eau station codes (code_station), e.g. [\"Y442404001\"]")
    start: str | None = Field(None, alias="from", description="Start (ISO 8601). Default: 24 h before 'to'.")
    end: str | None = Field(None, alias="to", description="End (ISO 8601). Default: now.")


def import_endpoint(request: Request, body: HubEauImport) -> dict[str, Any]:
    """Fetch Hub'Eau observations of the stations over the period and write them through the broker."""
    try:
        stations = importer.check_stations(body.stations)
    except ValueError as err:
        raise BadRequestData(str(err)) from None
    if len(stations) > MAX_IMPORT_STATIONS:
        raise BadRequestData(f"{len(stations)} stations asked; import at most {MAX_IMPORT_STATIONS} "
                             "per request")
    start, end = common.parse_window(body.start, body.end, default=timedelta(days=1),
                                     max_period=common.max_period_of(request))
    tenant = tenant_of(request)
    client = HubEauClient(base_url=hubeau_base_url(), timeout=30.0)
    try:
        observations = importer.fetch(client, stations, start, end)
    except HubEauError as err:
        raise UpstreamError(str(err)) from None
    try:
        reports = importer.import_observations(request.app.state.broker, tenant, stations, observations)
    except importer.ImportFailed as err:
        raise BadRequestData(str(err)) from None
    return {
        "source": client.url,
        "from": format_ts(start),
        "to": format_ts(end),
        "written": sum(r.written for r in reports),
        "stations": [r.describe() for r in reports],
    }


# --- API and declaration -----------------------------------------------------------------------

def router() -> APIRouter:
    """The water API, mounted at /api/v1/water."""
    api = APIRouter()

    @api.post("/hubeau/import", summary="Import Hub'Eau real-time hydrometry into WaterObserved entities")
    def hubeau_import(request: Request, body: HubEauImport) -> dict[str, Any]:
        """Fetch H and Q of the stations over [from, to] from Hub'Eau and write entities with history."""
        return import_endpoint(request, body)

    @api.get("/{entityId}/status", summary="River-level vigilance status of a station")
    def status(
        request: Request, entityId: str,
        window: str = Query("PT1H", description="Window of the rate of rise, ISO 8601 (PT1H, PT30M, P1D)."),
        at: str | None = Query(None,
                               description="Assess the station as of this time (ISO 8601). Default: now."),
    ) -> dict[str, Any]:
        """Latest level (m), rate of rise (cm/h), colour, reason and predicted time of the next threshold."""
        return status_endpoint(request, entityId, window, at)

    def bound(name: str, which: str) -> Any:
        default = getattr(DEFAULT_RANGES[name], "minimum" if which == "min" else "maximum")
        return Query(None, description=f"{which} of {DEFAULT_RANGES[name].label} "
                                       f"({DEFAULT_RANGES[name].unit or 'no unit'}); default {default}")

    @api.get("/{entityId}/quality", summary="Water-quality parameters checked against their ranges")
    def quality(
        request: Request, entityId: str,
        temperature_min: float | None = bound("temperature", "min"),
        temperature_max: float | None = bound("temperature", "max"),
        pH_min: float | None = bound("pH", "min"), pH_max: float | None = bound("pH", "max"),  # noqa: N803
        O2_min: float | None = bound("O2", "min"), O2_max: float | None = bound("O2", "max"),  # noqa: N803
        conductivity_min: float | None = bound("conductivity", "min"),
        conductivity_max: float | None = bound("conductivity", "max"),
        turbidity_min: float | None = bound("turbidity", "min"),
        turbidity_max: float | None = bound("turbidity", "max"),
    ) -> dict[str, Any]:
        """Latest temperature, pH, conductivity, turbidity and O2 with violations of their ranges."""
        requested = {
            "temperature_min": temperature_min, "temperature_max": temperature_max, "pH_min": pH_min,
            "pH_max": pH_max, "O2_min": O2_min, "O2_max": O2_max, "conductivity_min": conductivity_min,
            "conductivity_max": conductivity_max, "turbidity_min": turbidity_min,
            "turbidity_max": turbidity_max,
        }
        return quality_endpoint(request, entityId, requested)

    return api


def _map_state(entity: dict, ctx: MapContext) -> MapState | None:
    """How an asset shows on the home map (:mod:`calanque.usecases.water.mapstate`, imported when first used)."""
    from calanque.usecases.water.mapstate import map_state

    return map_state(entity, ctx)


USECASE = UseCase(
    name="water",
    title="Water",
    description="River levels (vigilance colour, rate of rise, predicted threshold time), water-quality "
                "checks and the Hub'Eau real-time hydrometry import.",
    entity_types=("FloodMonitoring", "WaterObserved", QUALITY_TYPE),
    device_models=("decentlab-dl-ctd10",),
    indicators=(
        Indicator("level", "Latest water level at the station", "m", "/{entityId}/status"),
        Indicator("rateOfRise", "Least-squares slope of the level over the window", "cm/h",
                  "/{entityId}/status"),
        Indicator("vigilance", "Colour green/yellow/orange/red from level and rise thresholds, with its "
                  "reason", None, "/{entityId}/status"),
        Indicator("nextThreshold", "Predicted time the next level threshold is reached at the current rate",
                  None, "/{entityId}/status"),
        Indicator("quality", "Latest temperature, pH, conductivity, turbidity, O2 and range violations", None,
                  "/{entityId}/quality"),
    ),
    thresholds=(
        *(Threshold(f"level.{c}", getattr(DEFAULT_THRESHOLDS, f"level_{c}"), "m", f"{c} level: {_GENERIC}")
          for c in _ALERTS),
        *(Threshold(f"rise.{c}", getattr(DEFAULT_THRESHOLDS, f"rise_{c}"), "cm/h",
                    f"{c} rate of rise: {_GENERIC}") for c in _ALERTS),
        *(Threshold(f"{name}.{which}", value, rng.unit or None, f"{which} of {rng.label}: {rng.source}")
          for name, rng in DEFAULT_RANGES.items()
          for which, value in (("min", rng.minimum), ("max", rng.maximum)) if value is not None),
    ),
    # levels, flows, water quality and the vigilance settings behind the public status are public by default
    publishes=(
        Publication("FloodMonitoring", ("location", "name", "address", "municipalityCode", "currentLevel", "vigilanceThresholds")),
        Publication("WaterObserved", ("location", "name", "address", "municipalityCode", "height", "flow")),
        Publication(QUALITY_TYPE, ("location", "name", "address", "municipalityCode", "temperature", "pH", "conductivity", "turbidity", "O2",
                                   "qualityRanges")),
    ),
    public_paths=("/{entityId}/status", "/{entityId}/quality"),
    router=router,
    cli=water_cli,
    map_state=_map_state,
    dashboard=Dashboard(folder=Path(__file__).parent / "dashboard"),
)

"""HTTP API of the waste use case, mounted at /api/v1/waste: fill forecasts, collection plans, incidents.

Containers are read from the stored WasteContainer entities (latest fill, position, kind, last
emptying) and their temporal history (fillingLevel, else distance through the model geometry).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from operator import itemgetter, ne
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
from fastapi import APIRouter, Query, Request
from pydantic import Field

from calanque.ngsild.api.http import tenant_of
from calanque.ngsild.canonical import format_ts
from calanque.ngsild.errors import BadRequestData, NonexistentTenant, ResourceNotFound
from calanque.store.base import HistoryQuery, HourlyRollup, Session
from calanque.store.rollup import HOUR_US
from calanque.usecases.hourly import read_hybrid
from calanque.usecases.common import CamelModel, from_us, load_entity, max_period_of, parse_window, store_of, term_iri, to_us
from calanque.usecases.waste.containers import (
    Container,
    Geometry,
    container,
    entities_of_type,
    geometry,
    instance,
    load_models,
    relationship,
    timestamp,
)
from calanque.usecases.waste.fill import EmptyingRule, detect_emptyings_us, window_max
from calanque.usecases.waste.forecast import DAY_S, Forecast, forecast_arrays, forecast_since
from calanque.usecases.waste.incidents import (
    Arrays,
    Incident,
    IncidentRules,
    impossible_jump_incidents_us,
    overflow_incidents_us,
    reported_status_incidents,
    stuck_sensor_incidents_us,
)
from calanque.usecases.waste.routing import PARIS, ContainerState, collection_plan
from calanque.usecases.waste.settings import WEEKDAYS, WasteSettings, parse_lon_lat

DEFAULT_INCIDENT_WINDOW = timedelta(days=7)
_FAR_US = 2**62  # an end after any stored time: "until the latest sample"
_SHORT_HISTORY = 5_000  # samples a forecast reads whole; beyond, it reads the hourly summaries
# How far before a period the status holding at its start is looked for.
STATUS_CARRY_IN = timedelta(days=31)


class ForecastOut(CamelModel):
    """A container's fill forecast."""

    id: str
    threshold: float
    current_fill: float
    observed_at: datetime
    rate_per_day: float | None
    rate_source: str
    last_emptying: datetime | None
    predicted_full_at: datetime | None
    full: bool
    since: datetime
    samples: int
    source: str


class Point(CamelModel):
    """A WGS84 position."""

    lon: float
    lat: float


class StopOut(CamelModel):
    """One stop of a collection round."""

    order: int
    id: str
    location: Point
    fill: float
    observed_at: datetime
    last_emptying: datetime | None
    rate_per_day: float | None
    rate_source: str
    threshold: float
    predicted_fill: float
    predicted_fill_at_next_collection: float


class UnroutedOut(CamelModel):
    """A container to collect that has no location to route to."""

    id: str
    fill: float
    predicted_fill_at_next_collection: float


class PlanOut(CamelModel):
    """The collection plan of one waste kind on one day."""

    date: date
    kind: str
    next_collection_date: date
    collection_at: datetime
    next_collection_at: datetime
    depot: Point
    threshold: float | None
    containers: int
    history_reads: int
    selected: int
    length_km: float
    nearest_neighbour_length_km: float
    stops: list[StopOut]
    selected_without_location: list[UnroutedOut]
    without_data: list[str]


class IncidentOut(CamelModel):
    """One incident on a container."""

    id: str
    kind: str
    started_at: datetime
    ended_at: datetime | None
    detail: str


class IncidentsOut(CamelModel):
    """Incidents found in a period."""

    from_: datetime = Field(alias="from")
    to: datetime
    containers: int
    incidents: list[IncidentOut]


class FillBinOut(CamelModel):
    """Containers whose latest fill lies in [from, to) (the last bin includes 1.0)."""

    from_: float = Field(alias="from")
    to: float
    count: int


class FillDistributionOut(CamelModel):
    """The latest fill of every container, as a histogram, with the collection calendar of the day."""

    date: date
    kind: str | None
    containers: int
    with_fill: int
    at_threshold: int = Field(description="Containers whose fill reached their collection threshold")
    mean_fill: float | None
    bins: list[FillBinOut]
    collection_days: dict[str, list[str]]
    collected_on_date: list[str] = Field(description="Waste kinds collected on 'date'")


@dataclass(frozen=True)
class Estimate:
    """A container's forecast for a plan and where its rate came from."""

    container: Container
    forecast: Forecast
    threshold: float
    rate_source: str  # "history", "meanSinceLastEmptying" or "none"


def _check_tenant(session: Session, tenant: str) -> None:
    """404 for a tenant that was never created."""
    if not session.tenant_exists(tenant):
        raise NonexistentTenant(f"tenant '{tenant}' does not exist")


def _distance_scale(entity: dict | None) -> float:
    """Metres per unit of the container's stored distance readings (from the current instance's unitCode)."""
    unit = (instance(entity, "distance") or {}).get("unitCode") or "MTR"
    return {"MTR": 1.0, "CMT": 0.01, "MMT": 0.001}.get(unit, 1.0)


def fill_history(
    session: Session, tenant: str, c: Container, shape: Geometry | None, start_us: int | None, end_us: int | None,
    *, distance_scale: float = 1.0, limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """The container's fill series in [start, end): fillingLevel history, else its distances through the geometry."""
    rows = session.read_series(tenant, c.id, term_iri("fillingLevel"), start_us, end_us, dataset_id="", limit=limit)
    source = "fillingLevel"
    if not rows and shape is not None:
        rows = session.read_series(tenant, c.id, term_iri("distance"), start_us, end_us, dataset_id="", limit=limit)
        source = "distance"
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty(0), source
    # Epoch microseconds (< 2**53 until the year 2255) survive the float64 round trip exactly.
    table = np.array(rows, dtype=float)
    times = table[:, 0].astype(np.int64)
    values = table[:, 1]
    if source == "distance":
        assert shape is not None
        values = shape.fills(values * distance_scale)
    return times, np.clip(values, 0.0, 1.0), source


def _history_start(c: Container, lookback: timedelta) -> datetime:
    """Where a forecast's history starts: the last emptying when known, else ``lookback`` before the latest fill."""
    assert c.observed_at is not None
    if c.last_emptying is not None and c.last_emptying <= c.observed_at:
        return c.last_emptying
    return c.observed_at - lookback


@dataclass(frozen=True)
class HistoryForecast:
    """A forecast from a container's history: where the history started, how many samples, their source."""

    forecast: Forecast
    since: datetime
    samples: int
    source: str  # "fillingLevel", "distance" or "entity" (no observed history: the entity's value alone)
    rate_source: str  # "history", "meanSinceLastEmptying" or "none"


def _forecast_from_history(
    session: Session, tenant: str, c: Container, shape: Geometry | None, threshold: float, settings: WasteSettings,
    distance_scale: float, limit: int | None,
) -> HistoryForecast:
    """Forecast a container from its history since its last emptying.

    With fewer than two sample times since then, the rate is the mean since the last emptying
    (see :func:`_mean_rate`) when that is known. The emptyings are looked for in the hours whose
    summaries allow one (:func:`_emptying_scan`); only the samples since the last one are read in full.
    """
    assert c.fill is not None and c.observed_at is not None
    start = _history_start(c, timedelta(days=settings.forecast_lookback_days))
    # A short history is read whole (one query); a long one through the hourly summaries.
    short = _SHORT_HISTORY if limit is None else min(_SHORT_HISTORY, limit)
    times, values, source = fill_history(
        session, tenant, c, shape, to_us(start), None, distance_scale=distance_scale, limit=short + 1
    )
    fc, samples = None, len(times)
    if samples > short:
        scan = _emptying_scan(session, tenant, c, shape, to_us(start), distance_scale, limit)
        if scan is None:  # more samples than the server's limit: the series as far as the limit goes
            times, values, source = fill_history(
                session, tenant, c, shape, to_us(start), None, distance_scale=distance_scale, limit=limit
            )
            samples = len(times)
        else:
            samples, source, emptyings = scan
            since = emptyings[-1][0] if emptyings else to_us(start)
            times, values, _ = fill_history(session, tenant, c, shape, since, None, distance_scale=distance_scale)
            fc = forecast_since(times, values, threshold, from_us(since) if emptyings else None)
    if fc is None and samples:
        fc = forecast_arrays(times, values, threshold)
    if fc is None:  # a fill without observed history (e.g. written without observedAt)
        fc = forecast_arrays(np.array([to_us(c.observed_at)], dtype=np.int64), np.array([c.fill]), threshold)
        samples, source = 1, "entity"
    last_emptying = fc.last_emptying or (c.last_emptying if start == c.last_emptying else None)
    rate_source = "history"
    if fc.rate_per_day is None:
        mean = _mean_rate(c) if fc.last_emptying is None else None
        rate_source = "none" if mean is None else "meanSinceLastEmptying"
        predicted = fc.predicted_full_at
        if predicted is None and mean is not None and mean > 0:
            predicted = fc.observed_at + timedelta(days=(threshold - fc.current_fill) / mean)
        fc = Forecast(fc.current_fill, mean, predicted, last_emptying, fc.observed_at)
    elif last_emptying != fc.last_emptying:
        fc = Forecast(fc.current_fill, fc.rate_per_day, fc.predicted_full_at, last_emptying, fc.observed_at)
    return HistoryForecast(fc, start, samples, source, rate_source)


def _emptying_scan(
    session: Session, tenant: str, c: Container, shape: Geometry | None, start_us: int, distance_scale: float,
    limit: int | None, rule: EmptyingRule = EmptyingRule(),
) -> tuple[int, str, list[tuple[int, float, float, int]]] | None:
    """(samples since ``start_us``, their source, the emptyings among them) of a container's fill series,
    None when there are more samples than ``limit``.

    An emptying ends at a sample below ``rule.end_below`` lying ``rule.min_drop`` under a sample of the
    ``rule.max_duration`` before it: an hour can hold one only if its lowest fill is below the first and
    the highest fill of the hours reaching back that far exceeds it by the second. Those hours (with the
    hours before them, and the first ones after ``start_us``) are read raw, the others as summaries; the
    emptyings of the raw samples are then those of the whole series.
    """
    back = math.ceil(rule.max_duration / timedelta(hours=1))
    first_full = -(-start_us // HOUR_US) * HOUR_US
    sources = [("fillingLevel", lambda x: np.clip(x, 0.0, 1.0), False)]
    if shape is not None:
        sources.append(("distance", lambda x: np.clip(shape.fills(x * distance_scale), 0.0, 1.0), True))
    for term, to_fill, decreasing in sources:

        def usable(hours: HourlyRollup) -> np.ndarray:
            low, high = to_fill(hours.mn), to_fill(hours.mx)
            if decreasing:
                low, high = high, low
            reach = np.searchsorted(hours.hour, hours.hour - back * HOUR_US, side="left")
            index = np.arange(len(hours))
            candidate = (low < rule.end_below) & (window_max(high, reach, index + 1) - low >= rule.min_drop)
            marks = np.zeros(len(hours) + 1, dtype=np.int64)
            np.add.at(marks, reach[candidate], 1)
            np.add.at(marks, index[candidate] + 1, -1)
            return (np.cumsum(marks)[:-1] == 0) & (hours.hour >= first_full + back * HOUR_US)

        series = read_hybrid(session, tenant, c.id, term_iri(term), start_us, _FAR_US, dataset_id="",
                             usable=usable)
        if limit is not None and series.samples > limit:
            return None
        if series.samples:
            return series.samples, term, detect_emptyings_us(series.times, to_fill(series.values), rule)
    return 0, "fillingLevel", []


def _mean_rate(c: Container) -> float | None:
    """Mean fill rate per day since the last emptying, taking the container as empty then; None when unknown."""
    if c.fill is None or c.observed_at is None or c.last_emptying is None:
        return None
    days = (c.observed_at - c.last_emptying).total_seconds() / DAY_S
    return c.fill / days if days > 0 else None


def _fill_at(c: Container, rate: float, when: datetime) -> float:
    """The container's fill extrapolated at ``rate`` per day to ``when`` (not capped)."""
    assert c.fill is not None and c.observed_at is not None
    return c.fill + rate * max((when - c.observed_at).total_seconds(), 0.0) / DAY_S


def _parse_day(value: str, name: str) -> date:
    """A YYYY-MM-DD parameter."""
    try:
        if len(value.strip()) != 10:
            raise ValueError
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadRequestData(f"parameter '{name}' must be a date YYYY-MM-DD (e.g. 2026-11-25), got '{value[:40]}'") from None


def _local_midnight(day: date) -> datetime:
    """00:00 local time (Europe/Paris) on ``day``."""
    return datetime.combine(day, time(0, 0), tzinfo=PARIS)


def _rules(settings: WasteSettings) -> IncidentRules:
    """The incident detectors' thresholds from the settings."""
    return IncidentRules(
        overflow_for=timedelta(hours=settings.overflow_hours),
        high_fill=settings.high_fill,
        high_fill_for=timedelta(hours=settings.high_fill_hours),
        stuck_for=timedelta(hours=settings.stuck_hours),
        jump_rise=settings.jump_rise,
    )


def _statuses(
    session: Session, tenant: str, ids: Sequence[str], start: datetime, end: datetime,
) -> dict[str, list[tuple[datetime, str]]]:
    """Reported ``status`` values per container: the last one in the STATUS_CARRY_IN days before ``start``
    (dated ``start``), then the reports until ``end``."""
    if not ids:
        return {}
    attr = term_iri("status")
    rows = session.read_history(tenant, HistoryQuery(
        entity_ids=list(ids), attrs=[attr], start=format_ts(start - STATUS_CARRY_IN), end=format_ts(start), last_n=1,
    )) + session.read_history(
        tenant, HistoryQuery(entity_ids=list(ids), attrs=[attr], start=format_ts(start), end=format_ts(end))
    )
    out: dict[str, list[tuple[datetime, str]]] = {}
    for row in rows:
        value = row.instance.get("value")
        at = timestamp(row.observed_at)
        if row.deleted or row.dataset_id or at is None or not isinstance(value, str):
            continue
        out.setdefault(row.entity_id, []).append((max(at, start), value))
    return out


def _incidents_of(
    c: Container, fills: Arrays, readings: Arrays, peers: list[Arrays], statuses: list[tuple[datetime, str]],
    rules: IncidentRules,
) -> list[IncidentOut]:
    """Every incident of one container from its series (epoch µs and values)."""
    found: list[Incident] = []
    if fills[0].size:
        found += overflow_incidents_us(*fills, rules) + impossible_jump_incidents_us(*fills, rules)
    raw = readings if readings[0].size else fills
    if raw[0].size:
        found += stuck_sensor_incidents_us(*raw, peers, rules)
    found += reported_status_incidents(statuses)
    return [
        IncidentOut(id=c.id, kind=i.kind, started_at=i.started_at, ended_at=i.ended_at, detail=i.detail)
        for i in sorted(found, key=lambda i: (i.started_at, i.kind))
    ]


def build_router(settings: WasteSettings) -> APIRouter:
    """The waste API with the given settings."""
    router = APIRouter()
    kinds = sorted(settings.collection_days)
    rules = _rules(settings)

    @router.get(
        "/collection-plan", response_model=PlanOut, summary="Containers to empty on a collection day, as a round",
        description="Containers of one waste kind that are full, or predicted to reach their threshold before the "
        "next collection day of that kind (calendar: CALANQUE_WASTE_COLLECTION_DAYS), ordered as a round from the "
        "depot and back (nearest neighbour then 2-opt, great-circle distances). Each stop carries the fill predicted "
        "at 00:00 (Europe/Paris) on the collection day. The latest fill comes from the entities and the fill rate "
        "is the mean since the container's last emptying (dateLastEmptying, the container taken as empty then); "
        "the history since the last emptying is read, for a robust least-squares rate, only for containers whose "
        "last emptying is unknown or whose mean-rate prediction at the next collection lies within "
        "CALANQUE_WASTE_PLAN_HISTORY_BAND (default 0.1) of their threshold. 'rateSource' tells which rate a stop "
        "was predicted with.",
    )
    def plan(
        request: Request,
        date_: str = Query(..., alias="date", description="collection day, YYYY-MM-DD"),
        kind: str = Query(..., description=f"waste kind: {', '.join(kinds)}"),
        depot: str | None = Query(None, description="round start and end, 'longitude,latitude' (default: settings)"),
        threshold: float | None = Query(
            None, gt=0, le=1, description="fill ratio for every container (default: each container's "
            "binFullnessThreshold, else the settings' collection threshold)"),
    ) -> PlanOut:
        day = _parse_day(date_, "date")
        if kind not in settings.collection_days:
            raise BadRequestData(f"unknown waste kind '{kind[:40]}': use one of {', '.join(kinds)}")
        try:
            depot_lon_lat = parse_lon_lat(depot, "parameter 'depot'") if depot is not None else settings.depot_lon_lat()
        except ValueError as err:
            raise BadRequestData(str(err)) from None
        next_day = settings.next_collection(kind, day)
        at, next_at = _local_midnight(day), _local_midnight(next_day)
        tenant = tenant_of(request)
        limit = getattr(request.app.state.settings, "max_history_rows", None)
        estimates: list[Estimate] = []
        without_data: list[str] = []
        considered = history_reads = 0
        with store_of(request).session() as session:
            _check_tenant(session, tenant)
            models = load_models(session, tenant)
            for entity in entities_of_type(session, tenant, "WasteContainer"):
                c = container(entity, models)
                if c.kind != kind:
                    continue
                considered += 1
                if c.fill is None or c.observed_at is None:
                    without_data.append(c.id)
                    continue
                theta = threshold or c.threshold or settings.collection_threshold
                mean = _mean_rate(c)
                if c.fill >= theta or (
                    mean is not None and abs(_fill_at(c, mean, next_at) - theta) >= settings.plan_history_band
                ):
                    fc = Forecast(c.fill, mean, None, c.last_emptying, c.observed_at)
                    estimates.append(Estimate(c, fc, theta, "meanSinceLastEmptying" if mean is not None else "none"))
                    continue
                hf = _forecast_from_history(
                    session, tenant, c, models.get(c.model_id) if c.model_id else None, theta, settings,
                    _distance_scale(entity), limit,
                )
                history_reads += 1
                estimates.append(Estimate(c, hf.forecast, theta, hf.rate_source))
        by_id = {e.container.id: e for e in estimates}
        result = collection_plan(
            [ContainerState(e.container.id, e.container.lon_lat[1], e.container.lon_lat[0], e.forecast, e.threshold)
             for e in estimates if e.container.lon_lat is not None],
            at, next_at, threshold or settings.collection_threshold, (depot_lon_lat[1], depot_lon_lat[0]),
        )
        stops = []
        for n, stop in enumerate(result.stops, start=1):
            e = by_id[stop.container_id]
            stops.append(StopOut(
                order=n, id=stop.container_id, location=Point(lon=stop.lon, lat=stop.lat),
                fill=e.forecast.current_fill, observed_at=e.forecast.observed_at,
                last_emptying=e.forecast.last_emptying or e.container.last_emptying,
                rate_per_day=e.forecast.rate_per_day, rate_source=e.rate_source, threshold=e.threshold,
                predicted_fill=stop.predicted_fill, predicted_fill_at_next_collection=e.forecast.fill_at(next_at),
            ))
        unrouted = [
            UnroutedOut(id=e.container.id, fill=e.forecast.current_fill,
                        predicted_fill_at_next_collection=e.forecast.fill_at(next_at))
            for e in estimates
            if e.container.lon_lat is None and e.forecast.fill_at(next_at) >= e.threshold
        ]
        return PlanOut(
            date=day, kind=kind, next_collection_date=next_day, collection_at=at, next_collection_at=next_at,
            depot=Point(lon=depot_lon_lat[0], lat=depot_lon_lat[1]), threshold=threshold, containers=considered,
            history_reads=history_reads, selected=len(stops) + len(unrouted), length_km=result.length_km,
            nearest_neighbour_length_km=result.nearest_neighbour_length_km, stops=stops,
            selected_without_location=unrouted, without_data=without_data,
        )

    @router.get(
        "/fill-distribution", response_model=FillDistributionOut, summary="Latest fill of every container, as a histogram",
        description="Equal-width bins of the latest fill ratio over 0..1 (the last bin includes 1), the number of "
        "containers at or above their collection threshold (binFullnessThreshold, else the settings' threshold), "
        "the mean fill, and the waste kinds collected on 'date' (default today, Europe/Paris).",
    )
    def fill_distribution(
        request: Request,
        kind: str | None = Query(None, description=f"only containers of this waste kind: {', '.join(kinds)}"),
        bins: int = Query(10, ge=1, le=50, description="number of equal-width bins between 0 and 1"),
        date_: str | None = Query(None, alias="date", description="the day of the calendar, YYYY-MM-DD"),
    ) -> FillDistributionOut:
        if kind is not None and kind not in settings.collection_days:
            raise BadRequestData(f"unknown waste kind '{kind[:40]}': use one of {', '.join(kinds)}")
        day = _parse_day(date_, "date") if date_ is not None else datetime.now(PARIS).date()
        tenant = tenant_of(request)
        with store_of(request).session() as session:
            _check_tenant(session, tenant)
            models = load_models(session, tenant)
            found = [c for c in (container(e, models) for e in entities_of_type(session, tenant, "WasteContainer"))
                     if kind is None or c.kind == kind]
        fills = [(c.fill, c.threshold or settings.collection_threshold) for c in found if c.fill is not None]
        counts = [0] * bins
        for fill, _ in fills:
            counts[min(int(max(fill, 0.0) * bins), bins - 1)] += 1
        weekday = WEEKDAYS[day.weekday()]
        return FillDistributionOut(
            date=day, kind=kind, containers=len(found), with_fill=len(fills),
            at_threshold=sum(1 for fill, theta in fills if fill >= theta),
            mean_fill=sum(f for f, _ in fills) / len(fills) if fills else None,
            bins=[FillBinOut(from_=k / bins, to=(k + 1) / bins, count=n) for k, n in enumerate(counts)],
            collection_days=settings.collection_days,
            collected_on_date=[k for k in kinds if weekday in settings.collection_days[k]],
        )

    @router.get(
        "/incidents", response_model=IncidentsOut, summary="Incidents on every container in a period",
        description="Overflows (full for longer than CALANQUE_WASTE_OVERFLOW_HOURS), prolonged high fill, stuck "
        "readings (unchanged while a container of the same isle changed), impossible fill jumps, and containers "
        "reported moved or dropped (status). Default period: the last 7 days; at most "
        "CALANQUE_WASTE_FLEET_INCIDENT_DAYS days.",
    )
    def fleet_incidents(
        request: Request,
        from_: str | None = Query(None, alias="from", description="start (ISO 8601), default: 'to' minus 7 days"),
        to: str | None = Query(None, description="end, exclusive (ISO 8601), default: now"),
        kind: str | None = Query(None, description="only containers of this waste kind"),
    ) -> IncidentsOut:
        start, end = parse_window(from_, to, default=DEFAULT_INCIDENT_WINDOW,
                                  max_period=timedelta(days=settings.fleet_incident_days))
        if kind is not None and kind not in settings.collection_days:
            raise BadRequestData(f"unknown waste kind '{kind[:40]}': use one of {', '.join(kinds)}")
        tenant = tenant_of(request)
        with store_of(request).session() as session:
            _check_tenant(session, tenant)
            models = load_models(session, tenant)
            pairs = [(e, container(e, models)) for e in entities_of_type(session, tenant, "WasteContainer")]
            if kind is not None:
                pairs = [(e, c) for e, c in pairs if c.kind == kind]
            found = _incidents_over(session, tenant, pairs, models, start, end, rules)
        return IncidentsOut(from_=start, to=end, containers=len(pairs), incidents=found)

    @router.get(
        "/{entityId}/forecast", response_model=ForecastOut, summary="Fill forecast of one container",
        description="Current fill, fill rate per day since the last emptying (robust least squares over the "
        "history), and when the container reaches the threshold (the time it did if it already has).",
    )
    def container_forecast(
        request: Request,
        entityId: str,  # noqa: N803 - the path parameter's public name
        threshold: float | None = Query(
            None, gt=0, le=1, description="fill ratio (default: the container's binFullnessThreshold, else 0.8)"),
    ) -> ForecastOut:
        tenant, entity = load_entity(request, entityId, ("WasteContainer",))
        limit = getattr(request.app.state.settings, "max_history_rows", None)
        with store_of(request).session() as session:
            models = _model_of(session, tenant, entity)
            c = container(entity, models)
            if c.fill is None or c.observed_at is None:
                raise ResourceNotFound(
                    f"waste container '{entityId}' has no fillingLevel, nor a distance with a model geometry, "
                    "yet: nothing to forecast from"
                )
            theta = threshold or c.threshold or settings.collection_threshold
            hf = _forecast_from_history(
                session, tenant, c, models.get(c.model_id) if c.model_id else None, theta, settings,
                _distance_scale(entity), limit,
            )
        fc = hf.forecast
        return ForecastOut(
            id=entityId, threshold=theta, current_fill=fc.current_fill, observed_at=fc.observed_at,
            rate_per_day=fc.rate_per_day, rate_source=hf.rate_source, last_emptying=fc.last_emptying,
            predicted_full_at=fc.predicted_full_at, full=fc.current_fill >= theta, since=hf.since,
            samples=hf.samples, source=hf.source,
        )

    @router.get(
        "/{entityId}/incidents", response_model=IncidentsOut, summary="Incidents on one container in a period",
        description="The incidents of /incidents for one container; the period may be as long as the platform's "
        "indicator limit.",
    )
    def container_incidents(
        request: Request,
        entityId: str,  # noqa: N803 - the path parameter's public name
        from_: str | None = Query(None, alias="from", description="start (ISO 8601), default: 'to' minus 7 days"),
        to: str | None = Query(None, description="end, exclusive (ISO 8601), default: now"),
    ) -> IncidentsOut:
        start, end = parse_window(from_, to, default=DEFAULT_INCIDENT_WINDOW, max_period=max_period_of(request))
        tenant, entity = load_entity(request, entityId, ("WasteContainer",))
        with store_of(request).session() as session:
            models = load_models(session, tenant)
            c = container(entity, models)
            screen = _screen(session, tenant, entity, c, models, start, end, rules)
            if screen.full:
                pairs = [(entity, c)]
                if c.isle_id is not None:
                    pairs += [
                        (e, other) for e in entities_of_type(session, tenant, "WasteContainer")
                        if e["id"] != c.id and (other := container(e, models)).isle_id == c.isle_id
                    ]
                found = [i for i in _incidents_over(session, tenant, pairs, models, start, end, rules)
                         if i.id == c.id]
            else:  # reported statuses, and jumps where the screen found they may be
                found = _incidents_over(session, tenant, [(entity, c)], models, start, end, rules, series=False)
                if screen.jump_ranges and screen.to_fill is not None:
                    rows = session.read_series_in(tenant, c.id, term_iri(screen.term), list(screen.jump_ranges),
                                                  dataset_id="")
                    times = np.array([r[0] for r in rows], dtype=np.int64)
                    fills = screen.to_fill(np.array([r[1] for r in rows], dtype=np.float64))
                    found = sorted(found + [
                        IncidentOut(id=c.id, kind=i.kind, started_at=i.started_at, ended_at=i.ended_at, detail=i.detail)
                        for i in impossible_jump_incidents_us(times, fills, rules)
                    ], key=lambda i: (i.started_at, i.id, i.kind))
        return IncidentsOut(from_=start, to=end, containers=1, incidents=found)

    return router


def _model_of(session: Session, tenant: str, entity: dict) -> dict[str, Geometry | None]:
    """The geometry of the container's own model, keyed by its id (empty without a model)."""
    model_id = relationship(entity, "refWasteContainerModel")
    if model_id is None:
        return {}
    return {model_id: geometry(session.get_entity(tenant, model_id))}


def _incidents_over(
    session: Session, tenant: str, pairs: list[tuple[dict, Container]], models: dict[str, Geometry | None],
    start: datetime, end: datetime, rules: IncidentRules, *, series: bool = True,
) -> list[IncidentOut]:
    """Incidents of the given containers in [start, end); containers of one isle serve as each other's peers.

    Each series is read for every container at once, and the detectors work on arrays (``series=False``:
    the reported statuses only, the series being known to hold no incident).
    """
    s_us, e_us = to_us(start), to_us(end)
    # Only the series the entities have: raw distances (for stuck readings), and fills (stored, else derived).
    wanted = pairs if series else []
    distances = _series_of(session, tenant, [c.id for e, c in wanted if instance(e, "distance") is not None],
                           "distance", s_us, e_us)
    levels = _series_of(session, tenant, [c.id for e, c in wanted if instance(e, "fillingLevel") is not None],
                        "fillingLevel", s_us, e_us)
    fills: dict[str, Arrays] = {}
    readings: dict[str, Arrays] = {}
    for entity, c in pairs:
        readings[c.id] = distances.get(c.id, _NO_SERIES)
        shape = models.get(c.model_id) if c.model_id else None
        if instance(entity, "fillingLevel") is not None:
            t, v = levels.get(c.id, _NO_SERIES)
            fills[c.id] = (t, np.minimum(np.maximum(v, 0.0), 1.0))
        elif readings[c.id][0].size and shape is not None:
            t, d = readings[c.id]
            fills[c.id] = (t, shape.fills(d * _distance_scale(entity)))
        else:
            fills[c.id] = _NO_SERIES
    with_status = [c.id for entity, c in pairs if instance(entity, "status") is not None]
    statuses = _statuses(session, tenant, with_status, start, end)
    isles: dict[str, list[str]] = {}
    for _, c in pairs:
        if c.isle_id is not None:
            isles.setdefault(c.isle_id, []).append(c.id)
    found: list[IncidentOut] = []
    for _, c in pairs:
        peers = [readings[p] if readings[p][0].size else fills[p] for p in isles.get(c.isle_id or "", []) if p != c.id]
        found += _incidents_of(c, fills[c.id], readings[c.id], peers, statuses.get(c.id, []), rules)
    return sorted(found, key=lambda i: (i.started_at, i.id, i.kind))


_NO_SERIES: Arrays = (np.empty(0, dtype=np.int64), np.empty(0))


@dataclass(frozen=True)
class _Screen:
    """What a container's hourly summaries tell of its incidents: whether its series must be read in full
    (an overflow, a prolonged high fill or a stuck reading may be there), else the only stretches of its
    fill series (``term`` read through ``to_fill``) where an impossible jump may be."""

    full: bool
    term: str = "fillingLevel"
    to_fill: Callable[[np.ndarray], np.ndarray] | None = None
    jump_ranges: tuple[tuple[int, int], ...] = ()


def _screen(session: Session, tenant: str, entity: dict, c: Container, models: dict[str, Geometry | None],
            start: datetime, end: datetime, rules: IncidentRules) -> _Screen:
    """Screen a container's series for incidents in [start, end) from the lowest and highest value of each
    hour (the store's hourly summaries, and the raw samples of the partial hours).

    An overflow or a high fill needs an hour reaching the lower of the two fills; a stuck reading, a run of
    hours each within twice the tolerance (the run's own samples) between two hours further apart than the
    stuck duration. A jump needs an hour rising above the lowest fill of the hours its window reaches back
    to by more than the allowed rise: only those hours and the ones before them are read, and the jumps
    found there are those of the whole series (every window lies in them).
    """
    s_us, e_us = to_us(start), to_us(end)
    shape = models.get(c.model_id) if c.model_id else None
    readings = None
    if instance(entity, "distance") is not None:
        readings = _hour_ranges(session, tenant, c.id, "distance", s_us, e_us, lambda x: x, False)
    term, to_fill = "fillingLevel", None
    fills = (np.empty(0, dtype=np.int64), np.empty(0), np.empty(0))
    if instance(entity, "fillingLevel") is not None:
        to_fill = lambda x: np.minimum(np.maximum(x, 0.0), 1.0)  # noqa: E731
        fills = _hour_ranges(session, tenant, c.id, term, s_us, e_us, to_fill, False)
    elif readings is not None and readings[0].size and shape is not None:
        scale = _distance_scale(entity)
        term, to_fill = "distance", lambda x: shape.fills(x * scale)
        fills = _hour_ranges(session, tenant, c.id, term, s_us, e_us, to_fill, True)
    stuck_on = readings if readings is not None and readings[0].size else fills
    hour, low, high = stuck_on
    if hour.size:
        flat = high - low <= 2 * rules.stuck_tolerance
        bumps = np.flatnonzero(~flat)  # a run can reach from an hour up to the first uneven hour after it
        after = np.searchsorted(bumps, np.arange(hour.size), side="right")
        reach = (np.where(after < bumps.size, bumps[np.minimum(after, bumps.size - 1)], hour.size - 1)
                 if bumps.size else np.full(hour.size, hour.size - 1))
        if ((hour[reach] + HOUR_US - hour) > rules.stuck_for // timedelta(microseconds=1)).any():
            return _Screen(full=True)
    hour, low, high = fills
    if not hour.size:
        return _Screen(full=False)
    if float(high.max()) >= min(1.0 - rules.overflow_epsilon, rules.high_fill):
        return _Screen(full=True)
    back = math.ceil(rules.jump_within / timedelta(hours=1))
    reach = np.searchsorted(hour, hour - back * HOUR_US, side="left")
    index = np.arange(hour.size)
    rising = np.flatnonzero(high + window_max(-low, reach, index + 1) > rules.jump_rise)
    marks = np.zeros(hour.size + 1, dtype=np.int64)
    np.add.at(marks, reach[rising], 1)
    np.add.at(marks, rising + 1, -1)
    ranges: list[tuple[int, int]] = []
    for h in hour[np.cumsum(marks)[:-1] > 0].tolist():
        a, b = max(h, s_us), min(h + HOUR_US, e_us)
        if ranges and ranges[-1][1] == a:
            ranges[-1] = (ranges[-1][0], b)
        else:
            ranges.append((a, b))
    return _Screen(full=False, term=term, to_fill=to_fill, jump_ranges=tuple(ranges))


def _hour_ranges(session: Session, tenant: str, entity_id: str, term: str, start_us: int, end_us: int,
                 to_value: Callable[[np.ndarray], np.ndarray], decreasing: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hour, lowest, highest value) of every hour of [start, end) holding samples of ``term``, after
    ``to_value`` (monotonic; ``decreasing`` when it reverses the order), from the hourly summaries and the
    raw samples of the partial hours."""
    series = read_hybrid(session, tenant, entity_id, term_iri(term), start_us, end_us, dataset_id="")
    h = series.hours
    low, high = to_value(h.mn), to_value(h.mx)
    if decreasing:
        low, high = high, low
    hours, lows, highs = [h.hour], [low], [high]
    if series.times.size:
        values = to_value(series.values)
        own = series.times - series.times % HOUR_US
        starts = np.flatnonzero(np.concatenate(([True], own[1:] != own[:-1])))
        hours.append(own[starts])
        lows.append(np.minimum.reduceat(values, starts))
        highs.append(np.maximum.reduceat(values, starts))
    hour = np.concatenate(hours)
    order = np.argsort(hour, kind="stable")
    return hour[order], np.concatenate(lows)[order], np.concatenate(highs)[order]


def _series_of(session: Session, tenant: str, ids: list[str], term: str, start_us: int, end_us: int
               ) -> dict[str, Arrays]:
    """The default-instance series of attribute ``term`` of several entities in [start, end), as arrays."""
    if not ids:
        return {}
    rows = session.read_series_of(tenant, ids, term_iri(term), start_us, end_us, dataset_id="")
    if not rows:
        return {}
    n = len(rows)
    times = np.fromiter(map(itemgetter(1), rows), dtype=np.int64, count=n)
    numbers = np.fromiter(map(itemgetter(2), rows), dtype=np.float64, count=n)
    owners = list(map(itemgetter(0), rows))
    changes = np.fromiter(map(ne, owners[1:], owners[:-1]), dtype=bool, count=n - 1)
    bounds = [0, *(np.flatnonzero(changes) + 1).tolist(), n]
    out: dict[str, Arrays] = {}
    for a, b in zip(bounds, bounds[1:]):
        out[owners[a]] = (times[a:b], numbers[a:b])
    return out

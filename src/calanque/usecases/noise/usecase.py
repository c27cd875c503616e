"""Noise use case: environmental noise indicators of NoiseLevelObserved sensors, over HTTP.

Endpoints (mounted under ``/api/v1/noise``), all computed from the stored ``LAeq`` history
with :mod:`calanque.usecases.noise.indicators`:

* ``GET /{entityId}/indicators?from=…&to=…&periods=fr|eu`` — LAeq, Lday, Levening, Lnight,
  Lden, L10/L50/L90 (dB(A)), sample count, coverage and exceedances over a period;
* ``GET /{entityId}/daily?from=YYYY-MM-DD&to=YYYY-MM-DD`` — one row of indicators per local date;
* ``GET /{entityId}/hourly?from=…&to=…`` — LAeq per hour (by default the last 24 hours);
* ``GET /observatory?date=YYYY-MM-DD`` — the daily Lden and Lnight of every sensor of the
  tenant with exceedance flags, for dashboards.

Following docs/data-conventions.md, the sample observed at t covers the entity's
``measurementPeriod`` (seconds, default 600) ending at t (:meth:`Samples.ending_at`). The
thresholds default to the WHO Environmental Noise Guidelines for the European Region (2018)
road-traffic values and can be overridden per request (``lden``, ``lnight``).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Query, Request

from calanque.ngsild.api.http import tenant_of
from calanque.ngsild.canonical import format_ts
from calanque.ngsild.errors import BadRequestData, NonexistentTenant, TooManyResults
from calanque.store.base import EntityQuery, HourlyRollup
from calanque.usecases import common, hourly
from calanque.usecases.noise import indicators as ind
from calanque.usecases.registry import Dashboard, Indicator, MapContext, MapState, Publication, Threshold, UseCase

ENTITY_TYPE = "NoiseLevelObserved"
LEVEL_ATTR = "LAeq"
DEFAULT_MEASUREMENT_PERIOD_S = 600.0
DEFAULT_LDEN_DB = 53.0
DEFAULT_LNIGHT_DB = 45.0
_WHO_2018 = "WHO Environmental Noise Guidelines for the European Region (2018), road traffic"
_PERIODS_HELP = ("Period scheme: 'fr' (day 06-18, evening 18-22, night 22-06, French noise maps) or 'eu' "
                 "(07-19, 19-23, 23-07, Directive 2002/49/EC default).")


def _periods(value: str) -> ind.PeriodScheme:
    """Validate the ``periods`` parameter."""
    if value not in ind.PERIOD_SCHEMES:
        raise BadRequestData("parameter 'periods' must be 'fr' (day 06-18, evening 18-22, night 22-06) "
                             f"or 'eu' (07-19, 19-23, 23-07), got '{value[:20]}'")
    return value  # type: ignore[return-value]


def _tz(value: str) -> str:
    """Validate the ``tz`` parameter (an IANA time-zone name)."""
    try:
        ind.time_zone(value)
    except ValueError:
        raise BadRequestData(f"parameter 'tz' must be an IANA time-zone name such as Europe/Paris, "
                             f"got '{value[:60]}'") from None
    return value


def _threshold(value: float | None, default: float, name: str) -> float:
    """A threshold parameter in dB, or its default."""
    if value is None:
        return default
    if not math.isfinite(value) or not 0 <= value <= 200:
        raise BadRequestData(f"parameter '{name}' must be a level in dB between 0 and 200, got {value}")
    return value


def _property_value(entity: dict, term: str) -> Any:
    """The value of the default instance of a Property, or None."""
    for instance in entity.get("attrs", {}).get(common.term_iri(term), []):
        if "datasetId" not in instance:
            return instance.get("value")
    return None


def measurement_period(entity: dict) -> float:
    """The entity's ``measurementPeriod`` in seconds (default 600); 400 when it is not a positive number."""
    value = _property_value(entity, "measurementPeriod")
    if value is None:
        return DEFAULT_MEASUREMENT_PERIOD_S
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86_400:
        raise BadRequestData(f"entity '{entity['id']}' has measurementPeriod {value!r}; it must be the "
                             "sensor's reporting period in seconds (a number in (0, 86400]): fix the entity")
    return float(value)


def _samples(request: Request, tenant: str, entity: dict, start: datetime, end: datetime,
             periods: ind.PeriodScheme, tz: str) -> ind.Samples:
    """The LAeq samples whose integration period overlaps [start, end).

    Whole hours are read as the store's hourly summaries (:mod:`calanque.usecases.hourly`) when
    they kept their level histogram, no step between their samples is longer than the period and no
    day/evening/night boundary falls inside them (zones with offsets in whole hours: none does);
    the rest as raw samples. The indicators are those of the raw samples.
    """
    period = measurement_period(entity)
    # A sample stamped t covers [t - period, t): those ending in (start, end + period] can overlap.
    lo, hi = common.to_us(start), common.to_us(end + timedelta(seconds=period, microseconds=1))
    zone = ind.time_zone(tz)
    cuts = np.concatenate(([lo, hi], ind.period_cuts(start.astimezone(zone).date() - timedelta(days=2),
                                                      end.astimezone(zone).date() + timedelta(days=2), periods, tz)))

    def usable(hours: HourlyRollup) -> np.ndarray:
        return hourly.with_hist(hours) & (hours.dmax <= period * 1e6) & ~hourly.crossing(hours, cuts)

    with common.store_of(request).session() as session:
        series = hourly.read_hybrid(session, tenant, entity["id"], common.term_iri(LEVEL_ATTR), lo, hi,
                                    dataset_id="", usable=usable, hist=True)
    limit = getattr(request.app.state.settings, "max_history_rows", None)
    if limit is not None and series.samples >= limit:
        raise TooManyResults(f"the period holds {limit} or more LAeq samples of '{entity['id']}', the "
                             "configured limit (max_history_rows); ask for a shorter period")
    hours = series.hours
    owner, levels, spent = hourly.hist_entries(hours)
    return ind.Samples.ending_at_hourly(series.times, series.values, period, first_us=hours.t0,
                                        first_levels=hours.v0, last_us=hours.t1, n=hours.n, owner=owner,
                                        hist_levels=levels, hist_us=spent)


def _local_day(value: str, name: str, zone: str) -> date:
    """A local date given as YYYY-MM-DD, or the local date of an ISO 8601 date-time."""
    text = value.strip()
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise BadRequestData(f"parameter '{name}' is not a date: '{text}' (e.g. 2026-11-25)") from None
    return common.parse_time(text, name).astimezone(ind.time_zone(zone)).date()


def _days(request: Request, start: str | None, end: str | None, tz: str) -> tuple[date, date]:
    """The [from, to) local dates of a daily request, by default the last 7; 400 if reversed or too long."""
    today = datetime.now(UTC).astimezone(ind.time_zone(tz)).date()
    last = _local_day(end, "to", tz) if end else today
    first = _local_day(start, "from", tz) if start else last - timedelta(days=7)
    if first >= last:
        raise BadRequestData(f"'from' ({first.isoformat()}) must be before 'to' ({last.isoformat()}); "
                             "'to' is excluded")
    limit = common.max_period_of(request)
    if last - first > limit:
        raise BadRequestData(f"the period from {first.isoformat()} to {last.isoformat()} is longer than the "
                             f"configured limit of {limit.days} days; ask for a shorter period")
    return first, last


def _flag(value: float | None, threshold: float) -> bool | None:
    """Whether a level is strictly above its threshold (None without a level)."""
    return None if value is None else value > threshold


def _cycle(day: date, last: date, periods: ind.PeriodScheme, tz: str) -> tuple[datetime, datetime]:
    """UTC start of ``day``'s day period and end of ``last``'s night."""
    return ind.period_bounds(day, periods, tz)["day"][0], ind.period_bounds(last, periods, tz)["night"][1]


def indicators_endpoint(request: Request, entity_id: str, start: str | None, end: str | None, periods: str,
                        tz: str, lden: float | None, lnight: float | None) -> dict[str, Any]:
    """The noise indicators of one sensor over [from, to)."""
    scheme, zone = _periods(periods), _tz(tz)
    thresholds = {"Lden": _threshold(lden, DEFAULT_LDEN_DB, "lden"),
                  "Lnight": _threshold(lnight, DEFAULT_LNIGHT_DB, "lnight")}
    window = common.parse_window(start, end, default=timedelta(days=1),
                                 max_period=common.max_period_of(request))
    tenant, entity = common.load_entity(request, entity_id, (ENTITY_TYPE,))
    samples = _samples(request, tenant, entity, *window, scheme, zone)
    report = ind.lden_report(samples, window[0], window[1], scheme, zone)
    daily = report.pop("daily")
    return {
        "entityId": entity_id,
        "unit": "dB(A)",
        "measurementPeriod": measurement_period(entity),
        **report,
        "thresholds": thresholds,
        "exceedances": ind.exceedances(daily, thresholds["Lden"], thresholds["Lnight"]),
    }


MAX_HOURLY_PERIOD = timedelta(days=7)


def hourly_endpoint(request: Request, entity_id: str, start: str | None, end: str | None) -> dict[str, Any]:
    """Hourly LAeq of one sensor over [from, to): by default the 24 hours up to the end of the current hour."""
    now = datetime.now(UTC)
    next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    window = common.parse_window(start, end, default=timedelta(hours=24), max_period=MAX_HOURLY_PERIOD,
                                 now=next_hour)
    tenant, entity = common.load_entity(request, entity_id, (ENTITY_TYPE,))
    # whole UTC hours: the French periods in Paris time only decide which hourly summaries are usable
    samples = _samples(request, tenant, entity, *window, _periods("fr"), _tz("Europe/Paris"))
    hours = ind.hourly_levels(samples, *window)
    return {
        "entityId": entity_id,
        "unit": "dB(A)",
        "measurementPeriod": measurement_period(entity),
        "from": format_ts(window[0]),
        "to": format_ts(window[1]),
        "LAeq": ind.laeq(samples, *window),
        "hours": hours,
    }


def daily_endpoint(request: Request, entity_id: str, start: str | None, end: str | None, periods: str,
                   tz: str, lden: float | None, lnight: float | None) -> dict[str, Any]:
    """One row of noise indicators per local date in [from, to) for one sensor."""
    scheme, zone = _periods(periods), _tz(tz)
    thresholds = {"Lden": _threshold(lden, DEFAULT_LDEN_DB, "lden"),
                  "Lnight": _threshold(lnight, DEFAULT_LNIGHT_DB, "lnight")}
    first, last = _days(request, start, end, zone)
    tenant, entity = common.load_entity(request, entity_id, (ENTITY_TYPE,))
    samples = _samples(request, tenant, entity, *_cycle(first, last - timedelta(days=1), scheme, zone), scheme, zone)
    rows = ind.daily_indicators(samples, first, last - timedelta(days=1), scheme, zone)
    for row in rows:
        row["lden_exceeds"] = _flag(row["Lden"], thresholds["Lden"])
        row["lnight_exceeds"] = _flag(row["Lnight"], thresholds["Lnight"])
    return {
        "entityId": entity_id,
        "unit": "dB(A)",
        "measurementPeriod": measurement_period(entity),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "periods": scheme,
        "tz": zone,
        "thresholds": thresholds,
        "days": rows,
        "exceedances": ind.exceedances(rows, thresholds["Lden"], thresholds["Lnight"]),
    }


def observatory_endpoint(request: Request, day: str | None, periods: str, tz: str, lden: float | None,
                         lnight: float | None, limit: int, offset: int) -> dict[str, Any]:
    """Daily Lden and Lnight of every noise sensor of the tenant for one local date, with exceedance flags."""
    scheme, zone = _periods(periods), _tz(tz)
    thresholds = {"Lden": _threshold(lden, DEFAULT_LDEN_DB, "lden"),
                  "Lnight": _threshold(lnight, DEFAULT_LNIGHT_DB, "lnight")}
    when = (_local_day(day, "date", zone) if day
            else datetime.now(UTC).astimezone(ind.time_zone(zone)).date() - timedelta(days=1))
    max_limit = getattr(request.app.state.settings, "max_limit", 1000)
    if not 1 <= limit <= max_limit:
        raise BadRequestData(f"parameter 'limit' must be between 1 and {max_limit}, got {limit}")
    if offset < 0:
        raise BadRequestData(f"parameter 'offset' must be 0 or more, got {offset}")
    tenant = tenant_of(request)
    store = common.store_of(request)
    with store.session() as session:
        if not session.tenant_exists(tenant):
            raise NonexistentTenant(f"tenant '{tenant}' does not exist")
        sensors, total = session.query_entities(tenant, EntityQuery(
            type_iris=[common.term_iri(ENTITY_TYPE)], limit=limit, offset=offset, count=True))
    start, end = _cycle(when, when, scheme, zone)
    rows = []
    for entity in sensors:
        row: dict[str, Any] = {"entityId": entity["id"], "name": _property_value(entity, "name")}
        location = entity.get("attrs", {}).get(common.term_iri("location"))
        row["location"] = location[0].get("value") if location else None
        try:
            samples = _samples(request, tenant, entity, start, end, scheme, zone)
        except (BadRequestData, TooManyResults) as err:
            rows.append({**row, "error": err.detail})
            continue
        (daily,) = ind.daily_indicators(samples, when, when, scheme, zone)
        row.update({key: daily[key] for key in ("Lden", "Lday", "Levening", "Lnight", "LAeq", "coverage",
                                                 "lden_reason")})
        row["lden_exceeds"] = _flag(daily["Lden"], thresholds["Lden"])
        row["lnight_exceeds"] = _flag(daily["Lnight"], thresholds["Lnight"])
        rows.append(row)
    return {
        "date": when.isoformat(),
        "start": format_ts(start),
        "end": format_ts(end),
        "periods": scheme,
        "tz": zone,
        "unit": "dB(A)",
        "thresholds": thresholds,
        "count": total,
        "summary": {
            "sensors": len(rows),
            "withLden": sum(1 for r in rows if r.get("Lden") is not None),
            "ldenExceedances": sum(1 for r in rows if r.get("lden_exceeds")),
            "lnightExceedances": sum(1 for r in rows if r.get("lnight_exceeds")),
        },
        "sensors": rows,
    }


_FROM = Query(None, alias="from", description="Start (ISO 8601 date-time, or a date taken as 00:00 UTC).")
_PERIODS = Query("fr", description=_PERIODS_HELP)
_TZ = Query("Europe/Paris", description="IANA time zone of the periods.")
_LDEN = Query(None, description=f"Lden threshold in dB (default {DEFAULT_LDEN_DB:g}, {_WHO_2018}).")
_LNIGHT = Query(None, description=f"Lnight threshold in dB (default {DEFAULT_LNIGHT_DB:g}, {_WHO_2018}).")


def router() -> APIRouter:
    """The noise API, mounted at /api/v1/noise."""
    api = APIRouter()

    @api.get("/observatory", summary="Daily Lden and Lnight of every noise sensor, with exceedance flags")
    def observatory(
        request: Request,
        date_: str | None = Query(None, alias="date",
                                  description="Local date (YYYY-MM-DD). Default: yesterday."),
        periods: str = _PERIODS, tz: str = _TZ, lden: float | None = _LDEN, lnight: float | None = _LNIGHT,
        limit: int = Query(100, description="Sensors per page."),
        offset: int = Query(0, description="Page offset."),
    ) -> dict[str, Any]:
        """Daily Lden and Lnight of every NoiseLevelObserved sensor of the tenant for one date."""
        return observatory_endpoint(request, date_, periods, tz, lden, lnight, limit, offset)

    @api.get("/{entityId}/indicators", summary="Noise indicators of one sensor over a period")
    def indicators(
        request: Request, entityId: str, start: str | None = _FROM,
        end: str | None = Query(None, alias="to", description="End, excluded (ISO 8601). "
                                "Default: now; the default period is 24 h."),
        periods: str = _PERIODS, tz: str = _TZ, lden: float | None = _LDEN, lnight: float | None = _LNIGHT,
    ) -> dict[str, Any]:
        """LAeq, Lday, Levening, Lnight, Lden, L10/L50/L90 (dB(A)), samples, coverage and exceedances."""
        return indicators_endpoint(request, entityId, start, end, periods, tz, lden, lnight)

    @api.get("/{entityId}/hourly", summary="Hourly LAeq of one sensor (its 24-hour profile)")
    def hourly(
        request: Request, entityId: str, start: str | None = _FROM,
        end: str | None = Query(None, alias="to", description="End, excluded (ISO 8601). Default: the end of "
                                "the current hour; the default period is 24 h, the longest 7 days."),
    ) -> dict[str, Any]:
        """One LAeq (dB(A), energy average) and coverage per hour from 'from'; hours without data are null."""
        return hourly_endpoint(request, entityId, start, end)

    @api.get("/{entityId}/daily", summary="Daily noise indicators of one sensor")
    def daily(
        request: Request, entityId: str,
        start: str | None = Query(None, alias="from", description="First local date (YYYY-MM-DD). "
                                  "Default: 7 days before 'to'."),
        end: str | None = Query(None, alias="to", description="Local date after the last one (excluded). "
                                "Default: today."),
        periods: str = _PERIODS, tz: str = _TZ, lden: float | None = _LDEN, lnight: float | None = _LNIGHT,
    ) -> dict[str, Any]:
        """One row per local date: Lday, Levening, Lnight, Lden, LAeq, L10/L50/L90, coverage, flags."""
        return daily_endpoint(request, entityId, start, end, periods, tz, lden, lnight)

    return api


def _map_state(entity: dict, ctx: MapContext) -> MapState | None:
    """How an asset shows on the home map (:mod:`calanque.usecases.noise.mapstate`, imported when first used)."""
    from calanque.usecases.noise.mapstate import map_state

    return map_state(entity, ctx)


USECASE = UseCase(
    name="noise",
    title="Noise",
    description="Environmental noise indicators (LAeq, Lday, Levening, Lnight, Lden, L10/L50/L90) computed "
                "from the LAeq history of noise sensors, with exceedances of the WHO 2018 guideline values.",
    entity_types=(ENTITY_TYPE,),
    device_models=("milesight-ws302",),
    indicators=(
        Indicator("LAeq", "Equivalent continuous A-weighted level over the period", "dB(A)",
                  "/{entityId}/indicators"),
        Indicator("Lday", "LAeq of the day periods (06-18 fr, 07-19 eu)", "dB(A)", "/{entityId}/indicators"),
        Indicator("Levening", "LAeq of the evening periods (18-22 fr, 19-23 eu)", "dB(A)",
                  "/{entityId}/indicators"),
        Indicator("Lnight", "LAeq of the night periods (22-06 fr, 23-07 eu)", "dB(A)",
                  "/{entityId}/indicators"),
        Indicator("Lden", "Day-evening-night level, Directive 2002/49/EC Annex I", "dB(A)",
                  "/{entityId}/indicators"),
        Indicator("L10", "Level exceeded 10 % of the time", "dB(A)", "/{entityId}/indicators"),
        Indicator("L50", "Level exceeded 50 % of the time", "dB(A)", "/{entityId}/indicators"),
        Indicator("L90", "Level exceeded 90 % of the time (background noise)", "dB(A)",
                  "/{entityId}/indicators"),
        Indicator("daily", "Daily series of the indicators, per local date", "dB(A)", "/{entityId}/daily"),
        Indicator("hourly", "LAeq of each hour: a sensor's 24-hour profile", "dB(A)", "/{entityId}/hourly"),
        Indicator("observatory", "Daily Lden and Lnight of every sensor with exceedance flags", "dB(A)",
                  "/observatory"),
    ),
    thresholds=(
        Threshold("Lden", DEFAULT_LDEN_DB, "dB(A)", f"{_WHO_2018}: Lden guideline value"),
        Threshold("Lnight", DEFAULT_LNIGHT_DB, "dB(A)", f"{_WHO_2018}: Lnight guideline value"),
    ),
    # noise levels are public by default; the sensor's device link and site stay private
    publishes=(Publication(ENTITY_TYPE, ("location", "name", "address", "municipalityCode", LEVEL_ATTR, "LAmax", "measurementPeriod")),),
    public_paths=("/observatory", "/{entityId}/indicators", "/{entityId}/daily"),
    router=router,
    map_state=_map_state,
    dashboard=Dashboard(folder=Path(__file__).parent / "dashboard"),
)

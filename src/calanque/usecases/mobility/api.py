"""HTTP API of the mobility use case, mounted at /api/v1/mobility.

Counts of one counter (``{counterId}`` is the id of a ``TrafficFlowObserved`` or
``CrowdFlowObserved`` entity) read from its history with
:func:`calanque.usecases.mobility.counters.read_samples` and computed by
:mod:`calanque.usecases.mobility.counts`:

* ``GET /{counterId}/counts?from=…&to=…&step=hour|day|week|month`` — per direction and total;
* ``GET /{counterId}/profile?from=…&to=…`` — average hourly count per weekday and hour;
* ``GET /{counterId}/summary?at=…`` — year to date, year on year, busiest hour and day;
* ``GET /{counterId}/display?at=…`` — what a street totem shows (public, cacheable 60 s);

and the national open-data exchange "comptage des mobilités" (:mod:`.exchange`):

* ``GET /export/site.csv``, ``/export/channel.csv``, ``/export/measure.csv?from=…&to=…``;
* ``POST /import`` with a JSON body ``{"site": "<CSV text>", "channel": "…", "measure": "…"}``.

Every count is a number of passages; buckets without data have ``total`` null. Times are
given in the ``tz`` time zone (default Europe/Paris). Errors are ProblemDetails.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from calanque.ngsild.api.http import json_response, only_params, tenant_of
from calanque.ngsild.errors import BadRequestData, NonexistentTenant
from calanque.usecases import common
from calanque.usecases.mobility import counts as ct
from calanque.usecases.mobility import exchange
from calanque.usecases.mobility.counters import COUNTER_TYPES, Counter, CounterError, counter_of, read_samples

DEFAULT_COUNTS_PERIOD = timedelta(days=7)
DEFAULT_PROFILE_PERIOD = timedelta(days=365)
DEFAULT_EXPORT_PERIOD = timedelta(days=30)
DISPLAY_MAX_AGE_S = 60

_FROM = Query(None, alias="from", description="Start, included (ISO 8601 date-time, or a date taken as 00:00 UTC).")
_TZ = Query(ct.DEFAULT_TZ, description="IANA time zone of the calendar (days, weeks, months, hours).")
_AT = Query(None, description="The moment to report at (ISO 8601). Default: now.")


def _tz(value: str) -> str:
    """Validate the ``tz`` parameter (an IANA time-zone name)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequestData(
            f"parameter 'tz' must be an IANA time-zone name such as Europe/Paris, got '{value[:60]}'"
        ) from None
    return value


def _step(value: str) -> ct.Step:
    """Validate the ``step`` parameter."""
    if value not in ct.STEPS:
        raise BadRequestData(f"parameter 'step' must be one of {', '.join(ct.STEPS)}, got '{value[:20]}'")
    return value  # type: ignore[return-value]


def _at(value: str | None) -> datetime:
    """The ``at`` parameter, default now."""
    return common.parse_time(value, "at") if value else datetime.now(UTC)


def _counter(request: Request, counter_id: str) -> tuple[str, Counter]:
    """The tenant and the counter named in the URL; 404 when absent, 400 when not a counter."""
    tenant, entity = common.load_entity(request, counter_id, COUNTER_TYPES)
    try:
        return tenant, counter_of(entity)
    except CounterError as err:
        raise BadRequestData(str(err)) from None


def _records(
    request: Request, tenant: str, counter: Counter, start: datetime, end: datetime
) -> tuple[ct.CountArrays, int]:
    """The counter's records overlapping [start, end) and the number of negative samples left out."""
    limit = getattr(request.app.state.settings, "max_history_rows", None)
    samples = read_samples(common.store_of(request), tenant, counter, start, end, limit=limit)
    return samples.arrays(counter.period_s), samples.ignored


def _head(counter: Counter, zone: str) -> dict[str, Any]:
    """The members every counter answer starts with."""
    return {
        "counterId": counter.id,
        "type": counter.type,
        "attribute": counter.attribute,
        "name": counter.name,
        "measurementPeriod": counter.period_s,
        "directions": [name for name, _ in counter.directions],
        "tz": zone,
    }


def _local(moment: datetime, zone: str) -> datetime:
    """A moment in the answer's time zone."""
    return moment.astimezone(ZoneInfo(zone))


def counts_endpoint(
    request: Request, counter_id: str, start: str | None, end: str | None, step: str, tz: str
) -> Response:
    """Counts per direction and in total for each calendar bucket of [from, to)."""
    only_params(request, {"from", "to", "step", "tz"})
    zone, bucket = _tz(tz), _step(step)
    window = common.parse_window(start, end, default=DEFAULT_COUNTS_PERIOD, max_period=common.max_period_of(request))
    tenant, counter = _counter(request, counter_id)
    records, ignored = _records(request, tenant, counter, *window)
    buckets = ct.aggregate(records, window[0], window[1], bucket, zone)
    totals = [b["total"] for b in buckets if b["total"] is not None]
    return json_response({
        **_head(counter, zone),
        "from": _local(window[0], zone),
        "to": _local(window[1], zone),
        "step": bucket,
        "total": math.fsum(totals) if totals else None,
        "ignoredSamples": ignored,
        "buckets": buckets,
    })


def profile_endpoint(request: Request, counter_id: str, start: str | None, end: str | None, tz: str) -> Response:
    """Average hourly count (all directions) per local weekday and hour over [from, to)."""
    only_params(request, {"from", "to", "tz"})
    zone = _tz(tz)
    limit = common.max_period_of(request)
    window = common.parse_window(start, end, default=min(DEFAULT_PROFILE_PERIOD, limit), max_period=limit)
    tenant, counter = _counter(request, counter_id)
    records, ignored = _records(request, tenant, counter, *window)
    return json_response({
        **_head(counter, zone),
        "from": _local(window[0], zone),
        "to": _local(window[1], zone),
        "ignoredSamples": ignored,
        "cells": ct.weekday_hour_profile(records, window[0], window[1], zone),
    })


def summary_endpoint(request: Request, counter_id: str, at: str | None, tz: str) -> Response:
    """Year to date, year on year and the busiest hour and day of the year so far."""
    only_params(request, {"at", "tz"})
    zone, now = _tz(tz), _at(at)
    tenant, counter = _counter(request, counter_id)
    local = now.astimezone(ZoneInfo(zone))
    year_start = datetime(local.year, 1, 1, tzinfo=ZoneInfo(zone))
    previous_start = datetime(local.year - 1, 1, 1, tzinfo=ZoneInfo(zone))
    records, ignored = _records(request, tenant, counter, previous_start, now)
    comparison = ct.year_on_year(records, now, zone)
    busiest = ct.busiest(records, year_start, now, zone) if now > year_start else {"hour": None, "day": None}
    return json_response({
        **_head(counter, zone),
        "at": _local(now, zone),
        "ignoredSamples": ignored,
        "yearToDate": comparison["current"],
        "yearOnYear": {
            "current": comparison["current"],
            "previous": comparison["previous"],
            "changePercent": comparison["change_percent"],
            "currentStart": comparison["current_start"],
            "currentEnd": comparison["current_end"],
            "previousStart": comparison["previous_start"],
            "previousEnd": comparison["previous_end"],
        },
        "busiestHour": busiest["hour"],
        "busiestDay": busiest["day"],
    })


def display_endpoint(request: Request, counter_id: str, at: str | None, tz: str) -> Response:
    """Today's count, this year's count and the last update time, rounded for a street totem."""
    only_params(request, {"at", "tz"})
    zone, now = _tz(tz), _at(at)
    tenant, counter = _counter(request, counter_id)
    local = now.astimezone(ZoneInfo(zone))
    records, _ = _records(request, tenant, counter, datetime(local.year, 1, 1, tzinfo=ZoneInfo(zone)), now)
    shown = ct.display(records, now, zone)
    return json_response(
        {
            "counterId": counter.id,
            "name": counter.name,
            "type": counter.type,
            "today": round(shown["today"]),
            "year": round(shown["year"]),
            "lastUpdate": shown["last_update"],
            "at": local,
            "tz": zone,
        },
        headers={"Cache-Control": f"public, max-age={DISPLAY_MAX_AGE_S}", "Access-Control-Allow-Origin": "*"},
    )


def export_endpoint(request: Request, kind: str, start: str | None, end: str | None) -> Response:
    """One CSV file of the national schema for the tenant's counters."""
    only_params(request, {"from", "to"} if kind == "measure" else set())
    tenant = tenant_of(request)
    with common.store_of(request).session() as session:
        if not session.tenant_exists(tenant):
            raise NonexistentTenant(f"tenant '{tenant}' does not exist")
    window = (None, None)
    if kind == "measure":
        window = common.parse_window(start, end, default=DEFAULT_EXPORT_PERIOD,
                                     max_period=common.max_period_of(request))
    text, result = exchange.export_text(common.store_of(request), tenant, kind, *window,
                                        limit=getattr(request.app.state.settings, "max_history_rows", None))
    # Counters without a Point location cannot be sites: their number is told in a header.
    return Response(
        text, media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"',
                 "Calanque-Skipped-Counters": str(len(result.skipped))},
    )


def import_endpoint(request: Request, body: Any) -> Response:
    """Import counters and their counts from the three CSV files of the national schema."""
    only_params(request, set())
    if not isinstance(body, dict):
        raise BadRequestData('the body must be a JSON object {"site": "<CSV text>", "channel": "…", "measure": "…"}')
    unknown = sorted(set(body) - set(exchange.KINDS))
    missing = [k for k in exchange.KINDS if k not in body]
    if unknown or missing:
        raise BadRequestData(
            f"the body must hold exactly the members {', '.join(exchange.KINDS)} (each a CSV text); "
            + (f"missing: {', '.join(missing)}" if missing else f"unknown: {', '.join(unknown)}")
        )
    wrong = [k for k in exchange.KINDS if not isinstance(body[k], str)]
    if wrong:
        raise BadRequestData(f"member(s) {', '.join(wrong)} must be the CSV file's text as a JSON string")
    tenant = tenant_of(request)
    report = exchange.import_texts(request.app.state.broker, tenant, body)
    if report.imported_nothing:
        raise BadRequestData("nothing was imported: every file or row was rejected", report=report.describe())
    return json_response(report.describe())


def router() -> APIRouter:
    """The mobility API, mounted at /api/v1/mobility."""
    api = APIRouter()

    @api.get("/export/site.csv", summary="The tenant's counting sites (national schema, CSV)",
             response_class=Response, responses={200: {"content": {"text/csv": {}}}})
    def export_sites(request: Request) -> Response:
        """One row per counter entity (site_id = entity id), schema comptage-mobilites-site."""
        return export_endpoint(request, "site", None, None)

    @api.get("/export/channel.csv", summary="The tenant's counting channels (national schema, CSV)",
             response_class=Response, responses={200: {"content": {"text/csv": {}}}})
    def export_channels(request: Request) -> Response:
        """One row per counter direction, schema comptage-mobilites-channel."""
        return export_endpoint(request, "channel", None, None)

    @api.get("/export/measure.csv", summary="The tenant's counts over a period (national schema, CSV)",
             response_class=Response, responses={200: {"content": {"text/csv": {}}}})
    def export_measures(
        request: Request, start: str | None = _FROM,
        end: str | None = Query(None, alias="to", description="End, excluded (ISO 8601). Default: now; "
                                "the default period is 30 days."),
    ) -> Response:
        """One row per count sample observed in [from, to), schema comptage-mobilites-measure."""
        return export_endpoint(request, "measure", start, end)

    @api.post("/import", summary="Import counters and counts from the national schema's CSV files")
    def import_files(
        request: Request,
        body: Any = Body(..., description='{"site": "<site.csv text>", "channel": "<channel.csv text>", '
                         '"measure": "<measure.csv text>"}'),
    ) -> Response:
        """Bad rows are reported by file and line; good ones become counter entities with their history."""
        return import_endpoint(request, body)

    @api.get("/{counterId}/counts", summary="Counts of one counter per hour, day, week or month")
    def counts(
        request: Request, counterId: str, start: str | None = _FROM,
        end: str | None = Query(None, alias="to", description="End, excluded (ISO 8601). Default: now; "
                                "the default period is 7 days."),
        step: str = Query("day", description="Bucket: hour, day, week (ISO, from Monday) or month."),
        tz: str = _TZ,
    ) -> Response:
        """Counts per direction and in total per local calendar bucket; buckets without data have total null."""
        return counts_endpoint(request, counterId, start, end, step, tz)

    @api.get("/{counterId}/profile", summary="Average hourly count per weekday and hour")
    def profile(
        request: Request, counterId: str, start: str | None = _FROM,
        end: str | None = Query(None, alias="to", description="End, excluded (ISO 8601). Default: now; "
                                "the default period is 365 days."),
        tz: str = _TZ,
    ) -> Response:
        """168 cells (weekday 0 = Monday, hour 0-23): the average over the hours that have data."""
        return profile_endpoint(request, counterId, start, end, tz)

    @api.get("/{counterId}/summary", summary="Year to date, year on year, busiest hour and day")
    def summary(request: Request, counterId: str, at: str | None = _AT, tz: str = _TZ) -> Response:
        """Year-to-date total compared with the same period last year; busiest hour and day this year."""
        return summary_endpoint(request, counterId, at, tz)

    @api.get("/{counterId}/display", summary="What a street totem shows (public)")
    def display(request: Request, counterId: str, at: str | None = _AT, tz: str = _TZ) -> Response:
        """Today's count, this year's count (whole passages) and the last update time."""
        return display_endpoint(request, counterId, at, tz)

    return api

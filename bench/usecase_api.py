"""Benchmark of the use-case HTTP endpoints over one year of 1-minute history, on SQLite and/or PostgreSQL.

Run with ``.venv/bin/python bench/usecase_api.py [--backend sqlite|postgres|both] [--days 365] [--runs 5]``.

For each backend it starts a real server (``calanque serve``, uvicorn, 1 worker, in a subprocess) on
a fresh data directory or a fresh PostgreSQL database (``bench/broker.py``'s ``server``), then:

1. creates one sensor entity per use case and entity type (data conventions of
   docs/data-conventions.md) through the NGSI-LD API, with its latest readings as current values;
2. bulk-loads ``--days`` (default 365) of 1-minute history for every measured attribute of those
   sensors through the store API (``Session.add_history`` in batches of 50 000 rows, the call the
   broker makes), with a progress bar, then ANALYZE;
3. creates the collection-plan fleet: 2 000 ``WasteContainer`` entities (one model, random fill
   levels and positions around Marseille) with 7 days of hourly fill history each;
4. lists the use cases (``GET /api/v1/usecases``) and their GET endpoints (``/openapi.json``), so
   that it covers whichever endpoints exist, and times each one sequentially over HTTP
   (keep-alive connection, 1 warm-up call, then ``--runs`` calls): median and worst latency,
   status and size. Path parameters get the id of that use case's sensor (the first that answers
   200); query parameters get the values of ``PARAMS`` (the one-year window, the plan's date and
   waste kind…). An endpoint needing a parameter this script has no value for is listed as skipped;
5. splits the mobility endpoints' time into the store read and each computation, in this process.

The server runs without authentication (127.0.0.1 only). Targets: 200 ms per indicator, 1 s for
the collection plan of 2 000 containers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import numpy as np
from broker import Client, console, machine, progress, server  # bench/broker.py, next to this file
from rich.console import Console
from rich.table import Table

API = "/ngsi-ld/v1"
START = datetime(2025, 1, 1, tzinfo=UTC)
HISTORY_BATCH = 50_000
FLEET = 2_000
INDICATOR_TARGET_MS = 200.0
PLAN_TARGET_MS = 1_000.0
DEPOT = (5.3698, 43.2965)  # lon, lat: Vieux-Port, Marseille


# --- what is loaded -----------------------------------------------------------------------------------


@dataclass
class Series:
    """One measured attribute (one datasetId) of a sensor: a value per minute from ``values(minutes)``."""

    attr: str
    values: Callable[[np.ndarray, np.random.Generator], np.ndarray | list]
    unit: str | None = None
    dataset: str | None = None


@dataclass
class Sensor:
    """One sensor entity of a use case and its 1-minute series."""

    usecase: str
    entity: dict[str, Any]  # NGSI-LD normalized, without the measured attributes
    series: list[Series] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The entity id."""
        return str(self.entity["id"])


def prop(value: Any, unit: str | None = None) -> dict[str, Any]:
    """A Property."""
    out: dict[str, Any] = {"type": "Property", "value": value}
    if unit:
        out["unitCode"] = unit
    return out


def rel(target: str) -> dict[str, Any]:
    """A Relationship."""
    return {"type": "Relationship", "object": target}


def point(lon: float, lat: float) -> dict[str, Any]:
    """A GeoProperty Point."""
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def asset(kind: str, local: str, lon: float, lat: float, **attrs: Any) -> dict[str, Any]:
    """An asset entity with the common members of the data conventions."""
    return {
        "id": f"urn:ngsi-ld:{kind}:{local}", "type": kind, "location": point(lon, lat), "name": prop(local),
        "address": prop({"addressLocality": "Marseille", "addressRegion": "Provence-Alpes-Côte d'Azur"}),
        "municipalityCode": prop("13055"), "site": prop("bench"), "refDevice": rel(f"urn:ngsi-ld:Device:{local}"),
        **attrs,
    }


def day_phase(minutes: np.ndarray) -> np.ndarray:
    """Time of day in [0, 1) (UTC)."""
    return (minutes % 1440) / 1440.0


def fill_ramp(minutes: np.ndarray, days: float = 6.0) -> np.ndarray:
    """A container filling from 5 % to 90 % over ``days`` days, then emptied."""
    cycle = days * 1440
    return np.round(0.05 + 0.85 * (minutes % cycle) / cycle, 4)


def lamp_power(minutes: np.ndarray) -> np.ndarray:
    """A 60 W luminaire: on from 18:00 to 07:00 UTC, dimmed to 50 % from 23:00 to 05:00."""
    hour = (minutes % 1440) / 60.0
    on = (hour >= 18) | (hour < 7)
    dimmed = (hour >= 23) | (hour < 5)
    return np.where(on, np.where(dimmed, 30.0, 60.0), 0.0)


def sensors() -> list[Sensor]:
    """One sensor per use case and measured entity type, with their series (docs/data-conventions.md)."""
    model = "urn:ngsi-ld:WasteContainerModel:bench-1100"
    return [
        Sensor("noise", asset("NoiseLevelObserved", "bench-noise", 5.3698, 43.2965, measurementPeriod=prop(60, "SEC")),
               [Series("LAeq", lambda m, r: np.round(58 + 8 * np.sin(2 * np.pi * (day_phase(m) - 0.3))
                                                   + r.normal(0, 2, m.size), 1), "2N"),
                Series("LAmax", lambda m, r: np.round(70 + 8 * np.sin(2 * np.pi * (day_phase(m) - 0.3))
                                                    + r.normal(0, 3, m.size), 1), "2N")]),
        Sensor("mobility", asset("TrafficFlowObserved", "bench-bikes", 5.3832, 43.2821,
                                 vehicleType=prop("bicycle"), measurementPeriod=prop(60, "SEC")),
               [Series("intensity", lambda m, r: r.poisson(0.3 + 2.5 * np.exp(-((day_phase(m) - 0.33) * 12) ** 2)),
                       "C62", "urn:ngsi-ld:Dataset:in"),
                Series("intensity", lambda m, r: r.poisson(0.3 + 2.5 * np.exp(-((day_phase(m) - 0.72) * 12) ** 2)),
                       "C62", "urn:ngsi-ld:Dataset:out")]),
        Sensor("mobility", asset("CrowdFlowObserved", "bench-walkers", 5.3740, 43.2950,
                                 measurementPeriod=prop(60, "SEC")),
               [Series("peopleCount", lambda m, r: r.poisson(1 + 6 * np.exp(-((day_phase(m) - 0.55) * 6) ** 2)),
                       "C62", "urn:ngsi-ld:Dataset:in")]),
        Sensor("water", asset("FloodMonitoring", "bench-huveaune", 5.4200, 43.2900,
                              vigilanceThresholds=prop({"level": {"yellow": 2.0, "orange": 2.5, "red": 3.0},
                                                        "rise": {"yellow": 10, "orange": 20, "red": 30}})),
               [Series("currentLevel", lambda m, r: np.round(1.2 + 0.4 * np.sin(2 * np.pi * m / (1440 * 9))
                                                             + r.normal(0, 0.005, m.size), 3), "MTR")]),
        Sensor("water", asset("WaterQualityObserved", "bench-quality", 5.4210, 43.2905),
               [Series("temperature", lambda m, r: np.round(14 + 6 * np.sin(2 * np.pi * m / 525_600)
                                                            + r.normal(0, 0.1, m.size), 2), "CEL"),
                Series("pH", lambda m, r: np.round(7.8 + r.normal(0, 0.1, m.size), 2), "C62"),
                Series("conductivity", lambda m, r: np.round(450 + r.normal(0, 20, m.size), 1), "G42"),
                Series("turbidity", lambda m, r: np.round(np.abs(4 + r.normal(0, 2, m.size)), 2), "C62"),
                Series("O2", lambda m, r: np.round(9 + r.normal(0, 0.5, m.size), 2), "M1")]),
        Sensor("waste", asset("WasteContainer", "bench-glass", 5.3800, 43.3000, storedWasteKind=prop("glass"),
                              refWasteContainerModel=rel(model), binFullnessThreshold=prop(80)),
               [Series("fillingLevel", lambda m, r: fill_ramp(m), "C62"),
                Series("distance", lambda m, r: np.round(1.6 - 1.4 * fill_ramp(m), 3), "MTR")]),
        Sensor("lighting", asset("Streetlight", "bench-lamp", 5.3700, 43.2960,
                                 refStreetlightGroup=rel("urn:ngsi-ld:StreetlightGroup:bench-group"),
                                 refStreetlightControlCabinet=rel("urn:ngsi-ld:StreetlightControlCabinet:bench-cab"),
                                 refStreetlightModel=rel("urn:ngsi-ld:StreetlightModel:bench-60w"),
                                 status=prop("ok")),
               [Series("powerState", lambda m, r: np.where(lamp_power(m) > 0, "on", "off").tolist()),
                Series("illuminanceLevel", lambda m, r: lamp_power(m) / 60.0, "C62"),
                Series("powerConsumption", lambda m, r: lamp_power(m), "WTT"),
                Series("lifetimePowerConsumption", lambda m, r: np.round(np.cumsum(lamp_power(m)) / 60_000, 4), "KWH"),
                Series("voltage", lambda m, r: np.round(230 + r.normal(0, 1.5, m.size), 1), "VLT")]),
        Sensor("lighting", asset("StreetlightControlCabinet", "bench-cab", 5.3702, 43.2962),
               [Series("totalActivePower", lambda m, r: lamp_power(m) * 40, "WTT"),
                Series("energyConsumed", lambda m, r: np.round(np.cumsum(lamp_power(m) * 40) / 60_000, 3), "KWH"),
                Series("voltageR", lambda m, r: np.round(230 + r.normal(0, 1.5, m.size), 1), "VLT")]),
    ]


def related() -> list[dict[str, Any]]:
    """Entities the sensors refer to (container model, lighting group and model)."""
    return [
        {"id": "urn:ngsi-ld:WasteContainerModel:bench-1100", "type": "WasteContainerModel",
         "height": prop(1.6, "MTR"), "width": prop(1.4, "MTR"), "depth": prop(1.0, "MTR"),
         "cargoVolume": prop(1100, "LTR"), "emptyDistance": prop(1.6, "MTR"), "fullDistance": prop(0.2, "MTR")},
        {"id": "urn:ngsi-ld:StreetlightModel:bench-60w", "type": "StreetlightModel", "powerConsumption": prop(60, "WTT")},
        {"id": "urn:ngsi-ld:StreetlightGroup:bench-group", "type": "StreetlightGroup",
         "refStreetlight": rel("urn:ngsi-ld:Streetlight:bench-lamp"),
         "refStreetlightControlCabinet": rel("urn:ngsi-ld:StreetlightControlCabinet:bench-cab"),
         "location": point(5.3701, 43.2961), "name": prop("bench-group"),
         "dimmingProfile": prop([{"from": "23:00", "to": "05:00", "level": 0.5}])},
    ]


def canonical_ts(moment: datetime) -> str:
    """The store's timestamp form."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- loading ------------------------------------------------------------------------------------------


def create_entities(client: Client, bodies: list[dict[str, Any]]) -> None:
    """Upsert entities through the NGSI-LD API, 100 per request."""
    for first in range(0, len(bodies), 100):
        status, payload, _ = client.request("POST", f"{API}/entityOperations/upsert", bodies[first:first + 100])
        if status not in (201, 204):
            raise RuntimeError(f"upsert answered {status}: {payload[:400]!r}")


def instance(series: Series, value: Any, observed: str) -> dict[str, Any]:
    """One attribute instance observed at ``observed``."""
    inst = {"type": "Property", "value": value, "observedAt": observed}
    if series.unit:
        inst["unitCode"] = series.unit
    if series.dataset:
        inst["datasetId"] = series.dataset
    return inst


def load_sensors(client: Client, database_url: str | None, data_dir: Path, days: int) -> tuple[int, float]:
    """Create the sensors (latest values current) and bulk-load their history; return (rows, seconds)."""
    from calanque.store.base import HistoryRow, open_store
    from calanque.usecases.common import term_iri

    minutes = np.arange(days * 1440)
    stamps = [canonical_ts(START + timedelta(minutes=int(m) + 1)) for m in minutes]
    rng = np.random.default_rng(2025)
    plans = []
    bodies = related()
    for sensor in sensors():
        body = dict(sensor.entity)
        values = []
        for series in sensor.series:
            v = series.values(minutes, rng)
            v = v.tolist() if isinstance(v, np.ndarray) else list(v)
            values.append(v)
            current = instance(series, v[-1], stamps[-1])
            existing = body.get(series.attr)
            body[series.attr] = current if existing is None else [*([existing] if isinstance(existing, dict)
                                                                      else existing), current]
        bodies.append(body)
        plans.append((sensor, values))
    create_entities(client, bodies)
    total = sum(len(v) - 1 for _, values in plans for v in values)
    store = open_store(database_url, str(data_dir))
    written, started = 0, time.perf_counter()
    try:
        with progress() as bar:
            task = bar.add_task(f"history rows ({days} days of 1-minute data, store API)", total=total)
            for sensor, values in plans:
                for series, series_values in zip(sensor.series, values, strict=True):
                    iri = term_iri(series.attr)
                    for first in range(0, len(series_values) - 1, HISTORY_BATCH):
                        last = min(first + HISTORY_BATCH, len(series_values) - 1)
                        rows = [
                            HistoryRow(entity_id=sensor.id, attr=iri, dataset_id=series.dataset or "",
                                       instance={**instance(series, series_values[i], stamps[i]),
                                                 "createdAt": stamps[i], "modifiedAt": stamps[i]},
                                       instance_id=f"urn:ngsi-ld:attribute:instance:bench-{sensor.id}-{iri}-"
                                                   f"{series.dataset}-{i}",
                                       observed_at=stamps[i], created_at=stamps[i], modified_at=stamps[i])
                            for i in range(first, last)
                        ]
                        with store.session(write=True) as session:
                            session.add_history("", rows)
                        written += len(rows)
                        bar.advance(task, len(rows))
        with store.session() as session:
            session.conn.execute("ANALYZE")
    finally:
        store.close()
    return written, time.perf_counter() - started


def load_fleet(client: Client, database_url: str | None, data_dir: Path, days: int) -> int:
    """The 2 000 glass containers of the collection plan, each with 7 days of hourly fill history."""
    from calanque.store.base import HistoryRow, open_store
    from calanque.usecases.common import term_iri

    rng = random.Random(7)
    end = START + timedelta(days=days)
    hours = 7 * 24
    bodies, histories = [], []
    for k in range(FLEET):
        rate = rng.uniform(0.03, 0.2)  # per day
        fill_now = min(rng.uniform(0.1, 1.0), 1.0)
        emptied = end - timedelta(days=min(fill_now / rate, 30))
        series = [(end - timedelta(hours=h), max(fill_now - rate * h / 24, 0.0)) for h in range(hours, 0, -1)]
        lon, lat = DEPOT[0] + rng.uniform(-0.12, 0.12), DEPOT[1] + rng.uniform(-0.08, 0.08)
        body = asset("WasteContainer", f"fleet-{k:04d}", lon, lat, storedWasteKind=prop("glass"),
                     refWasteContainerModel=rel("urn:ngsi-ld:WasteContainerModel:bench-1100"),
                     binFullnessThreshold=prop(80),
                     fillingLevel={**prop(round(fill_now, 4), "C62"), "observedAt": canonical_ts(end)},
                     dateLastEmptying=prop({"@type": "DateTime", "@value": canonical_ts(emptied)}))
        bodies.append(body)
        histories.append((body["id"], series))
    with progress() as bar:
        task = bar.add_task(f"{FLEET} containers (NGSI-LD batch upsert)", total=FLEET)
        for first in range(0, FLEET, 100):
            create_entities(client, bodies[first:first + 100])
            bar.advance(task, min(100, FLEET - first))
    store = open_store(database_url, str(data_dir))
    iri = term_iri("fillingLevel")
    written = 0
    try:
        rows = [
            HistoryRow(entity_id=entity_id, attr=iri, dataset_id="",
                       instance={**prop(round(v, 4), "C62"), "observedAt": canonical_ts(t),
                                 "createdAt": canonical_ts(t), "modifiedAt": canonical_ts(t)},
                       instance_id=f"urn:ngsi-ld:attribute:instance:fleet-{entity_id}-{n}",
                       observed_at=canonical_ts(t), created_at=canonical_ts(t), modified_at=canonical_ts(t))
            for entity_id, series in histories for n, (t, v) in enumerate(series)
        ]
        with progress() as bar:
            task = bar.add_task("fleet fill history (store API)", total=len(rows))
            for first in range(0, len(rows), HISTORY_BATCH):
                with store.session(write=True) as session:
                    session.add_history("", rows[first:first + HISTORY_BATCH])
                written += len(rows[first:first + HISTORY_BATCH])
                bar.advance(task, len(rows[first:first + HISTORY_BATCH]))
        with store.session() as session:
            session.conn.execute("ANALYZE")
    finally:
        store.close()
    return written


# --- endpoints ----------------------------------------------------------------------------------------


def params_for(days: int) -> dict[str, str]:
    """Values for the query parameters the endpoints declare, over the loaded period."""
    end = START + timedelta(days=days)
    return {
        "from": START.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "at": (end - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),  # still the last local day (Paris)
        "date": (end + timedelta(days=1)).strftime("%Y-%m-%d"),
        "kind": "glass",
        "depot": f"{DEPOT[0]},{DEPOT[1]}",
    }


# Extra calls of one endpoint with other parameters (the most expensive variants).
VARIANTS: dict[str, list[dict[str, str]]] = {
    "/api/v1/mobility/{counterId}/counts": [{"step": "hour"}],
}
# Endpoints that are exports, not indicators: timed, without a target.
EXPORT_SUFFIXES = (".csv",)


@dataclass
class Call:
    """One timed endpoint call."""

    usecase: str
    template: str
    url: str
    label: str
    medians: float = math.nan
    worst: float = math.nan
    status: int = 0
    size: int = 0
    note: str = ""


def endpoint_calls(client: Client, days: int) -> Iterator[Call]:
    """Every GET endpoint of every use case, with its parameters filled in."""
    status, body, _ = client.request("GET", "/api/v1/usecases")
    if status != 200:
        raise RuntimeError(f"GET /api/v1/usecases answered {status}")
    usecases = json.loads(body)
    openapi = json.loads(client.expect(200, "GET", "/openapi.json"))
    values = params_for(days)
    ids: dict[str, list[str]] = {}
    for sensor in sensors():
        ids.setdefault(sensor.usecase, []).append(sensor.id)
    for entity in related():
        for uc in usecases:
            if entity["type"] in uc["entityTypes"]:
                ids.setdefault(uc["name"], []).append(entity["id"])
    for uc in usecases:
        prefix = f"/api/v1/{uc['name']}/"
        for template, ops in sorted(openapi["paths"].items()):
            if not template.startswith(prefix) or "get" not in ops:
                continue
            declared = ops["get"].get("parameters", [])
            path_params = [p["name"] for p in declared if p["in"] == "path"]
            query: dict[str, str] = {}
            missing = []
            for p in declared:
                if p["in"] != "query":
                    continue
                if p["name"] in values:
                    query[p["name"]] = values[p["name"]]
                elif p.get("required"):
                    missing.append(p["name"])
            for variant in [{}, *VARIANTS.get(template, [])]:
                label = template + ("" if not variant else " " + urlencode(variant))
                if missing:
                    yield Call(uc["name"], template, "", label, note=f"skipped: needs {', '.join(missing)}")
                    continue
                targets = ids.get(uc["name"], []) if path_params else [""]
                if path_params and len(path_params) > 1:
                    yield Call(uc["name"], template, "", label, note="skipped: several path parameters")
                    continue
                for target in targets:
                    path = template.replace("{" + path_params[0] + "}", quote(target, safe=":")) \
                        if path_params else template
                    url = path + "?" + urlencode({**query, **variant}) if query or variant else path
                    yield Call(uc["name"], template, url, label + (f" [{target}]" if target else ""))


def _shorter_window(url: str, status: int, payload: bytes) -> tuple[str, int] | None:
    """When an endpoint refuses the one-year window for its own limit of N days: the URL and label over the
    last N days of the loaded period."""
    found = re.search(r"limit of (\d+) days", payload.decode(errors="replace")) if status == 400 else None
    path, _, query = url.partition("?")
    params = dict(parse_qsl(query))
    if found is None or "to" not in params:
        return None
    days = int(found.group(1))
    end = datetime.strptime(params["to"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    params["from"] = (end - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{path}?{urlencode(params)}", days


def time_calls(client: Client, calls: list[Call], runs: int) -> list[Call]:
    """Time each endpoint; for path templates keep the first entity that answers 200 (else the last)."""
    done: dict[str, Call] = {}
    with progress() as bar:
        task = bar.add_task("endpoints (1 warm-up + runs each)", total=len(calls))
        for call in calls:
            bar.advance(task)
            key = call.label.split(" [")[0]
            if key in done and done[key].status == 200:
                continue
            if not call.url:
                done[key] = call
                continue
            status, payload, _ = client.request("GET", call.url)  # warm-up
            shorter = _shorter_window(call.url, status, payload)
            if shorter is not None:  # the endpoint caps its period: time it over the longest it accepts
                call.url, call.label = shorter[0], f"{call.label} (its limit: the last {shorter[1]} days)"
                status, payload, _ = client.request("GET", call.url)
            call.status, call.size = status, len(payload)
            if status != 200:
                call.note = payload[:200].decode(errors="replace")
                done[key] = call
                continue
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                status, payload, _ = client.request("GET", call.url)
                times.append((time.perf_counter() - t0) * 1000)
                if status != 200:
                    raise RuntimeError(f"{call.url} answered {status} after a 200: {payload[:300]!r}")
            call.medians, call.worst = statistics.median(times), max(times)
            done[key] = call
    return list(done.values())


def report(backend: str, results: list[Call], loaded: dict[str, float]) -> None:
    """Print one table per backend."""
    table = Table(title=f"use-case endpoints, {backend}: median and worst of the timed calls")
    table.add_column("endpoint (under /api/v1)", overflow="fold", min_width=48)
    for column in ("status", "median ms", "worst ms", "KiB"):
        table.add_column(column, justify="right")
    table.add_column("target ms / note", overflow="fold", max_width=60)
    for call in results:
        target = PLAN_TARGET_MS if "plan" in call.template else INDICATOR_TARGET_MS
        if call.template.endswith(EXPORT_SUFFIXES):
            target = math.nan
        if call.status == 200:
            ok = math.isnan(target) or call.medians <= target
            median = f"{call.medians:,.1f}" if ok else f"[red]{call.medians:,.1f}[/red]"
            table.add_row(call.label.removeprefix("/api/v1"), "200", median, f"{call.worst:,.1f}", f"{call.size / 1024:,.1f}",
                          "-" if math.isnan(target) else f"{target:,.0f}")
        else:
            table.add_row(call.label.removeprefix("/api/v1"), str(call.status or "-"), "-", "-", "-", call.note[:200])
    Console(width=max(console.width, 150)).print(table)  # as wide when the output is a file
    console.print({k: round(v, 1) for k, v in loaded.items()})


def mobility_breakdown(database_url: str | None, data_dir: Path, days: int, runs: int) -> dict[str, float]:
    """Split the mobility endpoints' time (in this process): the store read, then each computation (median ms)."""
    from calanque.store.base import open_store
    from calanque.usecases.mobility import counts as ct
    from calanque.usecases.mobility.counters import counter_of, read_samples

    end = START + timedelta(days=days)
    at = end - timedelta(hours=2)
    store = open_store(database_url, str(data_dir))
    out: dict[str, float] = {}

    def median_ms(name: str, call: Callable[[], Any]) -> Any:
        times, result = [], None
        for _ in range(runs):
            t0 = time.perf_counter()
            result = call()
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = statistics.median(times)
        return result

    try:
        with store.session() as session:
            counter = counter_of(session.get_entity("", "urn:ngsi-ld:TrafficFlowObserved:bench-bikes"))
        samples = median_ms("store read (2 directions)", lambda: read_samples(store, "", counter, START, end))
        arrays = median_ms("CountArrays.from_samples", lambda: samples.arrays(counter.period_s))
        median_ms("aggregate day", lambda: ct.aggregate(arrays, START, end, "day"))
        median_ms("aggregate hour", lambda: ct.aggregate(arrays, START, end, "hour"))
        median_ms("weekday_hour_profile", lambda: ct.weekday_hour_profile(arrays, START, end))
        median_ms("year_on_year + busiest", lambda: (ct.year_on_year(arrays, at), ct.busiest(arrays, START, at)))
        median_ms("display", lambda: ct.display(arrays, at))
    finally:
        store.close()
    table = Table(title=f"mobility, bike counter ({2 * days * 1440:,} one-minute records): where the time goes")
    table.add_column("step")
    table.add_column("median ms", justify="right")
    for name, value in out.items():
        table.add_row(name, f"{value:,.1f}")
    console.print(table)
    return out


def bench_backend(backend: str, days: int, runs: int) -> list[Call]:
    """Load the data on one backend and time every endpoint."""
    console.rule(f"[bold]{backend}")
    with server(backend, 1) as (client, database_url, data_dir):
        rows, seconds = load_sensors(client, database_url, data_dir, days)
        console.print(f"loaded {rows:,} history rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
        fleet_rows = load_fleet(client, database_url, data_dir, days)
        calls = list(endpoint_calls(client, days))
        results = time_calls(client, calls, runs)
        report(backend, results, {"history rows": rows, "load s": seconds, "rows/s": rows / seconds,
                                  "fleet history rows": fleet_rows})
        breakdown = mobility_breakdown(database_url, data_dir, days, runs)
        results.append(Call("mobility", "breakdown", "", "breakdown", note=json.dumps(breakdown)))
    return results


def main() -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--days", type=int, default=365, help="days of 1-minute history per sensor (default 365)")
    parser.add_argument("--runs", type=int, default=5, help="timed calls per endpoint after one warm-up (default 5)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if not 1 <= args.days <= 366:
        parser.error("--days must be between 1 and 366 (the indicators' one-year window)")
    # The server listens on 127.0.0.1 only: run it without authentication (`calanque serve --no-auth`),
    # so that neither identification nor rate limiting is part of the figures.
    os.environ.setdefault("CALANQUE_AUTH", "false")
    info = machine()
    console.print(info)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    out: dict[str, Any] = {"machine": info, "days": args.days, "runs": args.runs}
    for backend in backends:
        results = bench_backend(backend, args.days, args.runs)
        out[backend] = [{"endpoint": c.label, "status": c.status, "median_ms": c.medians, "worst_ms": c.worst,
                         "bytes": c.size, "note": c.note} for c in results]
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()

"""Benchmark of the department home page with 20 000 assets, in Chromium.

Run with ``.venv/bin/python bench/ui.py [--assets 20000] [--runs 5] [--backend sqlite|postgres]``.

1. Starts a real server (``calanque serve``, uvicorn, 1 worker, in a subprocess, ``bench/broker.py``'s
   ``server``) on a fresh store, without map tiles (``CALANQUE_MAP_TILE_URL=''``: this machine has no
   internet, and a tile server's speed is not Calanque's);
2. creates ``--assets`` located assets of the five use cases through the NGSI-LD batch API (1 000 per
   request): streetlights, containers, noise sensors, counters, river and water-quality stations
   spread over the demonstration communes, with current readings (a few full, loud or silent ones
   so that the attention list is not empty);
3. times ``GET /api/v1/map`` over HTTP (the page's data): the first call reads and computes every
   asset, the next ones use the process's cache patched with the entities changed since;
4. opens the home page ``--runs`` times in Debian's Chromium (headless, a fresh browser context each
   time: empty cache) and reads, from the page's Performance API: first paint, first contentful
   paint, the map data's arrival (resource timing), and the mark ``calanque-map-drawn`` that the page
   sets two animation frames after the last marker was added to the canvas layer; then the time to
   redraw after a filter change (use case "lighting") and back (all use cases).

Prints the medians and every run, with the machine (CPU count and model, load average). Target: first
paint at most 1.5 s.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from broker import console, machine, progress, server  # bench/broker.py, next to this file
from rich.table import Table

FIRST_PAINT_TARGET_MS = 1500.0
BATCH = 1000
# share of each kind in the fleet (a metropolis has many more lights and containers than stations)
MIX = {
    "Streetlight": 0.50,
    "WasteContainer": 0.25,
    "NoiseLevelObserved": 0.10,
    "TrafficFlowObserved": 0.04,
    "CrowdFlowObserved": 0.03,
    "WaterQualityObserved": 0.05,
    "FloodMonitoring": 0.01,
    "StreetlightControlCabinet": 0.02,
}


def ts(moment: datetime) -> str:
    """An NGSI-LD timestamp."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def prop(value: Any, at: datetime | None = None, **extra: Any) -> dict:
    """A Property."""
    out = {"type": "Property", "value": value, **extra}
    if at is not None:
        out["observedAt"] = ts(at)
    return out


def fleet(n: int, seed: int = 11) -> list[dict]:
    """``n`` located assets of the five use cases, with current readings (most recent, a few silent)."""
    from calanque.simulator.geo import COMMUNES, KM_PER_DEGREE

    rng = random.Random(seed)
    weights = [c.weight for c in COMMUNES]
    now = datetime.now(UTC)
    kinds = [k for k, share in MIX.items() for _ in range(round(share * 1000))]
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        commune = rng.choices(COMMUNES, weights)[0]
        r, a = commune.radius_km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        lat = commune.lat + r * math.sin(a) / KM_PER_DEGREE
        lon = commune.lon + r * math.cos(a) / (KM_PER_DEGREE * math.cos(math.radians(commune.lat)))
        at = now - timedelta(hours=5) if rng.random() < 0.01 else now - timedelta(seconds=rng.uniform(0, 300))
        entity: dict[str, Any] = {
            "id": f"urn:ngsi-ld:{kind}:bench-{i:06d}",
            "type": kind,
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            },
            "name": prop(f"{kind} {i:06d}"),
            "municipalityCode": prop(commune.insee),
            "address": prop({"addressLocality": commune.name}),
            "site": prop(f"site-{i % 25:02d}"),
        }
        if kind == "Streetlight":
            on = rng.random() < 0.6
            entity["powerState"] = prop("on" if on else "off", at)
            entity["illuminanceLevel"] = prop(rng.choice([0.5, 0.7, 1.0]) if on else 0.0, at)
            if rng.random() < 0.01:
                entity["status"] = prop("defectiveLamp", at)
        elif kind == "WasteContainer":
            entity["fillingLevel"] = prop(round(rng.betavariate(2, 3), 3), at, unitCode="C62")
        elif kind == "NoiseLevelObserved":
            entity["LAeq"] = prop(round(rng.gauss(58, 7), 1), at, unitCode="2N")
        elif kind in ("TrafficFlowObserved", "CrowdFlowObserved"):
            attr = "intensity" if kind == "TrafficFlowObserved" else "peopleCount"
            entity[attr] = [
                prop(rng.randint(0, 80), at, datasetId=f"urn:ngsi-ld:Dataset:{d}") for d in ("in", "out")
            ]
        elif kind == "WaterQualityObserved":
            entity["pH"] = prop(round(rng.gauss(7.6, 0.5), 2), at)
            entity["temperature"] = prop(round(rng.gauss(15, 3), 1), at, unitCode="CEL")
        elif kind == "FloodMonitoring":
            entity["currentLevel"] = prop(round(rng.uniform(0.3, 2.8), 2), at, unitCode="MTR")
        elif kind == "StreetlightControlCabinet":
            entity["totalActivePower"] = prop(round(rng.uniform(500, 5000)), at, unitCode="WTT")
        out.append(entity)
    return out


def load(client: Any, entities: list[dict]) -> float:
    """Create the entities through the batch API; return entities per second."""
    start = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("creating assets (batch API)", total=len(entities))
        for k in range(0, len(entities), BATCH):
            chunk = entities[k : k + BATCH]
            status, body, _ = client.request("POST", "/ngsi-ld/v1/entityOperations/create", chunk)
            if status != 201:
                raise RuntimeError(f"batch create answered {status}: {body[:300]!r}")
            bar.advance(task, len(chunk))
    return len(entities) / (time.perf_counter() - start)


def map_endpoint(client: Any, runs: int) -> tuple[float, list[float], int, int]:
    """Time GET /api/v1/map: the first call (a full computation: every entity read), the next ones
    (the per-process cache patched with what changed), in ms; the answer's size and its asset count."""
    import json

    times, size, count = [], 0, 0
    for _ in range(runs + 1):
        start = time.perf_counter()
        status, body, _ = client.request("GET", "/api/v1/map")
        times.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise RuntimeError(f"/api/v1/map answered {status}: {body[:300]!r}")
        size, count = len(body), json.loads(body)["count"]
    return times[0], times[1:], size, count


MEASURE = """() => {
  const paint = Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]));
  const data = performance.getEntriesByType('resource').find(e => e.name.includes('/api/v1/map'));
  const drawn = performance.getEntriesByName('calanque-map-drawn');
  return {fp: paint['first-paint'], fcp: paint['first-contentful-paint'],
          dataEnd: data ? data.responseEnd : null, dataBytes: data ? data.encodedBodySize : null,
          drawn: drawn.length ? drawn[0].startTime : null, marks: drawn.length,
          shown: Number(document.documentElement.dataset.mapShown)};
}"""
REDRAW = """async (value) => {
  const before = performance.getEntriesByName('calanque-map-drawn').length;
  const select = document.getElementById('filter-usecase');
  const start = performance.now();
  select.value = value;
  select.dispatchEvent(new Event('change'));
  while (performance.getEntriesByName('calanque-map-drawn').length === before) {
    await new Promise(r => requestAnimationFrame(r));
  }
  const marks = performance.getEntriesByName('calanque-map-drawn');
  return {ms: marks[marks.length - 1].startTime - start,
          shown: Number(document.documentElement.dataset.mapShown)};
}"""


def browse(url: str, runs: int, expected: int) -> list[dict]:
    """Open the home page ``runs`` times in fresh browser contexts; return the measures of each run."""
    from playwright.sync_api import sync_playwright

    from calanque.devtools.chromium import launch_chromium

    results = []
    with sync_playwright() as p:
        try:
            browser = launch_chromium(p)
        except RuntimeError as err:
            raise SystemExit(str(err)) from None
        for run in range(runs + 1):  # the first run warms the server's caches and Chromium; not counted
            context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="fr-FR")
            page = context.new_page()
            page.goto(url + "/")
            page.wait_for_function(
                "() => document.documentElement.dataset.mapReady === 'true'", timeout=120_000
            )
            measure = page.evaluate(MEASURE)
            if measure["shown"] != expected:
                raise RuntimeError(f"the page drew {measure['shown']} assets, the API has {expected}")
            measure["filter"] = page.evaluate(REDRAW, "lighting")
            measure["unfilter"] = page.evaluate(REDRAW, "")
            if run:
                results.append(measure)
            console.print(
                f"run {run}{' (warm-up)' if not run else ''}: first paint {measure['fp']:.0f} ms, "
                f"map drawn {measure['drawn']:.0f} ms"
            )
            context.close()
        browser.close()
    return results


def main() -> None:
    """Parse the options, run the benchmark, print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--assets", type=int, default=20_000, help="number of located assets (default 20000)")
    parser.add_argument(
        "--runs", type=int, default=5, help="page loads measured (default 5, after one warm-up)"
    )
    parser.add_argument(
        "--backend", choices=["sqlite", "postgres"], default="sqlite", help="store (default sqlite)"
    )
    args = parser.parse_args()
    os.environ["CALANQUE_MAP_TILE_URL"] = ""  # no tiles: see the module docstring
    info = machine()
    load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(f"machine: {info['cpus']} CPUs ({info['cpu']}), {info['ram']}, load average {load_avg}")
    with server(args.backend, 1) as (client, _, _):
        rate = load(client, fleet(args.assets))
        console.print(f"{args.assets} assets created at {rate:.0f}/s")
        cold_ms, api_ms, size, count = map_endpoint(client, args.runs)
        runs = browse(f"http://127.0.0.1:{client.port}", args.runs, count)
    med = statistics.median
    table = Table(title=f"Home page, {count} assets, {args.backend}, median of {len(runs)} runs")
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_column("runs", justify="right")
    rows = [
        ("GET /api/v1/map, first call: full computation (ms)", [cold_ms]),
        ("GET /api/v1/map, next calls: cache + changes (ms)", api_ms),
        ("first paint (ms)", [r["fp"] for r in runs]),
        ("first contentful paint (ms)", [r["fcp"] for r in runs]),
        ("map data received (ms)", [r["dataEnd"] for r in runs]),
        ("all markers drawn (ms)", [r["drawn"] for r in runs]),
        ("redraw after a filter (ms)", [r["filter"]["ms"] for r in runs]),
        ("redraw, filter removed (ms)", [r["unfilter"]["ms"] for r in runs]),
    ]
    for name, values in rows:
        table.add_row(name, f"{med(values):.0f}", " ".join(f"{v:.0f}" for v in values))
    console.print(table)
    console.print(
        f"/api/v1/map: {size / 1024:.0f} KiB ({runs[0]['dataBytes'] / 1024:.0f} KiB on the wire); "
        f"{runs[0]['filter']['shown']} lights shown by the filter; load average now "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    fp = med([r["fp"] for r in runs])
    verdict = "met" if fp <= FIRST_PAINT_TARGET_MS else "MISSED"
    console.print(f"first paint {fp:.0f} ms, target {FIRST_PAINT_TARGET_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()

"""Benchmark of the use-case computations on one year of 1-minute history, and the collection plan.

Run: .venv/bin/python bench/usecases.py
It times the pure indicator functions and prints one line per indicator: median and worst of 3
runs. The mobility functions get the counts as the HTTP API builds them from the store
(``CountArrays.from_samples``: one record per minute and direction). The endpoints themselves,
store read included, are timed by bench/usecase_api.py.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.progress import track

import numpy as np

from calanque.usecases.mobility.counts import CountArrays, aggregate, busiest, weekday_hour_profile, year_on_year
from calanque.usecases.noise.indicators import daily_indicators, lden_report
from calanque.usecases.waste.forecast import Forecast
from calanque.usecases.waste.routing import ContainerState, collection_plan
from calanque.usecases.water.status import Thresholds, station_status

console = Console()
START = datetime(2025, 1, 1, tzinfo=UTC)
MINUTES = 365 * 24 * 60


def timed(fn: Callable[[], object], runs: int = 3) -> tuple[float, float]:
    """Median and worst wall time in milliseconds."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    """Build the series, time each computation, print the figures."""
    rng = random.Random(1)
    minutes = [START + timedelta(minutes=i) for i in track(range(MINUTES), description="building 1 year of 1-min data")]
    noise = [(t, 55 + 10 * math.sin(i / 720 * math.pi) + rng.random()) for i, t in enumerate(minutes)]
    water = [(t, 1.0 + 0.5 * math.sin(i / 5000)) for i, t in enumerate(minutes)]
    ends_us = np.array([int((t + timedelta(minutes=1)).timestamp() * 1_000_000) for t in minutes])
    draws = np.random.default_rng(1)
    counts = CountArrays.from_samples(
        {"in": (ends_us, draws.integers(0, 5, MINUTES)), "out": (ends_us, draws.integers(0, 5, MINUTES))}, 60)
    end = START + timedelta(days=365)
    results = {
        "noise lden_report (1 year, 1-min)": timed(lambda: lden_report(noise, START, end)),
        "noise daily_indicators (365 days, 1-min)": timed(
            lambda: daily_indicators(noise, START.date(), (end - timedelta(days=1)).date())),
        "water station_status (1 year, 1-min)": timed(
            lambda: station_status(water, Thresholds(2.0, 2.5, 3.0, 10, 20, 30), now=end)),
        "mobility aggregate by day (1 year, 2 × 1-min records)": timed(lambda: aggregate(counts, START, end, "day")),
        "mobility aggregate by hour (1 year, 2 × 1-min records)": timed(
            lambda: aggregate(counts, START, end, "hour")),
        "mobility weekday_hour_profile (1 year)": timed(lambda: weekday_hour_profile(counts, START, end)),
        "mobility year_on_year + busiest (1 year)": timed(
            lambda: (year_on_year(counts, end), busiest(counts, START, end))),
    }
    containers = [
        ContainerState(f"c{i}", 43.2 + rng.random() * 0.3, 5.2 + rng.random() * 0.4,
                       Forecast(0.85, 0.1, None, None, START))
        for i in range(2000)
    ]
    results["waste collection_plan (2 000 containers)"] = timed(
        lambda: collection_plan(containers, START + timedelta(days=1), START + timedelta(days=2), 0.8,
                                depot=(43.3, 5.45)))
    console.print(f"{'computation':55} {'median ms':>10} {'worst ms':>10}")
    for name, (median, worst) in results.items():
        console.print(f"{name:55} {median:10.1f} {worst:10.1f}")


if __name__ == "__main__":
    main()

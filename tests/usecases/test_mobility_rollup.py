"""Mobility counts read through the store's hourly summaries equal an independent computation from the samples.

Quarter-hour counts (measurementPeriod 900 s) stamped at :07, :22, :37 and :52, so that every hour's first
record straddles the hour before, in two directions, over the autumn DST change in Europe/Paris
(2026-10-25: the local hour 02:00 happens twice); written through the temporal API partly out of order
(late samples inside hours already summarised), with one instance deleted, one negative count (a device
fault: left out and counted), and two records overlapping in one hour. The reference below does not use
Calanque: a sample observed at t counts for [t − 900 s, t); a bucket gets count × overlap / 900 s of each
record overlapping it inside the window, and has data when at least one record overlaps it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from .test_mobility_api import BIKE, client, instance, iso, local, make_counter  # noqa: F401 - fixture

PARIS = ZoneInfo("Europe/Paris")
PERIOD = 900.0


def samples(rng: random.Random) -> dict[str, list[tuple[datetime, float]]]:
    """Counts at :07, :22, :37, :52 from 23 Oct 22:07Z to 27 Oct 01:52Z, per direction."""
    out: dict[str, list[tuple[datetime, float]]] = {"in": [], "out": []}
    t = datetime(2026, 10, 23, 22, 7, tzinfo=UTC)
    while t < datetime(2026, 10, 27, 2, tzinfo=UTC):
        out["in"].append((t, float(rng.randrange(0, 12))))
        out["out"].append((t, float(rng.randrange(0, 5))))
        t += timedelta(minutes=15)
    return out


def hour_bounds(a: datetime, b: datetime) -> list[datetime]:
    """Local hour boundaries covering [a, b) (whole-hour offsets: UTC hours)."""
    first = a.replace(minute=0, second=0, microsecond=0)
    out = [first]
    while out[-1] < b:
        out.append(out[-1] + timedelta(hours=1))
    return out


def day_bounds(a: datetime, b: datetime) -> list[datetime]:
    """Local midnights covering [a, b)."""
    day = a.astimezone(PARIS).date()
    out = [datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(UTC)]
    while out[-1] < b:
        day += timedelta(days=1)
        out.append(datetime(day.year, day.month, day.day, tzinfo=PARIS).astimezone(UTC))
    return out


def buckets(data: dict[str, list[tuple[datetime, float]]], bounds: list[datetime], a: datetime, b: datetime
            ) -> list[tuple[dict[str, float], float | None]]:
    """(counts per direction, total) of each bucket, by the definition."""
    out = []
    for lo, hi in zip(bounds, bounds[1:]):
        lo, hi = max(lo, a), min(hi, b)
        counts: dict[str, float] = {}
        for direction, series in data.items():
            for t, count in series:
                overlap = (min(t, hi) - max(t - timedelta(seconds=PERIOD), lo)).total_seconds()
                if count >= 0 and overlap > 0:
                    counts[direction] = counts.get(direction, 0.0) + count * overlap / PERIOD
        out.append((counts, sum(counts.values()) if counts else None))
    return out


def close(got: dict[str, float], want: dict[str, float]) -> bool:
    """Same directions and counts up to rounding."""
    return got.keys() == want.keys() and all(got[k] == pytest.approx(want[k], abs=1e-9) for k in want)


def test_counts_profile_summary_and_display_over_summarised_hours(client: httpx.Client) -> None:  # noqa: F811
    data = samples(random.Random(4))
    data["in"][100] = (data["in"][100][0], -3.0)  # a device fault: left out
    data["out"].append((data["out"][150][0] + timedelta(minutes=5), 7.0))  # overlaps its neighbours
    late = {d: s[3::7] for d, s in data.items()}
    early = {d: [p for k, p in enumerate(s) if k % 7 != 3] for d, s in data.items()}
    make_counter(client, BIKE, early, period=PERIOD)
    older = [instance(v, t, d) for d, s in late.items() for t, v in s]
    assert client.post(f"/ngsi-ld/v1/temporal/entities/{BIKE}/attrs", json={"intensity": older}).status_code == 204
    victim = data["in"][200]
    found = client.get(f"/ngsi-ld/v1/temporal/entities/{BIKE}", params={
        "attrs": "intensity", "timerel": "between", "timeAt": iso(victim[0]),
        "endTimeAt": iso(victim[0] + timedelta(seconds=1))}).json()["intensity"]
    ids = [i["instanceId"] for i in (found if isinstance(found, list) else [found])
           if i.get("datasetId") == "urn:ngsi-ld:Dataset:in"]
    assert len(ids) == 1
    assert client.delete(f"/ngsi-ld/v1/temporal/entities/{BIKE}/attrs/intensity/{ids[0]}").status_code == 204
    data["in"].remove(victim)

    url = f"/api/v1/mobility/{BIKE}"
    a, b = datetime(2026, 10, 24, 3, 41, 10, tzinfo=UTC), datetime(2026, 10, 26, 19, 3, tzinfo=UTC)
    hours = client.get(f"{url}/counts", params={"from": iso(a), "to": iso(b), "step": "hour"}).json()
    want = buckets(data, hour_bounds(a, b), a, b)
    assert len(hours["buckets"]) == len(want) and hours["ignoredSamples"] == 1
    for got, (counts, total) in zip(hours["buckets"], want):
        assert close(got["counts"], counts) and got["total"] == pytest.approx(total, abs=1e-9), got["start"]
    # the fall-back day: 25 hours, the local 02:00 twice
    assert [local(h["start"]).hour for h in hours["buckets"]].count(2) == 3
    days = client.get(f"{url}/counts", params={"from": iso(a), "to": iso(b), "step": "day"}).json()
    for got, (counts, total) in zip(days["buckets"], buckets(data, day_bounds(a, b), a, b), strict=True):
        assert close(got["counts"], counts) and got["total"] == pytest.approx(total, abs=1e-9), got["start"]

    profile = client.get(f"{url}/profile", params={"from": iso(a), "to": iso(b)}).json()["cells"]
    cells: dict[tuple[int, int], list[float]] = {}
    for start, (_, total) in zip(hour_bounds(a, b), want):
        if total is not None:
            moment = start.astimezone(PARIS)
            cells.setdefault((moment.weekday(), moment.hour), []).append(total)
    for cell in profile:
        values = cells.get((cell["weekday"], cell["hour"]), [])
        assert cell["samples"] == len(values)
        assert cell["average"] == (pytest.approx(sum(values) / len(values), abs=1e-9) if values else None)

    at = datetime(2026, 10, 26, 9, 30, tzinfo=UTC)
    year_start = datetime(2026, 1, 1, tzinfo=PARIS).astimezone(UTC)
    midnight = datetime(2026, 10, 26, tzinfo=PARIS).astimezone(UTC)
    shown = client.get(f"{url}/display", params={"at": iso(at)}).json()
    year_total = buckets(data, [year_start, at], year_start, at)[0][1]
    assert shown["year"] == round(year_total) and shown["today"] == round(buckets(data, [midnight, at], midnight, at)[0][1])
    last_end = max(t for s in data.values() for t, c in s if t <= at and c >= 0)
    assert local(shown["lastUpdate"]) == last_end
    summary = client.get(f"{url}/summary", params={"at": iso(at)}).json()
    assert summary["yearToDate"] == pytest.approx(year_total, abs=1e-9) and summary["yearOnYear"]["previous"] is None
    since = datetime(2026, 10, 23, tzinfo=UTC)  # the buckets before hold no record
    hourly = buckets(data, hour_bounds(since, at), since, at)
    best = max(range(len(hourly)), key=lambda k: (hourly[k][1] or -1, -k))
    assert summary["busiestHour"]["count"] == pytest.approx(hourly[best][1], abs=1e-9)
    assert local(summary["busiestHour"]["start"]) == hour_bounds(since, at)[best]
    daily = buckets(data, day_bounds(since, at), since, at)
    top = max(range(len(daily)), key=lambda k: (daily[k][1] or -1, -k))
    assert summary["busiestDay"]["count"] == pytest.approx(daily[top][1], abs=1e-9)
    assert local(summary["busiestDay"]["start"]) == day_bounds(since, at)[top]

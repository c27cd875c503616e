"""Noise indicators read through the store's hourly summaries equal an independent computation from the samples.

One-minute LAeq samples over the night of the spring DST change in Europe/Paris (2026-03-29, 02:00 local
becomes 03:00: that night lasts 7 h), written through the temporal API partly out of order (late samples
landing inside hours already summarised), with one instance deleted, one gap longer than the sensor's
period (that hour is read raw) and windows that do not start or end on whole hours (partial hours raw).
The reference below does not use Calanque: each sample stamped t covers [t − min(t − previous t, period), t);
a level over a span is 10·log10(Σ overlap·10^(L/10) / Σ overlap); L_N is the smallest level whose
cumulated time reaches (100 − N) % of the covered time; Lden (Directive 2002/49/EC Annex I) per local
date, energy-averaged over the dates whose cycle overlaps the window.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from .test_noise_api import create_sensor, lden_by_hand, root, stamp, write_levels

PARIS = ZoneInfo("Europe/Paris")
FIRST = datetime(2026, 3, 28, 2, tzinfo=UTC)
LAST = datetime(2026, 3, 30, 9, tzinfo=UTC)


def samples_with_gap(rng: random.Random) -> list[tuple[datetime, float]]:
    """A level every minute on the 0.1 dB grid (a day/night pattern plus noise), with 23 minutes missing
    at 2026-03-29 13:10-13:33 UTC."""
    out = []
    t = FIRST
    while t <= LAST:
        t += timedelta(minutes=1)
        if datetime(2026, 3, 29, 13, 10, tzinfo=UTC) < t <= datetime(2026, 3, 29, 13, 33, tzinfo=UTC):
            continue
        local_hour = t.astimezone(PARIS).hour
        base = 62.0 if 7 <= local_hour < 20 else 48.0
        out.append((t, round(base + rng.uniform(-6, 6), 1)))
    return out


def intervals(samples: list[tuple[datetime, float]], period: float) -> list[tuple[datetime, datetime, float]]:
    """[start, end, level) of each sample: it ends at its time and starts at the previous sample or one
    period earlier, whichever is later."""
    out = []
    previous = None
    for t, level in sorted(samples):
        span = period if previous is None else min((t - previous).total_seconds(), period)
        out.append((t - timedelta(seconds=span), t, level))
        previous = t
    return out


def overlaps(spans: list[tuple[datetime, datetime, float]], a: datetime, b: datetime) -> list[tuple[float, float]]:
    """(seconds inside [a, b), level) of every interval overlapping [a, b)."""
    out = []
    for s, e, level in spans:
        seconds = (min(e, b) - max(s, a)).total_seconds()
        if seconds > 0:
            out.append((seconds, level))
    return out


def level(parts: list[tuple[float, float]]) -> float | None:
    """Energy average of (seconds, level) parts."""
    total = math.fsum(d for d, _ in parts)
    return None if total == 0 else 10 * math.log10(math.fsum(d * 10 ** (lv / 10) for d, lv in parts) / total)


def exceeded(parts: list[tuple[float, float]], percent: float) -> float:
    """The level exceeded during `percent` % of the covered time."""
    ordered = sorted(parts, key=lambda p: p[1])
    total = math.fsum(d for d, _ in ordered)
    running = 0.0
    for seconds, lv in ordered:
        running += seconds
        if running >= (1 - percent / 100) * total * (1 - 1e-9):
            return lv
    return ordered[-1][1]


def local(day: date, hour: int) -> datetime:
    """A local (Europe/Paris) hour of a date, in UTC."""
    return datetime.combine(day, time(hour), tzinfo=PARIS).astimezone(UTC)


def reference(samples: list[tuple[datetime, float]], period: float, a: datetime, b: datetime) -> dict:
    """The indicators of [a, b) computed from the samples (French periods 06-18-22-06, Europe/Paris)."""
    spans = intervals(samples, period)
    inside = overlaps(spans, a, b)
    out = {"LAeq": level(inside), "samples": len(inside),
           "coverage": math.fsum(d for d, _ in inside) / (b - a).total_seconds()}
    out.update({f"L{n}": exceeded(inside, n) for n in (10, 50, 90)})
    day = a.astimezone(PARIS).date() - timedelta(days=1)
    parts: dict[str, list[tuple[float, float]]] = {"day": [], "evening": [], "night": []}
    daily = []
    while day <= b.astimezone(PARIS).date():
        bounds = {"day": (local(day, 6), local(day, 18)), "evening": (local(day, 18), local(day, 22)),
                  "night": (local(day, 22), local(day + timedelta(days=1), 6))}
        if bounds["day"][0] < b and bounds["night"][1] > a:
            levels = {}
            for name, (s, e) in bounds.items():
                piece = overlaps(spans, max(s, a), min(e, b)) if max(s, a) < min(e, b) else []
                parts[name] += piece
                levels[name] = level(piece)
            if None not in levels.values():
                daily.append(lden_by_hand(levels["day"], levels["evening"], levels["night"]))
        day += timedelta(days=1)
    out.update(Lday=level(parts["day"]), Levening=level(parts["evening"]), Lnight=level(parts["night"]))
    out["Lden"] = 10 * math.log10(math.fsum(10 ** (v / 10) for v in daily) / len(daily))
    return out


def instance_ids(api: httpx.Client, eid: str, at: datetime) -> list[str]:
    """The instance ids of the LAeq samples observed at ``at``."""
    r = api.get(f"/temporal/entities/{eid}", params={
        "attrs": "LAeq", "timerel": "between", "timeAt": stamp(at), "endTimeAt": stamp(at + timedelta(seconds=1))})
    assert r.status_code == 200, r.text
    found = r.json()["LAeq"]
    return [i["instanceId"] for i in (found if isinstance(found, list) else [found])]


@pytest.mark.parametrize("period", [60.0, 600.0])
def test_indicators_over_summarised_hours_equal_the_samples(api: httpx.Client, period: float) -> None:
    """Late samples, a deleted instance, a gap and a DST change: every indicator equals the reference."""
    samples = samples_with_gap(random.Random(int(period)))
    eid = create_sensor(api, f"rollup-{int(period)}", period_s=period)
    late = samples[5::9]  # written after the others: they land inside hours already summarised
    write_levels(api, eid, [s for k, s in enumerate(samples) if k % 9 != 5])
    write_levels(api, eid, late)
    victim = samples[700]
    (instance,) = instance_ids(api, eid, victim[0])
    assert api.delete(f"/temporal/entities/{eid}/attrs/LAeq/{instance}").status_code == 204
    samples.remove(victim)

    for a, b in [(datetime(2026, 3, 28, 3, 17, 30, tzinfo=UTC), datetime(2026, 3, 30, 6, 42, tzinfo=UTC)),
                 (datetime(2026, 3, 28, 4, tzinfo=UTC), datetime(2026, 3, 30, 4, tzinfo=UTC))]:
        r = httpx.get(f"{root(api)}/api/v1/noise/{eid}/indicators", params={"from": stamp(a), "to": stamp(b)})
        assert r.status_code == 200, r.text
        body, want = r.json(), reference(samples, period, a, b)
        assert body["samples"] == want["samples"]
        for key in ("LAeq", "Lday", "Levening", "Lnight", "Lden", "coverage"):
            assert body[key] == pytest.approx(want[key], rel=1e-9, abs=1e-9), key
        assert (body["L10"], body["L50"], body["L90"]) == (want["L10"], want["L50"], want["L90"])

    # one row per local date: the night of 28→29 March lasts 7 h
    r = httpx.get(f"{root(api)}/api/v1/noise/{eid}/daily", params={"from": "2026-03-28", "to": "2026-03-30"})
    assert r.status_code == 200, r.text
    rows = r.json()["days"]
    assert [row["hours_night"] for row in rows] == [7.0, 8.0]
    for row in rows:
        day = date.fromisoformat(row["day"])
        want = reference(samples, period, local(day, 6), local(day + timedelta(days=1), 6))
        assert row["samples"] == want["samples"]
        for key in ("LAeq", "Lday", "Levening", "Lnight", "Lden"):
            assert row[key] == pytest.approx(want[key], rel=1e-9, abs=1e-9), (row["day"], key)
        assert (row["L10"], row["L50"], row["L90"]) == (want["L10"], want["L50"], want["L90"])

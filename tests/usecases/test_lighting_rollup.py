"""Lighting energy read through the store's hourly summaries equals an independent computation from the samples.

One-minute power readings of a 100 W luminaire (switched on at 17:23, dimmed to 50 % from 22:00, off at
06:41 UTC: the switching hours mix lit and unlit samples and are read raw), one-minute readings of an
energy counter with a reset, and of the cabinet's meter, over the autumn DST change (2026-10-25); written
through the temporal API partly out of order (late readings inside hours already summarised), with an
instance deleted and a 40-minute silence (longer than the 30-minute integration gap: that hour is read
raw and the silence counts for nothing). The window does not start or end on whole hours. The reference
below does not use Calanque: trapezoids between consecutive power readings at most 30 min apart (W·h /
1000), hours on over those intervals starting at 10 W or more, and for a counter the sum of its
increases, a decrease being a reset (the new reading counts).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import httpx

from .test_lighting_api import CABINET, SL, create_light, lighting, prop, setup_assets, z

START = datetime(2026, 10, 24, 12, tzinfo=UTC)
END = datetime(2026, 10, 26, 12, tzinfo=UTC)
GAP = (datetime(2026, 10, 25, 9, 10, tzinfo=UTC), datetime(2026, 10, 25, 9, 50, tzinfo=UTC))


def minutes() -> list[datetime]:
    """Every minute from START to END, except inside the silence."""
    out, t = [], START
    while t <= END:
        if not GAP[0] < t < GAP[1]:
            out.append(t)
        t += timedelta(minutes=1)
    return out


def power(t: datetime) -> float:
    """100 W from 17:23 to 22:00, 50 W until 06:41, off otherwise (UTC)."""
    m = t.hour * 60 + t.minute
    if m >= 17 * 60 + 23 or m < 6 * 60 + 41:
        return 100.0 if 17 * 60 + 23 <= m < 22 * 60 else 50.0
    return 0.0


def counter(times: list[datetime], rng: random.Random, reset_at: int) -> list[tuple[datetime, float]]:
    """A cumulative kWh counter growing irregularly, reset to zero at one reading."""
    out, value = [], 1234.5
    for k, t in enumerate(times):
        value = 0.0 if k == reset_at else value + rng.choice([0.0, 0.001, 0.002, 0.0015])
        out.append((t, round(value, 4)))
    return out


def consumed_from_power(points: list[tuple[datetime, float]]) -> tuple[float, float]:
    """(kWh, hours on at >= 10 W) over consecutive readings at most 30 min apart."""
    kwh = hours = 0.0
    for (ta, a), (tb, b) in zip(points, points[1:]):
        h = (tb - ta).total_seconds() / 3600
        if h <= 0.5:
            kwh += (a + b) / 2 * h / 1000
            hours += h if a >= 10 else 0.0
    return kwh, hours


def increases(points: list[tuple[datetime, float]]) -> float:
    """The sum of a counter's increases; a decrease is a reset to zero."""
    return math.fsum(b - a if b >= a else b for (_, a), (_, b) in zip(points, points[1:]))


def late_first(api: httpx.Client, entity: str, attr: str, points: list[tuple[datetime, float]], unit: str) -> None:
    """Append readings in two passes: every 11th one last (they land inside hours already summarised)."""
    for part in ([p for k, p in enumerate(points) if k % 11 != 4], points[4::11]):
        for first in range(0, len(part), 1500):
            body = {attr: [prop(v, t, unit) for t, v in part[first:first + 1500]]}
            r = api.post(f"/temporal/entities/{entity}/attrs", json=body)
            assert r.status_code == 204, r.text


def delete_at(api: httpx.Client, entity: str, attr: str, at: datetime) -> None:
    """Delete the instance of ``attr`` observed at ``at``."""
    r = api.get(f"/temporal/entities/{entity}", params={
        "attrs": attr, "timerel": "between", "timeAt": z(at), "endTimeAt": z(at + timedelta(seconds=1))})
    found = r.json()[attr]
    (one,) = found if isinstance(found, list) else [found]
    assert api.delete(f"/temporal/entities/{entity}/attrs/{attr}/{one['instanceId']}").status_code == 204


def test_energy_over_summarised_hours_equals_the_readings(api: httpx.Client) -> None:
    setup_assets(api)
    rng = random.Random(5)
    times = minutes()
    watts = [(t, power(t)) for t in times]
    meter = counter(times, rng, reset_at=1700)
    cabinet = counter(times, rng, reset_at=10_000)
    create_light(api, "L1", {"powerConsumption": watts[-1:]}, {"powerConsumption": "WTT"})
    create_light(api, "L2", {"lifetimePowerConsumption": meter[-1:]}, {"lifetimePowerConsumption": "KWH"})
    late_first(api, SL + "L1", "powerConsumption", watts[:-1], "WTT")
    late_first(api, SL + "L2", "lifetimePowerConsumption", meter[:-1], "KWH")
    late_first(api, CABINET, "energyConsumed", cabinet, "KWH")
    for entity, attr, series, k in ((SL + "L1", "powerConsumption", watts, 2000),
                                    (SL + "L2", "lifetimePowerConsumption", meter, 900),
                                    (CABINET, "energyConsumed", cabinet, 1500)):
        delete_at(api, entity, attr, series[k][0])
        del series[k]

    a, b = datetime(2026, 10, 24, 13, 17, 30, tzinfo=UTC), datetime(2026, 10, 26, 10, 2, tzinfo=UTC)
    r = lighting(api, "/energy", **{"from": z(a), "to": z(b)})
    assert r.status_code == 200, r.text
    body = r.json()
    lights = {e["id"].rsplit(":", 1)[1]: e for e in body["lights"]}
    inside = lambda points: [p for p in points if a <= p[0] < b]  # noqa: E731
    kwh, hours = consumed_from_power(inside(watts))
    assert math.isclose(lights["L1"]["consumedKwh"], kwh, rel_tol=1e-9)
    assert math.isclose(lights["L1"]["hoursOn"], hours, rel_tol=1e-9)
    assert math.isclose(lights["L1"]["baselineKwh"], 100 * hours / 1000, rel_tol=1e-9)
    assert lights["L1"]["source"] == "powerConsumption"
    assert math.isclose(lights["L2"]["consumedKwh"], increases(inside(meter)), rel_tol=1e-9)
    assert lights["L2"]["source"] == "counter"
    (k1,) = body["cabinets"]
    assert math.isclose(k1["meteredKwh"], increases(inside(cabinet)), rel_tol=1e-9)

"""Waste forecasts and incidents read through the store's hourly summaries equal the reference computations.

One-minute fill levels and lid distances over the autumn DST change (2026-10-25), written through the
temporal API partly out of order (late samples inside hours already summarised) with one instance
deleted: a forecast over more history than is read whole (its emptyings looked for in the hours that
may hold one), and incidents of a container whose summaries rule out overflows and stuck readings
(only the stretches where a jump may be are read) and of one whose summaries do not. The references
are the per-sample functions of calanque.usecases.waste (forecast, the incident detectors) applied to
the samples the test wrote.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from calanque.usecases.waste.forecast import forecast
from calanque.usecases.waste.incidents import (
    IncidentRules,
    impossible_jump_incidents,
    overflow_incidents,
    stuck_sensor_incidents,
)
from calanque.usecases.waste.settings import WasteSettings

from .test_waste_api import LAYOUT, MODEL, WC, create, prop, waste, when, z

START = datetime(2026, 10, 23, 20, tzinfo=UTC)
SETTINGS = WasteSettings()
RULES = IncidentRules(overflow_for=timedelta(hours=SETTINGS.overflow_hours), high_fill=SETTINGS.high_fill,
                      high_fill_for=timedelta(hours=SETTINGS.high_fill_hours),
                      stuck_for=timedelta(hours=SETTINGS.stuck_hours), jump_rise=SETTINGS.jump_rise)


def fills(rng: random.Random, days: float, *, peak: float = 0.85, hold: range = range(0),
          stuck: range = range(0)) -> list[tuple[datetime, float]]:
    """A fill every minute rising by about 0.0014 a minute to ``peak``, emptied to 0.05 twice a day except
    during the minutes ``hold``, with an artefact (a 0.52 rise within 10 minutes, then back) once a day, and
    a constant reading during the minutes ``stuck``."""
    out, fill = [], 0.05
    for k in range(int(days * 1440)):
        t = START + timedelta(minutes=k + 1)
        if k % 720 == 719 and k not in hold:
            fill = 0.05
        else:
            fill = min(peak, fill + 0.0012 + rng.uniform(0, 0.0004))
        value = round(fill, 4)
        if k % 1440 in range(100, 110):
            value = round(min(1.0, fill + 0.52), 4)
        if k in stuck:
            value = 0.5
        out.append((t, value))
    return out


def distances(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """The lid distances (m) reading as those fills on the fixture model (empty 1.6 m, full 0.4 m)."""
    return [(t, round(1.6 - 1.2 * v, 4)) for t, v in points]


def write(api: httpx.Client, eid: str, attr: str, points: list[tuple[datetime, float]], unit: str) -> None:
    """Append through the temporal API, every 13th sample last (late, inside summarised hours)."""
    for part in ([p for k, p in enumerate(points) if k % 13 != 6], points[6::13]):
        for first in range(0, len(part), 1500):
            r = api.post(f"/temporal/entities/{eid}/attrs",
                         json={attr: [prop(v, t, unit) for t, v in part[first:first + 1500]]})
            assert r.status_code == 204, r.text


def delete_at(api: httpx.Client, eid: str, attr: str, at: datetime) -> None:
    """Delete the instance of ``attr`` observed at ``at``."""
    r = api.get(f"/temporal/entities/{eid}", params={
        "attrs": attr, "timerel": "between", "timeAt": z(at), "endTimeAt": z(at + timedelta(seconds=1))})
    found = r.json()[attr]
    (one,) = found if isinstance(found, list) else [found]
    assert api.delete(f"/temporal/entities/{eid}/attrs/{attr}/{one['instanceId']}").status_code == 204


def container(api: httpx.Client, local: str, level: list[tuple[datetime, float]]) -> str:
    """A container with fillingLevel and distance histories (late samples, one deleted instance of each)."""
    eid = WC + local
    lid = distances(level)
    create(api, {"id": eid, "type": "WasteContainer", "storedWasteKind": prop("glass"),
                 "refWasteContainerModel": {"type": "Relationship", "object": MODEL},
                 "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [5.38, 43.30]}},
                 "fillingLevel": prop(level[-1][1], level[-1][0], "C62"),
                 "distance": prop(lid[-1][1], lid[-1][0], "MTR")})
    write(api, eid, "fillingLevel", level[:-1], "C62")
    write(api, eid, "distance", lid[:-1], "MTR")
    for attr, series in (("fillingLevel", level), ("distance", lid)):
        delete_at(api, eid, attr, series[1000][0])
    del level[1000]
    return eid


def expected_incidents(level: list[tuple[datetime, float]], a: datetime, b: datetime) -> list[tuple]:
    """The incidents of the per-sample detectors over the samples in [a, b)."""
    inside = [(t, min(1.0, max(0.0, v))) for t, v in level if a <= t < b]
    lid = [(t, v) for t, v in distances(level) if a <= t < b]
    found = overflow_incidents(inside, RULES) + impossible_jump_incidents(inside, RULES) + \
        stuck_sensor_incidents(lid, (), RULES)
    return [(i.kind, i.started_at, i.ended_at, i.detail) for i in sorted(found, key=lambda i: (i.started_at, i.kind))]


def got_incidents(body: dict) -> list[tuple]:
    """The incidents of an answer."""
    return [(i["kind"], when(i["startedAt"]), when(i["endedAt"]) if i["endedAt"] else None, i["detail"])
            for i in body["incidents"]]


@pytest.mark.parametrize(("case", "peak", "hold", "stuck"), [
    ("jumps only", 0.85, range(0), range(0)),
    ("overflow", 0.99, range(1800, 3000), range(0)),
    ("stuck", 0.85, range(0), range(2000, 3600)),
])
def test_incidents_over_summarised_hours_equal_the_detectors(api: httpx.Client, case: str, peak: float, hold: range,
                                                             stuck: range) -> None:
    """Jumps only (the summaries rule out the rest: only the stretches around them are read), a container
    full for 18 h, one whose reading is stuck for 26 h: the same incidents as the per-sample detectors."""
    create(api, LAYOUT["model"])
    level = fills(random.Random(3), 3.5, peak=peak, hold=hold, stuck=stuck)
    eid = container(api, "rollup", level)
    a, b = datetime(2026, 10, 23, 21, 17, 45, tzinfo=UTC), datetime(2026, 10, 27, 6, 3, tzinfo=UTC)
    r = waste(api, f"/{eid}/incidents", **{"from": z(a), "to": z(b)})
    assert r.status_code == 200, r.text
    want = expected_incidents(level, a, b)
    kinds = {"jumps only": {"impossibleJump"}, "overflow": {"impossibleJump", "overflow", "prolongedHighFill"},
             "stuck": {"impossibleJump", "stuckSensor"}}[case]
    assert {k for k, *_ in want} == kinds
    assert got_incidents(r.json()) == want


def test_forecast_over_a_long_history_equals_the_reference(api: httpx.Client) -> None:
    """More than 5 000 samples since the lookback start: emptyings are looked for in the hours that may hold
    one, and the forecast equals the reference computed over the whole series."""
    create(api, LAYOUT["model"])
    level = fills(random.Random(8), 4.75)  # the last emptying at 08:00, on an hour boundary
    eid = container(api, "forecast", level)
    r = waste(api, f"/{eid}/forecast")
    assert r.status_code == 200, r.text
    body = r.json()
    ref = forecast(level, threshold=0.8)
    assert body["samples"] == len(level) and body["source"] == "fillingLevel"
    assert when(body["lastEmptying"]) == ref.last_emptying and ref.last_emptying is not None
    assert body["currentFill"] == ref.current_fill and when(body["observedAt"]) == ref.observed_at
    assert body["ratePerDay"] == pytest.approx(ref.rate_per_day, rel=1e-9)
    assert when(body["predictedFullAt"]) == ref.predicted_full_at

"""Lighting use-case API over HTTP (SQLite and PostgreSQL): schedules, faults and energy.

Entities and history are written through the NGSI-LD API. Sun times are computed in the test with
astral for the same coordinates; energies by hand (kWh = W × h / 1000) in the comments.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from astral import Observer
from astral.sun import sunrise, sunset

LAYOUT = json.loads((Path(__file__).parent / "fixtures" / "lighting_layout.json").read_text())
PARIS = ZoneInfo("Europe/Paris")
SL = "urn:ngsi-ld:Streetlight:"
GROUP = "urn:ngsi-ld:StreetlightGroup:"
CABINET = LAYOUT["cabinet"]["id"]
MODEL = LAYOUT["model"]["id"]


def root(api: httpx.Client) -> str:
    """The server's root URL (the api fixture's base URL is the NGSI-LD prefix)."""
    return str(api.base_url).split("/ngsi-ld/")[0]


def lighting(api: httpx.Client, path: str, **params: str) -> httpx.Response:
    """GET /api/v1/lighting<path>."""
    return httpx.get(f"{root(api)}/api/v1/lighting{path}", params=params, timeout=30)


def z(moment: datetime) -> str:
    """ISO 8601 UTC with Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when(text: str) -> datetime:
    """Parse an API timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def prop(value: object, at: datetime | None = None, unit: str | None = None) -> dict:
    """An NGSI-LD Property."""
    body: dict = {"type": "Property", "value": value}
    if at is not None:
        body["observedAt"] = z(at)
    if unit is not None:
        body["unitCode"] = unit
    return body


def create(api: httpx.Client, body: dict) -> None:
    """POST /entities."""
    r = api.post("/entities", json=body)
    assert r.status_code == 201, r.text


def point(lonlat: list[float]) -> dict:
    """A GeoProperty Point."""
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": lonlat}}


def setup_assets(api: httpx.Client) -> None:
    """The model, cabinet and the two groups of the fixture."""
    create(api, LAYOUT["model"])
    create(api, LAYOUT["cabinet"])
    for name, spec in LAYOUT["groups"].items():
        body: dict = {"id": GROUP + name, "type": "StreetlightGroup",
                      "refStreetlightControlCabinet": {"type": "Relationship", "object": CABINET},
                      "refStreetlight": {"type": "Relationship", "object": [SL + n for n in spec["lights"]]}}
        if "lonlat" in spec:
            body["location"] = point(spec["lonlat"])
        for key in ("switchOnOffset", "switchOffOffset"):
            if key in spec:
                body[key] = prop(spec[key], unit="MIN")
        if "dimmingProfile" in spec:
            body["dimmingProfile"] = prop(spec["dimmingProfile"])
        create(api, body)


def create_light(api: httpx.Client, name: str, series: dict[str, list[tuple[datetime, object]]],
                 units: dict[str, str] | None = None, **attrs: dict) -> None:
    """Create light ``name`` with the latest value of each series, then append the earlier ones as history."""
    spec = LAYOUT["lights"][name]
    group = next(g for g, s in LAYOUT["groups"].items() if name in s["lights"])
    body: dict = {"id": SL + name, "type": "Streetlight", "location": point(spec["lonlat"]),
                  "refStreetlightGroup": {"type": "Relationship", "object": GROUP + group}}
    if group == "G1":
        body["refStreetlightControlCabinet"] = {"type": "Relationship", "object": CABINET}
    if spec["model"]:
        body["refStreetlightModel"] = {"type": "Relationship", "object": MODEL}
    units = units or {}
    for attr, points in series.items():
        t, v = points[-1]
        body[attr] = prop(v, t, units.get(attr))
    body.update(attrs)
    create(api, body)
    earlier = {attr: [prop(v, t, units.get(attr)) for t, v in points[:-1]] for attr, points in series.items()
               if len(points) > 1}
    if earlier:
        r = api.post(f"/temporal/entities/{SL + name}/attrs", json=earlier)
        assert r.status_code == 204, r.text


def every(start: datetime, end: datetime, minutes: int) -> list[datetime]:
    """Times from start to end inclusive, every ``minutes``."""
    out = []
    t = start
    while t <= end:
        out.append(t)
        t += timedelta(minutes=minutes)
    return out


# ------------------------------------------------------------------------------ schedule

def test_schedule_matches_astral_with_offsets_and_dimming(api: httpx.Client) -> None:
    setup_assets(api)
    create_light(api, "L7", {})
    create_light(api, "L8", {})
    r = lighting(api, "/schedule", date="2026-01-10", group=GROUP + "G1")
    assert r.status_code == 200, r.text
    (g1,) = r.json()["groups"]
    here = Observer(latitude=43.2965, longitude=5.3698)
    on = sunset(here, date(2026, 1, 10), tzinfo=PARIS) + timedelta(minutes=10)
    off = sunrise(here, date(2026, 1, 11), tzinfo=PARIS) - timedelta(minutes=15)
    dim_from = datetime.combine(date(2026, 1, 10), time(23, 0), tzinfo=PARIS)
    dim_to = datetime.combine(date(2026, 1, 11), time(5, 0), tzinfo=PARIS)
    got = [(when(s["time"]), s["level"]) for s in g1["switches"]]
    expected = [(on, 1.0), (dim_from, 0.5), (dim_to, 1.0), (off, 0.0)]
    assert [lv for _, lv in got] == [lv for _, lv in expected]
    for (t, _), (e, _) in zip(got, expected, strict=True):
        assert abs(t - e) < timedelta(milliseconds=1), (t, e)
    assert abs(when(g1["switchOn"]) - on) < timedelta(milliseconds=1)
    assert abs(when(g1["switchOff"]) - off) < timedelta(milliseconds=1)
    assert when(g1["switchOn"]).utcoffset() == timedelta(hours=1)  # local time, CET in January
    hours_on = (off - on) / timedelta(hours=1)
    assert math.isclose(g1["hoursOn"], hours_on, rel_tol=1e-9)
    assert math.isclose(g1["fullPowerEquivalentHours"], hours_on - 0.5 * 6, rel_tol=1e-9)  # 6 h at half power
    # G2 has no location: its lights' centroid, ((5.40 + 5.42) / 2, (43.30 + 43.32) / 2).
    every_group = {g["id"]: g for g in lighting(api, "/schedule", date="2026-01-10").json()["groups"]}
    g2 = every_group[GROUP + "G2"]
    assert g2["locationSource"] == "lights"
    assert math.isclose(g2["location"]["lon"], 5.41) and math.isclose(g2["location"]["lat"], 43.31)
    there = Observer(latitude=43.31, longitude=5.41)
    assert abs(when(g2["switchOn"]) - sunset(there, date(2026, 1, 10), tzinfo=PARIS)) < timedelta(milliseconds=1)
    assert abs(when(g2["switchOff"]) - sunrise(there, date(2026, 1, 11), tzinfo=PARIS)) < timedelta(milliseconds=1)


def test_schedule_bad_requests(api: httpx.Client) -> None:
    setup_assets(api)
    create(api, {"id": GROUP + "G3", "type": "StreetlightGroup", "location": point([5.37, 43.29]),
                 "dimmingProfile": prop([{"from": "25:00", "to": "05:00", "level": 0.5}])})
    r = lighting(api, "/schedule", date="2026-01-10", group=GROUP + "G3")
    assert r.status_code == 400 and "G3" in r.json()["detail"] and "dimmingProfile[0].from" in r.json()["detail"]
    # Listing every group: G3 (bad profile) and G2 (no location, no light) are skipped with the reason.
    body = lighting(api, "/schedule", date="2026-01-10").json()
    assert [g["id"] for g in body["groups"]] == [GROUP + "G1"]
    reasons = {s["id"]: s["reason"] for s in body["skipped"]}
    assert set(reasons) == {GROUP + "G2", GROUP + "G3"}
    assert "no location" in reasons[GROUP + "G2"] and "25:00" in reasons[GROUP + "G3"]
    r = lighting(api, "/schedule", date="2026-02-30")
    assert r.status_code == 400 and "YYYY-MM-DD" in r.json()["detail"]
    r = lighting(api, "/schedule", date="2026-01-10", group=GROUP + "nope")
    assert r.status_code == 404 and "nope" in r.json()["detail"]


# ------------------------------------------------------------------------------ faults

F0 = datetime(2026, 1, 10, 12, tzinfo=UTC)
F1 = datetime(2026, 1, 10, 22, tzinfo=UTC)  # 23:00 in Paris: the lights are on (dimmed from 23:00)


def setup_faults(api: httpx.Client) -> tuple[datetime, datetime, datetime]:
    """Lights with one fault each; returns (switch-on time, end of daylight for the day burner, sunrise)."""
    setup_assets(api)
    here = Observer(latitude=43.2965, longitude=5.3698)  # the group's location: its schedule
    on = sunset(here, date(2026, 1, 10), tzinfo=UTC) + timedelta(minutes=10)
    # Daylight, for the day burner, is judged at the light's own position, minus the group's
    # switch-on offset and 15 min of tolerance.
    l2 = Observer(latitude=LAYOUT["lights"]["L2"]["lonlat"][1], longitude=LAYOUT["lights"]["L2"]["lonlat"][0])
    day_end = sunset(l2, date(2026, 1, 10), tzinfo=UTC) - timedelta(minutes=10 + 15)
    rise = sunrise(l2, date(2026, 1, 10), tzinfo=UTC)
    ticks = every(F0, F1 - timedelta(minutes=10), 10)  # 12:00 .. 21:50 every 10 min
    first_on = next(t for t in ticks if t >= on)
    # L1: commanded on from `on`, but draws 2 W (< 10 % of 100 W): a lamp failure, still open.
    create_light(api, "L1", {"powerConsumption": [(t, 0.0 if t < on else 2.0) for t in ticks]},
                 {"powerConsumption": "WTT"})
    # L2: draws 100 W all day: a day burner from the start of the period to the end of daylight; it is
    # dark by 22:00, so that fault is closed.
    create_light(api, "L2", {"powerConsumption": [(t, 100.0) for t in ticks]}, {"powerConsumption": "WTT"})
    # L3: normal, then flickers: 0 W at 21:00, 100 W at 21:10, ... 100 W at 21:50, 6 on/off transitions
    # (> 4 within an hour) while commanded on: cycling since 21:00, open until an hour after the last one.
    flicker = {datetime(2026, 1, 10, 21, 10 * k, tzinfo=UTC): 0.0 if k % 2 == 0 else 100.0 for k in range(6)}
    create_light(api, "L3", {"powerConsumption": [(t, flicker.get(t, 0.0 if t < on else 100.0)) for t in ticks]},
                 {"powerConsumption": "WTT"})
    # L4: reports every 10 min until 18:00, then nothing: silent for 4 h > 3 × 10 min.
    create_light(api, "L4", {"powerConsumption": [(t, 0.0 if t < on else 100.0) for t in ticks
                                                  if t <= datetime(2026, 1, 10, 18, tzinfo=UTC)]},
                 {"powerConsumption": "WTT"})
    # L6: last heard three days before the period (beyond the history look-back): silent since then.
    create_light(api, "L6", {"powerConsumption": [(datetime(2026, 1, 7, 12, tzinfo=UTC), 0.0)]})
    # L5: the controller itself reports a defective lamp at 20:00.
    create_light(api, "L5", {}, status=prop("defectiveLamp", datetime(2026, 1, 10, 20, tzinfo=UTC)))
    assert rise < F0
    return first_on, day_end, on


def test_open_faults(api: httpx.Client) -> None:
    first_on, _, on = setup_faults(api)
    r = lighting(api, "/faults", **{"from": z(F0), "to": z(F1)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lights"] == 6 and body["state"] == "open" and body["commandedState"] == "schedule"
    got = [(f["id"].rsplit(":", 1)[1], f["kind"], when(f["startedAt"]), f["source"]) for f in body["faults"]]
    # The failure shows from the first sample at least 5 minutes (command settling) after switch-on.
    failing_from = min(t for t in every(F0, F1, 10) if t >= on + timedelta(minutes=5))
    expected = [
        ("L6", "communicationLoss", datetime(2026, 1, 7, 12, tzinfo=UTC), "detected"),
        ("L4", "communicationLoss", datetime(2026, 1, 10, 18, tzinfo=UTC), "detected"),
        ("L5", "lampFailure", datetime(2026, 1, 10, 20, tzinfo=UTC), "device"),
        ("L3", "cycling", datetime(2026, 1, 10, 21, tzinfo=UTC), "detected"),
        ("L1", "lampFailure", failing_from, "detected"),
    ]
    assert sorted(got, key=lambda x: x[2]) == sorted(expected, key=lambda x: x[2])
    assert all(f["endedAt"] is None for f in body["faults"])
    assert first_on <= failing_from


def test_all_faults_include_the_closed_day_burner(api: httpx.Client) -> None:
    _, day_end, _ = setup_faults(api)
    body = lighting(api, "/faults", state="all", **{"from": z(F0), "to": z(F1)}).json()
    burner = [f for f in body["faults"] if f["kind"] == "dayBurner"]
    assert [f["id"] for f in burner] == [SL + "L2"]
    assert when(burner[0]["startedAt"]) == F0
    assert abs(when(burner[0]["endedAt"]) - day_end) < timedelta(milliseconds=1)
    # Only the lights of G2 (none created): no fault. An unknown group: 404.
    assert lighting(api, "/faults", group=GROUP + "G2", **{"from": z(F0), "to": z(F1)}).json()["faults"] == []
    assert lighting(api, "/faults", group=GROUP + "G9").status_code == 404


def test_faults_bad_parameters(api: httpx.Client) -> None:
    setup_assets(api)
    # A light without location nor group cannot be judged (daylight needs a position): skipped, with why.
    create(api, {"id": SL + "lost", "type": "Streetlight", "powerState": prop("on", F0)})
    body = lighting(api, "/faults", **{"from": z(F0), "to": z(F1)}).json()
    assert body["faults"] == [] and [s["id"] for s in body["skipped"]] == [SL + "lost"]
    assert "no location" in body["skipped"][0]["reason"]
    r = lighting(api, "/faults", **{"from": z(F1), "to": z(F0)})
    assert r.status_code == 400 and "before" in r.json()["detail"]
    r = lighting(api, "/faults", **{"from": z(F0), "to": z(F0 + timedelta(days=8))})
    assert r.status_code == 400 and "7 days" in r.json()["detail"]
    assert lighting(api, "/faults", state="closed").status_code == 400
    assert lighting(api, "/faults", to="soon").status_code == 400


# ------------------------------------------------------------------------------ energy

E0 = datetime(2026, 1, 10, 12, tzinfo=UTC)
E1 = datetime(2026, 1, 11, 12, tzinfo=UTC)


def setup_energy(api: httpx.Client) -> None:
    """Lights with power samples, an energy counter with a reset, a state carried into the period."""
    setup_assets(api)
    on, off = datetime(2026, 1, 10, 16, 30, tzinfo=UTC), datetime(2026, 1, 11, 7, 30, tzinfo=UTC)
    # L1: 60 W every 30 min from 16:30 to 07:30: 15 h on at 60 W, 0.9 kWh; baseline 100 W × 15 h = 1.5 kWh.
    create_light(api, "L1", {"powerConsumption": [(t, 60.0) for t in every(on, off, 30)]}, {"powerConsumption": "WTT"})
    # L2 has no power readings: its hours on come from powerState, on since 11:00 (before the period) until
    # 13:00, then 16:30 to 07:30: 1 + 15 = 16 h, baseline 1.6 kWh. Counter 1000.0 -> 1000.5 -> reset,
    # 0.25 -> 0.5: 0.5 + 0.25 + 0.25 = 1.0 kWh (the 999.0 before the period does not count).
    states = [(E0 - timedelta(hours=1), "on"), (E0 + timedelta(hours=1), "off"), (on, "on"), (off, "off")]
    counter = [(datetime(2026, 1, 10, 7, tzinfo=UTC), 999.0), (on, 1000.0),
               (datetime(2026, 1, 10, 23, tzinfo=UTC), 1000.5), (datetime(2026, 1, 11, 2, tzinfo=UTC), 0.25),
               (off, 0.5)]
    create_light(api, "L2", {"lifetimePowerConsumption": counter, "powerState": states},
                 {"lifetimePowerConsumption": "KWH"})
    # L6 has no model: consumption known, no baseline.
    create_light(api, "L6", {"powerConsumption": [(on, 50.0), (on + timedelta(minutes=30), 50.0)]})
    # L7 (group G2, cabinet K1 through its group): 100 W at 12:00, 12:30 and 13:00, then nothing:
    # 1 h on at 100 W, 0.1 kWh consumed and 0.1 kWh baseline.
    create_light(api, "L7", {"powerConsumption": [(E0, 100.0), (E0 + timedelta(minutes=30), 100.0),
                                                  (E0 + timedelta(hours=1), 100.0)]},
                 {"powerConsumption": "WTT"})
    # L8: no measurement.
    create_light(api, "L8", {})
    r = api.post(f"/temporal/entities/{CABINET}/attrs", json={"energyConsumed": [
        prop(500.0, E0, "KWH"), prop(502.2, E1 - timedelta(hours=1), "KWH")]})
    assert r.status_code == 204, r.text


def test_energy_per_light_group_and_cabinet(api: httpx.Client) -> None:
    setup_energy(api)
    r = lighting(api, "/energy", **{"from": z(E0), "to": z(E1)})
    assert r.status_code == 200, r.text
    body = r.json()
    lights = {e["id"].rsplit(":", 1)[1]: e for e in body["lights"]}
    expected = {"L1": (0.9, 1.5, 15.0, "powerConsumption", "powerConsumption"),
                "L2": (1.0, 1.6, 16.0, "counter", "powerState"),
                "L7": (0.1, 0.1, 1.0, "powerConsumption", "powerConsumption")}
    assert set(lights) == set(expected)
    for name, (consumed, baseline, hours_on, source, hours_source) in expected.items():
        e = lights[name]
        assert math.isclose(e["consumedKwh"], consumed, rel_tol=1e-9), (name, e)
        assert math.isclose(e["baselineKwh"], baseline, rel_tol=1e-9), (name, e)
        assert math.isclose(e["hoursOn"], hours_on, rel_tol=1e-9), (name, e)
        assert e["source"] == source and e["hoursSource"] == hours_source
        assert math.isclose(e["savedKwh"], baseline - consumed, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(lights["L1"]["savedPct"], 40.0)  # 0.6 / 1.5
    assert math.isclose(lights["L2"]["savedPct"], 37.5)  # 0.6 / 1.6
    groups = {g["id"].rsplit(":", 1)[1]: g for g in body["groups"]}
    # G1 = L1 + L2: 1.9 of 3.1 kWh, saved 1.2 (38.7 %); G2 = L7.
    assert math.isclose(groups["G1"]["consumedKwh"], 1.9) and math.isclose(groups["G1"]["baselineKwh"], 3.1)
    assert math.isclose(groups["G1"]["savedPct"], 120 / 3.1)
    assert math.isclose(groups["G2"]["consumedKwh"], 0.1) and math.isclose(groups["G2"]["savedKwh"], 0.0, abs_tol=1e-12)
    (k1,) = body["cabinets"]
    # K1 = L1 + L2 + L7: 2.0 of 3.2 kWh; its own meter counted 502.2 - 500.0 = 2.2 kWh.
    assert math.isclose(k1["consumedKwh"], 2.0) and math.isclose(k1["baselineKwh"], 3.2)
    assert math.isclose(k1["meteredKwh"], 2.2)
    assert math.isclose(body["total"]["consumedKwh"], 2.0) and math.isclose(body["total"]["savedKwh"], 1.2)
    assert body["withoutNominalPower"] == [SL + "L6"] and body["withoutData"] == [SL + "L8"]
    only_g1 = lighting(api, "/energy", group=GROUP + "G1", **{"from": z(E0), "to": z(E1)}).json()
    assert sorted(e["id"] for e in only_g1["lights"]) == [SL + "L1", SL + "L2"]


def test_energy_bad_parameters(api: httpx.Client) -> None:
    setup_assets(api)
    r = lighting(api, "/energy", **{"from": z(E1), "to": z(E0)})
    assert r.status_code == 400 and "before" in r.json()["detail"]
    r = lighting(api, "/energy", **{"from": z(E0), "to": z(E0 + timedelta(days=500))})
    assert r.status_code == 400 and "400 days" in r.json()["detail"]
    assert lighting(api, "/energy", **{"from": "2026-01-32"}).status_code == 400
    r = httpx.get(f"{root(api)}/api/v1/lighting/energy", headers={"NGSILD-Tenant": "nobody"}, timeout=10)
    assert r.status_code == 404


def test_lighting_endpoints_in_openapi(api: httpx.Client) -> None:
    spec = httpx.get(f"{root(api)}/openapi.json", timeout=10).json()
    for path in ("/api/v1/lighting/schedule", "/api/v1/lighting/faults", "/api/v1/lighting/energy"):
        assert path in spec["paths"], path
    listed = {u["name"]: u for u in httpx.get(f"{root(api)}/api/v1/usecases", timeout=10).json()}
    assert listed["lighting"]["deviceModels"] == ["calanque-streetlight", "milesight-ws558"]
    assert set(listed["lighting"]["entityTypes"]) == {
        "Streetlight", "StreetlightGroup", "StreetlightControlCabinet", "StreetlightModel"}


def test_on_hours_from_power_counts_the_integrated_lit_intervals() -> None:
    from calanque.usecases.lighting.energy import on_hours_from_power

    t = datetime(2026, 1, 10, 16, tzinfo=UTC)
    m = timedelta(minutes=1)
    # 16:00 80 W, 16:10 80 W, 16:20 5 W, 16:30 80 W, (gap of 2 h) 18:30 80 W, 18:40 0 W.
    # Lit (>= 10 W) intervals at most 30 min long: 16:00-16:10, 16:10-16:20, 18:30-18:40 = 30 min;
    # 16:20-16:30 starts at 5 W, 16:30-18:30 is a gap.
    power = [(t, 80.0), (t + 10 * m, 80.0), (t + 20 * m, 5.0), (t + 30 * m, 80.0), (t + 150 * m, 80.0),
             (t + 160 * m, 0.0)]
    assert on_hours_from_power(power, 10.0, timedelta(minutes=30)) == 0.5
    assert on_hours_from_power(power, 10.0, timedelta(hours=3)) == 2.5  # the gap now counts: + 2 h
    assert on_hours_from_power([], 10.0) == 0.0


# ------------------------------------------------------------------------------ network state

def test_network_state_counts_each_light_once(api: httpx.Client) -> None:
    setup_assets(api)
    now = datetime.now(UTC)
    recent, old = now - timedelta(minutes=5), now - timedelta(hours=2)
    create_light(api, "L1", {"powerConsumption": [(recent, 100)], "illuminanceLevel": [(recent, 1.0)]})
    create_light(api, "L2", {"powerConsumption": [(recent, 50)], "illuminanceLevel": [(recent, 0.5)]})
    create_light(api, "L3", {"powerConsumption": [(recent, 5)], "powerState": [(recent, "on")]})
    create_light(api, "L4", {"powerState": [(recent, "on")]})
    create_light(api, "L5", {"powerState": [(old, "off")]})
    create_light(api, "L6", {"powerConsumption": [(recent, 80)], "status": [(recent, "defectiveLamp")]})
    create_light(api, "L7", {})
    create_light(api, "L8", {"powerConsumption": [(recent, 30)], "powerState": [(recent, "off")]})
    r = lighting(api, "/network")
    assert r.status_code == 200, r.text
    body = r.json()
    # nominal 100 W, lit from 10 W: L1 100 W, L2 50 W, L8 30 W (power wins over powerState), L4 powerState on;
    # off: L3 5 W, L5 powerState off; unknown: L6 (no model, no powerState), L7 (nothing)
    assert (body["lights"], body["lit"], body["off"], body["unknown"]) == (8, 4, 2, 2)
    assert body["dimmed"] == 1  # L2 at 50 %
    assert body["silent"] == 2  # L5 (2 h > 3 × 10 min), L7 (never heard)
    assert body["reportedFaulty"] == 1  # L6
    assert body["powerW"] == 100 + 50 + 5 + 80 + 30
    assert (body["groups"], body["cabinets"]) == (2, 1)
    assert httpx.get(f"{root(api)}/api/v1/lighting/network", headers={"NGSILD-Tenant": "nobody"}).status_code == 404

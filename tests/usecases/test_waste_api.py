"""Waste use-case API over HTTP (SQLite and PostgreSQL), and its ingestion enricher.

Entities and history are written through the NGSI-LD API; every expected value is worked out
by hand in the comments: fill = (emptyDistance − distance) / (emptyDistance − fullDistance),
straight-line fill rates (the least-squares slope of points on a line is that line's slope),
great-circle legs along one meridian (R·Δφ).
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from calanque.usecases.common import term_iri
from calanque.usecases.registry import Enrichment
from calanque.usecases.waste.settings import WasteSettings
from calanque.usecases.waste.usecase import USECASE

LAYOUT = json.loads((Path(__file__).parent / "fixtures" / "waste_layout.json").read_text())
MODEL = LAYOUT["model"]["id"]
ISLE = LAYOUT["isle"]["id"]
WC = "urn:ngsi-ld:WasteContainer:"
R_KM = 6371.0088  # IUGG mean Earth radius, the radius the round lengths are stated for
# Model geometry: empty at 1.6 m, full at 0.4 m, so fill = (1.6 - d) / 1.2 and d = 1.6 - 1.2·fill.
EMPTY_M, FULL_M = 1.6, 0.4


def dist_for(fill: float) -> float:
    """The lid distance (m) that reads as ``fill`` on the fixture model."""
    return EMPTY_M - (EMPTY_M - FULL_M) * fill


def root(api: httpx.Client) -> str:
    """The server's root URL (the api fixture's base URL is the NGSI-LD prefix)."""
    return str(api.base_url).split("/ngsi-ld/")[0]


def waste(api: httpx.Client, path: str, **params: str) -> httpx.Response:
    """GET /api/v1/waste<path>."""
    return httpx.get(f"{root(api)}/api/v1/waste{path}", params=params, timeout=30)


def z(moment: datetime) -> str:
    """ISO 8601 UTC with Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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


def append(api: httpx.Client, eid: str, attr: str, points: list[tuple[datetime, object]], unit: str | None) -> None:
    """Append history instances through the temporal API."""
    r = api.post(f"/temporal/entities/{eid}/attrs", json={attr: [prop(v, t, unit) for t, v in points]})
    assert r.status_code == 204, r.text


def container_body(name: str, **attrs: dict) -> dict:
    """A fixture container (kind, location, model, isle) with extra attributes."""
    spec = LAYOUT["containers"][name]
    body: dict = {
        "id": WC + name, "type": "WasteContainer",
        "storedWasteKind": prop(spec["kind"]),
        "refWasteContainerModel": {"type": "Relationship", "object": MODEL},
        "refWasteContainerIsle": {"type": "Relationship", "object": ISLE},
    }
    if "lonlat" in spec:
        body["location"] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": spec["lonlat"]}}
    if "binFullnessThreshold" in spec:
        body["binFullnessThreshold"] = prop(spec["binFullnessThreshold"])
    body.update(attrs)
    return body


def emptied(at: datetime) -> dict:
    """A dateLastEmptying Property."""
    return prop({"@type": "DateTime", "@value": z(at)}, at)


def setup_layout(api: httpx.Client) -> None:
    """The model and the isle of the fixture."""
    create(api, LAYOUT["model"])
    create(api, LAYOUT["isle"])


# ------------------------------------------------------------------------------ forecast

def test_forecast_from_distances_and_model_geometry(api: httpx.Client) -> None:
    setup_layout(api)
    day0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
    # Distances only (no fillingLevel): 1.48, 1.36, 1.24, 1.12 m read as fills 0.1, 0.2, 0.3, 0.4 on
    # days 0..3, a straight line of 0.1 per day. The 0.52 m (fill 0.9) the day before the last
    # emptying belongs to the previous cycle and must not count.
    create(api, container_body("A", distance=prop(1.12, day0 + timedelta(days=3), "MTR"), dateLastEmptying=emptied(day0)))
    append(api, WC + "A", "distance",
           [(day0 - timedelta(days=1), 0.52), (day0, 1.48), (day0 + timedelta(days=1), 1.36),
            (day0 + timedelta(days=2), 1.24)], "MTR")
    r = waste(api, f"/{WC}A/forecast")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "distance" and body["samples"] == 4
    assert math.isclose(body["currentFill"], 0.4, abs_tol=1e-9)
    assert math.isclose(body["ratePerDay"], 0.1, rel_tol=1e-9)
    # 0.4 + 0.1/day reaches 0.8 after (0.8 - 0.4) / 0.1 = 4 days: day 7 at noon.
    assert abs(when(body["predictedFullAt"]) - (day0 + timedelta(days=7))) < timedelta(seconds=1)
    assert when(body["lastEmptying"]) == day0 and when(body["since"]) == day0
    assert body["threshold"] == 0.8 and body["full"] is False
    # With threshold 0.5: (0.5 - 0.4) / 0.1 = 1 day after the last reading.
    body = waste(api, f"/{WC}A/forecast", threshold="0.5").json()
    assert abs(when(body["predictedFullAt"]) - (day0 + timedelta(days=4))) < timedelta(seconds=1)
    # Already past 0.3: the predicted date is when it got there, day 2.
    body = waste(api, f"/{WC}A/forecast", threshold="0.3").json()
    assert body["full"] is True and when(body["predictedFullAt"]) == day0 + timedelta(days=2)


def test_forecast_detects_emptying_in_history(api: httpx.Client) -> None:
    setup_layout(api)
    t = datetime(2026, 3, 10, 0, tzinfo=UTC)
    # No dateLastEmptying: the history shows 0.9 at 23:00 and 0.05 one hour later (an emptying at
    # t), then 0.05 + 0.2/day sampled every 6 h for two days. Rate 0.2/day; the last reading,
    # at t + 2 days, is 0.45; 0.8 is reached (0.8 - 0.45) / 0.2 = 1.75 days later.
    fills = [(t - timedelta(hours=1), 0.9)] + [(t + timedelta(hours=6 * k), 0.05 + 0.2 * k / 4) for k in range(9)]
    create(api, container_body("B", fillingLevel=prop(fills[-1][1], fills[-1][0], "C62")))
    append(api, WC + "B", "fillingLevel", fills[:-1], "C62")
    body = waste(api, f"/{WC}B/forecast").json()
    assert body["source"] == "fillingLevel"
    assert when(body["lastEmptying"]) == t
    assert math.isclose(body["ratePerDay"], 0.2, rel_tol=1e-9)
    assert math.isclose(body["currentFill"], 0.45, rel_tol=1e-9)
    assert abs(when(body["predictedFullAt"]) - (t + timedelta(days=2 + 1.75))) < timedelta(seconds=1)


def test_forecast_bad_requests(api: httpx.Client) -> None:
    setup_layout(api)
    assert waste(api, f"/{WC}nope/forecast").status_code == 404
    r = waste(api, f"/{MODEL}/forecast")
    assert r.status_code == 400 and "WasteContainer" in r.json()["detail"]
    create(api, container_body("F"))
    r = waste(api, f"/{WC}F/forecast")
    assert r.status_code == 404 and "nothing to forecast" in r.json()["detail"]
    assert waste(api, f"/{WC}F/forecast", threshold="1.5").status_code == 400
    assert waste(api, f"/{WC}F/forecast", threshold="x").status_code == 400


# ------------------------------------------------------------------------------ plan

T = datetime(2026, 3, 1, 12, tzinfo=UTC)  # time of the latest readings; a Sunday
COLLECTION = datetime(2026, 3, 1, 23, tzinfo=UTC)  # Monday 2026-03-02 00:00 in Paris (UTC+1)
NEXT = datetime(2026, 3, 8, 23, tzinfo=UTC)  # the next glass day (Mondays by default), 2026-03-09 00:00 Paris


def setup_plan(api: httpx.Client) -> None:
    """Glass containers A..J as in the fixture's comment, with readings at T."""
    setup_layout(api)
    day = timedelta(days=1)
    # A: 0.9 (full), emptied 7 days before T.
    create(api, container_body("A", fillingLevel=prop(0.9, T, "C62"), dateLastEmptying=emptied(T - 7 * day)))
    # B: emptied 10 days before T, then 0.05 per day: 0.0 .. 0.5. The 0.85 before the emptying is ignored.
    create(api, container_body("B", fillingLevel=prop(0.5, T, "C62"), dateLastEmptying=emptied(T - 10 * day)))
    append(api, WC + "B", "fillingLevel",
           [(T - 10 * day - timedelta(hours=6), 0.85)] + [(T - (10 - k) * day, 0.05 * k) for k in range(10)], "C62")
    # H: also 0.5, emptied 10 days before T, but it started from 0.15 and rose 0.035 per day.
    create(api, container_body("H", fillingLevel=prop(0.5, T, "C62"), dateLastEmptying=emptied(T - 10 * day)))
    append(api, WC + "H", "fillingLevel", [(T - (10 - k) * day, 0.15 + 0.035 * k) for k in range(10)], "C62")
    # C: 0.5 with its own threshold of 50 %: full. No known emptying.
    create(api, container_body("C", fillingLevel=prop(0.5, T, "C62")))
    # D: 0.1, emptied 10 days ago: slow.
    create(api, container_body("D", fillingLevel=prop(0.1, T, "C62"), dateLastEmptying=emptied(T - 10 * day)))
    # E: paper, full: not in the glass plan.
    create(api, container_body("E", fillingLevel=prop(0.95, T, "C62")))
    # F: no reading. G: full but without location.
    create(api, container_body("F"))
    create(api, container_body("G", fillingLevel=prop(0.9, T, "C62"), dateLastEmptying=emptied(T - 7 * day)))
    # J: no dateLastEmptying, but its history shows one: 0.9 then 0.05 an hour later, 5 days before T;
    # then 0.11 per day up to 0.6 at T.
    create(api, container_body("J", fillingLevel=prop(0.6, T, "C62")))
    append(api, WC + "J", "fillingLevel",
           [(T - 5 * day - timedelta(hours=1), 0.9)] + [(T - (5 - k) * day, 0.05 + 0.11 * k) for k in range(5)],
           "C62")


def test_collection_plan_selection_predictions_and_round(api: httpx.Client) -> None:
    setup_plan(api)
    r = waste(api, "/collection-plan", date="2026-03-02", kind="glass", depot="5.0,43.0")
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["nextCollectionDate"] == "2026-03-09"
    assert when(plan["collectionAt"]) == COLLECTION and when(plan["nextCollectionAt"]) == NEXT
    assert plan["containers"] == 8  # A, B, C, D, F, G, H, J are glass
    stops = plan["stops"]
    # Nearest neighbour from the depot on the meridian visits A (43.01), B (43.02), J (43.025), C (43.03)
    # and comes back: 0.03° out and 0.03° back, 2·R·0.03·π/180 km.
    assert [s["id"] for s in stops] == [WC + "A", WC + "B", WC + "J", WC + "C"]
    assert [s["order"] for s in stops] == [1, 2, 3, 4]
    assert math.isclose(plan["lengthKm"], 2 * R_KM * math.radians(0.03), rel_tol=1e-9)
    by = {s["id"]: s for s in stops}
    h = 11 / 24  # days from the readings (12:00 UTC) to the collection (23:00 UTC)
    days_to_next = (NEXT - T) / timedelta(days=1)  # 7 + 11/24
    # A is full: its rate is the mean since its emptying, 0.9 over 7 days.
    assert by[WC + "A"]["rateSource"] == "meanSinceLastEmptying"
    assert math.isclose(by[WC + "A"]["predictedFill"], 0.9 + 0.9 / 7 * h, rel_tol=1e-9)
    # B and H both read 0.5 ten days after their emptying: a mean of 0.05/day, which predicts
    # 0.5 + 0.05·7.46 = 0.87 at the next collection, within 0.1 of 0.8, so their history decides.
    # B's history is the 0.05/day line: 0.87 >= 0.8, selected, 0.5 + 0.05·11/24 at the collection.
    assert 0.7 < 0.5 + 0.05 * days_to_next < 0.9
    assert by[WC + "B"]["rateSource"] == "history"
    assert math.isclose(by[WC + "B"]["ratePerDay"], 0.05, rel_tol=1e-9)
    assert math.isclose(by[WC + "B"]["predictedFill"], 0.5 + 0.05 * h, rel_tol=1e-9)
    assert math.isclose(by[WC + "B"]["predictedFillAtNextCollection"], 0.5 + 0.05 * days_to_next, rel_tol=1e-9)
    # H rose 0.035/day: 0.5 + 0.035·7.46 = 0.76 < 0.8, left for the next round.
    assert 0.5 + 0.035 * days_to_next < 0.8 and WC + "H" not in by
    # J: the emptying found in its history 5 days before T, then 0.11/day.
    assert by[WC + "J"]["rateSource"] == "history"
    assert when(by[WC + "J"]["lastEmptying"]) == T - timedelta(days=5)
    assert math.isclose(by[WC + "J"]["ratePerDay"], 0.11, rel_tol=1e-9)
    assert math.isclose(by[WC + "J"]["predictedFill"], 0.6 + 0.11 * h, rel_tol=1e-9)
    # C: its own threshold 0.5 is reached; no rate is known.
    assert by[WC + "C"]["threshold"] == 0.5 and by[WC + "C"]["rateSource"] == "none"
    assert by[WC + "C"]["predictedFill"] == 0.5
    # History was read for B, H and J only: A, C, G are full and D is far from the threshold
    # (0.1 + 0.01·7.46 = 0.17).
    assert plan["historyReads"] == 3
    assert plan["withoutData"] == [WC + "F"]
    assert [u["id"] for u in plan["selectedWithoutLocation"]] == [WC + "G"]
    assert plan["selected"] == 5


def test_collection_plan_depot_threshold_and_calendar(api: httpx.Client) -> None:
    setup_plan(api)
    # A depot north of C (43.04) reverses the round: C, J, B, A, then back; 0.01 + 0.005 + 0.005 + 0.01
    # + 0.03 degrees.
    plan = waste(api, "/collection-plan", date="2026-03-02", kind="glass", depot="5.0,43.04").json()
    assert [s["id"] for s in plan["stops"]] == [WC + "C", WC + "J", WC + "B", WC + "A"]
    assert math.isclose(plan["lengthKm"], R_KM * math.radians(0.06), rel_tol=1e-9)
    # A threshold of 0.95 for every container. A (0.9, 0.9/7 per day since its emptying) gets there;
    # B (0.87) and H (0.76) do not; J (1.0) does; C (0.5, no rate known) does not; G gets there like A
    # but has no location.
    plan = waste(api, "/collection-plan", date="2026-03-02", kind="glass", depot="5.0,43.0", threshold="0.95").json()
    assert [s["id"] for s in plan["stops"]] == [WC + "A", WC + "J"]
    assert plan["stops"][0]["rateSource"] == "meanSinceLastEmptying"
    assert math.isclose(plan["stops"][0]["ratePerDay"], 0.9 / 7, rel_tol=1e-9)
    assert [u["id"] for u in plan["selectedWithoutLocation"]] == [WC + "G"]
    # Paper is collected on Wednesdays by default: from Monday 2 March the next is Wednesday 4 March.
    plan = waste(api, "/collection-plan", date="2026-03-02", kind="paper").json()
    assert plan["nextCollectionDate"] == "2026-03-04" and [s["id"] for s in plan["stops"]] == [WC + "E"]


def test_collection_plan_bad_parameters(api: httpx.Client) -> None:
    setup_plan(api)
    cases = [
        ({"date": "2026-03-02", "kind": "metal"}, "metal"),
        ({"date": "2026-13-02", "kind": "glass"}, "YYYY-MM-DD"),
        ({"date": "tomorrow", "kind": "glass"}, "YYYY-MM-DD"),
        ({"date": "2026-03-02T10:00:00Z", "kind": "glass"}, "YYYY-MM-DD"),
        ({"date": "2026-03-02", "kind": "glass", "depot": "5.0"}, "longitude,latitude"),
        ({"date": "2026-03-02", "kind": "glass", "depot": "43.0,95.0"}, "outside"),
        ({"date": "2026-03-02", "kind": "glass", "threshold": "0"}, "threshold"),
        ({"kind": "glass"}, "date"),
        ({"date": "2026-03-02"}, "kind"),
    ]
    for params, word in cases:
        r = waste(api, "/collection-plan", **params)
        assert r.status_code == 400, (params, r.text)
        assert word in r.json()["detail"], (params, r.json())
    r = httpx.get(f"{root(api)}/api/v1/waste/collection-plan", params={"date": "2026-03-02", "kind": "glass"},
                  headers={"NGSILD-Tenant": "nobody"})
    assert r.status_code == 404


def test_collection_calendar_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    monkeypatch.setenv("CALANQUE_WASTE_COLLECTION_DAYS", '{"glass": ["Friday", "tuesday"], "organic": ["monday"]}')
    settings = WasteSettings()
    # 2026-03-02 is a Monday: the next glass day is Tuesday 3, then from Tuesday, Friday 6.
    assert settings.next_collection("glass", date(2026, 3, 2)) == date(2026, 3, 3)
    assert settings.next_collection("glass", date(2026, 3, 3)) == date(2026, 3, 6)
    assert settings.next_collection("organic", date(2026, 3, 2)) == date(2026, 3, 9)
    monkeypatch.setenv("CALANQUE_WASTE_COLLECTION_DAYS", '{"glass": ["someday"]}')
    with pytest.raises(ValueError, match="not weekdays"):
        WasteSettings()
    monkeypatch.setenv("CALANQUE_WASTE_COLLECTION_DAYS", '{"glass": ["monday"]}')
    monkeypatch.setenv("CALANQUE_WASTE_DEPOT", "north")
    with pytest.raises(ValueError, match="longitude,latitude"):
        WasteSettings()


# ------------------------------------------------------------------------------ incidents

I0 = datetime(2026, 4, 1, 0, tzinfo=UTC)


def hours(h: float) -> datetime:
    """I0 plus ``h`` hours."""
    return I0 + timedelta(hours=h)


def setup_incidents(api: httpx.Client) -> None:
    """Two containers of one isle: I1 with every kind of incident, I2 its quiet peer."""
    setup_layout(api)
    fills: list[tuple[datetime, float]] = [(hours(k), 0.99) for k in range(15)]  # full 00:00..14:00 on day 1
    fills.append((hours(15), 0.05))  # emptied: full from 00:00 to 15:00, 15 h > 12 h: an overflow
    fills += [(hours(15 + k), 0.05 + 0.01 * k) for k in range(1, 19)]  # slow rise until day 2 09:00
    fills += [(hours(34), 0.1), (hours(34.5), 0.7)]  # day 2 10:00 -> 10:30: +0.6 within an hour, a jump
    fills += [(hours(35), 0.7), (hours(36), 0.8), (hours(37), 0.9)]
    fills += [(hours(38), 0.99), (hours(39), 0.99), (hours(40), 0.99)]  # full 14:00..17:00: 3 h, no overflow
    fills += [(hours(41 + k), 0.1) for k in range(31)]  # emptied at 17:00, quiet until day 3 23:00
    readings = [(hours(36 + k), 1.2) for k in range(31)] + [(hours(67), 1.1)]  # day 2 12:00 .. day 3 18:00
    peer = [(hours(k), 1.5 - 0.001 * k) for k in range(72)]
    create(api, {**container_body("A", fillingLevel=prop(fills[-1][1], fills[-1][0], "C62"),
                                  distance=prop(readings[-1][1], readings[-1][0], "MTR"),
                                  status=prop("ok", hours(57))), "id": WC + "I1"})
    append(api, WC + "I1", "fillingLevel", fills[:-1], "C62")
    append(api, WC + "I1", "distance", readings[:-1], "MTR")
    append(api, WC + "I1", "status", [(hours(54), "moved")], None)  # moved from day 3 06:00 to 09:00
    create(api, {**container_body("B", distance=prop(peer[-1][1], peer[-1][0], "MTR"),
                                  status=prop("dropped", hours(68))), "id": WC + "I2"})
    append(api, WC + "I2", "distance", peer[:-1], "MTR")


EXPECTED_I1 = [
    ("overflow", hours(0), hours(15)),
    ("impossibleJump", hours(34), hours(34.5)),
    ("stuckSensor", hours(36), hours(67)),
    ("moved", hours(54), hours(57)),
]


def test_incidents_of_the_fleet_and_of_one_container(api: httpx.Client) -> None:
    setup_incidents(api)
    r = waste(api, "/incidents", **{"from": z(I0), "to": z(I0 + timedelta(days=3))})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["containers"] == 2
    got = [(i["id"].rsplit(":", 1)[1], i["kind"], when(i["startedAt"]), i["endedAt"] and when(i["endedAt"]))
           for i in body["incidents"]]
    expected = [("I1", k, s, e) for k, s, e in EXPECTED_I1] + [("I2", "tilted", hours(68), None)]
    assert sorted(got, key=lambda x: (x[2], x[0])) == sorted(expected, key=lambda x: (x[2], x[0]))
    stuck = next(i for i in body["incidents"] if i["kind"] == "stuckSensor")
    assert "1.2" in stuck["detail"] and "30.0 h" in stuck["detail"]  # 12:00 day 2 to 18:00 day 3
    one = waste(api, f"/{WC}I1/incidents", **{"from": z(I0), "to": z(I0 + timedelta(days=3))}).json()
    assert [(i["kind"], when(i["startedAt"])) for i in one["incidents"]] == [(k, s) for k, s, _ in EXPECTED_I1]
    # Paper only: none of them.
    assert waste(api, "/incidents", kind="paper", **{"from": z(I0), "to": z(hours(72))}).json()["containers"] == 0


def test_incidents_bad_parameters(api: httpx.Client) -> None:
    setup_incidents(api)
    assert waste(api, f"/{WC}nope/incidents").status_code == 404
    r = waste(api, "/incidents", **{"from": z(hours(10)), "to": z(hours(10))})
    assert r.status_code == 400 and "before" in r.json()["detail"]
    r = waste(api, "/incidents", **{"from": z(I0), "to": z(I0 + timedelta(days=40))})
    assert r.status_code == 400 and "31 days" in r.json()["detail"]
    r = waste(api, f"/{WC}I1/incidents", **{"from": z(I0), "to": z(I0 + timedelta(days=500))})
    assert r.status_code == 400 and "400 days" in r.json()["detail"]
    assert waste(api, "/incidents", **{"from": "yesterday"}).status_code == 400
    assert waste(api, "/incidents", kind="metal").status_code == 400


def test_waste_endpoints_in_openapi(api: httpx.Client) -> None:
    spec = httpx.get(f"{root(api)}/openapi.json", timeout=10).json()
    for path in ("/api/v1/waste/collection-plan", "/api/v1/waste/incidents", "/api/v1/waste/{entityId}/forecast",
                 "/api/v1/waste/{entityId}/incidents"):
        assert path in spec["paths"], path
    listed = {u["name"]: u for u in httpx.get(f"{root(api)}/api/v1/usecases", timeout=10).json()}
    assert listed["waste"]["deviceModels"] == ["dragino-ldds75"]
    assert {"WasteContainer", "WasteContainerModel", "WasteContainerIsle"} == set(listed["waste"]["entityTypes"])


# ------------------------------------------------------------------------------ enricher

LDDS75_EUI = "a84041000181c0de"
APP = "0f3a2b4c-1d2e-4f50-8a9b-0c1d2e3f4a5b"


def ldds75_frame(distance_mm: int) -> bytes:
    """An LDDS75 fPort 2 frame (Dragino manual): battery 3.387 V, distance in mm, no interrupt, no probe, sensor."""
    return bytes.fromhex("0d3b") + distance_mm.to_bytes(2, "big") + bytes.fromhex("00000001")


def chirpstack_up(frame: bytes, f_cnt: int, at: datetime) -> dict:
    """A ChirpStack v4 `up` event of the LDDS75."""
    stamp = z(at)
    return {"deduplicationId": f"00000000-0000-4000-8000-{f_cnt:012d}", "time": stamp,
            "deviceInfo": {"applicationId": APP, "deviceName": "ldds75-x", "devEui": LDDS75_EUI},
            "devAddr": "00189440", "fCnt": f_cnt, "fPort": 2, "data": base64.b64encode(frame).decode(),
            "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -97.0, "snr": 7.5, "gwTime": stamp}]}


def test_uplinks_through_the_pipeline_get_fill_and_emptying(api: httpx.Client) -> None:
    setup_layout(api)
    create(api, container_body("A"))
    base = root(api)
    r = httpx.post(f"{base}/api/v1/devices", timeout=10, json={
        "id": LDDS75_EUI, "name": "ldds75-x", "deviceModel": "Dragino LDDS75", "codec": "dragino-ldds75",
        "entityId": WC + "A", "entityType": "WasteContainer", "network": "chirpstack",
        "chirpstackApplicationId": APP, "mapping": {"distance": {"attribute": "distance", "unitCode": "MTR"}}})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{base}/api/v1/integrations", json={"name": "cs", "kind": "chirpstack"}, timeout=10)
    assert r.status_code == 201, r.text
    key = {"X-Calanque-Key": r.json()["key"]}
    t0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    # 0.52 m = 0.9 full at t0 - 1 h; 1.54 m = 0.05 at t0: an emptying; then 1.42 m (0.15) and 1.30 m
    # (0.25) one and two days later: 0.1 per day.
    readings = [(t0 - timedelta(hours=1), 520), (t0, 1540), (t0 + timedelta(days=1), 1420),
                (t0 + timedelta(days=2), 1300)]
    for n, (at, mm) in enumerate(readings, start=1):
        r = httpx.post(f"{base}/api/v1/ingest/chirpstack", params={"event": "up"}, headers=key, timeout=10,
                       json=chirpstack_up(ldds75_frame(mm), n, at))
        assert r.status_code == 202 and r.json()["status"] == "stored", r.text
    doc = api.get(f"/entities/{WC}A").json()
    assert math.isclose(doc["fillingLevel"]["value"], 0.25) and doc["fillingLevel"]["unitCode"] == "C62"
    assert doc["fillingLevel"]["observedAt"] == "2026-03-04T06:00:00.000000Z"
    assert doc["dateLastEmptying"]["value"] == {"@type": "DateTime", "@value": "2026-03-02T06:00:00.000000Z"}
    body = waste(api, f"/{WC}A/forecast").json()
    assert body["source"] == "fillingLevel" and body["samples"] == 3 and when(body["since"]) == t0
    assert math.isclose(body["ratePerDay"], 0.1, rel_tol=1e-9)
    # (0.8 - 0.25) / 0.1 = 5.5 days after the last reading.
    assert abs(when(body["predictedFullAt"]) - (t0 + timedelta(days=7.5))) < timedelta(seconds=1)


MODEL_ENTITY = {
    "id": MODEL, "type": [term_iri("WasteContainerModel")],
    "attrs": {term_iri("emptyDistance"): [{"type": "Property", "value": EMPTY_M, "unitCode": "MTR"}],
              term_iri("fullDistance"): [{"type": "Property", "value": FULL_M, "unitCode": "MTR"}]},
}


def enrichment(distance: float | None, at: datetime, current_fill: tuple[float, datetime] | None = None,
               model: dict | None = MODEL_ENTITY, unit: str = "MTR", extra: dict | None = None) -> Enrichment:
    """What the pipeline hands the enricher for one LDDS75 uplink on container X."""
    attrs: dict = {}
    if distance is not None:
        attrs[term_iri("distance")] = [{"type": "Property", "value": distance, "unitCode": unit, "observedAt": z(at)}]
    attrs.update(extra or {})
    current = {"id": WC + "X", "type": [term_iri("WasteContainer")],
               "attrs": {term_iri("refWasteContainerModel"): [{"type": "Relationship", "object": MODEL}]}}
    if current_fill is not None:
        current["attrs"][term_iri("fillingLevel")] = [
            {"type": "Property", "value": current_fill[0], "unitCode": "C62", "observedAt": z(current_fill[1])}]
    return Enrichment("", WC + "X", "WasteContainer", current, attrs, at,
                      lambda eid: model if eid == MODEL else None)


def test_enrich_derives_fill_from_geometry() -> None:
    at = datetime(2026, 3, 1, 8, 20, tzinfo=UTC)
    out = USECASE.enrich(enrichment(1.0, at))
    # (1.6 - 1.0) / (1.6 - 0.4) = 0.5
    (fill,) = out[term_iri("fillingLevel")]
    assert math.isclose(fill["value"], 0.5) and fill["unitCode"] == "C62" and fill["observedAt"] == z(at)
    assert term_iri("dateLastEmptying") not in out
    # Clamped: farther than empty reads 0, nearer than full reads 1.
    assert USECASE.enrich(enrichment(1.75, at))[term_iri("fillingLevel")][0]["value"] == 0.0
    assert USECASE.enrich(enrichment(0.2, at))[term_iri("fillingLevel")][0]["value"] == 1.0
    # 40 cm (CMT) is 0.4 m: full.
    assert USECASE.enrich(enrichment(40, at, unit="CMT"))[term_iri("fillingLevel")][0]["value"] == 1.0


def test_enrich_sets_date_last_emptying_on_a_sharp_drop() -> None:
    before, at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC), datetime(2026, 3, 1, 8, 20, tzinfo=UTC)
    # 0.85 -> (1.6 - 1.54) / 1.2 = 0.05: a drop of 0.8 to below 0.2, an emptying at the new reading.
    out = USECASE.enrich(enrichment(1.54, at, (0.85, before)))
    (when_emptied,) = out[term_iri("dateLastEmptying")]
    assert when_emptied["value"] == {"@type": "DateTime", "@value": "2026-03-01T08:20:00.000000Z"}
    # A day-long gap does not hide it: the waste did not vanish by itself.
    assert term_iri("dateLastEmptying") in USECASE.enrich(enrichment(1.54, at, (0.85, before - timedelta(days=1))))
    # 0.5 -> 0.3 (d = 1.24): a drop of 0.2 only. 0.9 -> 0.25 (d = 1.3): ends above 0.2.
    assert term_iri("dateLastEmptying") not in USECASE.enrich(enrichment(1.24, at, (0.5, before)))
    assert term_iri("dateLastEmptying") not in USECASE.enrich(enrichment(1.3, at, (0.9, before)))
    # A late reading (older than the stored fill) is no emptying.
    assert term_iri("dateLastEmptying") not in USECASE.enrich(enrichment(1.54, before, (0.85, at)))


def test_enrich_leaves_uplinks_it_cannot_derive_from() -> None:
    at = datetime(2026, 3, 1, 8, 20, tzinfo=UTC)
    assert USECASE.enrich(enrichment(None, at)) == {}
    assert USECASE.enrich(enrichment(1.0, at, model=None)) == {}
    bad = {**MODEL_ENTITY, "attrs": {term_iri("emptyDistance"): [{"type": "Property", "value": 0.3}],
                                     term_iri("fullDistance"): [{"type": "Property", "value": 1.5}]}}
    assert USECASE.enrich(enrichment(1.0, at, model=bad)) == {}
    own = {term_iri("fillingLevel"): [{"type": "Property", "value": 0.4, "observedAt": z(at)}]}
    assert USECASE.enrich(enrichment(1.0, at, extra=own)) == {}
    orphan = enrichment(1.0, at)
    orphan.current = None  # the uplink creates the entity: no model known yet
    assert USECASE.enrich(orphan) == {}


def test_fill_distribution_counts_each_container_once(api: httpx.Client) -> None:
    at = datetime(2026, 11, 24, 8, tzinfo=UTC)
    plan = {"g1": ("glass", 0.05, None), "g2": ("glass", 0.15, None), "g3": ("glass", 0.95, None),
            "g4": ("glass", 1.0, None), "g5": ("glass", None, None), "p1": ("paper", 0.5, 40),
            "p2": ("paper", 0.79, None), "p3": ("paper", 0.8, None)}
    for name, (kind, fill, threshold) in plan.items():
        body: dict = {"id": WC + name, "type": "WasteContainer", "storedWasteKind": prop(kind)}
        if fill is not None:
            body["fillingLevel"] = prop(fill, at, "C62")
        if threshold is not None:
            body["binFullnessThreshold"] = prop(threshold, unit="P1")
        create(api, body)
    r = waste(api, "/fill-distribution", date="2026-11-25")
    assert r.status_code == 200, r.text
    body = r.json()
    # tenths: 0.05 -> [0, .1), 0.15 -> [.1, .2), 0.5 -> [.5, .6), 0.79 -> [.7, .8), 0.8 -> [.8, .9),
    # 0.95 and 1.0 -> [.9, 1]
    assert [b["count"] for b in body["bins"]] == [1, 1, 0, 0, 0, 1, 0, 1, 1, 2]
    assert body["bins"][9] == {"from": 0.9, "to": 1.0, "count": 2}
    assert (body["containers"], body["withFill"]) == (8, 7)
    # at threshold: g3, g4 (>= 0.8), p1 (0.5 >= its own 40 %), p3 (0.8 >= 0.8); not p2 (0.79)
    assert body["atThreshold"] == 4
    assert body["meanFill"] == pytest.approx((0.05 + 0.15 + 0.95 + 1.0 + 0.5 + 0.79 + 0.8) / 7)
    assert body["collectedOnDate"] == ["paper"]  # 2026-11-25 is a Wednesday
    assert body["collectionDays"]["packaging"] == ["tuesday", "friday"]

    glass = waste(api, "/fill-distribution", kind="glass", bins="4", date="2026-11-27").json()
    assert [b["count"] for b in glass["bins"]] == [2, 0, 0, 2]
    assert (glass["containers"], glass["withFill"], glass["atThreshold"]) == (5, 4, 2)
    assert glass["collectedOnDate"] == ["packaging"]  # a Friday

    assert waste(api, "/fill-distribution", kind="metal").status_code == 400
    assert waste(api, "/fill-distribution", bins="0").status_code == 400
    assert waste(api, "/fill-distribution", date="25/11/2026").status_code == 400

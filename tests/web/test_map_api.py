"""GET /api/v1/map and the use cases' map-state hooks, on both backends, against values worked out by hand.

Each case writes entities through the NGSI-LD API and checks the state the map shows. The rules are the
hooks' documented ones: noise against 70 dB(A) by day (06-22 local) and 65 dB(A) by night with a 5 dB
warning margin; containers against binFullnessThreshold (default 0.8) and full at 0.98; river stations
by the vigilance thresholds (defaults 2.0/2.5/3.0 m); quality probes against their ranges; streetlights
lit at 10 % of their model's nominal power; silence after three reporting periods.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def root(api: httpx.Client) -> Iterator[httpx.Client]:
    """A client on the server root of the (emptied) backend under test."""
    base = str(api.base_url).removesuffix("/").removesuffix("/ngsi-ld/v1")
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client


def ts(moment: datetime) -> str:
    """An NGSI-LD timestamp."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def prop(value: Any, at: datetime | None = None, **extra: Any) -> dict:
    """A Property, observed at a time when given."""
    out = {"type": "Property", "value": value, **extra}
    if at is not None:
        out["observedAt"] = ts(at)
    return out


def asset(entity_id: str, entity_type: str, lon: float = 5.37, lat: float = 43.3, **attrs: Any) -> dict:
    """An entity with a location and a Marseille address."""
    return {
        "id": entity_id,
        "type": entity_type,
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
        "name": prop(entity_id.rsplit(":", 1)[1]),
        "municipalityCode": prop("13055"),
        "address": prop({"addressLocality": "Marseille"}),
        "site": prop("Vieux-Port"),
        **attrs,
    }


def create(api: httpx.Client, *entities: dict) -> None:
    """Create entities (201 each)."""
    for entity in entities:
        answer = api.post("/entities", json=entity)
        assert answer.status_code == 201, answer.text


def rows(root: httpx.Client) -> dict[str, dict]:
    """The map answer as one dict per asset, by id; also checks the columns are consistent."""
    answer = root.get("/api/v1/map")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    columns = data["assets"]
    assert all(len(v) == data["count"] for v in columns.values())
    out = {}
    for i, entity_id in enumerate(columns["id"]):
        out[entity_id] = {
            "type": data["types"][columns["type"][i]],
            "usecase": data["usecases"][columns["usecase"][i]],
            "level": data["levels"][columns["level"][i]],
            "label": data["labels"][columns["label"][i]],
            "params": columns["params"][i] or {},
            "commune": data["communes"][columns["commune"][i]] if columns["commune"][i] >= 0 else None,
            "site": data["sites"][columns["site"][i]] if columns["site"][i] >= 0 else None,
            "lon": columns["lon"][i],
            "lat": columns["lat"][i],
            "attention": i in data["attention"],
        }
    return out


def yesterday_at(hour: int) -> datetime:
    """Yesterday at a local (Paris) hour."""
    day = datetime.now(PARIS).date() - timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=PARIS)


def test_noise_against_the_day_and_night_limits(api: httpx.Client, root: httpx.Client) -> None:
    daily = prop(86400, unitCode="SEC")  # silent only after three days: yesterday's levels still count
    noon, late = yesterday_at(12), yesterday_at(23)
    create(
        api,
        asset(
            "urn:ngsi-ld:NoiseLevelObserved:day-72",
            "NoiseLevelObserved",
            LAeq=prop(72.0, noon),
            measurementPeriod=daily,
        ),
        asset(
            "urn:ngsi-ld:NoiseLevelObserved:day-67",
            "NoiseLevelObserved",
            LAeq=prop(67.0, noon),
            measurementPeriod=daily,
        ),
        asset(
            "urn:ngsi-ld:NoiseLevelObserved:day-50",
            "NoiseLevelObserved",
            LAeq=prop(50.0, noon),
            measurementPeriod=daily,
        ),
        asset(
            "urn:ngsi-ld:NoiseLevelObserved:night-66",
            "NoiseLevelObserved",
            LAeq=prop(66.0, late),
            measurementPeriod=daily,
        ),
        asset(
            "urn:ngsi-ld:NoiseLevelObserved:night-62",
            "NoiseLevelObserved",
            LAeq=prop(62.0, late),
            measurementPeriod=daily,
        ),
        asset(
            "urn:ngsi-ld:NoiseLevelObserved:old",
            "NoiseLevelObserved",
            LAeq=prop(50.0, datetime.now(UTC) - timedelta(hours=1)),
        ),
        asset("urn:ngsi-ld:NoiseLevelObserved:new", "NoiseLevelObserved"),
    )
    got = rows(root)
    expect = {  # id: (level, threshold, attention)
        "day-72": ("high", 70.0, True),
        "day-67": ("warn", 70.0, False),
        "day-50": ("ok", 70.0, False),
        "night-66": ("high", 65.0, True),
        "night-62": ("warn", 65.0, False),
    }
    for local, (level, threshold, attention) in expect.items():
        row = got[f"urn:ngsi-ld:NoiseLevelObserved:{local}"]
        assert (row["level"], row["params"]["threshold"], row["attention"]) == (
            level,
            threshold,
            attention,
        ), local
        assert row["usecase"] == "noise" and row["commune"] == {"code": "13055", "name": "Marseille"}
    # the default reporting period is 600 s: an hour without a level is three periods and more
    old = got["urn:ngsi-ld:NoiseLevelObserved:old"]
    assert (old["level"], old["label"], old["attention"]) == ("silent", "Silent since {since}", True)
    assert got["urn:ngsi-ld:NoiseLevelObserved:new"]["label"] == "No measurement yet"


def test_containers_against_their_threshold(api: httpx.Client, root: httpx.Client) -> None:
    now = datetime.now(UTC) - timedelta(minutes=5)
    create(
        api,
        asset("urn:ngsi-ld:WasteContainer:full", "WasteContainer", fillingLevel=prop(0.99, now)),
        asset("urn:ngsi-ld:WasteContainer:due", "WasteContainer", fillingLevel=prop(0.85, now)),
        asset(
            "urn:ngsi-ld:WasteContainer:own-threshold",
            "WasteContainer",
            fillingLevel=prop(0.85, now),
            binFullnessThreshold=prop(90),
        ),
        asset("urn:ngsi-ld:WasteContainer:low", "WasteContainer", fillingLevel=prop(0.3, now)),
        asset(
            "urn:ngsi-ld:WasteContainer:quiet",
            "WasteContainer",
            fillingLevel=prop(0.3, datetime.now(UTC) - timedelta(hours=4)),
        ),
        asset("urn:ngsi-ld:WasteContainerModel:m1", "WasteContainerModel"),
        {
            "id": "urn:ngsi-ld:WasteContainer:nowhere",
            "type": "WasteContainer",
            "fillingLevel": prop(0.99, now),
        },
    )
    got = rows(root)
    w = "urn:ngsi-ld:WasteContainer:"
    assert (got[w + "full"]["level"], got[w + "full"]["params"]) == ("bad", {"fill": 99, "threshold": 80})
    assert (got[w + "due"]["level"], got[w + "due"]["attention"]) == ("high", True)
    assert (got[w + "own-threshold"]["level"], got[w + "own-threshold"]["params"]) == (
        "warn",
        {"fill": 85, "threshold": 90},
    )
    assert (got[w + "low"]["level"], got[w + "low"]["attention"]) == ("ok", False)
    assert got[w + "quiet"]["level"] == "silent"  # period 3600 s: 4 h is more than three periods
    assert "urn:ngsi-ld:WasteContainerModel:m1" not in got  # models are not assets
    assert w + "nowhere" not in got  # no location, not drawn


def test_rivers_and_water_quality(api: httpx.Client, root: httpx.Client) -> None:
    now = datetime.now(UTC)
    high = "urn:ngsi-ld:FloodMonitoring:high"
    own = "urn:ngsi-ld:FloodMonitoring:own-thresholds"
    create(
        api,
        asset(high, "FloodMonitoring", currentLevel=prop(2.6, now - timedelta(minutes=20), unitCode="MTR")),
        asset(
            own,
            "FloodMonitoring",
            currentLevel=prop(1.0, now - timedelta(minutes=20), unitCode="MTR"),
            vigilanceThresholds=prop({"level": {"yellow": 0.8, "orange": 1.5, "red": 2.0}}),
        ),
        asset(
            "urn:ngsi-ld:FloodMonitoring:calm",
            "FloodMonitoring",
            currentLevel=prop(1.0, now - timedelta(minutes=5), unitCode="MTR"),
        ),
        asset(
            "urn:ngsi-ld:WaterQualityObserved:acid",
            "WaterQualityObserved",
            pH=prop(5.5, now - timedelta(minutes=5)),
            temperature=prop(18.0, now - timedelta(minutes=5)),
        ),
        asset(
            "urn:ngsi-ld:WaterQualityObserved:fine",
            "WaterQualityObserved",
            pH=prop(7.4, now - timedelta(minutes=5)),
            O2=prop(9.0, now - timedelta(minutes=5)),
        ),
    )
    for station, level in ((high, 2.6), (own, 1.0)):  # two more samples: a flat level, rate 0 cm/h
        for minutes in (10, 1):
            answer = api.patch(
                f"/entities/{station}/attrs",
                json={"currentLevel": prop(level, now - timedelta(minutes=minutes), unitCode="MTR")},
            )
            assert answer.status_code == 204, answer.text
    got = rows(root)
    assert (got[high]["level"], got[high]["label"], got[high]["params"]) == (
        "high",
        "Level {level} m: orange vigilance",
        {"level": 2.6},
    )  # 2.5 ≤ 2.6 < 3.0 (defaults)
    assert (got[own]["level"], got[own]["label"]) == (
        "warn",
        "Level {level} m: yellow vigilance",
    )  # 0.8 ≤ 1.0 < 1.5
    assert (
        got["urn:ngsi-ld:FloodMonitoring:calm"]["level"],
        got["urn:ngsi-ld:FloodMonitoring:calm"]["attention"],
    ) == ("ok", False)
    acid = got["urn:ngsi-ld:WaterQualityObserved:acid"]
    assert (acid["level"], acid["params"], acid["attention"]) == (
        "high",
        {"parameters": "pH"},
        True,
    )  # pH < 6.0
    assert got["urn:ngsi-ld:WaterQualityObserved:fine"]["level"] == "ok"


def test_streetlights_counters_and_cabinets(api: httpx.Client, root: httpx.Client) -> None:
    now = datetime.now(UTC) - timedelta(minutes=2)
    model = {
        "id": "urn:ngsi-ld:StreetlightModel:led-100",
        "type": "StreetlightModel",
        "powerConsumption": prop(100.0, unitCode="WTT"),
    }
    ref = {"type": "Relationship", "object": model["id"]}
    create(
        api,
        model,
        asset(
            "urn:ngsi-ld:Streetlight:dimmed",
            "Streetlight",
            refStreetlightModel=ref,
            powerConsumption=prop(50.0, now),
            illuminanceLevel=prop(0.5, now),
            powerState=prop("on", now),
        ),
        asset(
            "urn:ngsi-ld:Streetlight:dark",
            "Streetlight",
            refStreetlightModel=ref,  # 5 W < 10 % of 100 W
            powerConsumption=prop(5.0, now),
            powerState=prop("on", now),
        ),
        asset(
            "urn:ngsi-ld:Streetlight:broken",
            "Streetlight",
            refStreetlightModel=ref,
            powerConsumption=prop(0.0, now),
            status=prop("defectiveLamp", now),
        ),
        asset("urn:ngsi-ld:Streetlight:no-meter", "Streetlight", powerState=prop("on", now)),
        asset(
            "urn:ngsi-ld:StreetlightControlCabinet:c1",
            "StreetlightControlCabinet",
            totalActivePower=prop(1234.4, now),
        ),
        asset(
            "urn:ngsi-ld:TrafficFlowObserved:bikes",
            "TrafficFlowObserved",
            vehicleType=prop("bicycle"),
            intensity=[
                prop(12, now, datasetId="urn:ngsi-ld:Dataset:in"),
                prop(8, now, datasetId="urn:ngsi-ld:Dataset:out"),
            ],
        ),
        asset(
            "urn:ngsi-ld:CrowdFlowObserved:gone",
            "CrowdFlowObserved",
            peopleCount=prop(3, datetime.now(UTC) - timedelta(hours=2)),
        ),
    )
    got = rows(root)
    light = "urn:ngsi-ld:Streetlight:"
    assert (got[light + "dimmed"]["level"], got[light + "dimmed"]["params"]) == ("info", {"level": 50})
    assert got[light + "dark"]["level"] == "off"
    assert (got[light + "broken"]["level"], got[light + "broken"]["attention"]) == ("bad", True)
    assert (got[light + "no-meter"]["level"], got[light + "no-meter"]["label"]) == ("info", "On")
    assert "urn:ngsi-ld:StreetlightModel:led-100" not in got
    assert got["urn:ngsi-ld:StreetlightControlCabinet:c1"]["params"] == {"power": 1234}
    bikes = got["urn:ngsi-ld:TrafficFlowObserved:bikes"]
    assert (bikes["level"], bikes["params"]) == ("info", {"count": 20, "minutes": 15})  # 12 in + 8 out, 900 s
    gone = got["urn:ngsi-ld:CrowdFlowObserved:gone"]  # 2 h > 3 × 15 min
    assert (gone["level"], gone["attention"]) == ("silent", True)


def test_attention_order_and_filters_columns(api: httpx.Client, root: httpx.Client) -> None:
    now = datetime.now(UTC) - timedelta(minutes=2)
    create(
        api,
        asset("urn:ngsi-ld:WasteContainer:b-due", "WasteContainer", fillingLevel=prop(0.85, now)),
        asset("urn:ngsi-ld:WasteContainer:a-due", "WasteContainer", fillingLevel=prop(0.85, now)),
        asset("urn:ngsi-ld:WasteContainer:z-full", "WasteContainer", fillingLevel=prop(0.99, now)),
        asset("urn:ngsi-ld:WasteContainer:ok", "WasteContainer", fillingLevel=prop(0.1, now)),
    )
    data = root.get("/api/v1/map").json()
    order = [data["assets"]["name"][i] for i in data["attention"]]
    assert order == ["z-full", "a-due", "b-due"]  # the most serious first, then by name
    assert data["sites"] == ["Vieux-Port"] and data["usecases"] == ["waste"]


def test_an_empty_or_unknown_tenant_has_no_asset(root: httpx.Client, api: httpx.Client) -> None:
    assert root.get("/api/v1/map").json()["count"] == 0
    other = root.get("/api/v1/map", headers={"NGSILD-Tenant": "nobody-here"})
    assert other.status_code == 200 and other.json()["count"] == 0
    bad = root.get("/api/v1/map", headers={"NGSILD-Tenant": "no spaces"})
    assert bad.status_code == 400 and "NGSILD-Tenant" in bad.json()["detail"]


def test_the_map_follows_changes_creations_and_deletions(api: httpx.Client, root: httpx.Client) -> None:
    """The map is patched with what changed since its last computation; a deletion forces a full one."""
    now = datetime.now(UTC) - timedelta(minutes=1)
    w = "urn:ngsi-ld:WasteContainer:"
    create(api, *(asset(f"{w}c{n}", "WasteContainer", fillingLevel=prop(0.1, now)) for n in range(3)))
    assert {r["level"] for r in rows(root).values()} == {"ok"}
    assert (
        api.patch(f"/entities/{w}c1/attrs", json={"fillingLevel": prop(0.99, datetime.now(UTC))}).status_code
        == 204
    )
    create(api, asset(f"{w}c3", "WasteContainer", fillingLevel=prop(0.85, now)))
    got = rows(root)
    assert (got[f"{w}c1"]["level"], got[f"{w}c3"]["level"], len(got)) == ("bad", "high", 4)
    assert api.delete(f"/entities/{w}c0").status_code == 204
    assert set(rows(root)) == {f"{w}c1", f"{w}c2", f"{w}c3"}
    gzip = root.get("/api/v1/map", headers={"Accept-Encoding": "gzip"})
    assert gzip.status_code == 200 and gzip.json()["count"] == 3  # httpx decodes the gzip body

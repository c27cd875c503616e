"""Water use-case API over HTTP (SQLite and PostgreSQL), and the Hub'Eau import (API and CLI).

Histories are written through the NGSI-LD API; expected values are worked out by hand in the
comments. Hub'Eau is a real HTTP server on 127.0.0.1 serving the recorded v2 pages of
tests/usecases/fixtures (the network is never used).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from calanque.cli import main
from calanque.ngsild.canonical import parse_ts
from calanque.store.base import open_store
from calanque.usecases.common import term_iri

FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN_URL = os.environ.get("CALANQUE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
T = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
STATION = "Y442404001"
HUBEAU_ID = f"urn:ngsi-ld:WaterObserved:hubeau-{STATION}"
CURSOR = "AoJ4gN2Yj5QDPwtZNDQyNDA0MDAxXzIwMjYtMTEtMjVUMDg6MDA6MDBaX1E="


def root(api: httpx.Client) -> str:
    """The server's root URL (the api fixture's base URL is the NGSI-LD prefix)."""
    return str(api.base_url).split("/ngsi-ld/")[0]


def stamp(moment: datetime) -> str:
    """ISO 8601 UTC with Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def minutes(m: float) -> datetime:
    """T (10:00 UTC) plus some minutes."""
    return T + timedelta(minutes=m)


def append(api: httpx.Client, eid: str, attr: str, points: list[tuple[datetime, float]]) -> None:
    """Append instances of a level attribute through the temporal API."""
    r = api.post(f"/temporal/entities/{eid}/attrs", json={attr: [
        {"type": "Property", "value": v, "unitCode": "MTR", "observedAt": stamp(t)} for t, v in points]})
    assert r.status_code == 204, r.text


THRESHOLDS = {"level": {"yellow": 2.0, "orange": 2.5, "red": 3.0},
              "rise": {"yellow": 15, "orange": 30, "red": 60}}


def station(api: httpx.Client, local_id: str, entity_type: str = "FloodMonitoring",
            thresholds: dict | None = None, current: tuple[datetime, float] | None = None) -> str:
    """Create a river-level station; with `current`, its level attribute holds that observation."""
    eid = f"urn:ngsi-ld:{entity_type}:{local_id}"
    point = {"type": "Point", "coordinates": [5.57, 43.29]}
    body: dict = {"id": eid, "type": entity_type, "location": {"type": "GeoProperty", "value": point}}
    if thresholds is not None:
        body["vigilanceThresholds"] = {"type": "Property", "value": thresholds}
    if current is not None:
        attr = "currentLevel" if entity_type == "FloodMonitoring" else "height"
        body[attr] = {"type": "Property", "value": current[1], "unitCode": "MTR",
                      "observedAt": stamp(current[0])}
    r = api.post("/entities", json=body)
    assert r.status_code == 201, r.text
    return eid


def status(api: httpx.Client, eid: str, **params: str) -> httpx.Response:
    """GET the status of a station."""
    return httpx.get(f"{root(api)}/api/v1/water/{eid}/status", params=params)


# --- river-level status -----------------------------------------------------------------------

def test_linear_rise_gives_the_rate_and_the_time_to_the_next_threshold(api: httpx.Client) -> None:
    # Level every 5 min from 10:00 (1.80 m) rising 10 cm/h: 1.90 m at 11:00. The least-squares slope
    # of an exact straight line is its slope: 10 cm/h. Thresholds: level 2.0/2.5/3.0 m, rise
    # 15/30/60 cm/h → green (1.90 < 2.0 and 10 < 15). The yellow level 2.0 m is 10 cm above:
    # at 10 cm/h it is reached 1 h after the last sample, at 12:00.
    eid = station(api, "huveaune", thresholds=THRESHOLDS, current=(minutes(60), 1.90))
    append(api, eid, "currentLevel", [(minutes(m), 1.80 + 0.10 * m / 60) for m in range(0, 60, 5)])
    r = status(api, eid, at=stamp(minutes(90)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["attribute"] == "currentLevel"
    assert body["level_m"] == pytest.approx(1.90)
    assert body["observed_at"] == "2026-11-25T11:00:00.000000Z"
    assert body["age_s"] == pytest.approx(1800.0)
    assert body["rate_of_rise_cm_per_h"] == pytest.approx(10.0, abs=1e-6)
    assert body["colour"] == "green" and body["level_colour"] == "green" and body["rise_colour"] == "green"
    assert "1.90 m < yellow threshold 2.00 m" in body["reason"]
    nxt = body["next_threshold"]
    assert nxt["colour"] == "yellow" and nxt["level_m"] == 2.0
    noon = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert abs((parse_ts(nxt["predicted_at"]) - noon).total_seconds()) < 1
    assert body["thresholds_source"] == {"level": "entity", "rise": "entity"}
    assert body["thresholds"]["rise_cm_per_h"] == {"yellow": 15, "orange": 30, "red": 60}


def test_fast_rise_turns_orange_and_predicts_the_orange_level(api: httpx.Client) -> None:
    # 2.10 m at 11:00 rising 35 cm/h (samples every 10 min over the hour): level yellow (≥ 2.0),
    # rise orange (35 ≥ 30) → orange. Next level threshold above 2.10 m: orange 2.5 m, reached
    # after (2.5 − 2.1)·100/35 h = 1.142857 h = 68 min 34.29 s → 12:08:34.29.
    eid = station(api, "arc", thresholds=THRESHOLDS)
    append(api, eid, "currentLevel", [(minutes(m), 1.75 + 0.35 * m / 60) for m in range(0, 61, 10)])
    body = status(api, eid, at=stamp(minutes(60))).json()
    assert body["level_m"] == pytest.approx(2.10)
    assert body["rate_of_rise_cm_per_h"] == pytest.approx(35.0, abs=1e-6)
    assert (body["level_colour"], body["rise_colour"], body["colour"]) == ("yellow", "orange", "orange")
    assert "rising 35.0 cm/h ≥ orange threshold 30.0 cm/h" in body["reason"]
    nxt = body["next_threshold"]
    assert nxt["colour"] == "orange"
    expected = datetime(2026, 11, 25, 12, 8, 34, 285714, tzinfo=UTC)
    assert abs((parse_ts(nxt["predicted_at"]) - expected).total_seconds()) < 1


def test_window_parameter_and_default_thresholds_on_water_observed(api: httpx.Client) -> None:
    # WaterObserved height without vigilanceThresholds (use-case defaults: level 2.0/2.5/3.0 m,
    # rise 10/20/30 cm/h). Samples every 10 min, 10:00-11:00: flat 1.00 m until 10:30, then
    # +12 cm/h (1.02, 1.04, 1.06 m at 10:40, 10:50, 11:00).
    # window PT30M: 10:30-11:00 is a straight line → 12 cm/h ≥ 10 → yellow by rise.
    # window PT1H: x (h) = -1, -5/6, …, 0 (mean -1/2), y (cm above 1 m) = 0, 0, 0, 0, 2, 4, 6:
    # Sxy = (1/6)·2 + (1/3)·4 + (1/2)·6 = 14/3, Sxx = 2·(1/4 + 1/9 + 1/36) = 7/9 → slope 6 cm/h → green.
    eid = station(api, "hubeau-test", entity_type="WaterObserved")
    points = [(minutes(m), 1.00) for m in range(0, 31, 10)] + [(minutes(m), 1.00 + 0.12 * (m - 30) / 60)
                                                              for m in range(40, 61, 10)]
    append(api, eid, "height", points)
    half = status(api, eid, at=stamp(minutes(60)), window="PT30M").json()
    assert half["attribute"] == "height" and half["window_s"] == 1800
    assert half["rate_of_rise_cm_per_h"] == pytest.approx(12.0, abs=1e-6)
    assert half["colour"] == "yellow" and half["rise_colour"] == "yellow"
    assert half["thresholds_source"] == {"level": "default", "rise": "default"}
    assert half["thresholds"]["level_m"] == {"yellow": 2.0, "orange": 2.5, "red": 3.0}
    hour = status(api, eid, at=stamp(minutes(60)), window="PT1H").json()
    assert hour["rate_of_rise_cm_per_h"] == pytest.approx(6.0, abs=1e-6)
    assert hour["colour"] == "green"
    # As of 10:35 only the flat part exists: level 1.00 m, rate 0, the yellow level is never reached.
    past = status(api, eid, at=stamp(minutes(35))).json()
    assert past["observed_at"] == "2026-11-25T10:30:00.000000Z" and past["level_m"] == pytest.approx(1.0)
    assert past["rate_of_rise_cm_per_h"] == pytest.approx(0.0, abs=1e-9)
    assert past["next_threshold"] == {"colour": "yellow", "level_m": 2.0, "predicted_at": None}


def test_level_thresholds_of_the_entity_and_rise_defaults(api: httpx.Client) -> None:
    # The entity sets only level thresholds; the rise thresholds stay the defaults (10/20/30 cm/h).
    # Level 3.2 m ≥ red 3.0 → red, whatever the (zero) rise; no threshold above.
    eid = station(api, "level-only", thresholds={"level": {"yellow": 2.0, "orange": 2.5, "red": 3.0}})
    append(api, eid, "currentLevel", [(minutes(0), 3.2), (minutes(30), 3.2)])
    body = status(api, eid, at=stamp(minutes(30))).json()
    assert body["colour"] == "red" and body["next_threshold"] is None
    assert "level 3.20 m ≥ red threshold 3.00 m" in body["reason"]
    assert body["thresholds_source"] == {"level": "entity", "rise": "default"}
    assert body["thresholds"]["rise_cm_per_h"] == {"yellow": 10.0, "orange": 20.0, "red": 30.0}


def test_status_bad_requests(api: httpx.Client) -> None:
    good = station(api, "good")
    append(api, good, "currentLevel", [(minutes(0), 1.0), (minutes(10), 1.1)])
    empty = station(api, "empty")
    decreasing = station(api, "decreasing", thresholds={"level": {"yellow": 3.0, "orange": 2.0}})
    misspelt = station(api, "misspelt", thresholds={"level": {"jaune": 2.0}})
    noise = api.post("/entities", json={"id": "urn:ngsi-ld:NoiseLevelObserved:n",
                                        "type": "NoiseLevelObserved",
                                        "LAeq": {"type": "Property", "value": 50.0}})
    assert noise.status_code == 201
    at = stamp(minutes(20))
    cases = [
        ("urn:ngsi-ld:FloodMonitoring:missing", {}, 404, "does not exist"),
        ("urn:ngsi-ld:NoiseLevelObserved:n", {}, 400, "FloodMonitoring or WaterObserved"),
        (good, {"window": "1h", "at": at}, 400, "'window'"),
        (good, {"window": "PT0M", "at": at}, 400, "'window'"),
        (good, {"window": "P30D", "at": at}, 400, "'window'"),
        (good, {"at": "noon"}, 400, "'at'"),
        (good, {"at": stamp(minutes(-10))}, 404, "no currentLevel observation at or before"),
        (empty, {"at": at}, 404, "no currentLevel observation"),
        (decreasing, {"at": at}, 400, "must not decrease"),
        (misspelt, {"at": at}, 400, "yellow, orange and/or red"),
    ]
    for eid, params, code, words in cases:
        r = status(api, eid, **params)
        assert r.status_code == code, (eid, params, r.status_code, r.text)
        assert words in r.json()["detail"], (eid, params, r.json())


# --- water quality ---------------------------------------------------------------------------

def quality_entity(api: httpx.Client, local_id: str, ranges: dict | None = None, **attrs: tuple) -> str:
    """Create a WaterQualityObserved entity with (value, unitCode) attributes."""
    eid = f"urn:ngsi-ld:WaterQualityObserved:{local_id}"
    body: dict = {"id": eid, "type": "WaterQualityObserved"}
    for name, (value, unit) in attrs.items():
        body[name] = {"type": "Property", "value": value, "unitCode": unit, "observedAt": stamp(T)}
    if ranges is not None:
        body["qualityRanges"] = {"type": "Property", "value": ranges}
    r = api.post("/entities", json=body)
    assert r.status_code == 201, r.text
    return eid


def quality(api: httpx.Client, eid: str, **params: object) -> httpx.Response:
    """GET the quality check of an entity."""
    return httpx.get(f"{root(api)}/api/v1/water/{eid}/quality", params=params)


def test_quality_against_default_ranges(api: httpx.Client) -> None:
    # Defaults: temperature ≤ 25.5 °C, 6.0 ≤ pH ≤ 9.0, O2 ≥ 6 mg/L (arrêté du 25 janvier 2010),
    # 120 ≤ conductivity ≤ 3000 µS/cm, turbidity ≤ 35 (SEQ-Eau v2). 27 °C and 5.1 mg/L violate them;
    # pH 8.2 and 450 µS/cm are within; turbidity is absent.
    eid = quality_entity(api, "q1", temperature=(27.0, "CEL"), pH=(8.2, "C62"), O2=(5.1, "M1"),
                         conductivity=(450, "G42"))
    r = quality(api, eid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert {v["parameter"]: (v["bound"], v["limit"]) for v in body["violations"]} == {
        "temperature": ("maximum", 25.5), "O2": ("minimum", 6.0)}
    params = body["parameters"]
    assert params["temperature"]["status"] == "violation" and params["temperature"]["value"] == 27.0
    assert "27 °C is above the maximum 25.5 °C" in params["temperature"]["message"]
    assert params["pH"]["status"] == "ok" and params["conductivity"]["status"] == "ok"
    assert params["turbidity"]["status"] == "missing"
    assert params["O2"]["observedAt"] == "2026-11-25T10:00:00.000000Z"
    assert body["checked"] == 4 and body["compliant"] is False
    # Looser limits given in the request: nothing is violated any more.
    relaxed = quality(api, eid, temperature_max=28, O2_min=5).json()
    assert relaxed["violations"] == [] and relaxed["compliant"] is True
    assert relaxed["parameters"]["O2"]["range"]["min"] == 5.0
    assert "O2_min" in relaxed["parameters"]["O2"]["range"]["source"]


def test_quality_ranges_of_the_entity_and_unit_mismatch(api: httpx.Client) -> None:
    # The entity narrows pH to 6.5-8.0: pH 8.2 is now above its maximum. The request can widen it
    # again (pH_max=9 wins over the entity). Conductivity given in S/m (D10) is not checked.
    eid = quality_entity(api, "q2", ranges={"pH": {"min": 6.5, "max": 8.0}}, pH=(8.2, "C62"),
                         conductivity=(0.045, "D10"), temperature=(12.0, "CEL"))
    body = quality(api, eid).json()
    assert [(v["parameter"], v["limit"]) for v in body["violations"]] == [("pH", 8.0)]
    assert "qualityRanges" in body["parameters"]["pH"]["range"]["source"]
    assert body["parameters"]["conductivity"]["status"] == "unchecked"
    assert "G42" in body["parameters"]["conductivity"]["reason"]
    assert body["checked"] == 2
    assert quality(api, eid, pH_max=9).json()["violations"] == []


def test_quality_bad_requests(api: httpx.Client) -> None:
    eid = quality_entity(api, "q3", pH=(7.0, "C62"))
    bad = quality_entity(api, "q4", ranges={"salinity": {"max": 1}}, pH=(7.0, "C62"))
    river = station(api, "not-quality")
    cases = [
        (eid, {"pH_min": 9, "pH_max": 6}, 400, "minimum 9.0 is above maximum 6.0"),
        (eid, {"O2_min": "low"}, 400, "O2_min"),
        (eid, {"turbidity_max": "inf"}, 400, "turbidity_max"),
        (bad, {}, 400, "qualityRanges"),
        (river, {}, 400, "WaterQualityObserved"),
        ("urn:ngsi-ld:WaterQualityObserved:missing", {}, 404, "does not exist"),
    ]
    for target, params, code, words in cases:
        r = quality(api, target, **params)
        assert r.status_code == code, (target, params, r.status_code, r.text)
        assert words in r.json()["detail"], (target, params, r.json())


# --- Hub'Eau import ----------------------------------------------------------------------------

class _HubEau(BaseHTTPRequestHandler):
    """Serves the recorded Hub'Eau observations_tr pages; station FAIL answers 503."""

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """Answer one GET like Hub'Eau: 206 with a cursor, then 200 on the last page."""
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path != "/api/v2/hydrometrie/observations_tr":
            self._send(404, b'{"message": "not found"}')
        elif query.get("code_entite") == ["FAIL"]:
            self._send(503, b'{"code": 503, "message": "Service indisponible"}')
        elif query.get("code_entite") != [STATION]:
            self._send(200, b'{"count": 0, "next": null, "data": []}')
        elif "cursor" not in query:
            self._send(206, (FIXTURES / "hubeau_observations_tr_page1.json").read_bytes())
        elif query["cursor"] == [CURSOR]:
            self._send(200, (FIXTURES / "hubeau_observations_tr_page2.json").read_bytes())
        else:
            self._send(400, b'{"message": "unknown cursor"}')


@pytest.fixture(scope="module")
def hubeau_url() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 playing Hub'Eau; yields the hydrometry base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HubEau)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v2/hydrometrie"
    server.shutdown()
    server.server_close()


def import_body(*stations: str) -> dict:
    """The import request over the recorded period."""
    return {"stations": list(stations), "from": "2026-11-25T08:00:00Z", "to": "2026-11-25T09:00:00Z"}


def test_hubeau_import_writes_entities_and_history(api: httpx.Client, hubeau_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Recorded pages: H 1203, 1215, 1230 mm at 08:00, 08:05, 08:10 → height 1.203, 1.215, 1.230 m;
    # Q 4530 (twice), 4610 l/s at 08:00, 08:05 → flow 4.53, 4.61 m³/s; the 08:10 Q is null.
    monkeypatch.setenv("CALANQUE_HUBEAU_BASE_URL", hubeau_url)
    url = f"{root(api)}/api/v1/water/hubeau/import"
    r = httpx.post(url, json=import_body(STATION), timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["written"] == 5 and body["source"] == hubeau_url + "/observations_tr"
    assert body["stations"] == [{"station": STATION, "entityId": HUBEAU_ID, "fetched": 5, "written": 5,
                                 "duplicates": 0, "older": 0, "created": True}]
    entity = api.get(f"/entities/{HUBEAU_ID}").json()
    assert entity["type"] == "WaterObserved"
    assert entity["height"]["value"] == pytest.approx(1.230) and entity["height"]["unitCode"] == "MTR"
    assert entity["height"]["observedAt"] == "2026-11-25T08:10:00.000000Z"
    assert entity["flow"]["value"] == pytest.approx(4.61) and entity["flow"]["unitCode"] == "MQS"
    assert entity["location"]["value"] == {"type": "Point", "coordinates": [5.5684, 43.2926]}
    history = api.get(f"/temporal/entities/{HUBEAU_ID}", params={"attrs": "height,flow"}).json()
    assert [(i["observedAt"], i["value"]) for i in history["height"]] == [
        ("2026-11-25T08:00:00.000000Z", 1.203), ("2026-11-25T08:05:00.000000Z", 1.215),
        ("2026-11-25T08:10:00.000000Z", 1.23)]
    assert [(i["observedAt"], i["value"]) for i in history["flow"]] == [
        ("2026-11-25T08:00:00.000000Z", 4.53), ("2026-11-25T08:05:00.000000Z", 4.61)]
    # Again over the same period: everything is already stored, nothing is written twice.
    again = httpx.post(url, json=import_body(STATION), timeout=30).json()
    assert again["written"] == 0 and again["stations"][0]["duplicates"] == 5
    assert len(api.get(f"/temporal/entities/{HUBEAU_ID}").json()["height"]) == 3
    # The imported station has a status: heights 120.3, 121.5, 123.0 cm at x = -1/6, -1/12, 0 h:
    # Sxy = (1/12)·1.3 + (1/12)·1.4 = 0.225, Sxx = 2/144 → slope 0.225·72 = 16.2 cm/h.
    st = status(api, HUBEAU_ID, at="2026-11-25T08:10:00Z", window="PT15M").json()
    assert st["rate_of_rise_cm_per_h"] == pytest.approx(16.2, abs=1e-6)
    assert st["level_m"] == pytest.approx(1.23) and st["attribute"] == "height"


def test_hubeau_import_keeps_newer_values_and_reports_empty_stations(
        api: httpx.Client, hubeau_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The entity already holds a height observed at 08:07: the recorded heights of 08:00 and 08:05
    # are older and not written; the 08:10 height and both flows (none stored yet) are.
    # Station Y000000001 has no observation in the period: nothing is created for it.
    monkeypatch.setenv("CALANQUE_HUBEAU_BASE_URL", hubeau_url)
    r = api.post("/entities", json={"id": HUBEAU_ID, "type": "WaterObserved", "height": {
        "type": "Property", "value": 1.21, "unitCode": "MTR", "observedAt": "2026-11-25T08:07:00Z"}})
    assert r.status_code == 201, r.text
    body = httpx.post(f"{root(api)}/api/v1/water/hubeau/import", json=import_body(STATION, "Y000000001"),
                      timeout=30).json()
    assert body["stations"] == [
        {"station": STATION, "entityId": HUBEAU_ID, "fetched": 5, "written": 3, "duplicates": 0,
         "older": 2, "created": False},
        {"station": "Y000000001", "entityId": "urn:ngsi-ld:WaterObserved:hubeau-Y000000001", "fetched": 0,
         "written": 0, "duplicates": 0, "older": 0, "created": False}]
    heights = api.get(f"/temporal/entities/{HUBEAU_ID}", params={"attrs": "height"}).json()["height"]
    assert [(i["observedAt"][11:16], i["value"]) for i in heights] == [("08:07", 1.21), ("08:10", 1.23)]
    assert api.get(f"/entities/{HUBEAU_ID}").json()["height"]["value"] == pytest.approx(1.23)
    assert api.get("/entities/urn:ngsi-ld:WaterObserved:hubeau-Y000000001").status_code == 404


def test_hubeau_import_bad_requests_and_upstream_failure(api: httpx.Client, hubeau_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALANQUE_HUBEAU_BASE_URL", hubeau_url)
    url = f"{root(api)}/api/v1/water/hubeau/import"
    taken = api.post("/entities", json={"id": "urn:ngsi-ld:WaterObserved:hubeau-Y000000000",
                                        "type": "FloodMonitoring"})
    assert taken.status_code == 201
    cases = [
        ({"stations": []}, 400, "at least one"),
        ({"stations": ["Y44/24"]}, 400, "not a Hub'Eau station code"),
        ({"stations": [STATION], "from": "2026-11-25T10:00:00Z", "to": "2026-11-25T09:00:00Z"}, 400,
         "must be before"),
        ({"stations": [STATION], "since": "yesterday"}, 400, "since"),
        ({"stations": STATION}, 400, "stations"),
        ({"stations": [f"S{i:09d}" for i in range(51)]}, 400, "at most 50"),
        (import_body("FAIL"), 502, "HTTP 503"),
        (import_body("Y000000000"), 400, "is not a WaterObserved"),
    ]
    for body, code, words in cases:
        r = httpx.post(url, json=body, timeout=30)
        assert r.status_code == code, (body, r.status_code, r.text)
        assert words in r.json()["detail"], (body, r.json())
    assert api.get(f"/entities/{HUBEAU_ID}").status_code == 404


@pytest.fixture(params=["sqlite", "postgres"])
def store_options(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """CLI options naming a brand-new store: a temporary SQLite directory or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield ["--data-dir", str(tmp_path / "data")]
        return
    name = f"calanque_waterimport_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield ["--database-url", PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_cli_import_hubeau(store_options: list[str], hubeau_url: str) -> None:
    runner = CliRunner()
    args = ["water", "import-hubeau", "--station", STATION, "--since", "2026-11-25T08:00:00Z",
            "--until", "2026-11-25T09:00:00Z", "--base-url", hubeau_url, *store_options]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "5 fetched, 5 written, 0 already stored" in result.output
    assert "5 observations written" in result.output
    if store_options[0] == "--data-dir":
        store = open_store(None, store_options[1])
    else:
        store = open_store(store_options[1])
    try:
        with store.session() as session:
            heights = session.read_series("", HUBEAU_ID, term_iri("height"))
            flows = session.read_series("", HUBEAU_ID, term_iri("flow"))
    finally:
        store.close()
    t0 = int(datetime(2026, 11, 25, 8, tzinfo=UTC).timestamp() * 1_000_000)
    five = 300_000_000
    assert heights == [(t0, pytest.approx(1.203)), (t0 + five, pytest.approx(1.215)),
                       (t0 + 2 * five, pytest.approx(1.23))]
    assert flows == [(t0, pytest.approx(4.53)), (t0 + five, pytest.approx(4.61))]
    again = runner.invoke(main, args)
    assert again.exit_code == 0 and "0 written, 5 already stored" in again.output


def test_cli_import_hubeau_errors(tmp_path: Path, hubeau_url: str) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(main, ["water", "import-hubeau", "--help"]).exit_code == 0
    bad_date = runner.invoke(main, ["water", "import-hubeau", "--station", STATION, "--since", "soon", *data])
    assert bad_date.exit_code == 2 and "--since" in bad_date.output
    bad_code = runner.invoke(main, ["water", "import-hubeau", "--station", "A;B", "--since", "2026-11-25",
                                    *data])
    assert bad_code.exit_code == 2 and "not a Hub'Eau station code" in bad_code.output
    down = runner.invoke(main, ["water", "import-hubeau", "--station", "FAIL", "--since", "2026-11-25",
                                "--base-url", hubeau_url, *data])
    assert down.exit_code == 1 and "HTTP 503" in down.output


def test_endpoints_are_documented_and_listed(api: httpx.Client) -> None:
    spec = httpx.get(f"{root(api)}/openapi.json").json()
    assert "get" in spec["paths"]["/api/v1/water/{entityId}/status"]
    assert "get" in spec["paths"]["/api/v1/water/{entityId}/quality"]
    assert "post" in spec["paths"]["/api/v1/water/hubeau/import"]
    names = {p["name"] for p in spec["paths"]["/api/v1/water/{entityId}/quality"]["get"]["parameters"]}
    assert {"pH_min", "pH_max", "O2_min", "temperature_max"} <= names
    water = next(u for u in httpx.get(f"{root(api)}/api/v1/usecases").json() if u["name"] == "water")
    assert set(water["entityTypes"]) == {"FloodMonitoring", "WaterObserved", "WaterQualityObserved"}
    assert {"level.yellow", "rise.red", "pH.min", "O2.min"} <= {t["name"] for t in water["thresholds"]}

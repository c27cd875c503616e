"""Water use case: rate of rise, vigilance colours, quality ranges and the Hub'Eau client.

The Hub'Eau client is exercised against a real HTTP server on 127.0.0.1 serving recorded pages
(tests/usecases/fixtures/hubeau_*.json, Hub'Eau v2 format); the network is never used.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest

from calanque.ngsild.canonical import parse_ts
from calanque.usecases.water.hubeau import HubEauClient, HubEauError, HydroObservation
from calanque.usecases.water.quality import DEFAULT_RANGES, SALMONID_TEMPERATURE, Range, check_quality
from calanque.usecases.water.status import Thresholds, rate_of_rise, station_status

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
THRESHOLDS = Thresholds(level_yellow=2.0, level_orange=2.3, level_red=2.8,
                        rise_yellow=10.0, rise_orange=15.0, rise_red=40.0)


def at(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


# --- rate of rise -------------------------------------------------------------------------------

def test_rate_of_rise_ten_centimetres_per_half_hour():
    # +0.10 m every 30 min → 0.20 m/h = 20 cm/h. The sample two hours before is outside the
    # 1-h trailing window [00:00, 01:00] and must not count.
    series = [(at(-120), 0.50), (at(0), 1.00), (at(30), 1.10), (at(60), 1.20)]
    assert rate_of_rise(series) == pytest.approx(20.0, abs=1e-9)


def test_rate_of_rise_is_a_least_squares_slope_over_the_window():
    # Window 3 h keeps all four samples. x (h, from the latest) = -3, -1, -0.5, 0 → use offsets
    # -2, 0, 0.5, 1 (same slope): mean x = -0.125, mean y = 0.95.
    # dx = -1.875, 0.125, 0.625, 1.125; dy = -0.45, 0.05, 0.15, 0.25
    # Σdx·dy = 0.84375 + 0.00625 + 0.09375 + 0.28125 = 1.225
    # Σdx²   = 3.515625 + 0.015625 + 0.390625 + 1.265625 = 5.1875
    # slope = 1.225 / 5.1875 = 0.2361446 m/h = 23.61446 cm/h
    series = [(at(60), 1.20), (at(-120), 0.50), (at(30), 1.10), (at(0), 1.00)]
    assert rate_of_rise(series, timedelta(hours=3)) == pytest.approx(23.61446, abs=1e-4)


def test_rate_of_rise_on_noisy_samples():
    # x = 0, 1/3, 2/3, 1 h; y = 1.00, 1.05, 1.12, 1.15; mean x = 0.5, mean y = 1.08
    # Σdx·dy = (-0.5)(-0.08) + (-1/6)(-0.03) + (1/6)(0.04) + (0.5)(0.07)
    #        = 0.04 + 0.005 + 0.0066667 + 0.035 = 0.0866667
    # Σdx² = 0.25 + 0.0277778 + 0.0277778 + 0.25 = 0.5555556 → slope 0.156 m/h = 15.6 cm/h
    series = [(at(0), 1.00), (at(20), 1.05), (at(40), 1.12), (at(60), 1.15)]
    assert rate_of_rise(series) == pytest.approx(15.6, abs=1e-6)


def test_rate_of_rise_needs_two_samples():
    assert rate_of_rise([]) is None
    assert rate_of_rise([(T0, 1.0)]) is None
    # Two samples but only one inside the window.
    assert rate_of_rise([(at(-120), 1.0), (T0, 1.2)]) is None
    with pytest.raises(ValueError, match="aware datetime"):
        rate_of_rise([(datetime(2026, 11, 25, 8, 0), 1.0), (T0, 1.2)])


# --- station status -----------------------------------------------------------------------------

def test_orange_by_level_and_rise_with_predicted_red():
    # 2.21 → 2.31 → 2.41 m over one hour: 20 cm/h ≥ rise orange 15; 2.41 ≥ level orange 2.30.
    # Red level 2.80 m: (2.80 − 2.41) m = 39 cm at 20 cm/h → 1.95 h = 1 h 57 min after 09:00 → 10:57.
    series = [(at(0), 2.21), (at(30), 2.31), (at(60), 2.41)]
    status = station_status(series, THRESHOLDS, now=at(65))
    assert status["colour"] == "orange"
    assert status["level_colour"] == "orange" and status["rise_colour"] == "orange"
    assert status["level_m"] == 2.41
    assert status["observed_at"] == "2026-11-25T09:00:00.000000Z"
    assert status["age_s"] == 300.0
    assert status["rate_of_rise_cm_per_h"] == pytest.approx(20.0, abs=1e-9)
    assert status["reason"] == ("level 2.41 m ≥ orange threshold 2.30 m; "
                                "rising 20.0 cm/h ≥ orange threshold 15.0 cm/h")
    nxt = status["next_threshold"]
    assert nxt["colour"] == "red" and nxt["level_m"] == 2.8
    predicted = parse_ts(nxt["predicted_at"])
    assert abs((predicted - datetime(2026, 11, 25, 10, 57, tzinfo=UTC)).total_seconds()) < 1e-3


def test_fast_rise_turns_a_low_level_red():
    # 1.00 → 1.50 m in one hour (samples every 15 min, +0.125 m each): 50 cm/h ≥ rise red 40.
    # Level 1.50 < yellow 2.00. Yellow reached after (2.00 − 1.50)/0.50 m/h = 1 h → 10:00.
    series = [(at(15 * i), 1.00 + 0.125 * i) for i in range(5)]
    status = station_status(series, THRESHOLDS, now=at(60))
    assert status["colour"] == "red"
    assert status["level_colour"] == "green" and status["rise_colour"] == "red"
    assert status["reason"] == "rising 50.0 cm/h ≥ red threshold 40.0 cm/h"
    nxt = status["next_threshold"]
    assert nxt["colour"] == "yellow"
    predicted = parse_ts(nxt["predicted_at"])
    assert abs((predicted - datetime(2026, 11, 25, 10, 0, tzinfo=UTC)).total_seconds()) < 1e-3


def test_falling_level_has_no_predicted_time():
    series = [(at(0), 2.60), (at(30), 2.55), (at(60), 2.50)]
    status = station_status(series, THRESHOLDS, now=at(60))
    assert status["colour"] == "orange"
    assert status["rate_of_rise_cm_per_h"] == pytest.approx(-10.0, abs=1e-9)
    assert status["next_threshold"] == {"colour": "red", "level_m": 2.8, "predicted_at": None}
    assert status["reason"] == "level 2.50 m ≥ orange threshold 2.30 m"


def test_red_level_has_no_higher_threshold():
    status = station_status([(at(0), 3.0), (at(30), 3.0)], THRESHOLDS, now=at(30))
    assert status["colour"] == "red"
    assert status["next_threshold"] is None
    assert status["reason"] == "level 3.00 m ≥ red threshold 2.80 m"


def test_green_status_explains_itself():
    status = station_status([(at(0), 1.20)], THRESHOLDS, now=at(10))
    assert status["colour"] == "green"
    assert status["rate_of_rise_cm_per_h"] is None
    assert status["reason"] == ("level 1.20 m < yellow threshold 2.00 m; "
                                "rate of rise unknown (fewer than two samples in the window)")
    assert status["next_threshold"] == {"colour": "yellow", "level_m": 2.0, "predicted_at": None}
    assert station_status([(at(0), 1.2)], Thresholds(), now=at(1))["reason"] == \
        "no vigilance threshold configured for this station"


def test_samples_after_now_are_ignored():
    series = [(at(0), 1.00), (at(30), 1.10), (at(60), 2.90)]
    status = station_status(series, THRESHOLDS, now=at(45))
    assert status["level_m"] == 1.10
    assert status["age_s"] == 900.0
    # 1.00 → 1.10 over 30 min = 20 cm/h ≥ orange 15 → orange by rise only.
    assert status["colour"] == "orange" and status["level_colour"] == "green"
    with pytest.raises(ValueError, match="no level sample"):
        station_status(series, THRESHOLDS, now=at(-1))


def test_thresholds_must_increase_with_severity():
    with pytest.raises(ValueError, match=r"level_orange = 1\.5 m is below level_yellow = 2\.0 m"):
        Thresholds(level_yellow=2.0, level_orange=1.5)
    with pytest.raises(ValueError, match="rise_red"):
        Thresholds(rise_yellow=10.0, rise_red=5.0)
    # Unset colours are skipped in the ordering check.
    assert Thresholds(level_yellow=1.0, level_red=3.0).levels() == [("yellow", 1.0), ("red", 3.0)]


# --- water quality ------------------------------------------------------------------------------

def test_quality_violations_against_defaults():
    sample = {"temperature": 26.0, "pH": 5.5, "O2": 4.2, "conductivity": 800.0, "turbidity": 40.0,
              "NO3": 12.0}
    found = {v.parameter: v for v in check_quality(sample)}
    assert set(found) == {"temperature", "pH", "O2", "turbidity"}
    assert (found["temperature"].bound, found["temperature"].limit) == ("maximum", 25.5)
    assert (found["pH"].bound, found["pH"].limit) == ("minimum", 6.0)
    assert (found["O2"].bound, found["O2"].limit) == ("minimum", 6.0)
    assert found["O2"].message.startswith("dissolved oxygen 4.2 mg/L is below the minimum 6 mg/L")
    assert found["turbidity"].message.startswith("turbidity 40 NTU is above the maximum 35 NTU")


def test_quality_within_ranges_and_missing_values():
    good = {"temperature": 18.0, "pH": 7.8, "O2": 9.1, "conductivity": 450, "turbidity": 3}
    assert check_quality(good) == []
    assert check_quality({"pH": None}) == []
    assert check_quality({}) == []
    # Bounds are inclusive: exactly 6.0 mg/L and pH 9.0 are acceptable.
    assert check_quality({"O2": 6.0, "pH": 9.0}) == []


def test_quality_custom_ranges():
    ranges = {**DEFAULT_RANGES, "temperature": SALMONID_TEMPERATURE}
    (violation,) = check_quality({"temperature": 22.0}, ranges)
    assert violation.limit == 21.5
    assert "salmonid" in violation.message
    tight = {"conductivity": Range(200.0, 600.0, "µS/cm", "conductivity", "station rule")}
    (low,) = check_quality({"conductivity": 150.0, "pH": 3.0}, tight)
    assert low.parameter == "conductivity" and low.bound == "minimum"


def test_quality_rejects_bad_values():
    with pytest.raises(ValueError, match="pH \\('pH'\\) must be a finite number"):
        check_quality({"pH": "acid"})
    with pytest.raises(ValueError, match="finite number"):
        check_quality({"O2": float("nan")})
    with pytest.raises(ValueError, match="minimum 9 is above maximum 6"):
        Range(9, 6, "", "pH", "x")


# --- Hub'Eau client against a local HTTP server ------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    """Serves the recorded Hub'Eau pages; a few station codes trigger failure modes."""

    requests: ClassVar[list[dict[str, list[str]]]] = []

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""

    def _send(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def do_GET(self) -> None:
        """Answer one GET."""
        url = urlparse(self.path)
        query = parse_qs(url.query)
        type(self).requests.append({"path": [url.path], **query})
        if url.path != "/api/v2/hydrometrie/observations_tr":
            self._send(404, b'{"message": "not found"}')
            return
        station = query.get("code_entite", [""])[0]
        if station == "FAIL":
            self._send(503, b'{"code": 503, "message": "Service indisponible"}')
        elif station == "BROKEN":
            self._send(200, b'{"count": 1, "data": [{"code_station": ')
        elif station == "LOOP":
            page = {"count": 1, "next": "https://hubeau.eaufrance.fr/x?cursor=SAME", "data": []}
            self._send(206, json.dumps(page).encode())
        elif station == "SLOW":
            time.sleep(1.0)
            self._send(200, b'{"data": [], "next": null}')
        elif "cursor" not in query:
            self._send(206, (FIXTURES / "hubeau_observations_tr_page1.json").read_bytes())
        elif query["cursor"] == ["AoJ4gN2Yj5QDPwtZNDQyNDA0MDAxXzIwMjYtMTEtMjVUMDg6MDA6MDBaX1E="]:
            self._send(200, (FIXTURES / "hubeau_observations_tr_page2.json").read_bytes())
        else:
            self._send(400, b'{"message": "unknown cursor"}')


@pytest.fixture(scope="module")
def hubeau_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v2/hydrometrie"
    server.shutdown()
    server.server_close()


STATION, QUAL = "Y442404001", "Non qualifiée"
EXPECTED = [
    # H mm → m: 1203 mm = 1.203 m, 1215 mm = 1.215 m, 1230 mm = 1.230 m.
    HydroObservation(STATION, datetime(2026, 11, 25, 8, 0, tzinfo=UTC), "H", 1.203, "m", QUAL),
    HydroObservation(STATION, datetime(2026, 11, 25, 8, 5, tzinfo=UTC), "H", 1.215, "m", QUAL),
    HydroObservation(STATION, datetime(2026, 11, 25, 8, 10, tzinfo=UTC), "H", 1.230, "m", QUAL),
    # Q l/s → m³/s: 4530 l/s = 4.53 m³/s (repeated on page 2, kept once), 4610 l/s = 4.61 m³/s;
    # the 08:10 Q row has a null result and is dropped.
    HydroObservation(STATION, datetime(2026, 11, 25, 8, 0, tzinfo=UTC), "Q", 4.530, "m3/s", QUAL),
    HydroObservation(STATION, datetime(2026, 11, 25, 8, 5, tzinfo=UTC), "Q", 4.610, "m3/s", QUAL),
]


def test_hubeau_follows_the_cursor_converts_units_and_drops_duplicates(hubeau_server: str):
    _Handler.requests.clear()
    client = HubEauClient(base_url=hubeau_server, timeout=5.0, page_size=3)
    result = client.observations("Y442404001",
                                 start=datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo("Europe/Paris")),
                                 end=datetime(2026, 11, 25, 10, 0, tzinfo=UTC))
    assert result == EXPECTED
    assert len(_Handler.requests) == 2
    first, second = _Handler.requests
    assert first["code_entite"] == ["Y442404001"] and first["size"] == ["3"]
    # 09:00 in Paris in November (CET, UTC+1) is 08:00 UTC.
    assert first["date_debut_obs"] == ["2026-11-25T08:00:00Z"]
    assert first["date_fin_obs"] == ["2026-11-25T10:00:00Z"]
    assert "cursor" not in first and "grandeur_hydro" not in first
    # The second request goes to the local server (not the host in 'next') with the same query.
    assert second["cursor"] == ["AoJ4gN2Yj5QDPwtZNDQyNDA0MDAxXzIwMjYtMTEtMjVUMDg6MDA6MDBaX1E="]
    assert second["code_entite"] == ["Y442404001"] and second["date_debut_obs"] == first["date_debut_obs"]


def test_hubeau_async_variant_and_quantity_filter(hubeau_server: str):
    _Handler.requests.clear()
    client = HubEauClient(base_url=hubeau_server + "/", timeout=5.0)
    result = asyncio.run(client.observations_async(["Y442404001"], quantity="H"))
    # The recorded pages ignore the filter; the request must still carry it.
    assert _Handler.requests[0]["grandeur_hydro"] == ["H"]
    assert result == EXPECTED


@pytest.mark.parametrize(
    ("station", "message"),
    [
        ("FAIL", "HTTP 503"),
        ("BROKEN", "malformed JSON"),
        ("LOOP", "paging cursor 'SAME' twice"),
        ("SLOW", "could not reach Hub'Eau"),
    ],
)
def test_hubeau_errors_are_typed(hubeau_server: str, station: str, message: str):
    client = HubEauClient(base_url=hubeau_server, timeout=0.3)
    with pytest.raises(HubEauError, match=message):
        client.observations(station)


def test_hubeau_unreachable_server_and_bad_arguments():
    with pytest.raises(HubEauError, match="could not reach"):
        HubEauClient(base_url="http://127.0.0.1:9", timeout=1.0).observations("Y442404001")
    with pytest.raises(ValueError, match="'H' \\(height\\) or 'Q'"):
        HubEauClient().observations("Y442404001", quantity="V")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"1\.\.20000"):
        HubEauClient(page_size=0)
    with pytest.raises(ValueError, match="non-empty station codes"):
        HubEauClient().observations([])

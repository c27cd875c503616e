"""Adding a use case as one folder: the air-quality example of docs/new-use-case.md, live over HTTP.

A server is started with ``Settings(usecase_paths=…)`` (and one from ``CALANQUE_USECASE_PATHS``)
pointing at tests/usecases/plugins/airquality on both backends. The tests prove that the new
endpoint answers with values worked out by hand, that it appears in /openapi.json and in
GET /api/v1/usecases, that its ingestion enricher runs, and that nothing else changed: the
built-in use cases are listed and documented exactly as on a server without the plugin, and
still answer. The registry's errors on broken folders are checked for clear messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from calanque.app import create_app
from calanque.config import Settings
from calanque.usecases.registry import UseCaseError, builtin_names, discover, load_folder
from tests.conftest import BACKENDS, LiveServer, free_port, reset_store

PLUGIN = Path(__file__).parent / "plugins" / "airquality"
STATION = "urn:ngsi-ld:AirQualityObserved:marseille-longchamp"


def settings(**changes: object) -> Settings:
    """Test server settings, as tests/conftest.py builds them."""
    return Settings(data_dir=Path("/nonexistent"), max_body_bytes=1_000_000, context_fetch_timeout=2.0,
                    **changes)


@pytest.fixture(scope="module")
def plugin_servers(stores: dict) -> Iterator[dict[str, LiveServer]]:
    """One live server per backend with the air-quality folder added through Settings.usecase_paths."""
    started = {}
    for backend in BACKENDS:
        port = free_port()
        app = create_app(settings(usecase_paths=str(PLUGIN), port=port), store=stores[backend])
        started[backend] = LiveServer(app, port).start()
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
def client(backend: str, stores: dict, plugin_servers: dict) -> Iterator[httpx.Client]:
    """A client at the root of the plugin server of the backend under test (store emptied)."""
    reset_store(stores[backend])
    with httpx.Client(base_url=plugin_servers[backend].url, timeout=30) as http:
        yield http


@pytest.fixture
def plain(backend: str, servers: dict) -> Iterator[httpx.Client]:
    """A client at the root of the shared server, which has no plugin (same store)."""
    with httpx.Client(base_url=servers[backend].url, timeout=30) as http:
        yield http


def station(http: httpx.Client, readings: list[tuple[str, float]]) -> None:
    """Create a station whose NO2 history holds ``readings`` (observedAt, µg/m³); the last is current."""
    def no2(at: str, value: float) -> dict:
        return {"type": "Property", "value": value, "unitCode": "GQ", "observedAt": at}

    body = {"id": STATION, "type": "AirQualityObserved", "NO2": no2(*readings[-1])}
    assert http.post("/ngsi-ld/v1/entities", json=body).status_code == 201
    if len(readings) > 1:
        older = {"NO2": [no2(at, v) for at, v in readings[:-1]]}
        response = http.post(f"/ngsi-ld/v1/temporal/entities/{STATION}/attrs", json=older)
        assert response.status_code == 204, response.text


def test_the_new_indicator_answers_with_hand_computed_values(client: httpx.Client) -> None:
    station(client, [("2026-11-24T08:00:00Z", 30.0), ("2026-11-24T09:00:00Z", 45.0),
                     ("2026-11-24T10:00:00Z", 60.0), ("2026-11-24T11:00:00Z", 12.0)])
    url = f"/api/v1/airquality/{STATION}/no2"
    # 08:00 to 11:00 excluded: (30 + 45 + 60) / 3 = 45 µg/m³, above the 40 µg/m³ annual limit value.
    body = client.get(url, params={"from": "2026-11-24T08:00:00Z", "to": "2026-11-24T11:00:00Z"}).json()
    assert (body["samples"], body["mean"], body["aboveAnnualLimit"]) == (3, 45.0, True)
    # 09:30 to 12:00: (60 + 12) / 2 = 36 µg/m³, below.
    later = client.get(url, params={"from": "2026-11-24T09:30:00Z", "to": "2026-11-24T12:00:00Z"}).json()
    assert (later["samples"], later["mean"], later["aboveAnnualLimit"]) == (2, 36.0, False)
    empty = client.get(url, params={"from": "2026-11-25T00:00:00Z", "to": "2026-11-26T00:00:00Z"}).json()
    assert (empty["samples"], empty["mean"], empty["aboveAnnualLimit"]) == (0, None, None)
    # The shared helpers give the plugin the platform's errors.
    missing = client.get("/api/v1/airquality/urn:ngsi-ld:AirQualityObserved:nowhere/no2")
    assert missing.status_code == 404 and "does not exist" in missing.json()["detail"]
    reversed_window = client.get(url, params={"from": "2026-11-25T00:00:00Z", "to": "2026-11-24T00:00:00Z"})
    assert reversed_window.status_code == 400 and "must be before 'to'" in reversed_window.json()["detail"]


def test_the_new_use_case_is_listed_and_documented(client: httpx.Client, plain: httpx.Client) -> None:
    listed = client.get("/api/v1/usecases").json()
    names = [u["name"] for u in listed]
    assert names == [*builtin_names(), "airquality"]
    air = listed[-1]
    assert air["source"] == str(PLUGIN.resolve())
    assert air["entityTypes"] == ["AirQualityObserved"]
    assert air["indicators"] == [{"name": "meanNO2", "unit": "µg/m³", "endpoint": "/api/v1/airquality/{entityId}/no2",
                                  "description": "Arithmetic mean of the NO2 readings observed in the period"}]
    assert {t["name"]: t["value"] for t in air["thresholds"]} == {"no2Hourly": 200.0, "no2Annual": 40.0}
    # Nothing else changed: the built-in use cases are described exactly as without the plugin …
    assert listed[:-1] == plain.get("/api/v1/usecases").json()
    # … and the OpenAPI document only gains the plugin's path.
    with_plugin = client.get("/openapi.json").json()["paths"]
    without = plain.get("/openapi.json").json()["paths"]
    assert set(with_plugin) - set(without) == {"/api/v1/airquality/{entityId}/no2"}
    assert set(without) <= set(with_plugin)
    assert all(with_plugin[p] == without[p] for p in without)
    assert with_plugin["/api/v1/airquality/{entityId}/no2"]["get"]["tags"] == ["Air quality"]


def test_the_built_in_use_cases_still_answer(client: httpx.Client) -> None:
    counter = {"id": "urn:ngsi-ld:TrafficFlowObserved:prado", "type": "TrafficFlowObserved",
               "measurementPeriod": {"type": "Property", "value": 3600, "unitCode": "SEC"},
               "intensity": {"type": "Property", "value": 42, "unitCode": "C62", "observedAt": "2026-06-01T07:00:00Z",
                             "datasetId": "urn:ngsi-ld:Dataset:in"}}
    assert client.post("/ngsi-ld/v1/entities", json=counter).status_code == 201
    counts = client.get("/api/v1/mobility/urn:ngsi-ld:TrafficFlowObserved:prado/counts",
                        params={"from": "2026-06-01T00:00:00Z", "to": "2026-06-02T00:00:00Z", "tz": "UTC"})
    assert counts.status_code == 200 and counts.json()["buckets"][0]["counts"] == {"in": 42}
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:TrafficFlowObserved:prado").status_code == 200
    paths = " ".join(client.get("/openapi.json").json()["paths"])
    for usecase in discover():
        if usecase.router is not None:
            assert f"/api/v1/{usecase.name}/" in paths, usecase.name


def test_the_enricher_runs_on_ingestion(client: httpx.Client) -> None:
    device = {"id": "aq-longchamp", "name": "Station Longchamp", "deviceModel": "NO2 analyser", "codec": "json",
              "entityId": STATION, "entityType": "AirQualityObserved", "network": "http",
              "mapping": {"no2": {"attribute": "NO2", "unitCode": "GQ"}}}
    assert client.post("/api/v1/devices", json=device).status_code == 201
    created = client.post("/api/v1/integrations", json={"name": "aq", "kind": "http"})
    assert created.status_code == 201, created.text
    key = {"X-Calanque-Key": created.json()["key"]}
    for at, value in (("2026-11-24T08:00:00Z", 180.0), ("2026-11-24T09:00:00Z", 250.0)):
        push = {"device": "aq-longchamp", "observedAt": at, "measurements": {"no2": value}}
        response = client.post("/api/v1/ingest/http", json=push, headers=key)
        assert response.status_code == 202 and response.json()["status"] == "stored", response.text
    entity = client.get(f"/ngsi-ld/v1/entities/{STATION}").json()
    # 250 µg/m³ is above the 200 µg/m³ hourly limit value; the flag is observed with the reading.
    assert entity["NO2"]["value"] == 250.0
    assert entity["no2AboveHourlyLimit"]["value"] is True
    assert entity["no2AboveHourlyLimit"]["observedAt"].startswith("2026-11-24T09:00:00")
    history = client.get(f"/ngsi-ld/v1/temporal/entities/{STATION}", params={"attrs": "no2AboveHourlyLimit"}).json()
    flags = sorted((i["observedAt"][:19], i["value"]) for i in history["no2AboveHourlyLimit"])
    assert flags == [("2026-11-24T08:00:00", False), ("2026-11-24T09:00:00", True)]


def test_the_folder_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, stores: dict) -> None:
    monkeypatch.setenv("CALANQUE_USECASE_PATHS", str(PLUGIN))
    from_env = Settings(data_dir=Path("/nonexistent"))
    assert from_env.usecase_paths == str(PLUGIN)
    port = free_port()
    from_env.port = port
    server = LiveServer(create_app(from_env, store=stores["sqlite"]), port).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert "airquality" in [u["name"] for u in http.get("/api/v1/usecases").json()]
            assert "/api/v1/airquality/{entityId}/no2" in http.get("/openapi.json").json()["paths"]
    finally:
        server.stop()


# --- registry errors -------------------------------------------------------------------------------


def write_usecase(folder: Path, source: str) -> Path:
    """A use-case folder holding ``usecase.py`` with ``source``."""
    folder.mkdir(parents=True)
    (folder / "usecase.py").write_text(source, encoding="utf-8")
    return folder


VALID = """
from calanque.usecases.registry import UseCase
USECASE = UseCase(name={name!r}, title="T", description="D", entity_types=("Thing",))
"""


def test_a_folder_without_usecase_py_is_refused_by_name(tmp_path: Path, stores: dict) -> None:
    empty = tmp_path / "emptyusecase"
    empty.mkdir()
    with pytest.raises(UseCaseError, match=re.escape(f"use-case folder {empty} has no usecase.py")):
        load_folder(empty)
    # The application refuses to start rather than run without the use case it was told to load.
    with pytest.raises(UseCaseError, match="has no usecase.py"):
        create_app(settings(usecase_paths=str(empty)), store=stores["sqlite"])


def test_two_use_cases_with_one_name_are_refused(tmp_path: Path) -> None:
    first = write_usecase(tmp_path / "twin_one", VALID.format(name="twins"))
    second = write_usecase(tmp_path / "twin_two", VALID.format(name="twins"))
    with pytest.raises(UseCaseError, match=re.escape(f"two use cases are named 'twins': {first} and {second}")):
        discover([first, second])
    clash = write_usecase(tmp_path / "clash_builtin", VALID.format(name="mobility"))
    with pytest.raises(UseCaseError, match=re.escape(f"two use cases are named 'mobility': builtin and {clash}")):
        discover([clash])


def test_a_usecase_py_that_raises_is_reported_with_its_folder(tmp_path: Path) -> None:
    broken = write_usecase(tmp_path / "raising_usecase", "import math\nmath.sqrt(-1)\n")
    with pytest.raises(UseCaseError, match=re.escape(f"use-case folder {broken}: ValueError: math domain error")):
        discover([broken])
    missing = write_usecase(tmp_path / "no_declaration", "X = 1\n")
    with pytest.raises(UseCaseError, match="USECASE must be a calanque.usecases.registry.UseCase, got NoneType"):
        load_folder(missing)
    bad_name = write_usecase(tmp_path / "bad_name", VALID.format(name="Air Quality"))
    with pytest.raises(UseCaseError, match="use-case name 'Air Quality' must be 2-32 lower-case letters"):
        load_folder(bad_name)
    no_types = write_usecase(tmp_path / "no_types", VALID.format(name="nothing").replace('("Thing",)', "()"))
    with pytest.raises(UseCaseError, match="use case 'nothing' declares no entity type"):
        load_folder(no_types)

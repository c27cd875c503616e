"""POST /api/v1/devices/import (CSV and JSON, dry run and all-or-nothing writes) and the silent-device
listing, on a live server over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from calanque.devices import repository as repo
from calanque.devices.models import DeviceConfig

IMPORT = "/api/v1/devices/import"
HEADER = "device_id,name,model,codec,entity_id,entity_type,network,lon,lat,commune,site,expected_period"
CSV = {"Content-Type": "text/csv"}


@pytest.fixture
def client(api: httpx.Client) -> Iterator[httpx.Client]:
    """A client on the server root of the (emptied) backend under test."""
    root = str(api.base_url).removesuffix("/").removesuffix("/ngsi-ld/v1")
    with httpx.Client(base_url=root, timeout=30) as c:
        yield c


def row(i: int, **changes: str) -> str:
    """A valid CSV row: waste container sensor i (DevEUI a84041000000000i)."""
    cells = {
        "device_id": f"A84041{i:010X}", "name": f"Colonne {i}", "model": "Dragino LDDS75",
        "codec": "dragino-ldds75", "entity_id": f"urn:ngsi-ld:WasteContainer:c{i}", "entity_type": "WasteContainer",
        "network": "chirpstack", "lon": "5.37", "lat": "43.29", "commune": "13055", "site": "Prado",
        "expected_period": "3600",
    }
    cells.update(changes)
    return ",".join(cells.values())


def csv_text(*rows: str) -> str:
    """A CSV body: the header then the rows."""
    return "\n".join([HEADER, *rows]) + "\n"


def total(client: httpx.Client) -> int:
    """How many devices the tenant has."""
    return client.get("/api/v1/devices", params={"limit": 1}).json()["total"]


BAD_FILE = csv_text(
    row(1),
    row(2, device_id="A84041ZZ"),  # line 3: not a DevEUI
    row(3, codec="acme-9000", commune="1305"),  # line 4: two errors in one row
    row(4, lon="5.4", lat=""),  # line 5: half coordinates
    row(5, expected_period="0"),  # line 6: period must be >= 1 s
    row(1, name="Doublon"),  # line 7: same device as line 2
    row(6),
)


def test_dry_run_lists_every_row_error_and_writes_nothing(client: httpx.Client) -> None:
    answer = client.post(IMPORT, params={"dryRun": "true"}, content=BAD_FILE, headers=CSV)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["dryRun"], body["written"], body["rows"], body["valid"]) == (True, False, 7, 2)
    assert (body["created"], body["updated"]) == (2, 0)
    found = [(e["line"], e["field"]) for e in body["errors"]]
    assert found == [(3, "device_id"), (4, "codec"), (4, "commune"), (5, "lat"), (6, "expected_period"),
                     (7, "device_id")]
    messages = {(e["line"], e["field"]): e["message"] for e in body["errors"]}
    assert messages[(3, "device_id")].startswith("bad DevEUI 'A84041ZZ'")
    assert messages[(4, "codec")].startswith("unknown codec 'acme-9000'")
    assert messages[(4, "commune")].startswith("bad INSEE commune code '1305'")
    assert messages[(5, "lat")] == "bad coordinates: give both lon and lat, or neither"
    assert "greater than or equal to 1" in messages[(6, "expected_period")]
    assert messages[(7, "device_id")] == "duplicate device a840410000000001 (first on line 2)"
    assert [(d["line"], d["id"], d["action"]) for d in body["devices"]] == [
        (2, "a840410000000001", "create"), (8, "a840410000000006", "create")]
    assert total(client) == 0


def test_an_invalid_row_refuses_the_whole_import(client: httpx.Client) -> None:
    answer = client.post(IMPORT, content=BAD_FILE, headers=CSV)
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["detail"].startswith("5 of 7 rows are invalid, so nothing was imported")
    assert len(problem["errors"]) == 6 and problem["errors"][0] == {
        "line": 3, "field": "device_id",
        "message": problem["errors"][0]["message"]}
    assert total(client) == 0


def test_good_file_is_written_then_updated(client: httpx.Client) -> None:
    client.post("/api/v1/devices", json={
        "id": "a840410000000002", "name": "Ancien nom", "deviceModel": "Dragino LDDS75", "codec": "dragino-ldds75",
        "entityId": "urn:ngsi-ld:WasteContainer:c2", "entityType": "WasteContainer", "network": "chirpstack",
    }).raise_for_status()
    text = csv_text(*(row(i) for i in range(1, 31)))
    preview = client.post(IMPORT, params={"dryRun": "true"}, content=text, headers=CSV).json()
    assert (preview["created"], preview["updated"], preview["errors"]) == (29, 1, [])
    assert preview["devices"][1] == {"line": 3, "id": "a840410000000002", "name": "Colonne 2",
                                     "entityId": "urn:ngsi-ld:WasteContainer:c2", "entityType": "WasteContainer",
                                     "action": "update"}
    assert total(client) == 1

    done = client.post(IMPORT, content=text, headers={"Content-Type": "text/csv; charset=utf-8"})
    assert done.status_code == 200, done.text
    assert (done.json()["written"], done.json()["created"], done.json()["updated"]) == (True, 29, 1)
    assert total(client) == 30
    device = client.get("/api/v1/devices/A84041000000001E").json()
    assert (device["name"], device["site"], device["expectedPeriod"], device["location"]) == (
        "Colonne 30", "Prado", 3600, {"lon": 5.37, "lat": 43.29})
    assert client.get("/api/v1/devices/a840410000000002").json()["name"] == "Colonne 2"

    again = client.post(IMPORT, content=text, headers=CSV).json()
    assert (again["created"], again["updated"]) == (0, 30)


def test_json_import_names_fields_as_the_api_does(client: httpx.Client) -> None:
    good = {"id": "70B3D57ED0000010", "name": "Lampadaire 10", "deviceModel": "Calanque streetlight controller",
            "codec": "calanque-streetlight", "entityId": "urn:ngsi-ld:Streetlight:sl-10",
            "entityType": "Streetlight", "network": "chirpstack", "expectedPeriod": 900}
    items = [good, {**good, "id": "70B3D57ED0000011", "deviceModel": "", "colour": "red"}, "not a device",
             {**good, "id": "zz", "entityId": "urn:ngsi-ld:Streetlight:sl-12"}]
    preview = client.post(IMPORT, params={"dryRun": "true"}, json=items).json()
    assert [(e["line"], e["field"]) for e in preview["errors"]] == [
        (2, "deviceModel"), (2, "colour"), (3, None), (4, "id")]
    assert preview["errors"][2]["message"] == "item 3 is a str, not a device object"
    assert preview["errors"][3]["message"].startswith("bad DevEUI 'zz'")
    assert client.post(IMPORT, json=items).status_code == 400
    assert total(client) == 0
    done = client.post(IMPORT, json=[good])
    assert done.status_code == 200 and done.json()["created"] == 1
    assert client.get("/api/v1/devices/70b3d57ed0000010").json()["expectedPeriod"] == 900


@pytest.mark.parametrize(
    ("content", "headers", "status", "needle"),
    [
        (b"device_id,name\n", {"Content-Type": "application/xml"}, 415, "text/csv"),
        (b"", {}, 415, "no Content-Type"),
        (HEADER.encode() + b"\nSonom\xe8tre\n", CSV, 400, "not UTF-8"),
        (b"dev_eui,name,colour\n1,2,3\n", CSV, 400, "unknown column(s) colour"),
        (HEADER.encode() + b"\n", CSV, 400, "holds no device"),
        (b"", CSV, 400, "no header row"),
        (b'{"id": "x"}', {"Content-Type": "application/json"}, 400, "must be an array"),
        (b"[{", {"Content-Type": "application/json"}, 400, "not valid JSON"),
        (b"[]", {"Content-Type": "application/json"}, 400, "holds no device"),
    ],
)
def test_unusable_bodies_are_4xx(client: httpx.Client, content: bytes, headers: dict, status: int,
                                 needle: str) -> None:
    answer = client.post(IMPORT, content=content, headers=headers)
    assert answer.status_code == status, answer.text
    assert needle in answer.json()["detail"]
    assert total(client) == 0


def test_codec_script_paths_are_refused_over_http(client: httpx.Client) -> None:
    text = "device_id,name,model,codec,entity_id,entity_type,network,codec_script\n" \
           "capteur-1,Capteur,Modèle,js,urn:ngsi-ld:X:1,X,http,decoder.js\n"
    errors = client.post(IMPORT, params={"dryRun": "true"}, content=text, headers=CSV).json()["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(2, "codec_script")]
    assert "only the command line reads" in errors[0]["message"]


def _device(i: int, period: int | None, status: str = "active") -> DeviceConfig:
    return DeviceConfig.model_validate({
        "id": f"dev-{i}", "name": f"Device {i}", "deviceModel": "M", "codec": "json",
        "entityId": f"urn:ngsi-ld:X:{i}", "entityType": "X", "network": "http", "expectedPeriod": period,
        "status": status,
    })


def test_silent_devices(client: httpx.Client, store) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    # (period s, last seen minutes ago, status); silent after factor x period without an uplink
    plan = {1: (600, 25, "active"), 2: (600, 35, "active"), 3: (None, 150, "active"), 4: (None, None, "active"),
            5: (None, None, "decommissioned"), 6: (86_400, 60 * 50, "active")}
    with store.session(write=True) as session:
        for i, (period, ago, status) in plan.items():
            repo.create_device(session, "", _device(i, period, status))
            if ago is not None:
                repo.update_metadata(session, "", f"dev-{i}", last_seen=now - timedelta(minutes=ago))

    def silent(**params: object) -> list[str]:
        answer = client.get("/api/v1/devices", params={"silent": "true", **params})
        assert answer.status_code == 200, answer.text
        return [d["id"] for d in answer.json()["items"]]

    # factor 3: dev-1 25 min < 30; dev-2 35 min > 30; dev-3 150 min < 3 x 60 (default period); dev-4 never
    # seen; dev-5 decommissioned; dev-6 50 h < 72 h
    assert silent() == ["dev-2", "dev-4"]
    # factor 2: dev-1 25 min > 20; dev-3 150 min > 120; dev-6 50 h > 48 h
    assert silent(silentFactor=2) == ["dev-1", "dev-2", "dev-3", "dev-4", "dev-6"]
    # default period 30 min for records without one: dev-3 150 min > 90
    assert silent(defaultPeriod=1800) == ["dev-2", "dev-3", "dev-4"]
    # an explicit status filter replaces the active-only rule
    assert silent(status="decommissioned") == ["dev-5"]
    assert client.get("/api/v1/devices", params={"silent": "true", "silentFactor": 0}).status_code == 400


def test_search_and_entity_filters(client: httpx.Client, store) -> None:  # type: ignore[no-untyped-def]
    with store.session(write=True) as session:
        for i in (1, 2, 13):
            repo.create_device(session, "", _device(i, 60))

    def ids(**params: object) -> list[str]:
        return [d["id"] for d in client.get("/api/v1/devices", params=params).json()["items"]]

    assert ids(q="DEVICE 1") == ["dev-1", "dev-13"]
    assert ids(q="x:2") == ["dev-2"]
    assert ids(q="%") == [] and ids(q="_") == []  # LIKE wildcards are taken literally
    assert ids(entityId="urn:ngsi-ld:X:13") == ["dev-13"]
    assert ids(entityType="X") == ["dev-1", "dev-13", "dev-2"]


def test_cli_lists_silent_devices(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from calanque.cli import main
    from calanque.store.base import open_store

    store = open_store(None, str(tmp_path / "data"))
    now = datetime.now(UTC)
    with store.session(write=True) as session:
        session.ensure_tenant("")
        for i, (period, ago) in {1: (600, 25), 2: (600, 35), 3: (600, None)}.items():
            repo.create_device(session, "", _device(i, period))
            if ago is not None:
                repo.update_metadata(session, "", f"dev-{i}", last_seen=now - timedelta(minutes=ago))
    store.close()
    result = CliRunner().invoke(main, ["devices", "list", "--silent", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    # 3 x 10 min: dev-2 (35 min) and dev-3 (never heard) are silent, not dev-1 (25 min)
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["dev-2", "dev-3"]
    assert "2 of 2 silent devices" in result.stderr
    help_text = CliRunner().invoke(main, ["devices", "list", "--help"]).output
    assert "--silent-factor" in help_text

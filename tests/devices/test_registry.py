"""Device registry: REST CRUD, validation errors, tenant isolation and link-metadata updates, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from calanque.devices import repository as repo
from calanque.devices.models import DeviceConfig

DEVICES = "/api/v1/devices"


@pytest.fixture
def client(api: httpx.Client) -> Iterator[httpx.Client]:
    """A client on the server root of the (emptied) backend under test."""
    root = str(api.base_url).removesuffix("/").removesuffix("/ngsi-ld/v1")
    with httpx.Client(base_url=root, timeout=30) as c:
        yield c


def device_body(dev_eui: str = "70B3D57ED005A1B2", **changes: object) -> dict:
    """A valid creation body for a LoRaWAN noise sensor in Marseille."""
    body: dict = {
        "id": dev_eui,
        "name": "Sonomètre Vieux-Port",
        "deviceModel": "Milesight WS302",
        "codec": "milesight-ws302",
        "entityId": "urn:ngsi-ld:NoiseLevelObserved:vieux-port",
        "entityType": "NoiseLevelObserved",
        "mapping": {"laeq": {"attribute": "LAeq", "unitCode": "2N"},
                    "battery": {"attribute": "batteryLevel", "unitCode": "P1", "scale": 0.01}},
        "location": {"lon": 5.3698, "lat": 43.2951},
        "commune": "13055",
        "site": "Vieux-Port",
        "installedOn": "2024-03-01",
        "network": "chirpstack",
        "chirpstackApplicationId": "0F3A2B4C-1D2E-4F50-8A9B-0C1D2E3F4A5B",
    }
    body.update(changes)
    return body


def test_crud_round_trip(client: httpx.Client) -> None:
    created = client.post(DEVICES, json=device_body("70-b3-d5-7e-d0-05-a1-b2"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == "70b3d57ed005a1b2"
    assert body["chirpstackApplicationId"] == "0f3a2b4c-1d2e-4f50-8a9b-0c1d2e3f4a5b"
    assert body["mapping"]["battery"] == {"attribute": "batteryLevel", "unitCode": "P1", "scale": 0.01,
                                          "datasetId": None}
    assert body["status"] == "active" and body["fcntResets"] == 0 and body["lastSeen"] is None

    got = client.get(f"{DEVICES}/70B3D57ED005A1B2")  # any case finds the DevEUI
    assert got.status_code == 200
    assert got.json()["location"] == {"lon": 5.3698, "lat": 43.2951}

    again = client.post(DEVICES, json=device_body())
    assert again.status_code == 409
    assert "already registered" in again.json()["detail"]

    patched = client.patch(f"{DEVICES}/70b3d57ed005a1b2", json={"status": "maintenance", "site": "Quai"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "maintenance" and patched.json()["site"] == "Quai"
    assert patched.json()["name"] == "Sonomètre Vieux-Port"

    assert client.delete(f"{DEVICES}/70b3d57ed005a1b2").status_code == 204
    assert client.get(f"{DEVICES}/70b3d57ed005a1b2").status_code == 404
    assert client.delete(f"{DEVICES}/70b3d57ed005a1b2").status_code == 404


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"id": "70B3D57ED005A1"}, "bad DevEUI"),
        ({"codec": "no-such-codec"}, "unknown codec 'no-such-codec'"),
        ({"commune": "1305"}, "bad INSEE commune code"),
        ({"commune": "20004"}, "bad INSEE commune code"),  # Corsica is 2A/2B, never 20
        ({"location": {"lon": 5.37, "lat": 143.0}}, "location.lat"),
        ({"codec": "js"}, "needs codecScript"),
        ({"codecScript": "function decodeUplink(i){return {data:{}}}"}, "only allowed with codec 'js'"),
        ({"codec": "js", "codecScript": "function ("}, "codecScript does not load"),
        ({"mapping": {"laeq": {"attribute": "LAeq", "unitCode": "dB(A)"}}}, "bad unitCode"),
        ({"mapping": {"laeq": {"attribute": "LAeq", "unitCode": "2N", "scale": 0}}}, "non-zero"),
        ({"entityId": "vieux port"}, "must be a URI"),
        ({"status": "broken"}, "status"),
        ({"network": "sigfox"}, "network"),
        ({"colour": "blue"}, "colour"),
        ({"ttsApplicationId": "Bad_App"}, "bad TTS application id"),
    ],
)
def test_validation_errors_are_400_with_detail(client: httpx.Client, changes: dict, needle: str) -> None:
    response = client.post(DEVICES, json=device_body(**changes))
    assert response.status_code == 400, response.text
    assert needle in response.json()["detail"]


def test_other_ids_are_allowed_off_lorawan(client: httpx.Client) -> None:
    ok = client.post(DEVICES, json=device_body("counter-prado-01", network="mqtt", commune="2A004"))
    assert ok.status_code == 201, ok.text
    assert ok.json()["id"] == "counter-prado-01" and ok.json()["commune"] == "2A004"
    bad = client.post(DEVICES, json=device_body("counter prado", network="http"))
    assert bad.status_code == 400 and "bad device id" in bad.json()["detail"]


def test_patch_and_query_errors(client: httpx.Client) -> None:
    assert client.post(DEVICES, json=device_body()).status_code == 201
    to_js = client.patch(f"{DEVICES}/70b3d57ed005a1b2", json={"codec": "js"})
    assert to_js.status_code == 400 and "needs codecScript" in to_js.json()["detail"]
    assert client.get(f"{DEVICES}/70b3d57ed005a1b2").json()["codec"] == "milesight-ws302"  # unchanged
    assert client.patch(f"{DEVICES}/70b3d57ed005a1b2", json={"id": "x"}).status_code == 400
    missing = client.patch(f"{DEVICES}/0000000000000001", json={"name": "x"})
    assert missing.status_code == 404 and "0000000000000001" in missing.json()["detail"]
    assert client.get(DEVICES, params={"limit": 0}).status_code == 400
    assert client.get(DEVICES, params={"status": "sleeping"}).status_code == 400
    assert client.get(DEVICES, params={"silentSince": "yesterday"}).status_code == 400
    assert client.post(DEVICES, content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    bad_tenant = client.get(DEVICES, headers={"NGSILD-Tenant": "a b"})
    assert bad_tenant.status_code == 400 and "NGSILD-Tenant" in bad_tenant.json()["detail"]


def test_list_filters_and_paging(client: httpx.Client) -> None:
    specs = [  # (DevEUI suffix, status, commune, model, site)
        ("01", "active", "13055", "Milesight WS302", "Prado"),
        ("02", "active", "13055", "Dragino LDDS75", "Prado"),
        ("03", "maintenance", "13055", "Milesight WS302", "Joliette"),
        ("04", "active", "2A004", "Milesight WS302", "Port"),
        ("05", "decommissioned", "13001", "Dragino LDDS75", "Cours"),
    ]
    for suffix, status, commune, model, site in specs:
        body = device_body(f"a84041000000{suffix:>04}", status=status, commune=commune, deviceModel=model, site=site)
        assert client.post(DEVICES, json=body).status_code == 201

    def ids(**params: object) -> tuple[list[str], int]:
        page = client.get(DEVICES, params=params).json()
        return [d["id"][-2:] for d in page["items"]], page["total"]

    assert ids() == (["01", "02", "03", "04", "05"], 5)
    assert ids(status="active") == (["01", "02", "04"], 3)
    assert ids(commune="2a004") == (["04"], 1)
    assert ids(model="Dragino LDDS75") == (["02", "05"], 2)
    assert ids(site="Prado", status="active") == (["01", "02"], 2)
    assert ids(limit=2, offset=2) == (["03", "04"], 5)
    assert ids(limit=2, offset=4) == (["05"], 5)


def test_tenants_are_isolated(client: httpx.Client) -> None:
    a = {"NGSILD-Tenant": "marseille"}
    b = {"NGSILD-Tenant": "ajaccio"}
    assert client.post(DEVICES, json=device_body(), headers=a).status_code == 201
    assert client.get(f"{DEVICES}/70b3d57ed005a1b2", headers=b).status_code == 404
    assert client.get(f"{DEVICES}/70b3d57ed005a1b2").status_code == 404  # default tenant
    assert client.get(DEVICES, headers=b).json()["total"] == 0
    assert client.patch(f"{DEVICES}/70b3d57ed005a1b2", json={"name": "x"}, headers=b).status_code == 404
    assert client.delete(f"{DEVICES}/70b3d57ed005a1b2", headers=b).status_code == 404
    # the same DevEUI may be registered by another tenant
    assert client.post(DEVICES, json=device_body(name="Ajaccio"), headers=b).status_code == 201
    assert client.get(f"{DEVICES}/70b3d57ed005a1b2", headers=a).json()["name"] == "Sonomètre Vieux-Port"
    assert client.get(f"{DEVICES}/70b3d57ed005a1b2", headers=a).json()["tenant"] == "marseille"


def test_openapi_documents_the_routes(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/v1/devices"]["post"]["summary"] == "Register a device"
    assert paths["/api/v1/devices/{device_id}"]["patch"]["summary"] == "Update a device"
    assert paths["/api/v1/deadletters/{letter_id}/retry"]["post"]["summary"] == "Retry a dead letter"


def test_metadata_updates_and_fcnt_resets(store) -> None:  # type: ignore[no-untyped-def]
    t0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    with store.session(write=True) as s:
        repo.create_device(s, "", DeviceConfig.model_validate(device_body()))
        repo.create_device(s, "other", DeviceConfig.model_validate(device_body()))
    # (minutes after t0, fcnt, expected last_fcnt, expected resets)
    steps = [
        (0, 10, 10, 0),
        (1, 20, 20, 0),
        (2, 18, 20, 0),    # late frame: 20 - 18 = 2 <= 16
        (3, 4, 20, 0),     # 20 - 4 = 16, still within the reorder tolerance
        (4, 0, 0, 1),      # back to 0: the device re-joined
        (5, 500, 500, 1),
        (6, 490, 500, 1),  # 500 - 490 = 10 <= 16: late frame
        (7, 100, 100, 2),  # 500 - 100 = 400 > 16: reset
    ]
    for minutes, fcnt, last, resets in steps:
        with store.session(write=True) as s:
            d = repo.update_metadata(s, "", "70B3D57ED005A1B2", last_seen=t0 + timedelta(minutes=minutes),
                                     fcnt=fcnt, rssi=-100.0 - minutes, snr=7.5, gateways=2)
        assert d is not None
        assert (d.last_fcnt, d.fcnt_resets) == (last, resets), (minutes, fcnt)
    with store.session(write=True) as s:
        d = repo.update_metadata(s, "", "70b3d57ed005a1b2", last_seen=t0, battery=0.42)  # an old frame
        assert d is not None
        assert d.last_seen == t0 + timedelta(minutes=7)  # never moves backwards
        assert (d.battery, d.rssi, d.snr, d.gateways, d.last_fcnt) == (0.42, -107.0, 7.5, 2, 100)
        with pytest.raises(ValueError, match="between 0 and 1"):
            repo.update_metadata(s, "", "70b3d57ed005a1b2", last_seen=t0, battery=42)
        assert repo.update_metadata(s, "", "0000000000000001", last_seen=t0) is None
        other = repo.get_device(s, "other", "70b3d57ed005a1b2")
        assert other is not None and other.last_seen is None and other.fcnt_resets == 0
        silent, total = repo.list_devices(s, "", silent_since=t0 + timedelta(minutes=8))
        assert total == 1 and silent[0].id == "70b3d57ed005a1b2"
        assert repo.list_devices(s, "", silent_since=t0 + timedelta(minutes=7))[1] == 0
        assert repo.list_devices(s, "other", silent_since=t0)[1] == 1  # never seen counts as silent

"""Read narrowing: identities narrowed to communes or sites, and operators, read only what is theirs.

Entities are narrowed by their ``municipalityCode`` / ``site`` Property (docs/data-conventions.md),
devices by their ``commune`` / ``site``, dead letters and commands by their device; operators see the
entity types of their use cases. Pages, counts, history, discovery and use-case indicators agree.
"""

from __future__ import annotations

from typing import Any

import pytest

from calanque.devices import deadletters as dl
from tests.auth.conftest import AuthServer

MARSEILLE, AIX = "13055", "13001"


def entity(
    entity_id: str, entity_type: str, commune: str | None, site: str | None = None, **attrs: Any
) -> dict:
    """An entity in a commune (and site), with numeric Properties observed at 10:00."""
    out: dict[str, Any] = {"id": entity_id, "type": entity_type}
    if commune is not None:
        out["municipalityCode"] = {"type": "Property", "value": commune}
    if site is not None:
        out["site"] = {"type": "Property", "value": site}
    for name, value in attrs.items():
        out[name] = {"type": "Property", "value": value, "observedAt": "2026-05-04T10:00:00Z"}
    return out


ENTITIES = [
    entity("urn:ngsi-ld:NoiseLevelObserved:m1", "NoiseLevelObserved", MARSEILLE, "vieux-port", LAeq=60.0),
    entity("urn:ngsi-ld:NoiseLevelObserved:m2", "NoiseLevelObserved", MARSEILLE, LAeq=55.0),
    entity("urn:ngsi-ld:NoiseLevelObserved:a1", "NoiseLevelObserved", AIX, "luminy", LAeq=50.0),
    entity("urn:ngsi-ld:WasteContainer:m3", "WasteContainer", MARSEILLE, fillingLevel=0.5),
    entity("urn:ngsi-ld:WasteContainer:a2", "WasteContainer", AIX, "luminy", fillingLevel=0.7),
    entity("urn:ngsi-ld:WasteContainerModel:glass-3m3", "WasteContainerModel", None, cargoVolume=3000.0),
]


def device(dev_eui: str, entity_id: str, entity_type: str, commune: str, site: str | None = None) -> dict:
    """A device registration."""
    return {
        "id": dev_eui,
        "name": "capteur",
        "deviceModel": "Milesight WS302",
        "codec": "milesight-ws302",
        "entityId": entity_id,
        "entityType": entity_type,
        "commune": commune,
        "site": site,
        "network": "chirpstack",
    }


DEVICES = [
    device("a840410000000001", "urn:ngsi-ld:NoiseLevelObserved:m1", "NoiseLevelObserved", MARSEILLE),
    device("a840410000000002", "urn:ngsi-ld:NoiseLevelObserved:a1", "NoiseLevelObserved", AIX, "luminy"),
    device("a840410000000003", "urn:ngsi-ld:WasteContainer:a2", "WasteContainer", AIX, "luminy"),
]


@pytest.fixture(scope="module")
def data(auth_server: AuthServer) -> AuthServer:
    """Entities, devices, dead letters and commands in Marseille and Aix, and narrowed keys."""
    auth_server.add_key("aix-viewer", role="viewer", tenant="", communes=[AIX])
    auth_server.add_key("luminy-viewer", role="viewer", tenant="", sites=["luminy"])
    auth_server.add_key("waste-op", role="operator", tenant="", usecases=["waste"])
    with auth_server.client("admin") as admin:
        for body in ENTITIES:
            assert admin.post("/ngsi-ld/v1/entities", json=body).status_code == 201
        for body in DEVICES:
            assert admin.post("/api/v1/devices", json=body).status_code == 201
    with auth_server.store.session(write=True) as session:
        for dev_eui in ("A840410000000001", "a840410000000002", "a840410000000003", "ffffffffffffffff"):
            dl.add_dead_letter(
                session,
                tenant="",
                payload=b"{}",
                connector="chirpstack",
                topic="t",
                error_kind="decode",
                reason="test",
                device_id=dev_eui,
            )
            session._exec(
                "INSERT INTO commands (tenant, device_id, entity_id, network, request, status, created_at, "
                "updated_at) VALUES (?, ?, NULL, 'chirpstack', '{}', 'queued', 1, 1)",
                ("", dev_eui.lower()),
            )
    return auth_server


def ids(items: list[dict], key: str = "id") -> set[str]:
    """The ids of a list of answers."""
    return {i[key] for i in items}


def test_commune_narrowed_viewer_reads_its_commune_only(data: AuthServer) -> None:
    """A viewer of Aix: entities, counts, retrieval, q, temporal, discovery, devices, dead letters,
    commands and use-case indicators of Aix only (an entity without a commune is in none)."""
    with data.client("aix-viewer") as aix:
        r = aix.get(
            "/ngsi-ld/v1/entities",
            params={"type": "NoiseLevelObserved,WasteContainer,WasteContainerModel", "count": "true"},
        )
        assert ids(r.json()) == {"urn:ngsi-ld:NoiseLevelObserved:a1", "urn:ngsi-ld:WasteContainer:a2"}
        assert r.headers["ngsild-results-count"] == "2"
        assert aix.get("/ngsi-ld/v1/entities/urn:ngsi-ld:NoiseLevelObserved:m1").status_code == 404
        assert aix.get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainerModel:glass-3m3").status_code == 404
        r = aix.get("/ngsi-ld/v1/entities", params={"q": f'municipalityCode=="{MARSEILLE}"', "count": "true"})
        assert r.json() == [] and r.headers["ngsild-results-count"] == "0"
        r = aix.get("/ngsi-ld/v1/temporal/entities", params={"type": "NoiseLevelObserved", "count": "true"})
        assert (
            ids(r.json()) == {"urn:ngsi-ld:NoiseLevelObserved:a1"}
            and r.headers["ngsild-results-count"] == "1"
        )
        assert aix.get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:NoiseLevelObserved:m1").status_code == 404
        assert aix.get("/ngsi-ld/v1/types/NoiseLevelObserved").json()["entityCount"] == 1
        assert aix.get("/ngsi-ld/v1/attributes/LAeq").json()["attributeCount"] == 1
        assert "WasteContainerModel" not in aix.get("/ngsi-ld/v1/types").json()["typeList"]
        devices = aix.get("/api/v1/devices").json()
        assert ids(devices["items"]) == {"a840410000000002", "a840410000000003"} and devices["total"] == 2
        assert aix.get("/api/v1/devices/a840410000000001").status_code == 404
        assert aix.get("/api/v1/devices", params={"commune": MARSEILLE}).json()["total"] == 0
        commands = aix.get("/api/v1/commands").json()
        assert ids(commands, "deviceId") == {"a840410000000002", "a840410000000003"}
        assert aix.get("/api/v1/noise/observatory", params={"date": "2026-05-04"}).json()["count"] == 1
        r = aix.get("/api/v1/noise/urn:ngsi-ld:NoiseLevelObserved:m1/indicators")
        assert r.status_code == 404
    with data.client("admin") as admin:  # what the narrowing hides is there
        assert admin.get("/api/v1/devices").json()["total"] == 3
        assert len(admin.get("/api/v1/commands").json()) == 4
        assert admin.get("/ngsi-ld/v1/types/NoiseLevelObserved").json()["entityCount"] == 3
        assert admin.get("/api/v1/deadletters").json()["total"] == 4


def test_narrowed_partner_reads_dead_letters_of_its_devices(data: AuthServer) -> None:
    """A partner narrowed to Marseille sees the dead letters of Marseille's devices only (the DevEUI of a
    dead letter matches in any case), not those of unknown devices; a retry cannot reach the others."""
    with data.client("admin") as admin:
        others = [
            x["id"]
            for x in admin.get("/api/v1/deadletters").json()["items"]
            if x["deviceId"] != "A840410000000001"
        ]
    assert len(others) == 3
    with data.client("marseille") as m:
        letters = m.get("/api/v1/deadletters").json()
        assert [x["deviceId"] for x in letters["items"]] == ["A840410000000001"] and letters["total"] == 1
        assert all(m.get(f"/api/v1/deadletters/{i}").status_code == 404 for i in others)
        r = m.post("/api/v1/deadletters/retry", json={"ids": others})
        assert r.status_code == 200 and sorted(r.json()["notFound"]) == sorted(others)
        assert r.json()["attempted"] == 0


def test_site_narrowed_viewer_reads_its_site_only(data: AuthServer) -> None:
    """A viewer of the Luminy site sees the entities and devices on that site only."""
    with data.client("luminy-viewer") as luminy:
        r = luminy.get(
            "/ngsi-ld/v1/entities", params={"type": "NoiseLevelObserved,WasteContainer", "count": "true"}
        )
        assert ids(r.json()) == {"urn:ngsi-ld:NoiseLevelObserved:a1", "urn:ngsi-ld:WasteContainer:a2"}
        assert r.headers["ngsild-results-count"] == "2"
        assert ids(luminy.get("/api/v1/devices").json()["items"]) == {"a840410000000002", "a840410000000003"}


def test_operator_reads_its_use_cases_only(data: AuthServer) -> None:
    """An operator of waste reads waste entities, types, devices and indicators, not noise ones."""
    with data.client("waste-op") as op:
        r = op.get(
            "/ngsi-ld/v1/entities",
            params={"type": "NoiseLevelObserved,WasteContainer,WasteContainerModel", "count": "true"},
        )
        assert ids(r.json()) == {
            "urn:ngsi-ld:WasteContainer:m3",
            "urn:ngsi-ld:WasteContainer:a2",
            "urn:ngsi-ld:WasteContainerModel:glass-3m3",
        }
        assert r.headers["ngsild-results-count"] == "3"
        assert op.get("/ngsi-ld/v1/entities/urn:ngsi-ld:NoiseLevelObserved:m1").status_code == 404
        assert set(op.get("/ngsi-ld/v1/types").json()["typeList"]) == {
            "WasteContainer",
            "WasteContainerModel",
        }
        assert ids(op.get("/api/v1/devices").json()["items"]) == {"a840410000000003"}
        assert op.get("/api/v1/noise/observatory", params={"date": "2026-05-04"}).json()["count"] == 0
        r = op.get("/ngsi-ld/v1/temporal/entities", params={"type": "NoiseLevelObserved"})
        assert r.status_code == 200 and r.json() == []


def test_narrowed_identity_still_writes_and_reads_back_its_own(data: AuthServer) -> None:
    """Narrowing reads does not break writes: the Marseille partner creates, updates and reads its entity."""
    eid = "urn:ngsi-ld:NoiseLevelObserved:m-new"
    with data.client("marseille") as m:
        assert (
            m.post(
                "/ngsi-ld/v1/entities", json=entity(eid, "NoiseLevelObserved", MARSEILLE, LAeq=40.0)
            ).status_code
            == 201
        )
        assert (
            m.patch(
                f"/ngsi-ld/v1/entities/{eid}/attrs", json={"LAeq": {"type": "Property", "value": 42.0}}
            ).status_code
            == 204
        )
        got = m.get(f"/ngsi-ld/v1/entities/{eid}", params={"options": "keyValues"}).json()
        assert got["LAeq"] == 42.0 and got["municipalityCode"] == MARSEILLE


def test_narrowed_identity_cannot_run_use_case_imports(data: AuthServer) -> None:
    """A use-case import writes whatever its files hold, anywhere: refused to a narrowed identity."""
    csv = {"site": "", "channel": "", "measure": ""}
    with data.client("marseille") as m:
        r = m.post("/api/v1/mobility/import", json=csv)
        assert r.status_code == 403 and "narrowed" in r.json()["detail"]
    with data.client("admin") as admin:  # the same request gets past authorisation for an admin
        assert admin.post("/api/v1/mobility/import", json=csv).status_code == 400

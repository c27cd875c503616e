"""Who may import devices in bulk: every row must be within the identity's use cases and communes."""

from __future__ import annotations

from tests.auth.conftest import AuthServer

IMPORT = "/api/v1/devices/import"
HEADER = "device_id,name,model,codec,entity_id,entity_type,network,commune"


def _csv(*rows: tuple[str, str, str]) -> str:
    """CSV rows (DevEUI, entity type, commune) of sensors on the http network."""
    lines = [HEADER] + [f"{eui},Capteur {eui},Modèle,json,urn:ngsi-ld:{kind}:{eui},{kind},http,{commune}"
                        for eui, kind, commune in rows]
    return "\n".join(lines) + "\n"


def test_import_is_checked_row_by_row(auth_server: AuthServer) -> None:
    waste = _csv(("a000000000000001", "WasteContainer", "13055"), ("a000000000000002", "WasteContainer", "13001"))
    mixed = _csv(("a000000000000003", "WasteContainer", "13055"), ("a000000000000004", "NoiseLevelObserved", "13055"))
    headers = {"Content-Type": "text/csv"}
    with auth_server.client("viewer") as viewer:
        refused = viewer.post(IMPORT, content=waste, headers=headers, params={"dryRun": "true"})
        assert refused.status_code == 403 and "role viewer may not change the device registry" in refused.text
    with auth_server.client("operator") as operator:  # waste operator
        noise = operator.post(IMPORT, content=mixed, headers=headers)
        assert noise.status_code == 403, noise.text
        assert "a000000000000004 (type NoiseLevelObserved) is outside the use cases" in noise.json()["detail"]
        json_noise = operator.post(IMPORT, json=[{"id": "a000000000000005", "entityType": "NoiseLevelObserved"}])
        assert json_noise.status_code == 403
        done = operator.post(IMPORT, content=waste, headers=headers)
        assert done.status_code == 200, done.text
        assert done.json()["created"] == 2
    with auth_server.client("marseille") as partner:  # limited to commune 13055
        out = partner.post(IMPORT, content=waste, headers=headers)
        assert out.status_code == 403 and "is in commune 13001" in out.json()["detail"]
        inside = partner.post(IMPORT, content=_csv(("a000000000000006", "WasteContainer", "13055")), headers=headers)
        assert inside.status_code == 200, inside.text
    with auth_server.client("admin") as admin:
        assert admin.get("/api/v1/devices").json()["total"] == 3


def test_import_and_silent_paths_are_classified_as_the_device_registry() -> None:
    from calanque.auth.policy import Endpoint, classify

    usecases = frozenset({"waste", "noise"})
    assert classify("POST", "/api/v1/devices/import", usecases) == Endpoint("devices", "write")
    assert classify("GET", "/api/v1/devices", usecases) == Endpoint("devices", "read")

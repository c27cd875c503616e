"""Authorisation matrix: every role × every endpoint family × allowed or forbidden.

A forbidden request gets 401 (no identity) or 403 (identity not allowed) as ProblemDetails, and changes
nothing: a snapshot of everything an admin can see is identical before and after it. Anonymous callers
("public") may make the public reads (NGSI-LD entity, temporal and discovery reads, the use cases' public
paths): what those show them is tested in test_public.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.conftest import AuthServer

ROLES = ["public", "viewer", "operator", "partner", "admin"]
TENANT = {"public": None, "viewer": None, "operator": None, "partner": "siteA", "admin": None}
STAFF = {"viewer", "operator", "partner", "admin"}
EVERYONE = STAFF | {"public"}


def waste_container(entity_id: str) -> dict[str, Any]:
    """A WasteContainer of Marseille (the waste use case)."""
    return {
        "id": entity_id,
        "type": "WasteContainer",
        "fillingLevel": {"type": "Property", "value": 0.4, "unitCode": "C62"},
        "municipalityCode": {"type": "Property", "value": "13055"},
    }


def noise_sensor(entity_id: str) -> dict[str, Any]:
    """A NoiseLevelObserved (the noise use case)."""
    return {
        "id": entity_id,
        "type": "NoiseLevelObserved",
        "LAeq": {"type": "Property", "value": 61.5, "unitCode": "2N"},
    }


def device(dev_eui: str, entity_type: str) -> dict[str, Any]:
    """A valid device registration feeding an entity of the given type."""
    return {
        "id": dev_eui,
        "name": "capteur",
        "deviceModel": "Milesight WS302",
        "codec": "milesight-ws302",
        "entityId": f"urn:ngsi-ld:{entity_type}:{dev_eui}",
        "entityType": entity_type,
        "commune": "13055",
        "network": "chirpstack",
    }


# case -> (method, path, body factory taking a unique suffix, roles allowed)
CASES: dict[str, tuple[str, str, Any, set[str]]] = {
    "ngsi-ld read": ("GET", "/ngsi-ld/v1/entities?type=WasteContainer", None, EVERYONE),
    "ngsi-ld retrieve": ("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:none", None, EVERYONE),
    "ngsi-ld count": ("GET", "/ngsi-ld/v1/entities?type=WasteContainer&count=true&limit=0", None, EVERYONE),
    "ngsi-ld temporal read": ("GET", "/ngsi-ld/v1/temporal/entities?type=WasteContainer", None, EVERYONE),
    "ngsi-ld temporal query post": (
        "POST",
        "/ngsi-ld/v1/temporal/entityOperations/query",
        lambda s: {"type": "Query", "entities": [{"type": "WasteContainer"}]},
        EVERYONE,
    ),
    "ngsi-ld query post": (
        "POST",
        "/ngsi-ld/v1/entityOperations/query",
        lambda s: {"type": "Query", "entities": [{"type": "WasteContainer"}]},
        EVERYONE,
    ),
    "ngsi-ld types": ("GET", "/ngsi-ld/v1/types?details=true", None, EVERYONE),
    "ngsi-ld attributes": ("GET", "/ngsi-ld/v1/attributes", None, EVERYONE),
    "ngsi-ld attribute by name (not a public read)": (
        "GET",
        "/ngsi-ld/v1/entities/urn:x:y/attrs",
        None,
        STAFF,
    ),
    "ngsi-ld subscription": (
        "POST",
        "/ngsi-ld/v1/subscriptions",
        lambda s: {"type": "Subscription", "entities": [{"type": "WasteContainer"}]},
        {"admin", "partner"},  # not a write the operator's target check knows: refused to operators
    ),
    "ngsi-ld temporal delete": (
        "DELETE",
        "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:WasteContainer:none",
        None,
        {"admin", "operator", "partner"},
    ),
    "ngsi-ld write own use case": (
        "POST",
        "/ngsi-ld/v1/entities",
        lambda s: waste_container(f"urn:ngsi-ld:WasteContainer:{s}"),
        {"admin", "operator", "partner"},
    ),
    "ngsi-ld write other use case": (
        "POST",
        "/ngsi-ld/v1/entities",
        lambda s: noise_sensor(f"urn:ngsi-ld:NoiseLevelObserved:{s}"),
        {"admin", "partner"},
    ),
    "ngsi-ld batch other use case": (
        "POST",
        "/ngsi-ld/v1/entityOperations/upsert",
        lambda s: [noise_sensor(f"urn:ngsi-ld:NoiseLevelObserved:b{s}")],
        {"admin", "partner"},
    ),
    "use case indicators": ("GET", "/api/v1/waste/collection-plan", None, STAFF),
    "use case public path": (
        "GET",
        "/api/v1/mobility/urn:ngsi-ld:TrafficFlowObserved:none/display",
        None,
        EVERYONE,
    ),
    "use case public export": ("GET", "/api/v1/mobility/export/site.csv", None, EVERYONE),
    "use case private path of a use case with public ones": (
        "GET",
        "/api/v1/noise/urn:ngsi-ld:NoiseLevelObserved:none/unknown",
        None,
        STAFF,
    ),
    "use case list": ("GET", "/api/v1/usecases", None, STAFF | {"public"}),
    # an empty import body is a 400 from the endpoint itself: allowed roles get past the policy
    "use case import other use case": ("POST", "/api/v1/mobility/import", lambda s: {}, {"admin", "partner"}),
    "devices read": ("GET", "/api/v1/devices", None, STAFF),
    "devices write own use case": ("POST", "/api/v1/devices", None, {"admin", "operator", "partner"}),
    "devices write other use case": ("POST", "/api/v1/devices", None, {"admin", "partner"}),
    "commands read": ("GET", "/api/v1/commands", None, STAFF),
    "commands send": (
        "POST",
        "/api/v1/commands",
        lambda s: {"device": "a840410000009999", "command": {"dimmingLevel": 40}},
        {"admin", "operator", "partner"},
    ),
    "dead letters read": ("GET", "/api/v1/deadletters", None, {"admin", "operator", "partner"}),
    "dead letters retry": (
        "POST",
        "/api/v1/deadletters/retry",
        lambda s: {"all": True},
        {"admin", "operator", "partner"},
    ),
    "integrations read": ("GET", "/api/v1/integrations", None, {"admin"}),
    "integrations create": (
        "POST",
        "/api/v1/integrations",
        lambda s: {"name": f"int-{s}", "kind": "http"},
        {"admin"},
    ),
    "keys read": ("GET", "/api/v1/auth/keys", None, {"admin"}),
    "users read": ("GET", "/api/v1/auth/users", None, {"admin"}),
    "users create": (
        "POST",
        "/api/v1/auth/users",
        lambda s: {"username": f"u-{s}", "password": "a long passphrase!", "role": "viewer"},
        {"admin"},
    ),
    "publication read": ("GET", "/api/v1/publication", None, STAFF),
    "publication write": (
        "PUT",
        "/api/v1/publication/WasteContainerIsle",
        lambda s: {"attributes": ["location", "name", "address", "municipalityCode"]},
        {"admin"},
    ),
    "publication delete": ("DELETE", "/api/v1/publication/StreetlightGroup", None, {"admin"}),
    "publication defaults": ("POST", "/api/v1/publication/defaults", None, {"admin"}),
    "keys create": ("POST", "/api/v1/auth/keys", lambda s: {"name": f"k-{s}", "role": "viewer"}, {"admin"}),
    "audit read": ("GET", "/api/v1/audit", None, {"admin"}),
    "contexts list": ("GET", "/ngsi-ld/v1/jsonldContexts", None, STAFF),
    "contexts add": (
        "POST",
        "/ngsi-ld/v1/jsonldContexts",
        lambda s: {"@context": {"thing": f"https://example.org/{s}/thing"}},
        {"admin"},
    ),
    "docs": ("GET", "/docs", None, STAFF | {"public"}),
    "openapi": ("GET", "/openapi.json", None, STAFF | {"public"}),
    "me": ("GET", "/api/v1/auth/me", None, STAFF),
    "unknown endpoint": ("GET", "/api/v1/not-an-endpoint", None, {"admin"}),
}


def body_for(case: str, suffix: str) -> Any:
    """The request body of a case (devices need the case name to pick the entity type)."""
    if case == "devices write own use case":
        return device(f"a8404100{int(suffix, 16) % 16**8:08x}", "WasteContainer")
    if case == "devices write other use case":
        return device(f"b8404100{int(suffix, 16) % 16**8:08x}", "NoiseLevelObserved")
    factory = CASES[case][2]
    return factory(suffix) if factory else None


def snapshot(server: AuthServer) -> list[Any]:
    """Everything an admin of every tenant can list, in both tenants used here."""
    seen: list[Any] = []
    with server.client("admin") as admin:
        for tenant in ("", "siteA"):
            for path in (
                "/ngsi-ld/v1/entities?type=WasteContainer,NoiseLevelObserved&limit=1000",
                "/api/v1/devices?limit=1000",
                "/api/v1/commands?limit=1000",
                "/api/v1/deadletters",
            ):
                r = admin.get(path, headers={"NGSILD-Tenant": tenant} if tenant else {})
                seen.append((tenant, path, r.status_code, r.json()))
            publication = admin.get(
                "/api/v1/publication", headers={"NGSILD-Tenant": tenant} if tenant else {}
            )
            seen.append((tenant, "publication", publication.status_code, publication.json()["types"]))
        for path in (
            "/api/v1/integrations",
            "/api/v1/auth/keys",
            "/api/v1/auth/users",
            "/ngsi-ld/v1/jsonldContexts",
        ):
            r = admin.get(path)
            body = r.json()
            if path == "/api/v1/auth/keys":  # last use moves with every request: compare the rest
                body = [{k: v for k, v in key.items() if k != "lastUsedAt"} for key in body]
            if path == "/ngsi-ld/v1/jsonldContexts":
                body = sorted(c if isinstance(c, str) else c.get("url", "") for c in body)
            seen.append(("", path, r.status_code, body))
    return seen


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(CASES))
def test_matrix(auth_server: AuthServer, role: str, case: str) -> None:
    """Each role gets exactly the families the policy gives it; a refusal changes nothing."""
    method, path, _, allowed = CASES[case]
    suffix = f"{abs(hash((role, case, auth_server.backend))) % 16**12:012x}"
    body = body_for(case, suffix)
    writes = method != "GET" and path != "/ngsi-ld/v1/entityOperations/query"
    before = snapshot(auth_server) if writes and role not in allowed else None
    with auth_server.client(None if role == "public" else role, TENANT[role]) as client:
        r = client.request(method, path, json=body)
    if role in allowed:
        assert r.status_code not in (401, 403), (case, role, r.status_code, r.text)
        assert r.status_code != 500, r.text
    else:
        assert r.status_code == (401 if role == "public" else 403), (case, role, r.status_code, r.text)
        problem = r.json()
        assert problem["status"] == r.status_code and problem["detail"]
        if role == "public":
            assert r.headers["www-authenticate"].startswith("Bearer")
        if before is not None:
            assert snapshot(auth_server) == before, f"{case} refused to {role} but something changed"


def test_allowed_writes_take_effect(auth_server: AuthServer) -> None:
    """The writes the matrix allows really happen (so 'not refused' means 'done', not 'ignored')."""
    with auth_server.client("operator") as op:
        r = op.post("/ngsi-ld/v1/entities", json=waste_container("urn:ngsi-ld:WasteContainer:op-proof"))
        assert r.status_code == 201, r.text
        assert op.get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:op-proof").status_code == 200
        r = op.patch(
            "/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:op-proof/attrs",
            json={"fillingLevel": {"type": "Property", "value": 0.9, "unitCode": "C62"}},
        )
        assert r.status_code == 204, r.text
    with auth_server.client("partner", "siteA") as partner:
        r = partner.post("/ngsi-ld/v1/entities", json=noise_sensor("urn:ngsi-ld:NoiseLevelObserved:site-a-1"))
        assert r.status_code == 201, r.text
    with auth_server.client("admin", "siteA") as admin:
        got = admin.get(
            "/ngsi-ld/v1/entities/urn:ngsi-ld:NoiseLevelObserved:site-a-1", params={"options": "keyValues"}
        )
        assert got.json()["LAeq"] == 61.5


def test_operator_cannot_touch_stored_entity_of_other_use_case(auth_server: AuthServer) -> None:
    """An operator of waste cannot update or delete a stored noise entity, even by id alone."""
    eid = "urn:ngsi-ld:NoiseLevelObserved:guarded"
    with auth_server.client("admin") as admin:
        assert admin.post("/ngsi-ld/v1/entities", json=noise_sensor(eid)).status_code == 201
    with auth_server.client("operator") as op:
        assert (
            op.patch(
                f"/ngsi-ld/v1/entities/{eid}/attrs", json={"LAeq": {"type": "Property", "value": 1.0}}
            ).status_code
            == 403
        )
        assert op.delete(f"/ngsi-ld/v1/entities/{eid}").status_code == 403
        assert op.post("/ngsi-ld/v1/entityOperations/delete", json=[eid]).status_code == 403
        # disguising the type in a batch update does not help: the stored type decides too
        assert (
            op.post(
                "/ngsi-ld/v1/entityOperations/update",
                json=[{"id": eid, "type": "WasteContainer", "LAeq": {"type": "Property", "value": 2.0}}],
            ).status_code
            == 403
        )
    with auth_server.client("admin") as admin:
        kept = admin.get(f"/ngsi-ld/v1/entities/{eid}", params={"options": "keyValues"}).json()
        assert kept["LAeq"] == 61.5 and kept["type"] == "NoiseLevelObserved"


def test_read_scope_key_cannot_write(auth_server: AuthServer) -> None:
    """A key narrowed to the read scope reads but cannot write, whatever its role allows."""
    with auth_server.client("reader") as reader:
        assert reader.get("/ngsi-ld/v1/entities?type=WasteContainer").status_code == 200
        r = reader.post("/ngsi-ld/v1/entities", json=waste_container("urn:ngsi-ld:WasteContainer:by-reader"))
        assert r.status_code == 403 and "'write' scope" in r.json()["detail"]
    with auth_server.client("admin") as admin:
        assert admin.get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:by-reader").status_code == 404


def test_commune_narrowing(auth_server: AuthServer) -> None:
    """An identity narrowed to Marseille (13055) writes there, not in Aix (13001), nor moves an entity out."""
    with auth_server.client("marseille") as m:
        ok = waste_container("urn:ngsi-ld:WasteContainer:marseille-1")
        assert m.post("/ngsi-ld/v1/entities", json=ok).status_code == 201
        aix = {
            **waste_container("urn:ngsi-ld:WasteContainer:aix-1"),
            "municipalityCode": {"type": "Property", "value": "13001"},
        }
        r = m.post("/ngsi-ld/v1/entities", json=aix)
        assert r.status_code == 403 and "13001" in r.json()["detail"]
        moved = m.patch(
            "/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:marseille-1/attrs",
            json={"municipalityCode": {"type": "Property", "value": "13001"}},
        )
        assert moved.status_code == 403
    with auth_server.client("admin") as admin:
        assert admin.get("/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:aix-1").status_code == 404
        kept = admin.get(
            "/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:marseille-1", params={"options": "keyValues"}
        ).json()
        assert kept["municipalityCode"] == "13055"


def test_ingestion_keeps_integration_keys(auth_server: AuthServer) -> None:
    """/api/v1/ingest/* answers to integration keys only: an admin API key is not one."""
    from calanque.pipeline import integrations as integ

    with auth_server.store.session(write=True) as session:
        _, integration_key = integ.create_integration(session, f"push-{auth_server.backend}", "http", "")
    push = {"device": "a840410000000001", "observedAt": "2026-11-25T10:00:00Z", "measurements": {"x": 1}}
    with auth_server.client("admin") as admin:
        assert admin.post("/api/v1/ingest/http", json=push).status_code == 401
    with auth_server.client() as anyone:
        r = anyone.post("/api/v1/ingest/http", json=push, headers={"X-Calanque-Key": integration_key})
        assert r.status_code == 202, r.text  # accepted (into the dead letters: the device is unknown)
        assert r.json()["status"] == "dead-letter"

"""Cross-tenant isolation: identities of tenant siteA get nothing of tenant siteB, through every endpoint.

The platform admin fills siteB with entities and their history, devices, commands, dead letters, a
key, a user, a publication and audit entries. Then every kind of identity of siteA (its admin's and
a partner's API key, a partner's OpenID Connect token, a partner's browser session) tries to read,
query, count, export, subscribe to (the broker does not offer NGSI-LD subscriptions: such requests are
refused or unknown), change and delete siteB's data through every endpoint family, naming siteB in
``NGSILD-Tenant``, in parameters, or by id from its own tenant. Each answer is a refusal (401/403),
a "not found" or an empty result: never a byte of siteB's data, and siteB is unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from calanque.auth import repository as repo
from calanque.devices import deadletters as dl
from tests.auth.conftest import AuthServer, Provider

B = "siteB"
NOISE = "urn:ngsi-ld:NoiseLevelObserved:bsecret-1"
COUNTER = "urn:ngsi-ld:TrafficFlowObserved:bsecret-2"
DEVICE = "b0b0b0b0b0b0b0b1"
MARKERS = ("bsecret", "b0b0b0b0", "bkey-secret", "b-user-secret", "61.25")


@pytest.fixture(scope="module")
def tenant_b(auth_server: AuthServer) -> dict[str, Any]:
    """siteB's data, created by the platform admin; returns the ids of its key, command and dead letter."""
    headers = {"NGSILD-Tenant": B}
    with auth_server.client("admin") as admin:
        for body in (
            {
                "id": NOISE,
                "type": "NoiseLevelObserved",
                "municipalityCode": {"type": "Property", "value": "13055"},
                "LAeq": {"type": "Property", "value": 61.25, "observedAt": "2026-05-04T10:00:00Z"},
            },
            {
                "id": COUNTER,
                "type": "TrafficFlowObserved",
                "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [5.38, 43.28]}},
                "intensity": {"type": "Property", "value": 12, "observedAt": "2026-05-04T10:00:00Z"},
            },
        ):
            assert admin.post("/ngsi-ld/v1/entities", json=body, headers=headers).status_code == 201
        r = admin.post(
            "/api/v1/devices",
            headers=headers,
            json={
                "id": DEVICE,
                "name": "capteur",
                "deviceModel": "Milesight WS302",
                "codec": "milesight-ws302",
                "entityId": NOISE,
                "entityType": "NoiseLevelObserved",
                "commune": "13055",
                "network": "chirpstack",
            },
        )
        assert r.status_code == 201, r.text
        r = admin.put(
            "/api/v1/publication/NoiseLevelObserved", json={"attributes": ["LAeq"]}, headers=headers
        )
        assert r.status_code == 200
        r = admin.post("/api/v1/auth/keys", json={"name": "bkey-secret", "role": "viewer", "tenant": B})
        assert r.status_code == 201
        key_id = r.json()["id"]
        r = admin.post(
            "/api/v1/auth/users",
            json={
                "username": "b-user-secret",
                "password": "a long passphrase B",
                "role": "viewer",
                "tenant": B,
            },
        )
        assert r.status_code == 201
    with auth_server.store.session(write=True) as session:
        letter = dl.add_dead_letter(
            session,
            tenant=B,
            payload=b'{"bsecret": 1}',
            connector="chirpstack",
            topic="application/bsecret",
            error_kind="decode",
            reason="test",
            device_id=DEVICE,
        )
        command_id = session._exec(
            "INSERT INTO commands (tenant, device_id, entity_id, network, request, status, created_at, "
            "updated_at) "
            "VALUES (?, ?, ?, 'chirpstack', '{\"bsecret\": true}', 'queued', 1, 1) RETURNING id",
            (B, DEVICE, NOISE),
        ).fetchone()[0]
        repo.create_user(
            session, username="a-partner-user", password="a long passphrase A", tenant="siteA", role="partner"
        )
    return {"key": key_id, "letter": letter.id, "command": int(command_id)}


def snapshot(server: AuthServer) -> list[Any]:
    """Everything of siteB the platform admin can list."""
    headers = {"NGSILD-Tenant": B}
    out: list[Any] = []
    with server.client("admin") as admin:
        for path in (
            "/ngsi-ld/v1/entities?type=NoiseLevelObserved,TrafficFlowObserved&options=sysAttrs",
            f"/ngsi-ld/v1/temporal/entities/{NOISE}",
            "/api/v1/devices",
            "/api/v1/commands",
            "/api/v1/deadletters",
            "/api/v1/publication",
        ):
            r = admin.get(path, headers=headers)
            out.append((path, r.status_code, r.json()))
        keys = admin.get("/api/v1/auth/keys", params={"tenant": B}).json()
        out.append([{k: v for k, v in key.items() if k != "lastUsedAt"} for key in keys])
        out.append([u for u in admin.get("/api/v1/auth/users").json() if u["tenant"] == B])
    return out


IDENTITIES = ["admin-siteA key", "partner key", "partner OIDC token", "partner session"]


@pytest.fixture(params=IDENTITIES)
def identity(
    request: pytest.FixtureRequest, auth_server: AuthServer, provider: Provider, tenant_b: dict[str, Any]
) -> Iterator[httpx.Client]:
    """A client acting as one identity of siteA (cookie sessions also send their CSRF token)."""
    which = request.param
    headers: dict[str, str] = {}
    if which == "admin-siteA key":
        headers["Authorization"] = f"Bearer {auth_server.keys['admin-siteA']}"
    elif which == "partner key":
        headers["Authorization"] = f"Bearer {auth_server.keys['partner']}"
    elif which == "partner OIDC token":
        token = provider.token(calanque_role="partner", calanque_tenant="siteA", sub="siteA-agent")
        headers["Authorization"] = f"Bearer {token}"
    else:
        with httpx.Client(base_url=auth_server.url) as c:
            r = c.post(
                "/api/v1/auth/login", json={"username": "a-partner-user", "password": "a long passphrase A"}
            )
            assert r.status_code == 200, r.text
            headers["Cookie"] = f"calanque_session={r.cookies['calanque_session']}"
            headers["X-CSRF-Token"] = r.json()["csrfToken"]
    with httpx.Client(base_url=auth_server.url, headers=headers, timeout=30) as client:
        yield client


def requests_on_b(ids: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments) of every way to reach siteB's data."""
    b = {"headers": {"NGSILD-Tenant": B}}
    query = {"type": "Query", "entities": [{"type": "NoiseLevelObserved"}]}
    subscription = {
        "type": "Subscription",
        "entities": [{"type": "NoiseLevelObserved"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}},
    }
    out: list[tuple[str, str, dict[str, Any]]] = []
    own = {"headers": {"NGSILD-Tenant": "siteA"}}
    for where in (b, own):  # naming siteB, or by id from the identity's own tenant
        out += [
            ("GET", f"/ngsi-ld/v1/entities/{NOISE}", where),
            ("GET", "/ngsi-ld/v1/entities", {**where, "params": {"type": "NoiseLevelObserved"}}),
            (
                "GET",
                "/ngsi-ld/v1/entities",
                {**where, "params": {"idPattern": ".*", "count": "true", "limit": 0}},
            ),
            (
                "GET",
                "/ngsi-ld/v1/entities",
                {
                    **where,
                    "params": {"q": "LAeq>0", "count": "true"},
                    "headers": {**where.get("headers", {}), "Accept": "application/geo+json"},
                },
            ),
            ("POST", "/ngsi-ld/v1/entityOperations/query", {**where, "json": query}),
            ("GET", "/ngsi-ld/v1/types", where),
            ("GET", "/ngsi-ld/v1/types/NoiseLevelObserved", where),
            ("GET", "/ngsi-ld/v1/attributes", where),
            ("GET", "/ngsi-ld/v1/attributes/LAeq", where),
            ("GET", f"/ngsi-ld/v1/temporal/entities/{NOISE}", where),
            (
                "GET",
                "/ngsi-ld/v1/temporal/entities",
                {**where, "params": {"type": "NoiseLevelObserved", "count": "true"}},
            ),
            (
                "GET",
                "/ngsi-ld/v1/temporal/entities",
                {
                    **where,
                    "params": {
                        "type": "NoiseLevelObserved",
                        "options": "aggregatedValues",
                        "aggrMethods": "max",
                    },
                },
            ),
            ("POST", "/ngsi-ld/v1/temporal/entityOperations/query", {**where, "json": query}),
            ("POST", "/ngsi-ld/v1/subscriptions", {**where, "json": subscription}),
            ("GET", "/ngsi-ld/v1/subscriptions", where),
            (
                "PATCH",
                f"/ngsi-ld/v1/entities/{NOISE}/attrs",
                {**where, "json": {"LAeq": {"type": "Property", "value": 1.0}}},
            ),
            ("DELETE", f"/ngsi-ld/v1/entities/{NOISE}", where),
            ("POST", "/ngsi-ld/v1/entityOperations/delete", {**where, "json": [NOISE]}),
            ("DELETE", f"/ngsi-ld/v1/temporal/entities/{NOISE}", where),
            ("GET", "/api/v1/noise/observatory", {**where, "params": {"date": "2026-05-04"}}),
            ("GET", f"/api/v1/noise/{NOISE}/indicators", where),
            ("GET", f"/api/v1/mobility/{COUNTER}/display", where),
            ("GET", "/api/v1/mobility/export/site.csv", where),
            (
                "GET",
                "/api/v1/mobility/export/measure.csv",
                {**where, "params": {"from": "2026-05-01T00:00:00Z", "to": "2026-05-05T00:00:00Z"}},
            ),
            ("GET", "/api/v1/waste/collection-plan", where),
            ("GET", "/api/v1/devices", where),
            ("GET", f"/api/v1/devices/{DEVICE}", where),
            ("PATCH", f"/api/v1/devices/{DEVICE}", {**where, "json": {"name": "taken"}}),
            ("DELETE", f"/api/v1/devices/{DEVICE}", where),
            ("GET", "/api/v1/commands", where),
            ("GET", f"/api/v1/commands/{ids['command']}", where),
            (
                "POST",
                "/api/v1/commands",
                {**where, "json": {"device": DEVICE, "command": {"dimmingLevel": 1}}},
            ),
            ("GET", "/api/v1/deadletters", where),
            ("GET", f"/api/v1/deadletters/{ids['letter']}", where),
            ("POST", "/api/v1/deadletters/retry", {**where, "json": {"ids": [ids["letter"]]}}),
            ("GET", "/api/v1/publication", where),
            (
                "PUT",
                "/api/v1/publication/NoiseLevelObserved",
                {**where, "json": {"attributes": ["LAeq", "name"]}},
            ),
            ("GET", "/api/v1/audit", where),
            ("GET", "/api/v1/auth/keys", where),
            ("GET", "/api/v1/auth/users", where),
        ]
    out += [
        ("GET", "/api/v1/audit", {"params": {"tenant": B, "limit": 1000}}),
        ("GET", "/api/v1/auth/keys", {"params": {"tenant": B, "includeRevoked": "true"}}),
        ("GET", f"/api/v1/auth/keys/{ids['key']}", {}),
        ("POST", f"/api/v1/auth/keys/{ids['key']}/rotate", {}),
        ("DELETE", f"/api/v1/auth/keys/{ids['key']}", {}),
        ("POST", "/api/v1/auth/keys", {"json": {"name": "into-b", "role": "viewer", "tenant": B}}),
        ("DELETE", "/api/v1/auth/users/b-user-secret", {}),
        (
            "POST",
            "/api/v1/auth/users",
            {"json": {"username": "into-b", "password": "a long passphrase", "role": "viewer", "tenant": B}},
        ),
        ("GET", "/api/v1/integrations", {}),
        (
            "POST",
            "/api/v1/integrations",
            {"json": {"name": "into-b", "kind": "http"}, "headers": {"NGSILD-Tenant": B}},
        ),
    ]
    return out


def test_identities_of_a_get_nothing_of_b(
    auth_server: AuthServer, tenant_b: dict[str, Any], identity: httpx.Client
) -> None:
    """Every request of a siteA identity on siteB's data is refused, not found or empty; siteB unchanged."""
    before = snapshot(auth_server)
    assert before[0][2] and before[3][2]  # siteB holds entities and commands (the test can fail)
    for method, path, kwargs in requests_on_b(tenant_b):
        r = identity.request(method, path, **kwargs)
        what = (method, path, kwargs.get("headers", {}).get("NGSILD-Tenant"), r.status_code, r.text[:300])
        assert r.status_code != 500, what
        asked = (path + str(kwargs.get("params", "")) + str(kwargs.get("json", ""))).lower()
        if path == "/api/v1/audit" and r.status_code == 200:
            # siteA's own log records these very attempts (naming siteB's ids): only siteA's entries show
            assert {e["tenant"] for e in r.json()["items"]} <= {"siteA"}, what
        else:
            leaked = [m for m in MARKERS if m in r.text.lower() and m not in asked]
            assert not leaked, what
        named = kwargs.get("headers", {}).get("NGSILD-Tenant")
        if r.status_code == 207:  # a batch: every item failed
            assert r.json()["success"] == [], what
        elif r.status_code not in (200, 201, 204):
            assert r.status_code in (400, 401, 403, 404, 405), what
        elif named != "siteA":  # writes in the identity's own tenant may succeed; none in siteB
            assert method == "GET", what
        if named == B and not path.startswith(("/api/v1/auth", "/api/v1/audit")):
            assert r.status_code == 403, what  # the tenant itself is refused before anything runs
    assert snapshot(auth_server) == before

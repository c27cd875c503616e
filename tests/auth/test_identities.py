"""Identities: key lifecycle (hashed, shown once, rotate, revoke, expiry), tenants, password login with
lockout and CSRF, OpenID Connect tokens, the audit log, rate limits, CORS and security headers."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import rsa

from calanque.auth import repository as repo
from calanque.config import Settings
from tests.auth.conftest import AUDIENCE, AuthServer, Provider, start_auth_server, stop


def noise(entity_id: str) -> dict:
    """A small NoiseLevelObserved entity."""
    return {"id": entity_id, "type": "NoiseLevelObserved", "LAeq": {"type": "Property", "value": 55.0}}


# tenants ---------------------------------------------------------------------------------------
def test_partner_sees_nothing_of_another_tenant(auth_server: AuthServer) -> None:
    """A partner of siteA reading, querying, counting, temporal-querying siteB (or the default tenant)
    gets 403 every time, and its own tenant never shows siteB's data."""
    with auth_server.client("admin", "siteB") as admin_b:
        assert (
            admin_b.post(
                "/ngsi-ld/v1/entities", json=noise("urn:ngsi-ld:NoiseLevelObserved:b-secret")
            ).status_code
            == 201
        )
    eid = "urn:ngsi-ld:NoiseLevelObserved:b-secret"
    reads = [
        f"/ngsi-ld/v1/entities/{eid}",
        "/ngsi-ld/v1/entities?type=NoiseLevelObserved",
        "/ngsi-ld/v1/entities?type=NoiseLevelObserved&count=true&limit=0",
        "/ngsi-ld/v1/types",
        "/ngsi-ld/v1/attributes",
        f"/ngsi-ld/v1/temporal/entities/{eid}",
        "/ngsi-ld/v1/temporal/entities?type=NoiseLevelObserved",
        "/api/v1/devices",
        "/api/v1/commands",
        "/api/v1/deadletters",
        "/api/v1/noise/summary",
    ]
    for tenant in ("siteB", None):
        with auth_server.client("partner", tenant) as partner:
            for path in reads:
                r = partner.get(path)
                assert r.status_code == 403, (tenant, path, r.status_code)
                assert "b-secret" not in r.text
            r = partner.post(
                "/ngsi-ld/v1/entityOperations/query",
                json={"type": "Query", "entities": [{"type": "NoiseLevelObserved"}]},
            )
            assert r.status_code == 403 and "b-secret" not in r.text
            assert partner.delete(f"/ngsi-ld/v1/entities/{eid}").status_code == 403
    with auth_server.client("partner", "siteA") as partner:
        r = partner.get("/ngsi-ld/v1/entities?type=NoiseLevelObserved&count=true")
        assert "b-secret" not in r.text
        assert partner.get(f"/ngsi-ld/v1/entities/{eid}").status_code == 404
    with auth_server.client("admin", "siteB") as admin_b:
        assert admin_b.get(f"/ngsi-ld/v1/entities/{eid}").status_code == 200  # still there


def test_tenant_admin_manages_only_its_tenant(auth_server: AuthServer) -> None:
    """An admin of siteA lists and creates keys of siteA only, and reads only siteA's audit entries."""
    with auth_server.client("admin-siteA") as admin_a:
        listed = admin_a.get("/api/v1/auth/keys").json()
        assert listed and {k["tenant"] for k in listed} == {"siteA"}
        r = admin_a.post("/api/v1/auth/keys", json={"name": "escalate", "role": "admin", "tenant": "*"})
        assert r.status_code == 403
        r = admin_a.post("/api/v1/auth/keys", json={"name": "other", "role": "viewer", "tenant": "siteB"})
        assert r.status_code == 403
        other_id = auth_server.key_ids["viewer"]  # a key of the default tenant
        assert admin_a.delete(f"/api/v1/auth/keys/{other_id}").status_code == 404
        assert admin_a.get("/api/v1/integrations").status_code == 403  # integrations span tenants
        entries = admin_a.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
        assert {e["tenant"] for e in entries} <= {"siteA"}
    with auth_server.client("viewer") as viewer:
        assert viewer.get("/api/v1/auth/me").json()["role"] == "viewer"  # the key still works


# API keys --------------------------------------------------------------------------------------
def test_key_lifecycle(auth_server: AuthServer) -> None:
    """Create (shown once, stored as SHA-256 only), use, rotate (old key dies), revoke, expire."""
    with auth_server.client("admin") as admin:
        r = admin.post(
            "/api/v1/auth/keys",
            json={
                "name": f"life-{auth_server.backend}",
                "role": "operator",
                "usecases": ["waste"],
                "tenant": "",
            },
        )
        assert r.status_code == 201, r.text
        created = r.json()
        key, key_id = created["key"], created["id"]
        assert key.startswith(f"clk_{key_id}_") and len(key) > 50
        assert all("key" not in k for k in admin.get("/api/v1/auth/keys").json())
        assert "key" not in admin.get(f"/api/v1/auth/keys/{key_id}").json()
    with auth_server.store.session() as session:
        row = session._exec("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    assert hashlib.sha256(key.encode()).hexdigest() in row
    assert not any(isinstance(v, str) and key.split("_", 2)[2] in v for v in row)  # the secret is nowhere
    bearer = lambda k: {"Authorization": f"Bearer {k}"}  # noqa: E731
    with httpx.Client(base_url=auth_server.url) as c:
        assert c.get("/api/v1/auth/me", headers=bearer(key)).json()["id"] == key_id
        assert c.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 200
        with auth_server.client("admin") as admin:
            rotated = admin.post(f"/api/v1/auth/keys/{key_id}/rotate").json()
        assert rotated["id"] == key_id and rotated["key"] != key
        assert c.get("/api/v1/auth/me", headers=bearer(key)).status_code == 401
        assert c.get("/api/v1/auth/me", headers=bearer(rotated["key"])).status_code == 200
        with auth_server.client("admin") as admin:
            assert admin.delete(f"/api/v1/auth/keys/{key_id}").status_code == 204
            assert admin.delete(f"/api/v1/auth/keys/{key_id}").status_code == 404
        r = c.get("/api/v1/auth/me", headers=bearer(rotated["key"]))
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        # expiry: a key whose expiry has passed is refused (set in the store: no waiting)
        secret = auth_server.add_key(
            f"expiring-{auth_server.backend}",
            role="viewer",
            tenant="",
            expires_at=repo.now_us() + 3_600_000_000,
        )
        with auth_server.store.session(write=True) as session:
            session._exec(
                "UPDATE api_keys SET expires_at = ? WHERE name = ?",
                (repo.now_us() - 1_000_000, f"expiring-{auth_server.backend}"),
            )
        assert c.get("/api/v1/auth/me", headers=bearer(secret)).status_code == 401
        assert c.get("/api/v1/auth/me", headers=bearer("clk_000000000000_forged")).status_code == 401


def test_key_definitions_are_checked(auth_server: AuthServer) -> None:
    """Unknown roles, scopes beyond the role, unknown use cases and duplicates are 4xx with the reason."""
    with auth_server.client("admin") as admin:
        cases = [
            ({"name": "x1", "role": "root"}, 400, "unknown role"),
            ({"name": "x2", "role": "viewer", "scopes": ["write"]}, 400, "cannot have scope"),
            ({"name": "x3", "role": "operator", "usecases": ["bakery"]}, 400, "unknown use case"),
            ({"name": "x4", "role": "operator"}, 400, "one or more use cases"),
            ({"name": "viewer", "role": "viewer", "tenant": ""}, 409, "already has a key"),
            ({"name": "x5", "role": "viewer", "expiresAt": "2001-01-01T00:00:00Z"}, 400, "in the past"),
        ]
        for body, status, words in cases:
            r = admin.post("/api/v1/auth/keys", json=body)
            assert r.status_code == status and words in r.json()["detail"], (body, r.text)


# password login ---------------------------------------------------------------------------------
def test_password_login_session_csrf_and_lockout(auth_server: AuthServer) -> None:
    """argon2id hash stored; login sets an HttpOnly SameSite cookie; writes need the CSRF token;
    five failures lock the user name out (429 with Retry-After) even with the right password."""
    name, password = f"alice-{auth_server.backend}", "Calanques-de-Sormiou-2026"
    with auth_server.store.session(write=True) as session:
        repo.create_user(session, username=name, password=password, tenant="", role="partner")
        stored = session._exec("SELECT password_hash FROM users WHERE username = ?", (name,)).fetchone()[0]
    assert stored.startswith("$argon2id$") and password not in stored
    with httpx.Client(base_url=auth_server.url) as c:
        r = c.post("/api/v1/auth/login", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"]
        assert (
            "calanque_session=" in cookie
            and "HttpOnly" in cookie
            and "SameSite=strict" in cookie.replace("SameSite=Strict", "SameSite=strict")
        )
        csrf = r.json()["csrfToken"]
        session_cookie = r.cookies["calanque_session"]
        jar = {"Cookie": f"calanque_session={session_cookie}"}
        assert c.get("/api/v1/auth/me", headers=jar).json() == {
            "kind": "user",
            "id": name,
            "role": "partner",
            "tenant": "",
            "scopes": ["command", "read", "write"],
            "usecases": [],
            "communes": [],
            "sites": [],
        }
        eid = f"urn:ngsi-ld:NoiseLevelObserved:{name}"
        r = c.post("/ngsi-ld/v1/entities", json=noise(eid), headers=jar)
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
        r = c.post("/ngsi-ld/v1/entities", json=noise(eid), headers={**jar, "X-CSRF-Token": "forged"})
        assert r.status_code == 403
        r = c.post("/ngsi-ld/v1/entities", json=noise(eid), headers={**jar, "X-CSRF-Token": csrf})
        assert r.status_code == 201, r.text
        assert c.post("/api/v1/auth/logout", headers=jar).status_code == 204
        assert c.get("/api/v1/auth/me", headers=jar).status_code == 401
        for _ in range(5):
            r = c.post("/api/v1/auth/login", json={"username": name, "password": "wrong-password-123"})
            assert r.status_code == 401
        r = c.post("/api/v1/auth/login", json={"username": name, "password": password})
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 15 * 60
    with auth_server.store.session() as session:
        rows = session._exec(
            "SELECT success FROM login_attempts WHERE username = ? ORDER BY id", (name,)
        ).fetchall()
    assert [bool(r[0]) for r in rows] == [True] + [False] * 5  # the blocked attempt is not even tried


def test_secrets_are_stored_hashed(auth_server: AuthServer) -> None:
    """No API key, password, session or CSRF token, or integration key is in the store in clear: every
    row of the tables that hold them is searched for each secret (and its random part)."""
    name, password = f"hash-{auth_server.backend}", "Sormiou-Morgiou-En-Vau-2026"
    with auth_server.client("admin") as admin:
        key = admin.post("/api/v1/auth/keys", json={"name": name, "role": "viewer", "tenant": ""}).json()[
            "key"
        ]
        r = admin.post("/api/v1/auth/users", json={"username": name, "password": password, "role": "viewer"})
        assert r.status_code == 201, r.text
        integration = admin.post("/api/v1/integrations", json={"name": name, "kind": "http"}).json()["key"]
        rotated = admin.post(f"/api/v1/auth/keys/{key.split('_')[1]}/rotate").json()["key"]
    with httpx.Client(base_url=auth_server.url) as c:
        login = c.post("/api/v1/auth/login", json={"username": name, "password": password})
        session_token, csrf = login.cookies["calanque_session"], login.json()["csrfToken"]
        assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {rotated}"}).status_code == 200
    secrets_ = {
        "API key": key.split("_", 2)[2],
        "rotated API key": rotated.split("_", 2)[2],
        "password": password,
        "session token": session_token,
        "CSRF token": csrf,
        "integration key": integration[10:],
    }
    with auth_server.store.session() as session:
        for table in ("api_keys", "users", "user_sessions", "integrations", "audit_log", "login_attempts"):
            rows = session._exec(f"SELECT * FROM {table}").fetchall()
            assert rows, table
            text = repr(rows)
            for what, secret in secrets_.items():
                assert secret not in text, (what, table)
        stored = session._exec("SELECT password_hash FROM users WHERE username = ?", (name,)).fetchone()[0]
        assert stored.startswith("$argon2id$")
        digests = {r[0] for r in session._exec("SELECT token_hash FROM user_sessions").fetchall()}
        assert hashlib.sha256(session_token.encode()).hexdigest() in digests
        assert session._exec(
            "SELECT 1 FROM integrations WHERE key_hash = ?",
            (hashlib.sha256(integration.encode()).hexdigest(),),
        ).fetchone()


# OpenID Connect ---------------------------------------------------------------------------------
def test_oidc_tokens(auth_server: AuthServer, provider: Provider) -> None:
    """Good token accepted; expired, wrong audience or issuer, bad signature, unknown key, no role refused."""

    def me(token: str) -> httpx.Response:
        with httpx.Client(base_url=auth_server.url) as c:
            return c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})

    good = me(provider.token(calanque_role="operator", calanque_usecases=["lighting"], sub="agent-7"))
    assert good.status_code == 200, good.text
    assert (
        good.json()["kind"] == "oidc"
        and good.json()["id"] == "agent-7"
        and good.json()["usecases"] == ["lighting"]
    )
    now = int(time.time())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused = {
        "expired": (provider.token(exp=now - 120, iat=now - 600), 401, "expired"),
        "audience": (provider.token(aud="another-app"), 401, "audience"),
        "issuer": (provider.token(iss="http://127.0.0.1:1/realms/evil"), 401, "not issued by"),
        "signature": (provider.token(key=stranger), 401, "signature"),
        "unknown key": (provider.token(kid="rotated-away"), 401, "does not publish"),
        "no role": (provider.token(calanque_role=None), 403, "no Calanque role"),
        "operator without use cases": (provider.token(calanque_role="operator"), 403, "one or more use cases"),
        "viewer with use cases": (provider.token(calanque_role="viewer", calanque_usecases=["waste"]), 403,
                                  "only an operator"),
        "bad tenant": (provider.token(calanque_role="viewer", calanque_tenant="no/such tenant"), 403,
                       "bad tenant"),
        "no expiry": (provider.token(exp=None), 401, "exp"),
    }
    for what, (token, status, words) in refused.items():
        r = me(token)
        assert r.status_code == status and words in r.json()["detail"], (what, r.text)
    import jwt as pyjwt

    hs = pyjwt.encode(
        {"iss": provider.issuer, "aud": AUDIENCE, "sub": "x", "exp": now + 60, "calanque_role": "admin"},
        "a-shared-secret-of-more-than-32-bytes",
        algorithm="HS256",
        headers={"kid": provider.kid},
    )
    assert me(hs).status_code == 401
    # the viewer token's tenant decides: the default tenant, not siteA
    with httpx.Client(base_url=auth_server.url) as c:
        r = c.get(
            "/ngsi-ld/v1/entities?type=X",
            headers={"Authorization": f"Bearer {provider.token()}", "NGSILD-Tenant": "siteA"},
        )
        assert r.status_code == 403


# audit ------------------------------------------------------------------------------------------
def test_audit_records_writes_and_refusals(auth_server: AuthServer) -> None:
    """Every write (allowed or refused) is in the log with who, what, where from, tenant and status."""
    eid = f"urn:ngsi-ld:NoiseLevelObserved:audited-{auth_server.backend}"
    with auth_server.client("admin") as admin:
        last = admin.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
        after = last[-1]["id"] if last else 0
    with auth_server.client("partner", "siteA") as partner:
        assert partner.post("/ngsi-ld/v1/entities", json=noise(eid)).status_code == 201
        assert partner.get(f"/ngsi-ld/v1/entities/{eid}").status_code == 200  # reads are not audited
    with auth_server.client("viewer") as viewer:
        assert viewer.delete(f"/ngsi-ld/v1/entities/{eid}").status_code == 403
    with auth_server.client("admin") as admin:
        items = admin.get("/api/v1/audit", params={"afterId": after}).json()["items"]
    deleted = [e for e in items if e["action"] == f"DELETE /ngsi-ld/v1/entities/{eid}"]
    assert [(e["actor"], e["role"], e["tenant"], e["status"]) for e in deleted] == [
        (f"key:{auth_server.key_ids['viewer']}", "viewer", "", 403)
    ]
    assert "may not change" in deleted[0]["detail"]["refused"]
    posted = [
        e
        for e in items
        if e["action"] == "POST /ngsi-ld/v1/entities"
        and e["tenant"] == "siteA"
        and e["actor"] == f"key:{auth_server.key_ids['partner']}"
    ]
    assert len(posted) == 1 and posted[0]["status"] == 201 and posted[0]["address"] == "127.0.0.1"
    assert not any(e["action"].startswith("GET ") and e["status"] == 200 for e in items)


def test_audit_log_is_append_only_on_postgres(provider: Provider, tmp_path: Path) -> None:
    """PostgreSQL refuses to update or delete audit rows (a trigger), whoever asks."""
    from tests.conftest import make_store

    store = make_store("postgres", tmp_path, "auditro")
    try:
        with store.session(write=True) as session:
            repo.append_audit(
                session,
                repo.AuditEntry(
                    at=1,
                    actor="key:x",
                    role="admin",
                    tenant="",
                    action="POST /x",
                    address="127.0.0.1",
                    status=201,
                    detail={},
                ),
            )
        import psycopg

        for statement in ("DELETE FROM audit_log", "UPDATE audit_log SET status = 200"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                with store.session(write=True) as session:
                    session._exec(statement)
        with store.session() as session:
            assert session._exec("SELECT status FROM audit_log").fetchall() == [(201,)]
    finally:
        from tests.conftest import drop_pg_database

        store.close()
        drop_pg_database(store.url)


# protection ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["sqlite"])
def test_rate_limits_cors_and_headers(backend: str, provider: Provider, tmp_path: Path) -> None:
    """Per-key and per-address buckets answer 429 with Retry-After; CORS only for configured origins;
    security headers on HTML pages."""
    server, live = start_auth_server(
        backend,
        tmp_path,
        provider,
        rate_limit_per_minute=5,
        rate_limit_anonymous_per_minute=3,
        cors_origins="https://ui.example.org",
    )
    try:
        with server.client("viewer") as viewer:
            codes = [viewer.get("/api/v1/auth/me").status_code for _ in range(6)]
            assert codes == [200] * 5 + [429]
            r = viewer.get("/api/v1/auth/me")
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # 5 a minute: one every 12 s
        with server.client("admin") as admin:  # another key has its own bucket
            assert admin.get("/api/v1/auth/me").status_code == 200
        with server.client() as anonymous:
            codes = [anonymous.get("/api/v1/usecases").status_code for _ in range(4)]
            assert codes == [200] * 3 + [429]
            # public reads draw on the same per-address bucket
            r = anonymous.get("/ngsi-ld/v1/entities", params={"type": "NoiseLevelObserved"})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        with httpx.Client(base_url=server.url) as c:
            pre = {
                "Origin": "https://ui.example.org",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "Authorization",
            }
            ok = c.options("/ngsi-ld/v1/entities", headers=pre)
            assert ok.headers["access-control-allow-origin"] == "https://ui.example.org"
            bad = c.options("/ngsi-ld/v1/entities", headers={**pre, "Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in bad.headers
            docs = c.get("/docs", headers={"Authorization": f"Bearer {server.keys['admin']}"})
            assert docs.status_code == 200
            assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
            assert (
                docs.headers["x-content-type-options"] == "nosniff"
                and docs.headers["x-frame-options"] == "DENY"
            )
    finally:
        stop(live, server.store)


def test_no_auth_only_on_loopback(tmp_path: Path) -> None:
    """Auth is on by default; `serve --no-auth` and an app without auth refuse a non-loopback address."""
    from calanque.app import create_app
    from calanque.cli import main

    assert Settings.model_fields["auth"].default is True
    result = CliRunner().invoke(
        main, ["serve", "--no-auth", "--host", "0.0.0.0", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "loopback" in result.output
    with pytest.raises(ValueError, match="loopback"):
        create_app(Settings(auth=False, host="0.0.0.0", data_dir=tmp_path))
    with pytest.raises(ValueError, match="OIDC_AUDIENCE"):
        create_app(Settings(auth=True, oidc_issuer="http://127.0.0.1:1/x", data_dir=tmp_path))


def test_cli_keys_users_audit(tmp_path: Path) -> None:
    """`calanque keys|users|audit` on a store: the key printed once works, revocation and exports."""
    from calanque.cli import main

    def run(*args: str, **kw: str) -> Any:
        return CliRunner().invoke(main, [*args, "--data-dir", str(tmp_path)], **kw)

    created = run("keys", "create", "etl", "--role", "operator", "--usecase", "water", "--expires", "30d")
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("clk_")
    listed = run("keys", "list")
    assert "etl" in listed.stdout and key not in listed.output
    key_id = key.split("_")[1]
    assert run("keys", "revoke", key_id).exit_code == 0
    assert run("keys", "revoke", key_id).exit_code == 1
    assert (
        run("users", "create", "bob", "--role", "viewer", "--password-stdin", input="short\n").exit_code == 1
    )
    assert (
        run(
            "users",
            "create",
            "bob",
            "--role",
            "viewer",
            "--password-stdin",
            input="a long enough passphrase\n",
        ).exit_code
        == 0
    )
    exported = run("audit", "export", "--format", "csv")
    lines = exported.stdout.strip().splitlines()
    assert lines[0] == "id,at,actor,role,tenant,action,address,status,detail"
    assert [line.split(",")[5] for line in lines[1:]] == ["keys create", "keys revoke", "users create"]
    jsonl = run("audit", "export", "--format", "jsonl", "--since", "2000-01-01")
    import json

    assert [json.loads(x)["detail"].get("key") for x in jsonl.stdout.strip().splitlines()][:2] == [
        key_id,
        key_id,
    ]

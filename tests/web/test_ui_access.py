"""Who may open the UI pages and their endpoints (authentication on), and the pages' security headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.auth.conftest import AuthServer, Provider, start_auth_server, stop

STAFF_PAGES = [
    "/",
    "/?usecase=waste",
    "/usecases/noise",
    "/entities/urn:ngsi-ld:Thing:1",
    "/devices",
    "/devices/silent",
]
PUBLIC = [
    "/login",
    "/login?next=/devices",
    "/public",
    "/public/counters/urn:ngsi-ld:TrafficFlowObserved:x/totem",
    "/_static/ui/js/calanque.js",
    "/_static/ui/css/calanque.css",
    "/_static/ui/vendor/leaflet/leaflet.js",
    "/_static/ui/vendor/markercluster/leaflet.markercluster.js",
    "/_static/ui/vendor/plotly/plotly.min.js",
    "/api/v1/territory",
    "/favicon.ico",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """A server with authentication on (SQLite) and keys of every role."""
    provider = Provider()
    started, live = start_auth_server("sqlite", tmp_path_factory.mktemp("ui-access"), provider)
    yield started
    stop(live, started.store)
    provider.close()


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_anonymous_browser_is_sent_to_login(server: AuthServer, path: str) -> None:
    with server.client() as client:
        answer = client.get(path)
    assert answer.status_code == 303
    from urllib.parse import quote

    assert answer.headers["location"] == "/login?next=" + quote(path, safe="")


def test_expired_session_is_sent_to_login_too(server: AuthServer) -> None:
    with server.client() as client:
        client.cookies.set("calanque_session", "no-such-session")
        answer = client.get("/")
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=%2F"
        assert client.get("/public").status_code == 200  # a public page with a stale cookie still opens


@pytest.mark.parametrize("path", PUBLIC)
def test_public_pages_and_files_open_to_anyone(server: AuthServer, path: str) -> None:
    with server.client() as client:
        answer = client.get(path)
    assert answer.status_code == 200, (path, answer.text[:200])


@pytest.mark.parametrize("who", ["viewer", "operator", "partner", "admin"])
def test_staff_open_the_home_and_its_data(server: AuthServer, who: str) -> None:
    tenant = "siteA" if who == "partner" else None
    with server.client(who, tenant=tenant) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert client.get("/api/v1/map").status_code == 200
        with client.stream("GET", "/api/v1/live", params={"tenant": tenant or ""}) as live:
            assert live.status_code == 200 and live.headers["content-type"].startswith("text/event-stream")


def test_map_and_live_refuse_anonymous_and_other_tenants(server: AuthServer) -> None:
    with server.client() as client:
        for path in ("/api/v1/map", "/api/v1/live"):
            answer = client.get(path)
            assert answer.status_code == 401 and answer.headers["content-type"] == "application/json", path
    with server.client("partner") as client:  # a partner of siteA asking for the default tenant
        assert client.get("/api/v1/map").status_code == 403
        assert client.get("/api/v1/live", params={"tenant": ""}).status_code == 403
        assert client.get("/api/v1/live", params={"tenant": "siteB"}).status_code == 403
    with server.client("partner", tenant="siteB") as client:
        assert client.get("/api/v1/map").status_code == 403


def test_pages_have_a_strict_content_security_policy(server: AuthServer) -> None:
    with server.client("viewer") as client:
        for path in ("/", "/login", "/public"):
            answer = client.get(path)
            policies = answer.headers.get_list("content-security-policy")
            assert len(policies) == 1, path
            directives = dict(d.strip().split(" ", 1) for d in policies[0].split(";"))
            assert directives["script-src"] == "'self'", path  # no inline script, no eval
            assert "frame-ancestors" in directives and answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["cache-control"] == "no-store"
            # the tile server's origin may serve images, nothing else
            assert "https://tile.openstreetmap.org" in directives["img-src"]
            assert "tile.openstreetmap.org" not in directives["connect-src"]
        docs = client.get("/docs").headers.get_list("content-security-policy")
        assert len(docs) == 1 and "'unsafe-inline'" in docs[0]  # Swagger UI keeps its own


def test_pages_never_inline_scripts() -> None:
    templates = Path(__file__).resolve().parents[2] / "src" / "calanque" / "web" / "templates"
    import re

    for template in templates.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, (template.name, tag)
        assert not re.search(r"\son[a-z]+\s*=", text), f"{template.name} has an inline event handler"


def test_login_next_stays_on_this_site(server: AuthServer) -> None:
    with server.client() as client:
        for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
            page = client.get("/login", params={"next": evil}).text
            assert '"next":"/"' in page, evil
        assert '"next":"/devices?x=1"' in client.get("/login", params={"next": "/devices?x=1"}).text


def test_territory_outlines(server: AuthServer) -> None:
    with server.client() as client:
        answer = client.get("/api/v1/territory").json()
    from calanque.simulator.geo import COMMUNES

    assert answer["approximate"] is True and len(answer["features"]) == len(COMMUNES)
    assert {f["properties"]["code"] for f in answer["features"]} == {c.insee for c in COMMUNES}


def test_narrowed_identities_see_only_their_assets_on_the_map_and_live(server: AuthServer) -> None:
    import threading
    from datetime import UTC, datetime

    from tests.web.test_live_api import events
    from tests.web.test_map_api import asset, prop

    now = datetime.now(UTC)
    container = asset("urn:ngsi-ld:WasteContainer:scope-1", "WasteContainer", fillingLevel=prop(0.2, now))
    noise = asset("urn:ngsi-ld:NoiseLevelObserved:scope-2", "NoiseLevelObserved", LAeq=prop(50.0, now))
    elsewhere = asset("urn:ngsi-ld:WasteContainer:scope-3", "WasteContainer", fillingLevel=prop(0.2, now))
    elsewhere["municipalityCode"] = prop("13001")
    with server.client("admin") as admin:
        for entity in (container, noise, elsewhere):
            assert admin.post("/ngsi-ld/v1/entities", json=entity).status_code == 201
        every = set(admin.get("/api/v1/map").json()["assets"]["id"])
    assert {container["id"], noise["id"], elsewhere["id"]} <= every
    with server.client("operator") as operator:  # an operator of waste
        seen = set(operator.get("/api/v1/map").json()["assets"]["id"])
    assert container["id"] in seen and elsewhere["id"] in seen and noise["id"] not in seen
    with server.client("marseille") as narrowed:  # a partner narrowed to Marseille (13055)
        seen = set(narrowed.get("/api/v1/map").json()["assets"]["id"])
    assert container["id"] in seen and noise["id"] in seen and elsewhere["id"] not in seen

    started, result = threading.Event(), []
    headers = {"Authorization": f"Bearer {server.keys['operator']}"}
    reader = threading.Thread(
        target=lambda: result.append(
            events(
                f"{server.url}/api/v1/live",
                headers=headers,
                started=started,
                seconds=8,
                until=lambda got: any(
                    c["id"] == container["id"] for n, d, _ in got if n == "changes" for c in d
                ),
            )
        )
    )
    reader.start()
    assert started.wait(10)
    with server.client("admin") as admin:
        later = datetime.now(UTC)
        assert (
            admin.patch(
                f"/ngsi-ld/v1/entities/{noise['id']}/attrs", json={"LAeq": prop(75.0, later)}
            ).status_code
            == 204
        )
        assert (
            admin.patch(
                f"/ngsi-ld/v1/entities/{container['id']}/attrs", json={"fillingLevel": prop(0.5, later)}
            ).status_code
            == 204
        )
    reader.join(15)
    ids = [c["id"] for n, d, _ in result[0] if n == "changes" for c in d]
    assert container["id"] in ids and noise["id"] not in ids

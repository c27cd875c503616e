"""The public portal and street totems in Chromium, without login: published data only, equal to the API."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from playwright.sync_api import Page, Request, expect

from tests.web.conftest import UiServer, login, shot


def published_counters(server: UiServer) -> list[dict]:
    """The bike counters an anonymous caller reads through the NGSI-LD API."""
    with server.api(None) as anonymous:
        answer = anonymous.get(
            "/ngsi-ld/v1/entities",
            params={"type": "TrafficFlowObserved", "limit": 1000, "options": "keyValues"},
        )
    assert answer.status_code == 200, answer.text
    return answer.json()


def display(server: UiServer, counter_id: str) -> dict:
    """What the public display endpoint answers anonymously."""
    with server.api(None) as anonymous:
        answer = anonymous.get(f"/api/v1/mobility/{quote(counter_id, safe='')}/display")
    assert answer.status_code == 200, answer.text
    return answer.json()


def french(n: int) -> str:
    """A count as the French page writes it (narrow no-break space between thousands)."""
    return f"{n:,}".replace(",", "\u202f")


def test_public_portal_shows_published_numbers_without_login(page: Page, ui_server: UiServer) -> None:
    page.goto("/public")
    expect(page.locator("html")).to_have_attribute("data-public-ready", "true", timeout=30_000)
    assert "/public" in page.url  # no redirection to the login page
    counters = published_counters(ui_server)
    assert counters
    for counter in counters[:5]:
        row = page.locator(f'tr[data-id="{counter["id"]}"]')
        shown = display(ui_server, counter["id"])
        expect(row.locator('[data-figure="today"]')).to_have_text(french(shown["today"]))
        expect(row.locator('[data-figure="year"]')).to_have_text(french(shown["year"]))
    # one section per use case publishing something, none for the others
    with ui_server.api(None) as anonymous:
        usecases = anonymous.get("/api/v1/usecases").json()
    publishing = {u["name"] for u in usecases if u["publishes"]}
    assert "mobility" in publishing and "lighting" not in publishing
    sections = page.locator("section[data-usecase]").evaluate_all("s => s.map(x => x.dataset.usecase)")
    assert set(sections) == publishing
    # each published type shows the number of entities the anonymous API counts
    for usecase in usecases:
        for publication in usecase["publishes"]:
            with ui_server.api(None) as anonymous:
                count = anonymous.get(
                    "/ngsi-ld/v1/entities",
                    params={"type": publication["entityType"], "count": "true", "limit": 0},
                ).headers["NGSILD-Results-Count"]
            card = page.locator(
                f'section[data-usecase="{usecase["name"]}"] [data-type="{publication["entityType"]}"]'
            )
            expect(card.locator(".figure")).to_have_text(french(int(count)))
    # no private attribute: the tables' columns are published attributes, no device link anywhere
    text = page.locator("main").inner_text()
    assert "urn:ngsi-ld:Device" not in text
    links = page.locator("#open-data a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert "/api/v1/mobility/export/site.csv" in links
    with ui_server.api(None) as anonymous:
        for href in links:
            assert anonymous.get(href).status_code == 200, href  # every open-data link works anonymously
    shot(page, "public")
    shot(page, "public-top", full_page=False)


def test_public_portal_calls_the_api_anonymously_even_for_staff(page: Page, ui_server: UiServer) -> None:
    login(page, ui_server)  # the browser now holds an admin session cookie
    calls: list[Request] = []
    page.on("request", lambda r: calls.append(r) if "/api/v1/" in r.url or "/ngsi-ld/" in r.url else None)
    page.goto("/public")
    expect(page.locator("html")).to_have_attribute("data-public-ready", "true", timeout=30_000)
    assert calls
    for call in calls:
        assert "cookie" not in call.all_headers(), call.url  # the session never reaches the public calls
    assert page.locator("#logout-form").count() == 0  # the public page does not know who looks at it


def test_totem_shows_todays_and_this_years_counts_and_refreshes(page: Page, ui_server: UiServer) -> None:
    counter = published_counters(ui_server)[0]
    page.goto(f"/public/counters/{quote(counter['id'], safe='')}/totem?refresh=5")
    shown = display(ui_server, counter["id"])
    expect(page.locator("#totem-today")).to_have_text(french(shown["today"]), timeout=15_000)
    expect(page.locator("#totem-year")).to_have_text(french(shown["year"]))
    expect(page.locator("#totem-name")).to_have_text(shown["name"])
    shot(page, "totem")
    # 1000 more passages now: the totem shows them at its next refresh, without a reload
    page.evaluate("() => { window.notReloaded = true; }")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    with ui_server.api() as admin:
        answer = admin.patch(
            f"/ngsi-ld/v1/entities/{counter['id']}/attrs",
            json={
                "intensity": {
                    "type": "Property",
                    "value": 1000,
                    "unitCode": "C62",
                    "observedAt": now,
                    "datasetId": "urn:ngsi-ld:Dataset:in",
                }
            },
        )
    assert answer.status_code == 204, answer.text
    after = display(ui_server, counter["id"])
    assert after["today"] == shown["today"] + 1000
    expect(page.locator("#totem-today")).to_have_text(french(after["today"]), timeout=20_000)
    assert page.evaluate("() => window.notReloaded === true")


def test_totem_of_an_unknown_counter_says_so(page: Page, ui_server: UiServer, console) -> None:  # noqa: ANN001
    console.allow("/display")
    page.goto("/public/counters/urn:ngsi-ld:TrafficFlowObserved:nowhere/totem")
    expect(page.locator("#totem-updated")).to_have_text("Ce compteur n'existe pas.")


def _private_parts(server: UiServer, entity_type: str) -> tuple[set[str], set[str]]:
    """Attribute names an admin sees on the type's entities but the public does not, and their string values."""
    def read(client: object) -> list[dict]:
        answer = client.get(  # type: ignore[attr-defined]
            "/ngsi-ld/v1/entities", params={"type": entity_type, "limit": 1000, "options": "keyValues"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    with server.api() as admin, server.api(None) as anonymous:
        full, public = read(admin), read(anonymous)
    assert full and len(public) == len(full)
    hidden = {name for e in full for name in e} - {name for e in public for name in e}
    values = {v for e in full for name, v in e.items() if name in hidden and isinstance(v, str) and len(v) > 6}
    return hidden, values


def test_public_pages_never_receive_private_attributes(page: Page, ui_server: UiServer) -> None:
    """Nothing the portal or a totem loads (page, scripts' API answers) carries a private attribute."""
    hidden, values = _private_parts(ui_server, "TrafficFlowObserved")
    assert "refDevice" in hidden and values  # the counters' device links are private by default
    bodies: list[str] = []

    def keep(response: object) -> None:
        url = response.url  # type: ignore[attr-defined]
        if "/api/v1/" in url or "/ngsi-ld/" in url or "/public" in url:
            bodies.append(response.text())  # type: ignore[attr-defined]

    page.on("response", keep)
    page.goto("/public")
    expect(page.locator("html")).to_have_attribute("data-public-ready", "true", timeout=30_000)
    counter = published_counters(ui_server)[0]
    page.goto(f"/public/counters/{quote(counter['id'], safe='')}/totem")
    expect(page.locator("#totem-today")).not_to_have_text("", timeout=15_000)
    page.wait_for_load_state("networkidle")
    assert len(bodies) >= 3
    seen = "\n".join(bodies) + page.content()
    for name in hidden:
        assert f'"{name}"' not in seen, name
    for value in values:
        assert value not in seen, value

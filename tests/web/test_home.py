"""The department home in Chromium: login, the map of every asset, filters, popups, attention list, live updates."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import UiServer, login, shot


def map_answer(server: UiServer) -> dict:
    """What GET /api/v1/map answers the admin."""
    with server.api() as client:
        answer = client.get("/api/v1/map")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_login_then_the_map_shows_every_asset(page: Page, ui_server: UiServer) -> None:
    login(page, ui_server)
    expect(page.locator("html")).to_have_attribute("data-map-ready", "true", timeout=30_000)
    data = map_answer(ui_server)
    assert data["count"] > 100
    expect(page.locator("html")).to_have_attribute("data-map-shown", str(data["count"]))
    expect(page.locator("#asset-count")).to_have_text(f"{data['count']}")
    shot(page, "home")

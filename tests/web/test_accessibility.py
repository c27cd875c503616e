"""WCAG 2.1 A/AA audit of the main pages with axe-core (from PyPI), and their layout on a phone."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.web.conftest import PASSWORD, UiServer

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
STAFF_PAGES = ["/", "/usecases/noise", "/usecases/waste", "/usecases/water", "/usecases/mobility",
               "/usecases/lighting", "/devices", "/devices/silent", "/devices/import"]


def first_of(server: UiServer, entity_type: str) -> str:
    """The id of one entity of a type (read as the admin)."""
    with server.api() as admin:
        found = admin.get("/ngsi-ld/v1/entities", params={"type": entity_type, "limit": 1}).json()
    assert found, entity_type
    return found[0]["id"]


def sign_in(page: Page, server: UiServer) -> None:
    """Log in as the admin and wait for the home page."""
    page.goto("/login")
    page.get_by_label("Identifiant").fill(server.users["admin"])
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: "/login" not in url)


def audit(page: Page, path: str) -> list[str]:
    """Open a page, let it load its data, and return axe's WCAG 2.1 AA violations as readable lines."""
    page.goto(path)
    page.wait_for_load_state("networkidle")
    results = Axe().run(page, options=WCAG_AA)
    return [f"{path}: {v['id']} ({v['impact']}): {v['help']} — e.g. {v['nodes'][0]['target']}"
            for v in results.response["violations"]]


def test_staff_pages_pass_wcag_21_aa(page: Page, ui_server: UiServer) -> None:
    sign_in(page, ui_server)
    streetlight = quote(first_of(ui_server, "Streetlight"), safe="")
    problems = [line for path in [*STAFF_PAGES, f"/entities/{streetlight}"] for line in audit(page, path)]
    assert not problems, "\n".join(problems)


def test_public_pages_pass_wcag_21_aa(page: Page, ui_server: UiServer) -> None:
    counter = quote(first_of(ui_server, "TrafficFlowObserved"), safe="")
    problems = [line for path in ["/login", "/public", f"/public/counters/{counter}/totem"]
                for line in audit(page, path)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", ["/", "/usecases/waste", "/public"])
def test_pages_fit_a_phone_screen(browser: Browser, ui_server: UiServer, path: str) -> None:
    """At 390 × 844 CSS pixels nothing is wider than the screen and the navigation stays reachable."""
    context = browser.new_context(base_url=ui_server.url, viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, is_mobile=True, has_touch=True, locale="fr-FR")
    try:
        phone = context.new_page()
        if path != "/public":
            sign_in(phone, ui_server)
        phone.goto(path)
        phone.wait_for_load_state("networkidle")
        overflow = phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow} px wider than a phone screen"
        links = phone.locator("header a, header button").evaluate_all(
            "els => els.filter(e => { const r = e.getBoundingClientRect();"
            " return r.width > 0 && r.height > 0 && r.right <= window.innerWidth + 1; }).length")
        assert links >= 2, f"{path}: the header's links are not reachable on a phone"
        phone.screenshot(path=f"build/screenshots/phone{path.replace('/', '-') or '-home'}.png")
    finally:
        context.close()

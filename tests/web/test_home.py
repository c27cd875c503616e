"""The department home in Chromium: login, every asset on the map, filters, popups, attention, live."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import PASSWORD, Console, UiServer, login, shot


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
    shot(page, "home-top", full_page=False)


def now_iso() -> str:
    """The current time as an NGSI-LD timestamp."""
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def fill_container(server: UiServer, entity_id: str, level: float) -> None:
    """Change a container's fill through the NGSI-LD API, as a lid sensor's uplink would."""
    with server.api() as client:
        answer = client.patch(
            f"/ngsi-ld/v1/entities/{entity_id}/attrs",
            json={
                "fillingLevel": {
                    "type": "Property",
                    "value": level,
                    "unitCode": "C62",
                    "observedAt": now_iso(),
                }
            },
        )
    assert answer.status_code == 204, answer.text


def containers(data: dict) -> list[str]:
    """The ids of the WasteContainer assets of a map answer."""
    kind = data["types"].index("WasteContainer")
    return [i for i, t in zip(data["assets"]["id"], data["assets"]["type"], strict=True) if t == kind]


def test_filter_by_use_case_commune_and_site(page: Page, ui_server: UiServer) -> None:
    login(page, ui_server)
    expect(page.locator("html")).to_have_attribute("data-map-ready", "true", timeout=30_000)
    data = map_answer(ui_server)
    assets = data["assets"]
    waste = data["usecases"].index("waste")
    expected = sum(1 for u in assets["usecase"] if u == waste)
    assert 0 < expected < data["count"]
    page.get_by_label("Usage").select_option("waste")
    expect(page.locator("html")).to_have_attribute("data-map-shown", str(expected))
    expect(page.locator("#asset-count")).to_have_text(str(expected))
    assert "usecase=waste" in page.url
    marseille = next(i for i, c in enumerate(data["communes"]) if c["name"] == "Marseille")
    in_both = sum(
        1 for u, c in zip(assets["usecase"], assets["commune"], strict=True) if u == waste and c == marseille
    )
    page.get_by_label("Commune").select_option(data["communes"][marseille]["code"])
    expect(page.locator("html")).to_have_attribute("data-map-shown", str(in_both))
    page.get_by_label("Usage").select_option("")
    page.get_by_label("Commune").select_option("")
    site = data["sites"][0]
    at_site = sum(1 for s in assets["site"] if s == 0)
    page.get_by_label("Site").select_option(site)
    expect(page.locator("html")).to_have_attribute("data-map-shown", str(at_site))
    # the filters are in the address: a reload keeps them
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-map-shown", str(at_site), timeout=30_000)


def test_clicking_an_asset_opens_its_popup_and_entity_page(page: Page, ui_server: UiServer) -> None:
    login(page, ui_server)
    expect(page.locator("html")).to_have_attribute("data-map-ready", "true", timeout=30_000)
    data = map_answer(ui_server)
    k = data["assets"]["id"].index(containers(data)[-1])
    entity_id, name = data["assets"]["id"][k], data["assets"]["name"][k]
    lat, lon = data["assets"]["lat"][k], data["assets"]["lon"][k]
    x, y = page.evaluate(
        """([lat, lon]) => {
        const map = CalanqueMap.instances[0];
        map.setView([lat, lon], 19, {animate: false});
        const p = map.latLngToContainerPoint([lat, lon]);
        return [p.x, p.y];
    }""",
        [lat, lon],
    )
    page.wait_for_timeout(300)  # one animation frame for the canvas to redraw at the new zoom
    page.locator("#map").click(position={"x": x, "y": y})
    popup = page.locator(".leaflet-popup-content")
    expect(popup.locator(".popup-title")).to_have_text(name)
    shot(page, "home-popup")
    popup.get_by_role("link", name="Ouvrir la fiche de l'équipement").click()
    page.wait_for_url("**/entities/**")
    from urllib.parse import unquote

    assert unquote(page.url.split("/entities/", 1)[1]) == entity_id


def test_attention_list_matches_the_api(page: Page, ui_server: UiServer) -> None:
    data = map_answer(ui_server)
    fill_container(ui_server, containers(data)[0], 0.99)  # make sure something needs attention
    login(page, ui_server)
    expect(page.locator("html")).to_have_attribute("data-map-ready", "true", timeout=30_000)
    data = map_answer(ui_server)
    expected = [data["assets"]["id"][i] for i in data["attention"]]
    assert containers(data)[0] in expected
    items = page.locator("#attention-list > li[data-id]")
    expect(items).to_have_count(min(len(expected), 100))
    shown = items.evaluate_all("items => items.map(li => li.dataset.id)")
    assert shown == expected[:100]
    expect(page.locator("#attention-count")).to_have_text(str(len(expected)))


def test_a_change_shows_up_live_without_reload(page: Page, ui_server: UiServer) -> None:
    login(page, ui_server)
    expect(page.locator("html")).to_have_attribute("data-map-ready", "true", timeout=30_000)
    expect(page.locator("html")).to_have_attribute("data-live", "open", timeout=10_000)
    page.evaluate("() => { window.notReloaded = true; }")
    data = map_answer(ui_server)
    target = next(c for c in containers(data) if data["assets"]["id"].index(c) not in data["attention"])
    assert page.locator(f'#attention-list > li[data-id="{target}"]').count() == 0
    fill_container(ui_server, target, 0.99)
    item = page.locator(f'#attention-list > li[data-id="{target}"]')
    expect(item).to_be_visible(timeout=15_000)
    expect(item).to_have_attribute("data-level", "bad")
    expect(item).to_contain_text("Plein (99 %)")
    assert page.evaluate("() => window.notReloaded === true")
    # and back: emptied, it leaves the list
    fill_container(ui_server, target, 0.05)
    expect(item).to_have_count(0, timeout=15_000)
    assert page.evaluate("() => window.notReloaded === true")


def test_keyboard_reaches_the_map_asset_list(page: Page, ui_server: UiServer) -> None:
    login(page, ui_server)
    expect(page.locator("html")).to_have_attribute("data-map-ready", "true", timeout=30_000)
    page.locator("body").focus()
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("() => Boolean(document.activeElement.closest('#asset-list'))"):
            break
    else:
        raise AssertionError("Tab never reached the asset list under the map")
    # Tab to the first "Locate" button and use it: the popup opens and its link takes the focus
    while page.evaluate("() => document.activeElement.tagName") != "BUTTON":
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".leaflet-popup-content")).to_be_visible()
    assert page.evaluate("() => document.activeElement.classList.contains('popup-link')")
    first = page.locator("#asset-list > li").first
    expect(page.locator(".popup-title")).to_have_text(first.locator("a").inner_text())


def test_skip_link_and_landmarks(page: Page, ui_server: UiServer) -> None:
    login(page, ui_server)
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    assert page.locator("html").get_attribute("lang") == "fr"
    for role in ("banner", "main", "contentinfo", "navigation"):
        assert page.get_by_role(role).count() >= 1, role
    # every form control has a label
    unlabelled = page.evaluate("""() => Array.from(document.querySelectorAll('select, input, textarea'))
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.id)""")
    assert unlabelled == []


def test_language_switch_is_remembered(page: Page, ui_server: UiServer) -> None:
    login(page, ui_server)
    expect(page.get_by_role("heading", level=1)).to_have_text("Vue d'ensemble du territoire")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Territory overview")
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("html")).to_have_attribute("data-map-ready", "true", timeout=30_000)
    expect(page.get_by_role("heading", name="Needs attention today")).to_be_visible()
    page.goto("/")  # no ?lang: the cookie keeps English
    expect(page.get_by_role("heading", level=1)).to_have_text("Territory overview")
    expect(page.get_by_label("Use case")).to_be_visible()
    shot(page, "home-en")


def test_anonymous_visit_is_sent_to_the_login_page(page: Page, ui_server: UiServer, console: Console) -> None:
    console.allow("/api/v1/auth/login")  # the wrong password below is answered 401
    page.goto("/?usecase=waste")
    assert "/login?next=" in page.url
    expect(page.get_by_role("heading", level=1)).to_have_text("Se connecter")
    page.get_by_label("Identifiant").fill(ui_server.users["viewer"])
    page.get_by_label("Mot de passe").fill("not the password at all")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect.")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/?usecase=waste")
    expect(page.get_by_label("Usage")).to_have_value("waste")

"""The five use-case dashboards in Chromium: each number shown is the one its API answers.

The server is the UI tests' one (authentication on, the demo fleet with two hours of history). The page
and the test read the same endpoints; figures that depend on the clock (silence, faults still open at
'now') are read by the test before and after the page, and the page's value must be one of the two.
Numbers are read as a person sees them (French format) and compared within the rounding they are shown
with. A screenshot of each dashboard goes to build/screenshots/.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Console, UiServer, login, shot

PARIS = ZoneInfo("Europe/Paris")
WAIT = 60_000


def shown_number(text: str) -> float:
    """A number as the French page shows it ("5 821", "0,31", "31 %", "+12,5 %") as a float."""
    cleaned = re.sub(r"[\s\u00a0\u202f%+]", "", text).replace(",", ".").replace("\u2212", "-")
    return float(cleaned)


def figure(page: Page, key: str) -> str:
    """The text of a dashboard figure once the page has filled it in."""
    locator = page.locator(f'[data-figure="{key}"]')
    expect(locator).to_have_attribute("data-value", re.compile(".*"), timeout=WAIT)
    return locator.inner_text()


def api_get(server: UiServer, path: str, **params: Any) -> Any:
    """GET an API endpoint as the admin (the pages' user sees the same tenant)."""
    with server.api() as client:
        answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def today() -> date:
    """Today in Paris, as the pages count days."""
    return datetime.now(PARIS).date()


def midnight(day: date) -> datetime:
    """00:00 Paris time of a day."""
    return datetime(day.year, day.month, day.day, tzinfo=PARIS)


def login_to(page: Page, server: UiServer, path: str, role: str = "admin") -> None:
    """Log in as the user of a role and wait for ``path`` itself (the login page's URL also ends with it)."""
    login(page, server, role, next_path=path)
    page.wait_for_url(lambda url: unquote(urlsplit(url).path) == unquote(path), timeout=WAIT)


def open_dashboard(page: Page, server: UiServer, name: str, query: str = "") -> None:
    """Log in as the admin and open a dashboard."""
    login_to(page, server, f"/usecases/{name}")
    if query:
        page.goto(f"/usecases/{name}?{query}")


def ready(page: Page, selector: str) -> None:
    """Wait until a Plotly chart is drawn."""
    expect(page.locator(selector)).to_have_attribute("data-ready", "true", timeout=WAIT)


def test_noise_dashboard(page: Page, ui_server: UiServer) -> None:
    day = today().isoformat()
    open_dashboard(page, ui_server, "noise", f"date={day}")
    data = api_get(ui_server, "/api/v1/noise/observatory", date=day, limit=1000)
    assert data["summary"]["sensors"] > 0
    for key in ("sensors", "withLden", "ldenExceedances", "lnightExceedances"):
        assert shown_number(figure(page, key)) == data["summary"][key], key
    ready(page, "#noise-chart")
    rows = page.locator("#noise-table tbody tr")
    expect(rows).to_have_count(len(data["sensors"]))
    for sensor in data["sensors"]:
        row = page.locator(f'#noise-table tr[data-key="{sensor["entityId"]}"]')
        for column in ("Lden", "Lnight"):
            text = row.locator(f'td[data-col="{column}"]').inner_text()
            if sensor[column] is None:
                assert text == "–"
            else:
                assert abs(shown_number(text) - sensor[column]) <= 0.05 + 1e-9, (sensor["entityId"], column, text)
    # the selected sensor's 24-hour profile
    ready(page, "#noise-profile")
    chosen = page.locator("#noise-sensor").input_value()
    hourly = api_get(ui_server, f"/api/v1/noise/{chosen}/hourly")
    assert hourly["LAeq"] is not None
    shown = page.locator("#noise-profile-laeq")
    expect(shown).to_have_attribute("data-value", re.compile(r"\d"))
    assert abs(float(shown.get_attribute("data-value") or "nan") - hourly["LAeq"]) < 1e-6
    assert f"{hourly['LAeq']:.1f}".replace(".", ",") in shown.inner_text()
    shot(page, "dashboard-noise")


def test_waste_dashboard(page: Page, ui_server: UiServer) -> None:
    open_dashboard(page, ui_server, "waste")
    day = today().isoformat()
    distribution = api_get(ui_server, "/api/v1/waste/fill-distribution", date=day)
    assert distribution["containers"] > 0
    for key in ("containers", "withFill", "atThreshold"):
        assert shown_number(figure(page, key)) == distribution[key], key
    assert abs(shown_number(figure(page, "meanFill")) - 100 * distribution["meanFill"]) <= 0.5 + 1e-9
    ready(page, "#waste-histogram")
    kind = page.locator("#waste-kind").input_value()
    expected_kind = distribution["collectedOnDate"][0] if distribution["collectedOnDate"] else \
        next(iter(distribution["collectionDays"]))
    assert kind == expected_kind
    plan = api_get(ui_server, "/api/v1/waste/collection-plan", date=day, kind=kind)
    assert shown_number(figure(page, "selected")) == plan["selected"]
    assert shown_number(figure(page, "considered")) == plan["containers"]
    assert abs(shown_number(figure(page, "lengthKm")) - plan["lengthKm"]) <= 0.05 + 1e-9
    expect(page.locator("#waste-map")).to_have_attribute("data-stops", str(len(plan["stops"])), timeout=WAIT)
    expect(page.locator("#waste-stops tbody tr")).to_have_count(len(plan["stops"]))
    ids = [page.locator("#waste-stops tbody tr").nth(i).get_attribute("data-key") for i in range(len(plan["stops"]))]
    assert ids == [s["id"] for s in plan["stops"]]  # the round's order
    ready(page, "#waste-incidents-chart")
    to = datetime.now(PARIS)
    incidents = api_get(ui_server, "/api/v1/waste/incidents", **{"from": (to - timedelta(days=30)).isoformat(),
                                                                  "to": to.isoformat()})
    expect(page.locator("#waste-incidents-chart")).to_have_attribute("data-incidents", str(len(incidents["incidents"])))
    shot(page, "dashboard-waste")


def test_water_dashboard(page: Page, ui_server: UiServer) -> None:
    open_dashboard(page, ui_server, "water")
    stations = [e["id"] for t in ("FloodMonitoring", "WaterObserved")
                for e in api_get(ui_server, "/ngsi-ld/v1/entities", type=t, limit=1000, options="keyValues")]
    statuses = {sid: api_get(ui_server, f"/api/v1/water/{sid}/status") for sid in stations}
    assert statuses
    assert shown_number(figure(page, "stations")) == len(stations)
    assert shown_number(figure(page, "alerts")) == sum(1 for s in statuses.values() if s["colour"] != "green")
    for sid, status in statuses.items():
        row = page.locator(f'#water-stations tr[data-key="{sid}"]')
        level = shown_number(row.locator('td[data-col="level_m"]').inner_text())
        assert abs(level - status["level_m"]) <= 0.005 + 1e-9, sid
        assert row.locator('td[data-col="colour"]').get_attribute("data-value") == status["colour"]
    ready(page, "#water-level")
    assert int(page.locator("#water-level").get_attribute("data-points") or "0") > 0
    probes = api_get(ui_server, "/ngsi-ld/v1/entities", type="WaterQualityObserved", limit=1000, options="keyValues")
    qualities = [api_get(ui_server, f"/api/v1/water/{p['id']}/quality") for p in probes]
    assert shown_number(figure(page, "probes")) == len(probes)
    assert shown_number(figure(page, "violations")) == sum(len(q["violations"]) for q in qualities)
    first = qualities[0]
    ph = page.locator(f'#water-quality tr[data-key="{first["entityId"]}#pH"] td[data-col="value"]')
    assert abs(shown_number(ph.inner_text()) - first["parameters"]["pH"]["value"]) <= 0.005 + 1e-9
    ready(page, "#water-parameter-chart")
    shot(page, "dashboard-water")


def test_mobility_dashboard(page: Page, ui_server: UiServer) -> None:
    open_dashboard(page, ui_server, "mobility")
    counters = {t: api_get(ui_server, "/ngsi-ld/v1/entities", type=t, limit=1000, options="keyValues")
                for t in ("TrafficFlowObserved", "CrowdFlowObserved")}
    # the page's period: the last 7 local days, today included
    start, end = midnight(today() - timedelta(days=6)), midnight(today() + timedelta(days=1))
    totals = {t: sum(api_get(ui_server, f"/api/v1/mobility/{c['id']}/counts", step="day", **{
        "from": start.isoformat(), "to": end.isoformat()})["total"] or 0 for c in found)
        for t, found in counters.items()}
    assert totals["TrafficFlowObserved"] > 0 and totals["CrowdFlowObserved"] > 0
    assert shown_number(figure(page, "counters")) == sum(len(v) for v in counters.values())
    assert abs(shown_number(figure(page, "bikes")) - totals["TrafficFlowObserved"]) <= 0.5 + 1e-9
    assert abs(shown_number(figure(page, "pedestrians")) - totals["CrowdFlowObserved"]) <= 0.5 + 1e-9
    ready(page, "#mobility-chart")
    chosen = page.locator("#mobility-counter").input_value()
    summary = api_get(ui_server, f"/api/v1/mobility/{chosen}/summary")
    assert abs(shown_number(figure(page, "yearToDate")) - summary["yearToDate"]) <= 0.5 + 1e-9
    ready(page, "#mobility-heatmap")
    ready(page, "#mobility-hourly")
    shot(page, "dashboard-mobility")


def test_lighting_dashboard(page: Page, ui_server: UiServer) -> None:
    before = api_get(ui_server, "/api/v1/lighting/network")
    faults_before = api_get(ui_server, "/api/v1/lighting/faults")
    open_dashboard(page, ui_server, "lighting")
    shown = {key: shown_number(figure(page, key)) for key in
             ("lights", "lit", "dimmed", "off", "silent", "reportedFaulty", "powerW", "faults")}
    after = api_get(ui_server, "/api/v1/lighting/network")
    faults_after = api_get(ui_server, "/api/v1/lighting/faults")
    assert before["lights"] > 0
    for key in ("lights", "lit", "dimmed", "off", "silent", "reportedFaulty"):
        assert shown[key] in (before[key], after[key]), key
    assert min(before["powerW"], after["powerW"]) - 0.5 <= shown["powerW"] <= max(before["powerW"], after["powerW"]) + 0.5
    assert shown["faults"] in (len(faults_before["faults"]), len(faults_after["faults"]))
    energy = api_get(ui_server, "/api/v1/lighting/energy")
    assert energy["total"]["consumedKwh"] > 0
    assert abs(shown_number(figure(page, "consumedKwh")) - energy["total"]["consumedKwh"]) <= 0.05 + 1e-9
    assert abs(shown_number(figure(page, "savedKwh")) - energy["total"]["savedKwh"]) <= 0.05 + 1e-9
    schedule = api_get(ui_server, "/api/v1/lighting/schedule")
    expect(page.locator("#lighting-schedule tbody tr")).to_have_count(len(schedule["groups"]))
    ready(page, "#lighting-levels")
    shot(page, "dashboard-lighting")


@pytest.mark.parametrize("name", ["noise", "waste", "water", "mobility", "lighting"])
def test_dashboards_are_in_english_too(page: Page, ui_server: UiServer, name: str) -> None:
    login_to(page, ui_server, f"/usecases/{name}")
    page.goto(f"/usecases/{name}?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    heading = page.locator("main h1")
    french = {"noise": "Bruit", "waste": "Collecte des déchets", "water": "Eau et rivières",
              "mobility": "Comptages vélos et piétons", "lighting": "Éclairage public"}[name]
    expect(heading).not_to_have_text(french)
    # the dashboard's own words come from its English catalogue (the ids): no French left in the intro
    intro = page.locator("main .intro").inner_text()
    assert not re.search(r"[éèàù]| les | des ", intro), intro


def test_unknown_dashboard_is_a_404_page(page: Page, ui_server: UiServer, console: Console) -> None:
    console.allow("/usecases/nothing-here")  # the 404 answer is reported by the browser, as it should be
    login_to(page, ui_server, "/usecases/noise")
    answer = page.goto("/usecases/nothing-here")
    assert answer is not None and answer.status == 404
    expect(page.locator("main")).to_contain_text("Il n'y a pas de cas d'usage nommé nothing-here.")
    asset = page.request.get("/_static/usecases/noise/usecase.py")
    assert asset.status == 404  # only the files a dashboard declares are served
    assert page.request.get("/_static/usecases/noise/i18n/fr.po").status == 404

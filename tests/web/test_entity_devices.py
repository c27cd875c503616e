"""The entity page, commands and the device registry pages in Chromium.

A dimming command sent from a streetlight's page is recorded (GET /api/v1/commands) and leaves for the
network server through the real Mosquitto (a subscriber here receives it); a viewer's page holds no
command control at all (the server does not render it). The bulk import page shows every row's errors
for a bad file, refuses to import it, then imports the corrected file.
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any
from urllib.parse import quote

import paho.mqtt.client as mqtt
from playwright.sync_api import Page, expect

from tests.web.conftest import Console, UiServer, shot
from tests.web.test_dashboards import WAIT, api_get, login_to, shown_number


def a_streetlight(server: UiServer) -> tuple[str, dict]:
    """A streetlight of the demo fleet and the device feeding it."""
    devices = api_get(server, "/api/v1/devices", entityType="Streetlight", limit=1000)["items"]
    device = next(d for d in devices if d["network"] in ("chirpstack", "tts"))
    return device["entityId"], device


def entity_path(entity_id: str) -> str:
    """The entity page of an entity."""
    return "/entities/" + quote(entity_id, safe="")


class Downlinks:
    """A subscriber on the real Mosquitto to a device's downlink topics (ChirpStack and TTS forms)."""

    def __init__(self, device: dict) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.arrived = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ui-test-{uuid.uuid4().hex[:8]}")
        topics = [f"application/+/device/{device['id']}/command/down", f"v3/+/devices/{device['name']}/down/push"]
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", 1883)
        self.client.loop_start()
        assert self.subscribed.wait(10), "could not subscribe to Mosquitto at 127.0.0.1:1883"

    def _message(self, _client: Any, _userdata: Any, message: Any) -> None:
        self.messages.append((message.topic, message.payload))
        self.arrived.set()

    def close(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()


def test_entity_page_shows_history_device_and_state(page: Page, ui_server: UiServer) -> None:
    entity_id, device = a_streetlight(ui_server)
    login_to(page, ui_server, entity_path(entity_id))
    entity = api_get(ui_server, f"/ngsi-ld/v1/entities/{entity_id}")
    expect(page.locator("#entity-title")).to_have_text(entity["name"]["value"], timeout=WAIT)
    # attributes with their units
    power = entity["powerConsumption"]
    shown = page.locator('#entity-attributes dd[data-attr="powerConsumption"]')
    expect(shown).to_contain_text(" W")
    assert abs(shown_number(shown.inner_text().split(" W")[0]) - power["value"]) <= 0.005 + 1e-9
    # the history: one chart per numeric attribute, with points
    expect(page.locator("#entity-history")).to_have_attribute("data-ready", "true", timeout=WAIT)
    chart = page.locator('#entity-history .chart[data-attr="powerConsumption"]')
    expect(chart).to_have_attribute("data-points", re.compile(r"^[1-9]\d*$"))
    # the device, as the registry has it
    block = page.locator(f'#entity-device dl[data-device="{device["id"]}"]')
    expect(block).to_be_visible()
    assert abs(shown_number(block.locator('dd[data-field="rssi"]').inner_text().replace("dBm", "")) - device["rssi"]) <= 0.5
    assert abs(shown_number(block.locator('dd[data-field="snr"]').inner_text().replace("dB", "")) - device["snr"]) <= 0.05 + 1e-9
    expect(block.locator('dd[data-field="lastSeen"]')).not_to_have_text("Jamais")
    # its state on the map, computed by the lighting use case
    expect(page.locator("#entity-state")).to_have_attribute("data-level", re.compile(r"^(ok|info|off|bad|silent)$"))
    shot(page, "entity-streetlight")


def test_dimming_command_from_the_entity_page(page: Page, ui_server: UiServer) -> None:
    entity_id, device = a_streetlight(ui_server)
    downlinks = Downlinks(device)
    try:
        login_to(page, ui_server, entity_path(entity_id), role="operator")  # an operator of lighting
        page.get_by_label("Niveau d'éclairage (%)").fill("40")
        page.get_by_role("button", name="Envoyer la commande").click()
        result = page.locator("#command-result")
        expect(result).to_have_attribute("data-commands", re.compile(r"^\d+$"), timeout=WAIT)
        command_id = int(result.get_attribute("data-commands") or "0")
        assert downlinks.arrived.wait(15), "no downlink reached Mosquitto"
    finally:
        downlinks.close()
    recorded = api_get(ui_server, "/api/v1/commands", device=device["id"])
    newest = next(c for c in recorded if c["id"] == command_id)
    assert newest["request"] == {"powerState": "on", "dimmingLevel": 40}
    assert newest["entityId"] == entity_id and newest["payloadHex"] == "0128"  # switch/dim, level 40
    assert newest["status"] in ("queued", "sent", "acknowledged")
    topic, body = downlinks.messages[0]
    assert device["id"] in topic or device["name"] in topic
    assert "ASg=" in body.decode()  # base64 of 01 28 in the network server's downlink message
    expect(page.locator(f'#command-history tr[data-key="{command_id}"]')).to_be_visible(timeout=WAIT)
    shot(page, "entity-command")


def test_viewer_sees_no_command_control(page: Page, ui_server: UiServer, console: Console) -> None:
    entity_id, _ = a_streetlight(ui_server)
    login_to(page, ui_server, entity_path(entity_id), role="viewer")
    expect(page.locator("#entity-title")).not_to_have_text("", timeout=WAIT)
    expect(page.locator("#entity-device dl")).to_be_visible(timeout=WAIT)
    html = page.content()
    assert "command-form" not in html and "entity-commands.js" not in html
    expect(page.get_by_role("button", name="Envoyer la commande")).to_have_count(0)
    expect(page.locator("#entity-commands")).to_have_count(0)
    # the page's absence of controls is not the only guard: the API refuses the viewer too
    console.allow("/api/v1/commands")
    refused = page.evaluate("""async (id) => {
        const csrf = document.cookie.split('; ').find((c) => c.startsWith('calanque_csrf=')).split('=')[1];
        const r = await fetch('/api/v1/commands', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': csrf}, body: JSON.stringify({entity: id, command: {dimmingLevel: 10}})});
        return r.status; }""", entity_id)
    assert refused == 403


def test_admin_sees_commands_only_where_the_asset_takes_them(page: Page, ui_server: UiServer) -> None:
    container = api_get(ui_server, "/api/v1/devices", entityType="WasteContainer", limit=1)["items"][0]
    login_to(page, ui_server, entity_path(container["entityId"]))
    expect(page.locator("#entity-device dl")).to_be_visible(timeout=WAIT)
    expect(page.locator("#entity-commands")).to_have_count(0)  # a lid sensor takes no switch or dim command


BAD_CSV = """device_id,name,model,codec,entity_id,entity_type,network,commune
FFEE000000000001,Capteur import 1,Modèle,json,urn:ngsi-ld:WasteContainer:import-1,WasteContainer,chirpstack,13055
FFEE00000000ZZ02,Capteur import 2,Modèle,json,urn:ngsi-ld:WasteContainer:import-2,WasteContainer,chirpstack,13055
FFEE000000000003,Capteur import 3,Modèle,no-such-codec,urn:ngsi-ld:WasteContainer:import-3,WasteContainer,chirpstack,1305
"""


def test_bulk_import_previews_errors_then_imports(page: Page, ui_server: UiServer, console: Console) -> None:
    login_to(page, ui_server, "/devices/import")
    page.get_by_label("ou collez son contenu").fill(BAD_CSV)
    page.get_by_role("button", name="Vérifier le fichier").click()
    summary = page.locator("#import-summary")
    expect(summary).to_have_attribute("data-errors", "3", timeout=WAIT)
    rows = page.locator("#import-errors tbody tr")
    expect(rows).to_have_count(3)
    found = [(rows.nth(i).locator('td[data-col="line"]').inner_text(), rows.nth(i).locator('td[data-col="field"]').inner_text())
             for i in range(3)]
    assert found == [("3", "device_id"), ("4", "codec"), ("4", "commune")]
    expect(rows.nth(1)).to_contain_text("unknown codec 'no-such-codec'")
    expect(page.get_by_role("button", name="Importer les capteurs")).to_be_disabled()
    shot(page, "devices-import-preview")
    with ui_server.api() as client:  # nothing was written by the preview
        assert client.get("/api/v1/devices/ffee000000000001").status_code == 404

    fixed = BAD_CSV.replace("FFEE00000000ZZ02", "FFEE000000000002").replace("no-such-codec", "json") \
        .replace(",1305\n", ",13055\n")
    page.get_by_label("ou collez son contenu").fill(fixed)
    page.get_by_role("button", name="Vérifier le fichier").click()
    expect(summary).to_have_attribute("data-errors", "0", timeout=WAIT)
    expect(summary).to_contain_text("3 capteurs à créer")
    page.get_by_role("button", name="Importer les capteurs").click()
    expect(summary).to_have_attribute("data-imported", "3", timeout=WAIT)
    for n in (1, 2, 3):
        device = api_get(ui_server, f"/api/v1/devices/ffee00000000000{n}")
        assert device["entityId"] == f"urn:ngsi-ld:WasteContainer:import-{n}" and device["commune"] == "13055"


def test_device_list_search_and_silent(page: Page, ui_server: UiServer) -> None:
    login_to(page, ui_server, "/devices")
    page.get_by_label("Rechercher (identifiant, nom, site, équipement)").fill("light")
    page.get_by_role("button", name="Rechercher").click()
    expected = api_get(ui_server, "/api/v1/devices", q="light", limit=1)["total"]
    assert expected > 0
    expect(page.locator("#device-count")).to_have_attribute("data-total", str(expected), timeout=WAIT)
    assert "q=light" in page.url  # the filter is kept in the address bar
    first = page.locator("#device-table tbody tr").first
    device_id = first.get_attribute("data-key")
    first.locator("a").first.click()
    page.wait_for_url(f"**/devices/{device_id}")
    device = api_get(ui_server, f"/api/v1/devices/{device_id}")
    expect(page.locator("#device-title")).to_have_text(device["name"], timeout=WAIT)
    expect(page.locator('#device-config dd[data-field="codec"]')).to_have_text(device["codec"])
    shot(page, "device")

    page.goto("/devices/silent")
    silent = api_get(ui_server, "/api/v1/devices", silent="true", limit=1)["total"]
    expect(page.locator("#device-count")).to_have_attribute("data-total", re.compile(r"^\d+$"), timeout=WAIT)
    again = api_get(ui_server, "/api/v1/devices", silent="true", limit=1)["total"]
    assert int(page.locator("#device-count").get_attribute("data-total") or "-1") in (silent, again)
    shot(page, "devices-silent")


def test_viewer_is_not_offered_the_import(page: Page, ui_server: UiServer) -> None:
    login_to(page, ui_server, "/devices/import", role="viewer")
    expect(page.locator("main .notice")).to_contain_text("Votre rôle ne permet pas")
    expect(page.locator("#import-form")).to_have_count(0)
    page.goto("/devices")
    expect(page.get_by_role("link", name="Importer des capteurs")).to_have_count(0)

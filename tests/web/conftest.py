"""Browser tests of the web UI: a live server (authentication on) filled with the demo fleet, and Chromium.

The server runs on 127.0.0.1 over SQLite with the fleet the demo uses: the simulator provisions it
through the REST APIs and sends two hours of history through the real HTTP ingestion endpoints. The
map tile URL points at a closed local port, so the pages run as they do offline (the assets on the
commune outlines). Chromium is Debian's (scripts/test installs it), driven by Playwright without its
own browser download (../shared/BROWSER-TESTING.md). Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from calanque.auth import repository as repo
from calanque.devtools.chromium import launch_chromium
from calanque.config import Settings
from tests.conftest import LiveServer, free_port

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PASSWORD = "correct horse battery staple"
USERS = {
    "admin": {"role": "admin", "tenant": "*"},
    "viewer": {"role": "viewer", "tenant": ""},
    "operator": {"role": "operator", "tenant": "", "usecases": ["lighting"]},
}
BACKFILL = timedelta(hours=2)


@dataclass
class UiServer:
    """The live server of the browser tests, its store and an admin API key."""

    url: str
    store: Any
    admin_key: str
    tile_port: int
    users: dict[str, str] = field(default_factory=dict)  # role -> user name

    def api(self, key: str | None = "admin") -> httpx.Client:
        """An HTTP client on the server: as the admin key, or anonymous (None)."""
        headers = {"Authorization": f"Bearer {self.admin_key}"} if key == "admin" else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


def _demo_fleet(base: str, store: Any, admin_key: str) -> None:
    """Provision the demo fleet and send it BACKFILL of history through the HTTP ingestion endpoints."""
    from calanque.demo import _fresh_keys
    from calanque.simulator.engine import Simulator, SimulatorConfig
    from calanque.simulator.fleet import FleetSpec

    now = datetime.now(UTC)
    spec = FleetSpec(seed=7, lorawan_networks=("chirpstack", "tts"), generic_networks=("http",))
    sim = Simulator(
        SimulatorConfig(
            fleet=spec,
            target=base,
            transport="http",
            keys=_fresh_keys(store),
            start=now - BACKFILL,
            end=now,
            api_key=admin_key,
        )
    )
    sim.provision()
    # in a thread of its own: Playwright's sync API may already run an event loop in this one
    done: list[Any] = []
    worker = threading.Thread(target=lambda: done.append(sim.run()), name="demo-fleet")
    worker.start()
    worker.join(timeout=300)
    assert done, "the demo fleet's history was not sent within 300 s"
    stats = done[0]
    assert stats.fatal is None and stats.errors == 0, f"the demo fleet could not be loaded: {stats}"


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """A server with authentication on and the demo fleet, shared by the browser tests (one per worker)."""
    from calanque.app import create_app
    from calanque.store.sqlite import SqliteStore

    tmp = tmp_path_factory.mktemp("ui")
    store = SqliteStore(str(tmp / "ui.db"))
    port, tile_port = free_port(), free_port()
    settings = Settings(
        data_dir=tmp,
        port=port,
        auth=True,
        rate_limit_per_minute=100_000,
        rate_limit_anonymous_per_minute=100_000,
        mqtt_url="mqtt://127.0.0.1:1883",
        map_tile_url=f"http://127.0.0.1:{tile_port}/{{z}}/{{x}}/{{y}}.png",
    )
    live = LiveServer(create_app(settings, store=store), port).start()
    with store.session(write=True) as session:
        _, admin_key = repo.create_key(session, name="ui-tests", tenant="*", role="admin", created_by="tests")
        users = {}
        for role, definition in USERS.items():
            users[role] = f"ui-{role}"
            repo.create_user(session, username=users[role], password=PASSWORD, **definition)
    server = UiServer(url=live.url, store=store, admin_key=admin_key, tile_port=tile_port, users=users)
    _demo_fleet(live.url, store, admin_key)
    yield server
    live.stop()
    store.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@dataclass
class Console:
    """What the page reported: JavaScript errors and failed requests (Content-Security-Policy violations
    appear as console errors), minus the map tiles, which fail on purpose (offline)."""

    tile_port: int
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        """Expect errors mentioning this text (a test provoking a refusal on purpose)."""
        self.allowed.append(fragment)

    def record(self, text: str) -> None:
        """Keep a console error unless it is a map tile failing to load or an expected one."""
        if f"127.0.0.1:{self.tile_port}/" in text or any(a in text for a in self.allowed):
            return
        self.errors.append(text)


@pytest.fixture
def console(ui_server: UiServer) -> Console:
    """The errors the page reports (checked after each test)."""
    return Console(ui_server.tile_port)


@pytest.fixture
def page(browser: Browser, ui_server: UiServer, console: Console) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the UI server; fails the test on a JavaScript error."""
    context = browser.new_context(
        base_url=ui_server.url, viewport={"width": 1366, "height": 900}, locale="fr-FR"
    )
    tab = context.new_page()
    tab.on(
        "console",
        lambda msg: (
            console.record(f"{msg.text} ({msg.location.get('url')})") if msg.type == "error" else None
        ),
    )
    tab.on("pageerror", lambda err: console.errors.append(f"uncaught: {err}"))
    yield tab
    context.close()
    assert not console.errors, f"the page reported errors: {console.errors}"


def login(page: Page, server: UiServer, role: str = "admin", next_path: str = "/") -> None:
    """Log in through the login form as the user of a role and wait for the page asked for."""
    page.goto(f"/login?next={next_path}")
    page.get_by_label("Identifiant").fill(server.users[role])
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"**{next_path}")


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as build/screenshots/<name>.png (a build artefact for reviewers)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path

"""`calanque demo`: the platform on its embedded store, fed by the simulated fleet, in one process.

What runs: the API server (uvicorn, in a thread) over SQLite in ``data_dir``; three integration
keys (ChirpStack, The Things Stack, generic HTTP) created afresh at each start; the fleet
simulator provisioning its entities and devices through the REST APIs and sending its uplinks
through the real HTTP ingestion endpoints — the same path a ChirpStack HTTP integration takes.
No MQTT broker or other server is needed.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import uvicorn
from rich.console import Console

from calanque import __version__
from calanque.config import Settings

DEMO_INTEGRATIONS = {"chirpstack": "demo-chirpstack", "tts": "demo-tts", "http": "demo-http"}


def _fresh_keys(store) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Revoke the previous demo keys and create new ones (keys are only readable at creation)."""
    from calanque.pipeline import integrations as integ

    keys = {}
    with store.session(write=True) as session:
        for kind, name in DEMO_INTEGRATIONS.items():
            integ.revoke_integration(session, name)
            keys[kind] = integ.create_integration(session, name, kind, "")[1]
    return keys


def _start_server(app: object, host: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    """Run uvicorn in a thread and wait until it listens; ClickException if it cannot start."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=3))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # Ctrl-C belongs to the demo
    thread = threading.Thread(target=server.run, name="calanque-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise click.ClickException(f"the API server could not start on {host}:{port} "
                                       "(is the port already in use? try --port)")
        time.sleep(0.05)
    return server, thread


def run_demo(*, host: str, port: int, data_dir: Path, backfill: str, speed: float | None, scale: float,
             seed: int) -> None:
    """Start everything, print where to look, and run until Ctrl-C (SIGINT) or SIGTERM."""
    # Explicit handlers: a shell starting the demo in the background (or a test runner's worker)
    # hands it SIGINT ignored, and a service manager stops it with SIGTERM; both must stop it cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    from calanque.app import create_app
    from calanque.simulator.cli import describe_run, provision_fleet, run_with_progress, parse_duration
    from calanque.simulator.engine import Simulator, SimulatorConfig
    from calanque.simulator.fleet import FleetSpec
    from calanque.store.base import open_store

    console = Console(stderr=True, highlight=False)
    try:
        backfill_s = 0.0 if backfill.strip() in ("0", "0s") else parse_duration(backfill)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--backfill") from err
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(host=host, port=port, data_dir=data_dir.resolve())
    store = open_store(None, str(settings.data_dir))
    keys = _fresh_keys(store)
    server, thread = _start_server(create_app(settings, store=store), host, port)
    base = f"http://{'[::1]' if host == '::1' else host}:{port}"
    console.print(f"[bold]Calanque {__version__} demo[/bold]: SQLite store in {settings.data_dir}")
    for label, path in (
        ("web UI, department home", "/"),
        ("public portal", "/public"),
        ("NGSI-LD API", "/ngsi-ld/v1/entities?type=NoiseLevelObserved"),
        ("API documentation", "/docs"),
        ("use cases and their indicators", "/api/v1/usecases"),
        ("devices (battery, radio, last seen)", "/api/v1/devices"),
        ("dead letters", "/api/v1/deadletters"),
    ):
        console.print(f"  {label}: {base}{path}")
    now = datetime.now(UTC)
    start = now - timedelta(seconds=backfill_s) if backfill_s else None
    spec = FleetSpec(seed=seed, lorawan_networks=("chirpstack", "tts"), generic_networks=("http",))
    if scale != 1.0:
        spec = spec.scaled(scale)
    sim = Simulator(SimulatorConfig(fleet=spec, target=base, transport="http", keys=keys, start=start,
                                    speed=speed))
    describe_run(console, sim, base, None)
    try:
        provision_fleet(console, sim)
        console.print("The fleet is reporting; stop the demo with Ctrl-C.")
        stats = run_with_progress(console, sim)
        console.print(f"simulator stopped: {stats.sent} messages sent, {stats.errors} failed, "
                      f"{stats.dead_letters} dead letters")
        if stats.fatal:
            console.print(f"[red]{stats.fatal}[/red]")
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        store.close()

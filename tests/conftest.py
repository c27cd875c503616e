"""Shared fixtures: real SQLite and PostgreSQL stores, and a real HTTP server on 127.0.0.1.

Every API test runs against both backends. PostgreSQL must be reachable: if it is not,
the fixtures fail loudly (scripts/test starts it first); nothing is skipped.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn

from calanque.config import Settings

# The shared servers and the servers other test modules start bind 127.0.0.1 and run without
# authentication (like `calanque serve --no-auth`); tests/auth starts its own servers with auth on.
os.environ.setdefault("CALANQUE_AUTH", "false")

PG_ADMIN_URL = os.environ.get("CALANQUE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ["sqlite", "postgres"]
TABLES = ["entities", "entity_types", "entity_attrs", "entity_geo", "temporal_entities", "attr_history",
          "tenants", "jsonld_contexts", "devices", "dead_letters", "ingest_dedup", "integrations", "commands"]
# attr_rollup and temporal_entity_types are emptied by the store's own TRUNCATE triggers (migration 0005)


def worker_id() -> str:
    """The xdist worker name (gw0, gw1…) or "main"."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def fresh_pg_database(name: str) -> str:
    """Drop and create a PostgreSQL database; return its URL."""
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as err:
        pytest.fail(f"PostgreSQL is required for the tests and is not reachable at {PG_ADMIN_URL}: {err}")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real uvicorn server running the Calanque app in a background thread."""

    def __init__(self, app: object, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        """Start and wait until the port answers."""
        self.thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.server.started:
                return self
            time.sleep(0.02)
        raise RuntimeError("the test server did not start within 15 s")

    def stop(self) -> None:
        """Stop the server."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def make_store(backend: str, tmp_dir: Path, name: str):  # type: ignore[no-untyped-def]
    """Open a store of the given backend in a fresh location."""
    if backend == "sqlite":
        from calanque.store.sqlite import SqliteStore

        return SqliteStore(str(tmp_dir / f"{name}.db"))
    from calanque.store.postgres import PostgresStore

    # the process id keeps concurrent test runs on one server (developers, CI) out of each other's way
    return PostgresStore(fresh_pg_database(f"calanque_{name}_{worker_id()}_{os.getpid()}"))


def drop_pg_database(url: str) -> None:
    """Drop a test database created by fresh_pg_database."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def reset_store(store) -> None:  # type: ignore[no-untyped-def]
    """Empty every table of a store (cheap isolation between tests)."""
    with store.session(write=True) as s:
        if store.dialect == "postgres":
            s.conn.execute(f"TRUNCATE {', '.join(TABLES)}")
        else:
            for table in TABLES:
                s.conn.execute(f"DELETE FROM {table}")


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One store per backend for the whole session (per xdist worker)."""
    tmp = tmp_path_factory.mktemp("stores")
    opened = {b: make_store(b, tmp, "shared") for b in BACKENDS}
    yield opened
    for store in opened.values():
        store.close()
        if store.dialect == "postgres":
            drop_pg_database(store.url)


@pytest.fixture(scope="session")
def servers(stores: dict) -> Iterator[dict]:
    """One live HTTP server per backend."""
    from calanque.app import create_app

    started = {}
    for backend, store in stores.items():
        settings = Settings(data_dir=Path("/nonexistent"), max_body_bytes=1_000_000, context_fetch_timeout=2.0,
                            mqtt_url="mqtt://127.0.0.1:1883", auth=False)
        port = free_port()
        settings.port = port
        started[backend] = LiveServer(create_app(settings, store=store), port).start()
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: every API test runs on SQLite and on PostgreSQL."""
    return request.param


@pytest.fixture
def api(backend: str, stores: dict, servers: dict) -> Iterator[httpx.Client]:
    """An HTTP client on a live server whose store was just emptied."""
    reset_store(stores[backend])
    with httpx.Client(base_url=servers[backend].url + "/ngsi-ld/v1", timeout=30) as client:
        yield client


@pytest.fixture
def store(backend: str, stores: dict):  # type: ignore[no-untyped-def]
    """The (emptied) store of the backend under test, for direct store-level tests."""
    reset_store(stores[backend])
    return stores[backend]

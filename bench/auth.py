"""Benchmark: what the authorisation check adds to a GET.

Run with ``.venv/bin/python bench/auth.py [--iterations 20000] [--app-iterations 3000]``.

Everything runs in this process, on the ASGI interface (no sockets: the network would add noise
larger than what is measured), over an embedded SQLite store in a temporary directory holding 200
``NoiseLevelObserved`` entities:

1. **middleware**: the auth middleware in front of a bare ASGI endpoint that answers 200 at once,
   with authentication on (the request carries an API key, or none for a public read) against the same
   middleware with authentication off (``calanque serve --no-auth``). This is the check itself: identify
   (the key lookup is cached for 5 s, as in production, so one lookup in 5 s reads the store), rate-limit,
   decide, build the read scope when the caller is restricted, add the security headers;
2. **application**: the same GET of one entity (``/ngsi-ld/v1/entities/{id}``) on the whole application
   built with authentication on (a viewer's API key) and off, both on the same store;
3. **read scope**: a query of 20 entities by type made anonymously (the publication's condition
   joins the SQL query and the documents are redacted) against the same query by an admin;
4. the cost of one uncached key lookup (a store read, every 5 s per key and process).

Calls alternate between the two variants of each pair so that drift (other processes, frequency
scaling) hits both alike. The figures are medians and 95th percentiles of each variant, their
difference, and the median of the paired differences. Target: at most 0.2 ms added to a GET.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from broker import machine  # noqa: E402 - bench/broker.py, next to this file
from calanque.app import create_app  # noqa: E402
from calanque.auth import repository as repo  # noqa: E402
from calanque.auth.middleware import AuthMiddleware, AuthState  # noqa: E402
from calanque.config import Settings  # noqa: E402
from calanque.store.sqlite import SqliteStore  # noqa: E402

TARGET_MS = 0.2
ENTITIES = 200
console = Console(width=170)
Asgi = Callable[[dict, Any, Any], Awaitable[None]]


def scope_of(path: str, query: str = "", headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An HTTP GET scope as uvicorn builds it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 1026),
    }


async def call(app: Asgi, scope: dict[str, Any]) -> tuple[int, float]:
    """Run one request through an ASGI app; return its status and the time it took in ms."""
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    start = time.perf_counter()
    await app(dict(scope), receive, send)
    return status, (time.perf_counter() - start) * 1000


async def pair(a: Asgi, scope_a: dict, b: Asgi, scope_b: dict, n: int, what: str) -> dict[str, Any]:
    """Time n calls of each variant, alternating which goes first; check both answer 200."""
    times_a, times_b = [], []
    for i in range(n + max(50, n // 20)):  # the first calls warm caches up and are not kept
        order = ((a, scope_a, times_a), (b, scope_b, times_b))
        for app, scope, times in order if i % 2 else reversed(order):
            status, ms = await call(app, scope)
            if status != 200:
                raise SystemExit(f"{what}: the request answered {status}, not 200")
            times.append(ms)
    keep = len(times_a) - n
    times_a, times_b = times_a[keep:], times_b[keep:]
    return {
        "what": what,
        "n": n,
        "a_median": statistics.median(times_a),
        "b_median": statistics.median(times_b),
        "a_p95": percentile(times_a, 95),
        "b_p95": percentile(times_b, 95),
        "paired": statistics.median(x - y for x, y in zip(times_a, times_b)),
    }


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def bare(scope: dict, receive: Any, send: Any) -> None:
    """An endpoint that costs nothing: 200, empty JSON body."""
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


def fill(store: SqliteStore) -> None:
    """The entities every measurement reads, and the default publications."""
    from calanque.ngsild.service import Broker
    from calanque.usecases.common import _core_resolver

    broker = Broker(store)
    ctx = _core_resolver().core
    for i in range(ENTITIES):
        broker.create_entity(
            "",
            {
                "id": f"urn:ngsi-ld:NoiseLevelObserved:bench-{i}",
                "type": "NoiseLevelObserved",
                "LAeq": {
                    "type": "Property",
                    "value": 50 + i % 20,
                    "unitCode": "2N",
                    "observedAt": "2026-11-25T10:00:00Z",
                },
                "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [5.37, 43.29]}},
                "municipalityCode": {"type": "Property", "value": "13055"},
                "refDevice": {"type": "Relationship", "object": f"urn:ngsi-ld:Device:{i:016x}"},
            },
            ctx,
        )


def key(store: SqliteStore, name: str, **definition: Any) -> str:
    """Create an API key in the store; return it."""
    with store.session(write=True) as session:
        return repo.create_key(session, name=name, created_by="bench", **definition)[1]


async def run(iterations: int, app_iterations: int) -> list[dict[str, Any]]:
    """Every measurement; returns one row per pair."""
    tmp = tempfile.mkdtemp(prefix="calanque-bench-auth-")
    store = SqliteStore(str(Path(tmp) / "bench.db"))
    try:
        fill(store)
        viewer = key(store, "bench-viewer", role="viewer", tenant="")
        operator = key(store, "bench-operator", role="operator", tenant="", usecases=["noise"])
        admin = key(store, "bench-admin", role="admin", tenant="*")
        common = dict(data_dir=Path(tmp), rate_limit_per_minute=10**9, rate_limit_anonymous_per_minute=10**9)
        on_settings, off_settings = Settings(auth=True, **common), Settings(auth=False, **common)
        usecases = {"noise": frozenset({"NoiseLevelObserved"})}
        on_state = AuthState(on_settings, store, usecases, {"noise": ("/{entityId}/indicators",)})
        on_state.seed_publication([])
        mw_on = AuthMiddleware(bare, on_state)
        mw_off = AuthMiddleware(bare, AuthState(off_settings, store, usecases))
        one = "/ngsi-ld/v1/entities/urn:ngsi-ld:NoiseLevelObserved:bench-7"
        bearer = lambda k: {"Authorization": f"Bearer {k}"}  # noqa: E731
        rows = [
            await pair(
                mw_on,
                scope_of(one, headers=bearer(viewer)),
                mw_off,
                scope_of(one),
                iterations,
                "middleware, viewer API key",
            ),
            await pair(
                mw_on,
                scope_of(one, headers=bearer(operator)),
                mw_off,
                scope_of(one),
                iterations,
                "middleware, operator API key (read scope built)",
            ),
            await pair(
                mw_on,
                scope_of(one),
                mw_off,
                scope_of(one),
                iterations,
                "middleware, anonymous public read (read scope built)",
            ),
        ]
        app_on = create_app(on_settings, store=store)
        app_off = create_app(off_settings, store=store)
        rows.append(
            await pair(
                app_on,
                scope_of(one, headers=bearer(viewer)),
                app_off,
                scope_of(one),
                app_iterations,
                "application, GET one entity, viewer API key",
            )
        )
        query = "type=NoiseLevelObserved&limit=20"
        rows.append(
            await pair(
                app_on,
                scope_of("/ngsi-ld/v1/entities", query),
                app_on,
                scope_of("/ngsi-ld/v1/entities", query, bearer(admin)),
                app_iterations,
                "application, query 20 entities: anonymous vs admin",
            )
        )
        lookups = []
        for _ in range(200):
            on_state._cache.clear()
            start = time.perf_counter()
            on_state.identify({b"authorization": f"Bearer {viewer}".encode()}, on_state_endpoint())
            lookups.append((time.perf_counter() - start) * 1000)
        rows.append(
            {
                "what": "uncached key lookup (once per key, process and 5 s)",
                "n": len(lookups),
                "lookup_median": statistics.median(lookups),
                "lookup_p95": percentile(lookups, 95),
            }
        )
        return rows
    finally:
        store.close()


def on_state_endpoint() -> Any:
    """The endpoint of a NGSI-LD read (what identification is told about the request)."""
    from calanque.auth.policy import classify

    return classify("GET", "/ngsi-ld/v1/entities", frozenset())


def main() -> None:
    """Parse the options, measure, print the figures against the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20_000, help="calls per variant for the middleware")
    parser.add_argument(
        "--app-iterations", type=int, default=3_000, help="calls per variant for the application"
    )
    args = parser.parse_args()
    info = machine()
    rows = asyncio.run(run(args.iterations, args.app_iterations))
    table = Table(title=f"What authorisation adds to a GET (target ≤ {TARGET_MS} ms)")
    for column in (
        "measure",
        "calls",
        "auth on: median / p95 ms",
        "auth off: median / p95 ms",
        "added: median / p95 ms",
        "paired median ms",
    ):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for r in rows:
        if "lookup_median" in r:
            table.add_row(
                r["what"], str(r["n"]), f"{r['lookup_median']:.3f} / {r['lookup_p95']:.3f}", "", "", ""
            )
            continue
        added_median, added_p95 = r["a_median"] - r["b_median"], r["a_p95"] - r["b_p95"]
        mark = (
            ""
            if r["what"].startswith("application, query")
            else (" ✓" if added_median <= TARGET_MS and added_p95 <= TARGET_MS else " ✗")
        )
        table.add_row(
            r["what"],
            str(r["n"]),
            f"{r['a_median']:.3f} / {r['a_p95']:.3f}",
            f"{r['b_median']:.3f} / {r['b_p95']:.3f}",
            f"{added_median:.3f} / {added_p95:.3f}{mark}",
            f"{r['paired']:.3f}",
        )
    console.print(table)
    info["load average after"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    for name, value in info.items():
        console.print(f"{name}: {value}")


if __name__ == "__main__":
    main()

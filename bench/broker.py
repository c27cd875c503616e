"""Benchmark of the Calanque NGSI-LD broker over HTTP, on SQLite and/or PostgreSQL.

Run with ``.venv/bin/python bench/broker.py [--backend sqlite|postgres|both] [--quick]``.

For each backend it starts a real server (``calanque serve`` under uvicorn, in a subprocess)
on a fresh data directory or a fresh PostgreSQL database (created here and dropped at the end),
then measures from this process:

* entity creations per second, one by one (``POST /entities``) and in batches of 100
  (``POST /entityOperations/create``), until the store holds the target number of entities;
* GET-by-id latency (p50, p99);
* latency of a type + ``q`` query with and without ``count=true`` over all entities;
* latency of an hourly ``avg`` temporal aggregation over 30 days of 1-minute data for 100
  entities.  That history is loaded directly through the store API (``Session.add_history``,
  the same call the broker makes), in the benchmark process, because pushing 4.32 M instances
  through JSON-LD parsing is a test of the parser, not of the aggregation.

The client is cheap on purpose: ``http.client`` keep-alive connections, one per thread, with a
small thread pool (4 threads for writes, 1 for latency measurements so that latencies are not
inflated by client-side queueing).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
API = "/ngsi-ld/v1"
TYPE = "NoiseLevelObserved"
SERIES_TYPE = "NoiseMonitor"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
TARGETS = {
    "single creations/s": (2_000, "≥"),
    "batch creations/s": (20_000, "≥"),
    "GET by id p50 (ms)": (2.0, "≤"),
    "GET by id p99 (ms)": (None, ""),
    "q query + count p50 (ms)": (50.0, "≤"),
    "q query + count p99 (ms)": (None, ""),
    "q query p50 (ms)": (50.0, "≤"),
    "q query p99 (ms)": (None, ""),
    "temporal hourly avg p50 (ms)": (500.0, "≤"),
    "temporal hourly avg p99 (ms)": (None, ""),
}

console = Console()


@dataclass
class Sizes:
    """How much work each phase does."""

    entities: int
    singles: int
    get_samples: int
    query_samples: int
    series_entities: int
    series_days: int
    temporal_samples: int


FULL = Sizes(entities=100_000, singles=10_000, get_samples=5_000, query_samples=30, series_entities=100,
             series_days=30, temporal_samples=5)
QUICK = Sizes(entities=10_000, singles=2_000, get_samples=1_000, query_samples=50, series_entities=10,
              series_days=30, temporal_samples=5)


@dataclass
class Results:
    """The figures measured for one backend."""

    backend: str
    figures: dict[str, float] = field(default_factory=dict)


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client:
    """A keep-alive HTTP/1.1 connection per thread to the broker under test."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            self._local.conn = conn
        return conn

    def request(self, method: str, path: str, body: object | None = None) -> tuple[int, bytes, dict[str, str]]:
        """Send one request and return (status, body, headers); reconnect once if the server closed."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                payload = resp.read()
                return resp.status, payload, {k.lower(): v for k, v in resp.getheaders()}
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def expect(self, status: int, method: str, path: str, body: object | None = None) -> bytes:
        """Send a request and fail loudly when the status is not the expected one."""
        got, payload, _ = self.request(method, path, body)
        if got != status:
            raise RuntimeError(f"{method} {path} answered {got}, expected {status}: {payload[:300]!r}")
        return payload


@contextmanager
def server(backend: str, workers: int) -> Iterator[tuple[Client, str | None, Path | None]]:
    """Start `calanque serve` on a fresh store; yield a client, the database URL and the data dir."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="calanque-bench-"))
    data_dir = tmp / "data"
    database_url = None
    dbname = f"calanque_bench_{os.getpid()}"
    if backend == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {dbname}")
            conn.execute(f"CREATE DATABASE {dbname}")
        database_url = f"postgresql://postgres@127.0.0.1:5432/{dbname}"
    cmd = [str(Path(sys.executable).parent / "calanque"), "serve", "--port", str(port), "--data-dir", str(data_dir),
           "--workers", str(workers), "--log-level", "warning", "--no-auth"]  # loopback benchmark, no keys
    if database_url:
        cmd += ["--database-url", database_url]
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    try:
        client = Client(port)
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.request("GET", f"{API}/types")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start; see {tmp / 'server.log'}:\n"
                                   + (tmp / "server.log").read_text(errors="replace")[-2000:])
            time.sleep(0.2)
        yield client, database_url, data_dir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if backend == "postgres":
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)


def entity(i: int, rng: random.Random) -> dict:
    """One NoiseLevelObserved entity in normalized NGSI-LD, with LAeq uniform in [40, 90)."""
    return {
        "id": f"urn:ngsi-ld:{TYPE}:bench-{i:06d}",
        "type": TYPE,
        "LAeq": {"type": "Property", "value": round(rng.uniform(40.0, 90.0), 2), "unitCode": "2N",
                 "observedAt": "2026-01-15T10:00:00Z"},
        "LAmax": {"type": "Property", "value": round(rng.uniform(50.0, 100.0), 2), "unitCode": "2N"},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [5.37 + rng.uniform(-0.05, 0.05),
                                                                43.29 + rng.uniform(-0.05, 0.05)]}},
    }


def progress() -> Progress:
    """A rich progress bar with a count and elapsed time."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def run_parallel(label: str, jobs: list[Callable[[], int]], threads: int) -> float:
    """Run jobs (each returning a number of items) on a thread pool; return items per second."""
    total_items = 0
    with progress() as bar, ThreadPoolExecutor(threads) as pool:
        task = bar.add_task(label, total=len(jobs))
        start = time.perf_counter()
        for n in pool.map(lambda job: job(), jobs):
            total_items += n
            bar.advance(task)
        elapsed = time.perf_counter() - start
    return total_items / elapsed


def timed(label: str, n: int, call: Callable[[int], None]) -> list[float]:
    """Call call(i) n times in sequence; return the latencies in milliseconds."""
    out = []
    with progress() as bar:
        task = bar.add_task(label, total=n)
        for i in range(n):
            start = time.perf_counter()
            call(i)
            out.append((time.perf_counter() - start) * 1000)
            bar.advance(task)
    return out


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest-rank on the sorted values)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def load_series(database_url: str | None, data_dir: Path, sizes: Sizes) -> int:
    """Write 1-minute LAeq history for the series entities through the store API; return rows written."""
    from calanque.ngsild.service import Broker  # noqa: F401 - the same package the server runs
    from calanque.store.base import HistoryRow, open_store

    store = open_store(database_url, str(data_dir))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    minutes = sizes.series_days * 24 * 60
    stamps = [(start + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%S.000000Z") for m in range(minutes)]
    rng = random.Random(7)
    attr = DEFAULT + "LAeq"
    written = 0
    try:
        with progress() as bar:
            task = bar.add_task("history rows (store API)", total=sizes.series_entities * minutes)
            for k in range(sizes.series_entities):
                entity_id = f"urn:ngsi-ld:{SERIES_TYPE}:series-{k:03d}"
                rows = [
                    HistoryRow(entity_id=entity_id, attr=attr,
                               instance={"type": "Property", "value": round(rng.uniform(40, 90), 1),
                                         "observedAt": ts, "createdAt": ts, "modifiedAt": ts},
                               instance_id=f"urn:ngsi-ld:attribute:instance:{k}-{m}", observed_at=ts,
                               created_at=ts, modified_at=ts)
                    for m, ts in enumerate(stamps)
                ]
                with store.session(write=True) as session:
                    session.add_history("", rows)
                    session.upsert_temporal_entities("", [{"id": entity_id, "type": [DEFAULT + SERIES_TYPE],
                                                           "createdAt": stamps[0], "modifiedAt": stamps[-1]}])
                written += len(rows)
                bar.advance(task, len(rows))
        if store.dialect == "postgres":
            with store.session() as session:
                session.conn.execute("ANALYZE")
        else:
            with store.session() as session:
                session.conn.execute("ANALYZE")
    finally:
        store.close()
    return written


def bench_backend(backend: str, sizes: Sizes, workers: int) -> Results:
    """Run every phase against one backend and return its figures."""
    console.rule(f"[bold]{backend}")
    res = Results(backend)
    rng = random.Random(42)
    with server(backend, workers) as (client, database_url, data_dir):
        # 1. single creations
        def create_one(i: int) -> Callable[[], int]:
            body = entity(i, random.Random(i))
            return lambda: (client.expect(201, "POST", f"{API}/entities", body), 1)[1]

        res.figures["single creations/s"] = run_parallel(
            "POST /entities", [create_one(i) for i in range(sizes.singles)], threads=4)

        # 2. batches of 100 up to the target size
        def create_batch(first: int) -> Callable[[], int]:
            bodies = [entity(i, random.Random(i)) for i in range(first, min(first + 100, sizes.entities))]
            return lambda: (client.expect(201, "POST", f"{API}/entityOperations/create", bodies), len(bodies))[1]

        res.figures["batch creations/s"] = run_parallel(
            "POST /entityOperations/create ×100",
            [create_batch(f) for f in range(sizes.singles, sizes.entities, 100)], threads=4)
        if backend == "postgres":
            import psycopg

            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("ANALYZE")

        # 3. GET by id
        ids = [f"urn:ngsi-ld:{TYPE}:bench-{rng.randrange(sizes.entities):06d}" for _ in range(sizes.get_samples)]
        lat = timed("GET /entities/{id}", sizes.get_samples, lambda i: client.expect(200, "GET", f"{API}/entities/{ids[i]}"))
        res.figures["GET by id p50 (ms)"] = pct(lat, 50)
        res.figures["GET by id p99 (ms)"] = pct(lat, 99)

        # 4. q queries (a different 1 dB band each time, so no cache can help)
        def q_path(i: int, count: bool) -> str:
            low = 40 + (i % 49)
            params = {"type": TYPE, "q": f"LAeq>{low};LAeq<{low + 1}", "limit": 20}
            if count:
                params["count"] = "true"
            return f"{API}/entities?{urlencode(params)}"

        status, body, headers = client.request("GET", q_path(30, True))
        matched = int(headers.get("ngsild-results-count", "-1"))
        if status != 200 or len(json.loads(body)) != 20 or not 0 < matched < sizes.entities:
            raise RuntimeError(f"the q query answered {status} with {matched} matches: {body[:300]!r}")
        console.print(f"q query LAeq>70;LAeq<71 matches {matched} of {sizes.entities} entities")
        lat = timed("GET /entities?type&q&count=true", sizes.query_samples,
                    lambda i: client.expect(200, "GET", q_path(i, True)))
        res.figures["q query + count p50 (ms)"] = pct(lat, 50)
        res.figures["q query + count p99 (ms)"] = pct(lat, 99)
        lat = timed("GET /entities?type&q", sizes.query_samples,
                    lambda i: client.expect(200, "GET", q_path(i, False)))
        res.figures["q query p50 (ms)"] = pct(lat, 50)
        res.figures["q query p99 (ms)"] = pct(lat, 99)

        # 5. temporal aggregation
        t0 = time.perf_counter()
        rows = load_series(database_url, data_dir, sizes)
        console.print(f"loaded {rows:,} history rows in {time.perf_counter() - t0:.1f} s "
                      f"({rows / (time.perf_counter() - t0):,.0f} rows/s through the store API)")
        params = {"type": SERIES_TYPE, "attrs": "LAeq", "options": "aggregatedValues", "aggrMethods": "avg",
                  "aggrPeriodDuration": "PT1H", "timerel": "between", "timeAt": "2026-01-01T00:00:00Z",
                  "endTimeAt": (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=sizes.series_days)
                                ).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "limit": sizes.series_entities}
        path = f"{API}/temporal/entities?{urlencode(params)}"
        answer = json.loads(client.expect(200, "GET", path))
        buckets = answer[0]["LAeq"]["avg"] if answer else []
        if len(answer) != sizes.series_entities or len(buckets) != sizes.series_days * 24:
            raise RuntimeError(f"the aggregation answered {len(answer)} entities × {len(buckets)} buckets, expected "
                               f"{sizes.series_entities} × {sizes.series_days * 24}")
        lat = timed("GET /temporal/entities aggregatedValues", sizes.temporal_samples,
                    lambda i: client.expect(200, "GET", path))
        res.figures["temporal hourly avg p50 (ms)"] = pct(lat, 50)
        res.figures["temporal hourly avg p99 (ms)"] = pct(lat, 99)
    return res


def machine() -> dict[str, str]:
    """Describe the machine and the software versions."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                  if ln.startswith("MemTotal"))
    info = {"cpus": str(os.cpu_count()), "cpu": cpu, "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
            "load average (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    except Exception as err:  # noqa: BLE001 - only informative
        info["postgresql"] = f"unavailable ({err.__class__.__name__})"
    return info


def report(results: list[Results]) -> None:
    """Print the figures of every backend against the targets."""
    table = Table(title="Calanque broker benchmark")
    table.add_column("measure")
    table.add_column("target", justify="right")
    for r in results:
        table.add_column(r.backend, justify="right")
    for name, (target, sense) in TARGETS.items():
        cells = []
        for r in results:
            value = r.figures.get(name)
            if value is None:
                cells.append("-")
                continue
            ok = target is None or (value >= target if sense == "≥" else value <= target)
            text = f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
            cells.append(text if ok else f"[red]{text}[/red]")
        table.add_row(name, f"{sense} {target:,}" if target else "", *cells)
    console.print(table)
    console.print(json.dumps({r.backend: {k: round(v, 3) for k, v in r.figures.items()} for r in results}))


def main() -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="10 000 entities and 10 series: a smoke run")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    console.print(machine())
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results = [bench_backend(b, sizes, args.workers) for b in backends]
    report(results)


if __name__ == "__main__":
    main()

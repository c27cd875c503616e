"""Sustained MQTT ingest benchmark: from MQTT publish to stored history, in uplinks per second.

Run with ``.venv/bin/python bench/ingest.py [--backend sqlite|postgres|both] [--workers 1,2]
[--uplinks N] [--devices N]``.

For each backend and each worker count it:

1. creates a fresh store (SQLite file, or a PostgreSQL database created here and dropped at the
   end) and registers ``--devices`` Milesight WS302 noise sensors on ChirpStack, each mapping
   3 measurements (LAF, LAeq, LAmax) to 3 attributes;
2. starts a private Mosquitto broker (calanque.devtools.mosquitto) and the ingest workers as
   separate processes (``calanque ingest`` with an MQTT v5 shared subscription);
3. publishes ``--uplinks`` ChirpStack ``up`` events at QoS 1 from this process, as fast as the
   broker accepts them, and waits until every uplink's 3 history rows are stored;
4. reports uplinks/s from the first publish to the last stored row, the CPU time of the worker
   processes per uplink (user + system, from /proc), and the whole machine's CPU time per uplink
   (broker, database and publisher included).

Everything shares the same cores: the publisher stands in for the network server.
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import psycopg
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from calanque.devices import repository as repo
from calanque.devices.models import DeviceConfig
from calanque.devtools.mosquitto import start_mosquitto
from calanque.store.base import open_store
from calanque.usecases.common import term_iri

PG_ADMIN = os.environ.get("CALANQUE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
APP_ID = "0f3a2b4c-1d2e-4f50-8a9b-0c1d2e3f4a5b"
LAEQ = term_iri("LAeq")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def ws302(leq_tenths: int) -> bytes:
    """A WS302 sound-level frame (fPort 85): L = Leq, Lmax = Leq + 10 dB."""
    def le16(v: int) -> str:
        return v.to_bytes(2, "little").hex()
    return bytes.fromhex(f"055b05{le16(leq_tenths)}{le16(leq_tenths)}{le16(leq_tenths + 100)}")


def device(eui: str) -> DeviceConfig:
    """A noise sensor whose 3 decoded levels feed 3 attributes."""
    return DeviceConfig.model_validate({
        "id": eui, "name": f"bench-{eui[-4:]}", "deviceModel": "Milesight WS302", "codec": "milesight-ws302",
        "entityId": f"urn:ngsi-ld:NoiseLevelObserved:bench-{eui[-6:]}", "entityType": "NoiseLevelObserved",
        "mapping": {"LAF": {"attribute": "LAS", "unitCode": "2N"}, "LAeq": {"attribute": "LAeq", "unitCode": "2N"},
                    "LAmax": {"attribute": "LAmax", "unitCode": "2N"}},
        "network": "chirpstack", "chirpstackApplicationId": APP_ID,
    })


def messages(euis: list[str], count: int) -> list[tuple[str, bytes]]:
    """``count`` ChirpStack up events spread round-robin over the devices, 1 minute apart per device."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for n in range(count):
        eui = euis[n % len(euis)]
        cycle = n // len(euis)
        at = (start + timedelta(minutes=cycle)).isoformat().replace("+00:00", "Z")
        body = {
            "deduplicationId": str(uuid.uuid4()), "time": at,
            "deviceInfo": {"applicationId": APP_ID, "devEui": eui, "deviceName": f"bench-{eui[-4:]}"},
            "fCnt": cycle + 1, "fPort": 85, "data": base64.b64encode(ws302(450 + n % 300)).decode(),
            "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -90, "snr": 8.0, "gwTime": at}],
        }
        out.append((f"application/{APP_ID}/device/{eui}/event/up", orjson.dumps(body)))
    return out


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_cpu() -> float:
    """CPU seconds spent by the whole machine (all cores, all states but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    busy = sum(values) - values[3] - values[4]
    return busy / CLK_TCK


def database_cpu(store_url: str | None) -> float:
    """CPU seconds of the PostgreSQL backends serving the bench database (0 for SQLite: in-process)."""
    if not store_url:
        return 0.0
    with psycopg.connect(store_url) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    total = 0.0
    for pid in pids:
        try:
            total += proc_cpu(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def count_rows(store_url: str | None, data_dir: Path) -> int:
    """History rows stored so far (read with a plain connection, outside the workers)."""
    if store_url:
        with psycopg.connect(store_url) as conn:
            return conn.execute("SELECT count(*) FROM attr_history").fetchone()[0]
    import sqlite3

    with sqlite3.connect(data_dir / "calanque.db", timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM attr_history").fetchone()[0]


def run_case(backend: str, workers: int, uplinks: int, devices: int) -> dict:
    """One measurement; returns the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="calanque-bench-ingest-"))
    data_dir = tmp / "data"
    pg_url = None
    if backend == "postgres":
        name = f"calanque_bench_ingest_{os.getpid()}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        pg_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    store = open_store(pg_url, str(data_dir))
    euis = [f"70b3d57e{i:08x}" for i in range(devices)]
    with store.session(write=True) as s:
        for eui in euis:
            repo.create_device(s, "", device(eui))
    store.close()
    broker = start_mosquitto()
    procs = []
    try:
        for w in range(workers):
            cmd = [sys.executable, "-m", "calanque.cli", "ingest", "--mqtt", broker.url, "--connector", "chirpstack",
                   "--client-id", f"bench-{w}", "--shared-group", "bench", "--batch-size", "2000",
                   "--batch-wait", "0.1"]
            cmd += ["--database-url", pg_url] if pg_url else ["--data-dir", str(data_dir)]
            procs.append(subprocess.Popen(cmd, stdout=(tmp / f"worker{w}.log").open("w"), stderr=subprocess.STDOUT))
        batch = messages(euis, uplinks)
        gc.freeze()  # the publisher's 60 000 prepared messages stay out of its garbage collections
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        # wait for every worker's shared subscription: probe uplinks until one lands per worker is not
        # observable from outside, so wait for the first stored probe and then one more second
        probe_topic, probe = batch[0]
        deadline = time.monotonic() + 60
        while count_rows(pg_url, data_dir) == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start; see {tmp}")
            client.publish(probe_topic, probe, qos=1).wait_for_publish(10)
            time.sleep(0.3)
        time.sleep(1.0)
        base_rows = count_rows(pg_url, data_dir)
        target = base_rows + 3 * (len(batch) - 1)
        cpu0 = sum(proc_cpu(p.pid) for p in procs)
        own0, broker0 = proc_cpu(os.getpid()), proc_cpu(broker.proc.pid)
        db0 = database_cpu(pg_url)
        machine0 = machine_cpu()
        started = time.perf_counter()

        def publish() -> None:
            infos = [client.publish(t, m, qos=1) for t, m in batch[1:]]
            for info in infos:
                info.wait_for_publish(60)

        publisher = threading.Thread(target=publish)
        publisher.start()
        with Progress(TextColumn(f"{backend} × {workers} worker(s)"), BarColumn(), TextColumn("{task.completed:,}/"
                      "{task.total:,} rows"), TimeElapsedColumn()) as progress:
            task = progress.add_task("rows", total=target - base_rows)
            while True:
                rows = count_rows(pg_url, data_dir)
                progress.update(task, completed=rows - base_rows)
                if rows >= target:
                    break
                if any(p.poll() is not None for p in procs):
                    raise RuntimeError(f"a worker exited; see {tmp}")
                # counting rows costs the server CPU: poll slowly until the end is near
                time.sleep(0.05 if rows - base_rows > 0.9 * (target - base_rows) else 0.5)
        elapsed = time.perf_counter() - started
        publisher.join()
        cpu = sum(proc_cpu(p.pid) for p in procs) - cpu0
        machine = machine_cpu() - machine0
        own, broker_cpu = proc_cpu(os.getpid()) - own0, proc_cpu(broker.proc.pid) - broker0
        db = database_cpu(pg_url) - db0
        client.disconnect()
        n = len(batch) - 1
        return {"backend": backend, "workers": workers, "uplinks": n, "devices": devices,
                "seconds": elapsed, "uplinks_per_s": n / elapsed, "worker_cpu_ms_per_uplink": 1000 * cpu / n,
                "machine_cpu_ms_per_uplink": 1000 * machine / n,
                "publisher_cpu_ms_per_uplink": 1000 * own / n, "database_cpu_ms_per_uplink": 1000 * db / n, "broker_cpu_ms_per_uplink": 1000 * broker_cpu / n,
                "load": os.getloadavg()[0]}
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()
        if pg_url:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_url.rsplit("/", 1)[1]}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    """Parse options, run every case, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--uplinks", type=int, default=60_000, help="uplinks per case (default 60 000)")
    parser.add_argument("--devices", type=int, default=1_000, help="registered devices (default 1 000)")
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    counts = [int(w) for w in args.workers.split(",")]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    results = [run_case(b, w, args.uplinks, args.devices) for b in backends for w in counts]
    print(f"\n{'backend':<10} {'workers':>7} {'uplinks':>8} {'seconds':>8} {'uplinks/s':>10} "
          f"{'CPU ms/uplink: workers':>22} {'database':>9} {'publisher':>9} {'Mosquitto':>9} {'machine':>8} {'load':>5}")
    for r in results:
        print(f"{r['backend']:<10} {r['workers']:>7} {r['uplinks']:>8} {r['seconds']:>8.1f} {r['uplinks_per_s']:>10.0f} "
              f"{r['worker_cpu_ms_per_uplink']:>22.3f} {r['database_cpu_ms_per_uplink']:>9.3f} "
              f"{r['publisher_cpu_ms_per_uplink']:>9.3f} "
              f"{r['broker_cpu_ms_per_uplink']:>9.3f} {r['machine_cpu_ms_per_uplink']:>8.3f} {r['load']:>5.1f}")
    print("database = the PostgreSQL backends serving the bench database (SQLite runs inside the workers); "
          "publisher = this process (publishing, polling the row count); machine = all CPU time spent on the "
          "machine during the run, whatever ran; load = 1-minute load average at the end of the case")


if __name__ == "__main__":
    main()

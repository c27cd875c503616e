"""`calanque demo` end to end: one command starts the API on SQLite and the simulated fleet feeds it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from calanque.cli import main
from calanque.devtools.mosquitto import free_port


def test_demo_serves_the_simulated_fleet(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    proc = subprocess.Popen([sys.executable, "-m", "calanque.cli", "demo", "--port", str(port), "--data-dir",
                             str(tmp_path / "data"), "--backfill", "1h", "--scale", "0.2"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=base, timeout=10) as client:
            while True:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "no noise history after 120 s:\n" + log.read_text()
                try:
                    found = client.get("/ngsi-ld/v1/entities", params={"type": "NoiseLevelObserved",
                                                                       "attrs": "LAeq", "limit": 100})
                except httpx.TransportError:
                    time.sleep(0.5)
                    continue
                with_level = [e for e in found.json() if "LAeq" in e] if found.status_code == 200 else []
                if with_level:
                    break
                time.sleep(0.5)
            entity_id = with_level[0]["id"]
            history = client.get(f"/ngsi-ld/v1/temporal/entities/{entity_id}", params={"attrs": "LAeq"})
            assert history.status_code == 200
            devices = client.get("/api/v1/devices", params={"limit": 500}).json()
            assert devices["total"] > 10 and any(d["lastSeen"] for d in devices["items"])
            assert client.get("/api/v1/deadletters").json()["total"] == 0
        text = log.read_text()
        assert f"{base}/docs" in text and "reporting" in text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, log.read_text()


def test_demo_refuses_a_non_loopback_address(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "loopback" in result.output

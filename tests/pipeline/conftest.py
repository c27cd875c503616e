"""A dedicated, real Mosquitto broker per test module, configured like a production broker for ingestion.

The machine's broker (127.0.0.1:1883) keeps its default limits (1 000 queued messages per offline
client); the ingestion tests start their own `mosquitto` process on a free port with no queue limit
and no persistence file, so each module starts from a clean broker. If the binary is missing the
fixture fails loudly (scripts/test installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest



class Mosquitto:
    """A mosquitto process listening on 127.0.0.1:<port>."""

    def __init__(self, port: int, proc: subprocess.Popen) -> None:
        self.port = port
        self.proc = proc
        self.url = f"mqtt://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """Start a private Mosquitto broker for the module."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.fail("mosquitto is not installed: run ./scripts/test, which installs it")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\n"
    )
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                proc.kill()
                pytest.fail(f"mosquitto did not start on port {port}: {err}")
            time.sleep(0.05)
    yield Mosquitto(port, proc)
    proc.terminate()
    proc.wait(timeout=10)

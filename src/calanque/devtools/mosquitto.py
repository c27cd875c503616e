"""Start a private Mosquitto broker, configured for ingestion, on a free port of 127.0.0.1.

Tests and benchmarks use it so that they start from an empty broker whatever the machine's own
broker holds, with the settings an ingestion deployment needs: no limit on the messages queued
for an offline persistent session (Mosquitto's default keeps 1 000) and no in-flight limit.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CONFIG = (
    "listener {port} 127.0.0.1\n"
    "allow_anonymous true\n"
    "persistence false\n"
    "max_queued_messages 0\n"
    "max_inflight_messages 0\n"
)


class MosquittoProcess:
    """A running mosquitto; ``url`` is mqtt://127.0.0.1:<port>."""

    def __init__(self, port: int, proc: subprocess.Popen, folder: Path) -> None:
        """Wrap a started broker process."""
        self.port = port
        self.proc = proc
        self.folder = folder
        self.url = f"mqtt://127.0.0.1:{port}"

    def stop(self) -> None:
        """Terminate the broker."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_mosquitto(timeout: float = 10.0) -> MosquittoProcess:
    """Start a broker and wait until it accepts connections; RuntimeError saying why if it cannot."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise RuntimeError("mosquitto is not installed (apt-get install -y mosquitto; ./scripts/test does it)")
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="calanque-mosquitto-"))
    conf = folder / "mosquitto.conf"
    conf.write_text(CONFIG.format(port=port))
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return MosquittoProcess(port, proc, folder)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None else "timed out"
                proc.kill()
                raise RuntimeError(f"mosquitto did not start on port {port}: {err}") from None
            time.sleep(0.05)

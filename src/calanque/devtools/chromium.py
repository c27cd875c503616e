"""Debian's Chromium for the browser tests and the UI benchmark, launched offline through Playwright."""

from __future__ import annotations

import shutil
from typing import Any

# Without the background-networking flags Chromium keeps trying to reach the internet (offline machines).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def launch_chromium(playwright: Any) -> Any:
    """Launch the system's headless Chromium with ``playwright``; a clear error when it is not installed."""
    executable = shutil.which("chromium")
    if not executable:
        raise RuntimeError("chromium is not installed: run ./scripts/test once, which installs it "
                           "(apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)

"""A dedicated, real Mosquitto broker per test module (see calanque.devtools.mosquitto).

The machine's broker (127.0.0.1:1883) keeps its default limits (1 000 queued messages per offline
client); the ingestion tests start their own `mosquitto` process on a free port with no queue
limit and no persistence, so each module starts from a clean broker. If it cannot start, the
fixture fails loudly (scripts/test installs mosquitto).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from calanque.devtools.mosquitto import MosquittoProcess, start_mosquitto


@pytest.fixture(scope="module")
def mosquitto() -> Iterator[MosquittoProcess]:
    """Start a private Mosquitto broker for the module."""
    try:
        broker = start_mosquitto()
    except RuntimeError as err:
        pytest.fail(str(err))
    yield broker
    broker.stop()

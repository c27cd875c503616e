"""GET /api/v1/live (server-sent events) and the store query behind it, on both backends.

The changes are found in the store, not in the memory of the process that wrote them: a second server
process (its own app, its own store connection, the same database) sees a write made through the first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from calanque.config import Settings
from calanque.ngsild.canonical import format_ts
from tests.conftest import LiveServer, free_port
from tests.web.test_map_api import asset, prop


@pytest.fixture
def root(api: httpx.Client) -> Iterator[httpx.Client]:
    """A client on the server root of the (emptied) backend under test."""
    base = str(api.base_url).removesuffix("/").removesuffix("/ngsi-ld/v1")
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client


def events(
    url: str,
    *,
    params: dict | None = None,
    headers: dict | None = None,
    until: Any,
    started: threading.Event | None = None,
    seconds: float = 20.0,
) -> list[tuple[str, Any, str | None]]:
    """Read (event, data, id) from an event stream until ``until(events)`` is true or time runs out."""
    got: list[tuple[str, Any, str | None]] = []
    deadline = time.monotonic() + seconds
    with (
        httpx.Client(timeout=seconds) as client,
        client.stream("GET", url, params=params, headers=headers) as answer,
    ):
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        name, data, event_id = None, None, None
        for line in answer.iter_lines():
            if started is not None and not started.is_set():
                started.set()
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = orjson.loads(line[6:])
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line == "" and name is not None:
                got.append((name, data, event_id))
                name, data, event_id = None, None, None
                if until(got):
                    break
            if time.monotonic() > deadline:
                break
    return got


def fill(api: httpx.Client, entity_id: str, level: float) -> None:
    """Change a container's fill now."""
    answer = api.patch(f"/entities/{entity_id}/attrs", json={"fillingLevel": prop(level, datetime.now(UTC))})
    assert answer.status_code == 204, answer.text


def test_store_lists_entities_changed_after_a_time(store: Any) -> None:
    def doc(n: int, at: str) -> dict:
        return {
            "id": f"urn:ngsi-ld:Thing:{n}",
            "type": ["https://example.org/Thing"],
            "createdAt": at,
            "modifiedAt": at,
            "attrs": {},
        }

    times = [
        "2026-11-25T10:00:00.000000Z",
        "2026-11-25T10:00:00.500000Z",
        "2026-11-25T10:00:01.000000Z",
        "2026-11-25T09:59:59.999999Z",
    ]
    with store.session(write=True) as s:
        s.insert_entities("", [doc(n, at) for n, at in enumerate(times)])
        s.insert_entities("other", [doc(9, times[2])])
    with store.session() as s:
        after = s.changed_entities("", "2026-11-25T10:00:00.000000Z", 10)
        assert [e["id"] for e in after] == [
            "urn:ngsi-ld:Thing:1",
            "urn:ngsi-ld:Thing:2",
        ]  # oldest change first
        assert [e["id"] for e in s.changed_entities("", "2026-11-25T09:00:00.000000Z", 2)] == [
            "urn:ngsi-ld:Thing:3",
            "urn:ngsi-ld:Thing:0",
        ]
        assert s.changed_entities("", times[2], 10) == []
    with store.session(write=True) as s:
        s.update_entities("", [doc(0, "2026-11-25T11:00:00.000000Z")], reindex=False)
    with store.session() as s:
        assert [e["id"] for e in s.changed_entities("", times[2], 10)] == ["urn:ngsi-ld:Thing:0"]


def test_a_change_is_pushed_with_its_map_state(api: httpx.Client, root: httpx.Client) -> None:
    now = datetime.now(UTC)
    target = "urn:ngsi-ld:WasteContainer:live-1"
    other = "urn:ngsi-ld:NoiseLevelObserved:live-2"
    answer = api.post(
        "/entityOperations/create",
        json=[
            asset(target, "WasteContainer", fillingLevel=prop(0.2, now)),
            asset(other, "NoiseLevelObserved"),
        ],
    )
    assert answer.status_code == 201, answer.text
    started = threading.Event()
    result: list = []
    reader = threading.Thread(
        target=lambda: result.append(
            events(
                f"{root.base_url}/api/v1/live",
                params={"types": "WasteContainer"},
                started=started,
                until=lambda got: any(
                    c["id"] == target and c["asset"]["level"] == "bad"
                    for n, d, _ in got
                    if n == "changes"
                    for c in d
                ),
            )
        )
    )
    reader.start()
    assert started.wait(10)
    fill(api, target, 0.99)
    api.patch(f"/entities/{other}/attrs", json={"LAeq": prop(80.0, datetime.now(UTC))})
    reader.join(30)
    got = result[0]
    changes = [c for n, d, _ in got if n == "changes" for c in d]
    last = [c for c in changes if c["id"] == target][-1]
    assert last["type"] == "WasteContainer" and last["asset"]["label"] == "Full ({fill} %): empty today"
    assert last["asset"]["attention"] is True and last["asset"]["params"] == {"fill": 99, "threshold": 80}
    assert all(c["id"] != other for c in changes)  # types=WasteContainer: the noise sensor is not sent
    assert all(event_id for n, _, event_id in got if n == "changes")


def test_a_reconnecting_page_gets_what_changed_meanwhile(api: httpx.Client, root: httpx.Client) -> None:
    before = format_ts(datetime.now(UTC) - timedelta(seconds=1))
    target = "urn:ngsi-ld:WasteContainer:resume"
    assert (
        api.post(
            "/entities", json=asset(target, "WasteContainer", fillingLevel=prop(0.9, datetime.now(UTC)))
        ).status_code
        == 201
    )
    got = events(
        f"{root.base_url}/api/v1/live",
        headers={"Last-Event-ID": before},
        until=lambda got: any(n == "changes" for n, _, _ in got),
    )
    first = next(d for n, d, _ in got if n == "changes")
    assert [c["id"] for c in first] == [target] and first[0]["asset"]["level"] == "high"


def test_another_server_process_sees_the_change(
    api: httpx.Client, root: httpx.Client, stores: dict, backend: str
) -> None:
    """A second app with its own store connection on the same database: only the store links them."""
    from calanque.app import create_app
    from calanque.store.postgres import PostgresStore
    from calanque.store.sqlite import SqliteStore

    shared = stores[backend]
    second_store = SqliteStore(shared.path) if backend == "sqlite" else PostgresStore(shared.url)
    port = free_port()
    second = LiveServer(
        create_app(Settings(data_dir=Path("/nonexistent"), port=port, auth=False), store=second_store), port
    ).start()
    try:
        target = "urn:ngsi-ld:WasteContainer:elsewhere"
        assert (
            api.post(
                "/entities", json=asset(target, "WasteContainer", fillingLevel=prop(0.1, datetime.now(UTC)))
            ).status_code
            == 201
        )
        started = threading.Event()
        result: list = []
        reader = threading.Thread(
            target=lambda: result.append(
                events(
                    f"{second.url}/api/v1/live",
                    params={"ids": target},
                    started=started,
                    until=lambda got: any(
                        n == "changes" and d[-1]["asset"]["level"] == "bad" for n, d, _ in got
                    ),
                )
            )
        )
        reader.start()
        assert started.wait(10)
        fill(api, target, 1.0)  # written through the first server
        reader.join(30)
        assert any(n == "changes" and d[-1]["asset"]["level"] == "bad" for n, d, _ in result[0])
    finally:
        second.stop()
        second_store.close()


def test_bad_parameters_are_refused(root: httpx.Client) -> None:
    answer = root.get("/api/v1/live", params={"tenant": "bad tenant!"})
    assert answer.status_code == 400 and "tenant" in answer.json()["detail"]
    answer = root.get("/api/v1/live", params={"ids": ",".join(f"urn:x:{n}" for n in range(501))})
    assert answer.status_code == 400 and "at most 500" in answer.json()["detail"]

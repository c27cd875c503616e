"""Dead letters: storage, listing, retry through a registered handler (API and CLI), on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from calanque.cli import main
from calanque.devices import deadletters as dl
from calanque.store.base import open_store

LETTERS = "/api/v1/deadletters"


class Pipeline:
    """A stand-in ingestion pipeline: accepts payloads except those containing b"bad", remembers what it saw."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, letter: dl.DeadLetter) -> None:
        self.seen.append(letter.id)
        if b"bad" in letter.raw():
            raise ValueError("payload still undecodable")


@pytest.fixture
def client(api: httpx.Client, backend: str, servers: dict) -> Iterator[httpx.Client]:
    """A client on the server root; the app's retry handler is removed afterwards."""
    state = servers[backend].server.config.app.app.state  # BodySizeLimit wraps the FastAPI app
    root = str(api.base_url).removesuffix("/").removesuffix("/ngsi-ld/v1")
    with httpx.Client(base_url=root, timeout=30) as c:
        yield c
    if hasattr(state, "deadletter_retry"):
        del state.deadletter_retry


def seed(store) -> list[int]:  # type: ignore[no-untyped-def]
    """Four dead letters (three in the default tenant); return their ids."""
    with store.session(write=True) as s:
        ids = [
            dl.add_dead_letter(s, tenant="", payload=b"\x01\x67\x00\xfa", connector="chirpstack",
                               topic="application/1/device/a84041/event/up", error_kind="decode",
                               reason="unknown channel 0x01", device_id="a840410000000001",
                               received_at=datetime(2025, 6, 1, 12, 0, tzinfo=UTC)).id,
            dl.add_dead_letter(s, tenant="", payload='{"bad": true}', connector="http",
                               topic="/ingest/http", error_kind="mapping", reason="no attribute for 'x'").id,
            dl.add_dead_letter(s, tenant="", payload=b'{"devEui": "0000000000000009"}', connector="chirpstack",
                               topic="application/1/device/09/event/up", error_kind="unknown_device",
                               reason="device 0000000000000009 is not registered").id,
            dl.add_dead_letter(s, tenant="ajaccio", payload="x", connector="tts", topic="v3/app/up",
                               error_kind="parse", reason="not JSON").id,
        ]
    return ids


def test_storage_and_listing(client: httpx.Client, store) -> None:  # type: ignore[no-untyped-def]
    binary, text, unknown, other = seed(store)
    first = client.get(f"{LETTERS}/{binary}").json()
    # 0x01 0x67 0x00 0xfa is not printable text: base64 of those 4 bytes is "AWcA+g=="
    assert (first["payload"], first["payloadEncoding"]) == ("AWcA+g==", "base64")
    assert first["receivedAt"].startswith("2025-06-01T12:00:00")
    assert (first["status"], first["attempts"], first["errorKind"]) == ("pending", 0, "decode")
    assert client.get(f"{LETTERS}/{text}").json()["payload"] == '{"bad": true}'

    page = client.get(LETTERS).json()
    assert [d["id"] for d in page["items"]] == [binary, text, unknown] and page["total"] == 3
    assert [d["id"] for d in client.get(LETTERS, params={"errorKind": "unknown_device"}).json()["items"]] == [unknown]
    assert client.get(LETTERS, params={"connector": "chirpstack", "limit": 1, "offset": 1}).json()["items"][0][
        "id"] == unknown
    assert client.get(LETTERS, params={"deviceId": "a840410000000001"}).json()["total"] == 1
    assert client.get(f"{LETTERS}/{other}").status_code == 404  # belongs to another tenant
    assert client.get(f"{LETTERS}/{other}", headers={"NGSILD-Tenant": "ajaccio"}).status_code == 200
    assert client.get(LETTERS, params={"errorKind": "cosmic"}).status_code == 400
    with store.session(write=True) as s, pytest.raises(ValueError, match="unknown error kind 'oops'"):
        dl.add_dead_letter(s, tenant="", payload="", connector="c", topic="t", error_kind="oops", reason="r")


def test_retry_lifecycle_through_the_api(client: httpx.Client, store, backend: str, servers: dict) -> None:  # type: ignore[no-untyped-def]
    binary, text, unknown, other = seed(store)
    state = _fastapi_state(servers[backend].server.config.app)
    # the app's own handler is the ingestion pipeline: these seeded letters carry topics that are not
    # ChirpStack device topics, so a real retry fails again and says why
    real = client.post(f"{LETTERS}/{binary}/retry").json()
    assert (real["status"], real["attempts"]) == ("retried", 1) and "EUI-64" in real["lastError"]
    with store.session(write=True) as s:  # back to a fresh letter for the lifecycle below
        s._exec("UPDATE dead_letters SET status = 'pending', attempts = 0, last_error = NULL, "
                "last_attempt_at = NULL WHERE id = ?", (binary,))

    pipeline = Pipeline()
    original, state.deadletter_retry = state.deadletter_retry, pipeline
    try:
        _lifecycle(client, pipeline, binary, text, unknown, other)
    finally:
        state.deadletter_retry = original
    del state.deadletter_retry
    assert client.post(f"{LETTERS}/{binary}/retry").status_code == 503  # no pipeline: a clear 503
    state.deadletter_retry = original


def _fastapi_state(app: object) -> object:
    """The FastAPI app's state under the ASGI wrappers (body limit, authentication)."""
    from fastapi import FastAPI

    while not isinstance(app, FastAPI):
        app = app.app  # type: ignore[attr-defined]
    return app.state


def _lifecycle(client: httpx.Client, pipeline: Pipeline, binary: int, text: int, unknown: int, other: int) -> None:
    """Retry one by one, in bulk and by ids through ``pipeline``."""

    ok = client.post(f"{LETTERS}/{binary}/retry").json()
    assert (ok["status"], ok["attempts"], ok["lastError"]) == ("resolved", 1, None)
    failed = client.post(f"{LETTERS}/{text}/retry").json()
    assert (failed["status"], failed["attempts"]) == ("retried", 1)
    assert failed["lastError"] == "ValueError: payload still undecodable"
    assert client.post(f"{LETTERS}/{other}/retry").status_code == 404

    bulk = client.post(f"{LETTERS}/retry", json={"all": True})
    assert bulk.status_code == 200, bulk.text
    # unresolved: text (retried) and unknown (pending); the resolved one is left alone
    assert bulk.json() == {"attempted": 2, "resolved": 1, "failed": [
        {"id": text, "error": "ValueError: payload still undecodable"}], "notFound": []}
    assert pipeline.seen == [binary, text, unknown, text]
    by_ids = client.post(f"{LETTERS}/retry", json={"ids": [text, 999999]}).json()
    assert (by_ids["attempted"], by_ids["notFound"]) == (1, [999999])
    assert client.get(f"{LETTERS}/{text}").json()["attempts"] == 3
    assert client.get(LETTERS, params={"status": "resolved"}).json()["total"] == 2

    neither = client.post(f"{LETTERS}/retry", json={})
    assert neither.status_code == 400 and "either 'ids'" in neither.json()["detail"]


def test_cli_list_and_retry(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    store = open_store(None, str(tmp_path / "data"))
    try:
        binary, text, unknown, _ = seed(store)
    finally:
        store.close()
    runner = CliRunner()
    listed = runner.invoke(main, ["deadletter", "list", *data, "--kind", "decode"])
    assert listed.exit_code == 0
    assert listed.stdout.startswith(f"{binary}\t2025-06-01T12:00:00+00:00\tpending\t0\tdecode\tchirpstack")

    # without a registered handler the CLI retries through the real ingestion pipeline: these seeded
    # letters carry topics that are not ChirpStack device topics, so they fail again with the parse reason
    real = runner.invoke(main, ["deadletter", "retry", "--all", *data])
    assert real.exit_code == 1 and "3 retried, 0 resolved, 3 failed" in real.output
    assert "must be an EUI-64 of 16 hex digits" in real.output
    assert runner.invoke(main, ["deadletter", "retry", *data]).exit_code == 2  # neither ids nor --all

    pipeline = Pipeline()
    dl.register_retry_handler(lambda _store: pipeline)
    try:
        one = runner.invoke(main, ["deadletter", "retry", str(binary), *data])
        assert one.exit_code == 0 and "1 retried, 1 resolved, 0 failed" in one.stdout
        rest = runner.invoke(main, ["deadletter", "retry", "--all", *data])
        assert rest.exit_code == 1  # the "bad" payload still fails
        assert f"{text}: still failing: ValueError: payload still undecodable" in rest.stderr
        assert "2 retried, 1 resolved, 1 failed" in rest.stdout
        missing = runner.invoke(main, ["deadletter", "retry", "424242", *data])
        assert missing.exit_code != 0 and "no dead letter 424242" in missing.output
    finally:
        dl.register_retry_handler(None)
    assert pipeline.seen == [binary, text, unknown]
    statuses = runner.invoke(main, ["deadletter", "list", *data, "--status", "resolved"])
    assert [line.split("\t")[0] for line in statuses.stdout.splitlines()] == [str(binary), str(unknown)]

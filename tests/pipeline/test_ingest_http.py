"""End-to-end HTTP ingestion against the live server (SQLite and PostgreSQL): every connector,
duplicates, out-of-order uplinks, dead letters and their retry, integration keys.

Payloads are encoded by hand from the device documentation (see tests/field), so the stored
values are checked against independent numbers.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.pipeline import helpers
from tests.pipeline.helpers import APP_ID, WS302_FRAME, WS302_QUIET

NOISE_ENTITY = "urn:ngsi-ld:NoiseLevelObserved:vieux-port"
DEV_EUI = "70b3d57ed005a1b2"
LAEQ = "LAeq"


@pytest.fixture
def client(api: httpx.Client) -> Iterator[httpx.Client]:
    """A client on the server root of the (emptied) backend under test."""
    root = str(api.base_url).removesuffix("/").removesuffix("/ngsi-ld/v1")
    with httpx.Client(base_url=root, timeout=30) as c:
        yield c


def integration(client: httpx.Client, kind: str, name: str | None = None) -> dict[str, str]:
    """Create an integration and return the header carrying its key."""
    r = client.post("/api/v1/integrations", json={"name": name or f"{kind}-test", "kind": kind})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    assert key.startswith("clq_") and r.json()["keyPrefix"] == key[:10]
    return {"X-Calanque-Key": key}


def noise_device(client: httpx.Client, network: str = "chirpstack", **changes: object) -> None:
    """Register the WS302 noise sensor feeding NOISE_ENTITY."""
    body: dict = {
        "id": DEV_EUI, "name": "ws302-vieux-port", "deviceModel": "Milesight WS302", "codec": "milesight-ws302",
        "entityId": NOISE_ENTITY, "entityType": "NoiseLevelObserved",
        "mapping": {"LAeq": {"attribute": "LAeq", "unitCode": "2N"},
                    "LAmax": {"attribute": "LAmax", "unitCode": "2N"}},
        "location": {"lon": 5.3698, "lat": 43.2951}, "commune": "13055", "network": network,
        "chirpstackApplicationId": APP_ID if network == "chirpstack" else None,
        "ttsApplicationId": "calanque-noise" if network == "tts" else None,
    }
    body.update(changes)
    r = client.post("/api/v1/devices", json={k: v for k, v in body.items() if v is not None})
    assert r.status_code == 201, r.text


def chirpstack_up(frame: bytes, f_cnt: int, at: datetime, dedup: str | None = None, rssi: float = -97.0,
                  f_port: int = 85, dev_eui: str = DEV_EUI) -> dict:
    """A ChirpStack v4 `up` event of the test's noise sensor."""
    return helpers.chirpstack_up(frame, f_cnt, at, dev_eui, dedup, rssi, f_port)


def entity(client: httpx.Client, entity_id: str = NOISE_ENTITY) -> dict:
    """The entity in normalized form."""
    r = client.get(f"/ngsi-ld/v1/entities/{entity_id}")
    assert r.status_code == 200, r.text
    return r.json()


def history(client: httpx.Client, attr: str, entity_id: str = NOISE_ENTITY) -> list[tuple[str, float]]:
    """(observedAt, value) of every stored instance of an attribute, oldest first."""
    r = client.get(f"/ngsi-ld/v1/temporal/entities/{entity_id}", params={"attrs": attr})
    assert r.status_code == 200, r.text
    instances = r.json().get(attr, [])
    if isinstance(instances, dict):
        instances = [instances]
    return sorted((i["observedAt"], i["value"]) for i in instances)


T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_chirpstack_uplink_updates_entity_history_and_device(client: httpx.Client) -> None:
    noise_device(client)
    key = integration(client, "chirpstack")
    r = client.post("/api/v1/ingest/chirpstack", params={"event": "up"}, headers=key,
                    json=chirpstack_up(WS302_FRAME, 7, T0))
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "stored", "deviceId": DEV_EUI, "entityId": NOISE_ENTITY}

    doc = entity(client)
    assert doc["type"] == "NoiseLevelObserved"
    assert doc["LAeq"]["value"] == 61.0 and doc["LAeq"]["unitCode"] == "2N"
    assert doc["LAeq"]["observedAt"] == "2026-11-24T08:00:00.000000Z"
    assert doc["LAmax"]["value"] == 75.5
    assert doc["location"]["value"] == {"type": "Point", "coordinates": [5.3698, 43.2951]}
    assert history(client, LAEQ) == [("2026-11-24T08:00:00.000000Z", 61.0)]

    device = client.get(f"/api/v1/devices/{DEV_EUI}").json()
    assert device["lastFcnt"] == 7 and device["rssi"] == -97.0 and device["snr"] == 7.5
    assert device["battery"] == pytest.approx(0.9) and device["gateways"] == 1
    assert device["lastSeen"].startswith("2026-11-24T08:00:00")

    status = client.post("/api/v1/ingest/chirpstack", params={"event": "status"}, headers=key, json={
        "deduplicationId": str(uuid.uuid4()), "time": "2026-11-24T09:00:00Z",
        "deviceInfo": {"applicationId": APP_ID, "devEui": DEV_EUI}, "margin": 7,
        "externalPowerSource": False, "batteryLevel": 41.5})
    assert status.status_code == 202 and status.json()["status"] == "event"
    device = client.get(f"/api/v1/devices/{DEV_EUI}").json()
    assert device["battery"] == pytest.approx(0.415)
    assert device["lastSeen"].startswith("2026-11-24T09:00:00")


def test_duplicates_are_stored_once(client: httpx.Client) -> None:
    noise_device(client)
    key = integration(client, "chirpstack")
    message = chirpstack_up(WS302_FRAME, 8, T0)
    first = client.post("/api/v1/ingest/chirpstack", params={"event": "up"}, headers=key, json=message)
    again = client.post("/api/v1/ingest/chirpstack", params={"event": "up"}, headers=key, json=message)
    # the same frame forwarded by a second integration: another deduplicationId, same DevEUI + fCnt + time
    other_gateway = chirpstack_up(WS302_FRAME, 8, T0 + timedelta(milliseconds=40), rssi=-110)
    third = client.post("/api/v1/ingest/chirpstack", params={"event": "up"}, headers=key, json=other_gateway)
    assert (first.status_code, again.status_code, third.status_code) == (202, 200, 200)
    assert again.json()["status"] == "duplicate" and third.json()["status"] == "duplicate"
    assert history(client, LAEQ) == [("2026-11-24T08:00:00.000000Z", 61.0)]
    # a counter reset (device rejoined) reuses fCnt 8 much later: a new uplink, not a duplicate
    later = client.post("/api/v1/ingest/chirpstack", params={"event": "up"}, headers=key,
                        json=chirpstack_up(WS302_QUIET, 8, T0 + timedelta(hours=3)))
    assert later.json()["status"] == "stored"
    assert len(history(client, LAEQ)) == 2


def test_late_uplink_lands_in_history_without_overwriting_newer_value(client: httpx.Client) -> None:
    noise_device(client)
    key = integration(client, "chirpstack")
    newer = chirpstack_up(WS302_QUIET, 11, T0 + timedelta(minutes=10))
    older = chirpstack_up(WS302_FRAME, 10, T0)
    for message in (newer, older):
        assert client.post("/api/v1/ingest/chirpstack", params={"event": "up"}, headers=key,
                           json=message).json()["status"] == "stored"
    doc = entity(client)
    assert doc["LAeq"]["value"] == 55.0 and doc["LAeq"]["observedAt"] == "2026-11-24T08:10:00.000000Z"
    assert history(client, LAEQ) == [("2026-11-24T08:00:00.000000Z", 61.0), ("2026-11-24T08:10:00.000000Z", 55.0)]
    assert client.get(f"/api/v1/devices/{DEV_EUI}").json()["lastFcnt"] == 11


def test_dead_letters_keep_the_message_and_retry_after_the_fix(client: httpx.Client) -> None:
    key = integration(client, "chirpstack")
    unknown = client.post("/api/v1/ingest/chirpstack", params={"event": "up"}, headers=key,
                          json=chirpstack_up(WS302_FRAME, 1, T0))
    assert unknown.status_code == 202
    body = unknown.json()
    assert body["status"] == "dead-letter" and body["errorKind"] == "unknown_device"
    assert DEV_EUI in body["reason"]

    garbage = client.post("/api/v1/ingest/chirpstack", params={"event": "up"}, headers=key,
                          content=b'{"deviceInfo": ')
    assert garbage.status_code == 400 and "cannot be parsed" in garbage.json()["detail"]

    noise_device(client)
    truncated = client.post("/api/v1/ingest/chirpstack", params={"event": "up"}, headers=key,
                            json=chirpstack_up(WS302_FRAME[:7], 2, T0 + timedelta(minutes=5)))
    assert truncated.json()["errorKind"] == "decode" and "truncated" in truncated.json()["reason"]

    letters = client.get("/api/v1/deadletters").json()["items"]
    kinds = sorted(d["errorKind"] for d in letters)
    assert kinds == ["decode", "parse", "unknown_device"]

    # the device is registered now: the unknown-device letter goes through on retry
    retried = client.post(f"/api/v1/deadletters/{body['deadLetterId']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "resolved"
    assert history(client, LAEQ) == [("2026-11-24T08:00:00.000000Z", 61.0)]
    # retrying the same letter again does not store it twice (dedup)
    client.post(f"/api/v1/deadletters/{body['deadLetterId']}/retry")
    assert history(client, LAEQ) == [("2026-11-24T08:00:00.000000Z", 61.0)]


def test_tts_webhook_uplink(client: httpx.Client) -> None:
    noise_device(client, network="tts")
    key = integration(client, "tts")
    message = {
        "end_device_ids": {"device_id": "ws302-vieux-port", "application_ids": {"application_id": "calanque-noise"},
                           "dev_eui": DEV_EUI.upper()},
        "correlation_ids": ["as:up:01HZZZZZZZZZZZZZZZZZZZZZZZ", "gs:uplink:01HZZZZZZZZZZZZZZZZZZZZZZY"],
        "received_at": "2026-11-24T08:00:01.2Z",
        "uplink_message": {"f_port": 85, "f_cnt": 3, "frm_payload": base64.b64encode(WS302_FRAME).decode(),
                           "rx_metadata": [{"gateway_ids": {"gateway_id": "gw-marseille-1"}, "rssi": -88,
                                            "snr": 9.0, "time": "2026-11-24T08:00:00Z"}],
                           "received_at": "2026-11-24T08:00:00.9Z"},
    }
    r = client.post("/api/v1/ingest/tts", headers=key, json=message)
    assert r.status_code == 202 and r.json()["status"] == "stored", r.text
    assert client.post("/api/v1/ingest/tts", headers=key, json=message).json()["status"] == "duplicate"
    assert history(client, LAEQ) == [("2026-11-24T08:00:00.000000Z", 61.0)]
    assert client.get(f"/api/v1/devices/{DEV_EUI}").json()["rssi"] == -88


def test_tts_decoded_payload_is_used_when_present(client: httpx.Client) -> None:
    noise_device(client, network="tts")
    key = integration(client, "tts")
    message = {
        "end_device_ids": {"device_id": "ws302-vieux-port", "application_ids": {"application_id": "calanque-noise"},
                           "dev_eui": DEV_EUI},
        "correlation_ids": ["as:up:01HAAAAAAAAAAAAAAAAAAAAAAA"],
        "uplink_message": {"f_port": 85, "f_cnt": 4, "frm_payload": "AAAA",  # not a WS302 frame: unused
                           "decoded_payload": {"LAeq": 48.2, "LAmax": 52.0},
                           "received_at": "2026-11-24T23:00:00Z"},
    }
    assert client.post("/api/v1/ingest/tts", headers=key, json=message).json()["status"] == "stored"
    assert history(client, LAEQ) == [("2026-11-24T23:00:00.000000Z", 48.2)]


def test_generic_http_push_and_key_checks(client: httpx.Client) -> None:
    r = client.post("/api/v1/devices", json={
        "id": "wq-huveaune-1", "name": "Sonde qualité Huveaune", "deviceModel": "multi-parameter probe",
        "codec": "json", "entityId": "urn:ngsi-ld:WaterQualityObserved:huveaune-1",
        "entityType": "WaterQualityObserved", "network": "http",
        "mapping": {"pH": {"attribute": "pH", "unitCode": "C62"}, "O2": {"attribute": "O2", "unitCode": "M1"},
                    "temp": {"attribute": "temperature", "unitCode": "CEL"}}})
    assert r.status_code == 201, r.text
    key = integration(client, "http")
    push = {"device": "wq-huveaune-1", "observedAt": "2026-11-24T10:15:00Z",
            "measurements": {"pH": 7.9, "O2": 8.4, "temp": 12.5, "unmapped": 1}}
    assert client.post("/api/v1/ingest/http", json=push).status_code == 401
    assert client.post("/api/v1/ingest/http", json=push, headers={"X-Calanque-Key": "clq_nope"}).status_code == 401
    wrong_kind = integration(client, "chirpstack", name="cs")
    denied = client.post("/api/v1/ingest/http", json=push, headers=wrong_kind)
    assert denied.status_code == 401 and "kind 'chirpstack'" in denied.json()["detail"]
    ok = client.post("/api/v1/ingest/http", json=push, headers={"Authorization": f"Bearer {key['X-Calanque-Key']}"})
    assert ok.status_code == 202 and ok.json()["status"] == "stored", ok.text
    doc = entity(client, "urn:ngsi-ld:WaterQualityObserved:huveaune-1")
    assert doc["pH"]["value"] == 7.9 and doc["O2"]["unitCode"] == "M1" and doc["temperature"]["value"] == 12.5
    assert "unmapped" not in doc
    # the same message again (same device and written time) is a duplicate
    assert client.post("/api/v1/ingest/http", json=push, headers=key).json()["status"] == "duplicate"
    listed = client.get("/api/v1/integrations").json()
    assert sorted(i["name"] for i in listed) == ["cs", "http-test"] and all("key" not in i for i in listed)
    assert client.delete("/api/v1/integrations/http-test").status_code == 204
    assert client.post("/api/v1/ingest/http", json=push, headers=key).status_code == 401


def test_bad_bodies_are_4xx(client: httpx.Client) -> None:
    key = integration(client, "http")
    for body in (b"", b"[]", b'{"device": 3, "measurements": {}}', b'{"device": "x"}', b"\xff\xfe"):
        r = client.post("/api/v1/ingest/http", content=body, headers=key)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["detail"]
    r = client.post("/api/v1/ingest/chirpstack", params={"event": "nope"}, json={}, headers=integration(
        client, "chirpstack"))
    assert r.status_code == 400 and "unsupported ChirpStack event type" in r.json()["detail"]

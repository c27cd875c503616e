"""Downlink commands end to end: the live server encodes, records and publishes to the real Mosquitto
(127.0.0.1:1883, as the server's CALANQUE_MQTT_URL), and network events move the records.

Expected payloads are worked out by hand from the streetlight controller's documented format
(fPort 20, ``01 LL``: switch on at LL %).
"""

from __future__ import annotations

import base64
import queue
import uuid
from collections.abc import Iterator

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest

from tests.pipeline.helpers import APP_ID

LIGHT_EUIS = ["70b3d57ed0003001", "70b3d57ed0003002"]


@pytest.fixture
def client(api: httpx.Client) -> Iterator[httpx.Client]:
    """A client on the server root of the (emptied) backend under test."""
    root = str(api.base_url).removesuffix("/").removesuffix("/ngsi-ld/v1")
    with httpx.Client(base_url=root, timeout=30) as c:
        yield c


@pytest.fixture
def downlinks() -> Iterator[queue.Queue]:
    """Messages the server publishes on the network servers' downlink topics (real broker, port 1883)."""
    received: queue.Queue = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda _c, _u, m: received.put((m.topic, orjson.loads(m.payload)))
    subscribed = queue.Queue()
    sub.on_subscribe = lambda *_: subscribed.put(True)
    sub.connect("127.0.0.1", 1883)
    sub.loop_start()
    sub.subscribe([("application/+/device/+/command/down", 1), ("v3/+/devices/+/down/push", 1)])
    subscribed.get(timeout=10)
    yield received
    sub.disconnect()
    sub.loop_stop()


def light(client: httpx.Client, eui: str, number: int, network: str = "chirpstack") -> None:
    """Register a streetlight controller feeding urn:ngsi-ld:Streetlight:sl-<number>."""
    body = {
        "id": eui, "name": f"sl-{number}", "deviceModel": "Calanque streetlight node", "codec": "calanque-streetlight",
        "entityId": f"urn:ngsi-ld:Streetlight:sl-{number}", "entityType": "Streetlight", "network": network,
        "mapping": {"powerState": {"attribute": "powerState"},
                    "dimmingLevel": {"attribute": "illuminanceLevel", "unitCode": "C62", "scale": 0.01}},
    }
    if network == "chirpstack":
        body["chirpstackApplicationId"] = APP_ID
    elif network == "tts":
        body["ttsApplicationId"] = "calanque-light"
    assert client.post("/api/v1/devices", json=body).status_code == 201


def event(client: httpx.Client, kind: str, eui: str, **fields: object) -> None:
    """Post a ChirpStack event through its HTTP integration."""
    key = client.post("/api/v1/integrations", json={"name": f"cs-{uuid.uuid4().hex[:6]}", "kind": "chirpstack"})
    body = {"deduplicationId": str(uuid.uuid4()), "time": "2026-11-24T21:00:00Z",
            "deviceInfo": {"applicationId": APP_ID, "devEui": eui}, **fields}
    r = client.post("/api/v1/ingest/chirpstack", params={"event": kind}, json=body,
                    headers={"X-Calanque-Key": key.json()["key"]})
    assert r.status_code == 202 and r.json()["status"] == "event", r.text


def test_chirpstack_command_is_encoded_published_and_acknowledged(client: httpx.Client, downlinks) -> None:  # type: ignore[no-untyped-def]
    light(client, LIGHT_EUIS[0], 1)
    r = client.post("/api/v1/commands", json={"device": LIGHT_EUIS[0],
                                              "command": {"powerState": "on", "dimmingLevel": 40}})
    assert r.status_code == 202, r.text
    [record] = r.json()
    assert (record["status"], record["fPort"], record["payloadHex"]) == ("queued", 20, "0128")
    assert record["entityId"] == "urn:ngsi-ld:Streetlight:sl-1"
    topic, body = downlinks.get(timeout=10)
    assert topic == f"application/{APP_ID}/device/{LIGHT_EUIS[0]}/command/down"
    assert body == {"id": record["correlation"], "devEui": LIGHT_EUIS[0], "confirmed": True, "fPort": 20,
                    "data": base64.b64encode(bytes([0x01, 40])).decode()}

    event(client, "txack", LIGHT_EUIS[0], queueItemId=record["correlation"], fCntDown=5, gatewayId="0016c001f153a14c")
    assert client.get(f"/api/v1/commands/{record['id']}").json()["status"] == "sent"
    event(client, "ack", LIGHT_EUIS[0], queueItemId=record["correlation"], acknowledged=True, fCntDown=5)
    done = client.get(f"/api/v1/commands/{record['id']}").json()
    assert done["status"] == "acknowledged" and done["error"] is None
    # a late txack never moves an acknowledged command back
    event(client, "txack", LIGHT_EUIS[0], queueItemId=record["correlation"], fCntDown=5)
    assert client.get(f"/api/v1/commands/{record['id']}").json()["status"] == "acknowledged"
    listed = client.get("/api/v1/commands", params={"device": LIGHT_EUIS[0]}).json()
    assert [c["id"] for c in listed] == [record["id"]]


def test_group_command_reaches_every_light_and_nack_fails_it(client: httpx.Client, downlinks) -> None:  # type: ignore[no-untyped-def]
    for n, eui in enumerate(LIGHT_EUIS, start=1):
        light(client, eui, n)
    group = {"id": "urn:ngsi-ld:StreetlightGroup:g1", "type": "StreetlightGroup",
             "refStreetlight": {"type": "Relationship",
                                "object": ["urn:ngsi-ld:Streetlight:sl-1", "urn:ngsi-ld:Streetlight:sl-2"]}}
    assert client.post("/ngsi-ld/v1/entities", json=group).status_code == 201
    r = client.post("/api/v1/commands", json={"group": "urn:ngsi-ld:StreetlightGroup:g1",
                                              "command": {"powerState": "off"}})
    assert r.status_code == 202, r.text
    records = r.json()
    assert sorted(c["deviceId"] for c in records) == LIGHT_EUIS
    assert all(c["payloadHex"] == "0100" for c in records)
    got = sorted(downlinks.get(timeout=10)[1]["devEui"] for _ in records)
    assert got == LIGHT_EUIS
    event(client, "ack", LIGHT_EUIS[1], queueItemId=records[1]["correlation"], acknowledged=False, fCntDown=2)
    failed = client.get(f"/api/v1/commands/{records[1]['id']}").json()
    assert failed["status"] == "failed" and "did not acknowledge" in failed["error"]


def test_tts_command_and_downlink_failure(client: httpx.Client, downlinks) -> None:  # type: ignore[no-untyped-def]
    light(client, LIGHT_EUIS[0], 7, network="tts")
    r = client.post("/api/v1/commands", json={"entity": "urn:ngsi-ld:Streetlight:sl-7",
                                              "command": {"dimmingLevel": 60}, "confirmed": False})
    assert r.status_code == 202, r.text
    [record] = r.json()
    topic, body = downlinks.get(timeout=10)
    assert topic == "v3/calanque-light@ttn/devices/sl-7/down/push"
    assert body["downlinks"] == [{"f_port": 20, "frm_payload": base64.b64encode(b"\x01\x3c").decode(),
                                  "priority": "NORMAL", "confirmed": False,
                                  "correlation_ids": [f"calanque:cmd:{record['correlation']}"]}]
    key = client.post("/api/v1/integrations", json={"name": "tts-events", "kind": "tts"}).json()["key"]
    failed = {
        "end_device_ids": {"device_id": "sl-7", "application_ids": {"application_id": "calanque-light"},
                           "dev_eui": LIGHT_EUIS[0]},
        "correlation_ids": ["as:downlink:01HCCCCCCCCCCCCCCCCCCCCCCC"],
        "received_at": "2026-11-24T21:00:05Z",
        "downlink_failed": {"downlink": {"f_port": 20, "frm_payload": "ATw=", "confirmed": False,
                                         "correlation_ids": [f"calanque:cmd:{record['correlation']}",
                                                             "as:downlink:01HCCCCCCCCCCCCCCCCCCCCCCC"]},
                            "error": {"namespace": "pkg/networkserver", "name": "application_downlink_too_long",
                                      "message_format": "application downlink payload too long"}},
    }
    assert client.post("/api/v1/ingest/tts", json=failed, headers={"X-Calanque-Key": key}).status_code == 202
    done = client.get(f"/api/v1/commands/{record['id']}").json()
    assert done["status"] == "failed" and done["error"] == "application downlink payload too long"


def test_bad_commands_are_refused_before_anything_is_sent(client: httpx.Client) -> None:
    light(client, LIGHT_EUIS[0], 1)
    cases = [
        ({"device": LIGHT_EUIS[0], "command": {"dimmingLevel": 150}}, 400, "dimmingLevel must be a number 0..100"),
        ({"device": LIGHT_EUIS[0], "group": "urn:ngsi-ld:StreetlightGroup:g", "command": {"powerState": "on"}},
         400, "exactly one target"),
        ({"device": "70b3d57ed000ffff", "command": {"powerState": "on"}}, 404, "not registered"),
        ({"group": "urn:ngsi-ld:StreetlightGroup:none", "command": {"powerState": "on"}}, 404, "does not exist"),
        ({"device": LIGHT_EUIS[0], "command": {}}, 400, "must not be empty"),
    ]
    for body, status, words in cases:
        r = client.post("/api/v1/commands", json=body)
        assert r.status_code == status and words in r.json()["detail"], (body, r.text)
    assert client.get("/api/v1/commands").json() == []
    assert client.get("/api/v1/commands", params={"status": "bogus"}).status_code == 400
    assert client.get("/api/v1/commands/999").status_code == 404

"""Every codec end to end: a frame worked out by hand, published as a ChirpStack event on the real broker,
decoded by the running worker, stored as the mapped attributes (SQLite and PostgreSQL).

A JavaScript codec that throws or loops sends its message to the dead letters and the stream goes on.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as mqtt
import pytest

from calanque.devices import repository as repo
from calanque.devices.deadletters import list_dead_letters
from calanque.devices.models import DeviceConfig
from calanque.pipeline.ingest import Ingestor
from calanque.pipeline.mqtt_worker import MqttIngestWorker, Subscription
from calanque.store.base import HistoryQuery
from calanque.usecases.common import term_iri
from tests.pipeline.helpers import APP_ID

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)

TS013_DECODER = """
function decodeUplink(input) {
  if (input.fPort === 99) { while (true) {} }
  if (input.bytes[0] === 0xEE) { throw new Error("unsupported frame type 0xEE"); }
  // byte 0: level in cm (uint8); bytes 1-2: temperature, int16 BE, 0.01 °C
  var t = (input.bytes[1] << 8) | input.bytes[2];
  if (t > 0x7FFF) { t -= 0x10000; }
  return { data: { level: input.bytes[0] / 100, temperature: t / 100 } };
}
"""

# (codec, fPort, frame hex, mapping, expected {attribute: value}); arithmetic in the comments
CASES: list[tuple[str, int, str, dict, dict]] = [
    # Cayenne LPP: channel 5 temperature 0xFFD7 = -41 -> -4.1 °C; channel 8 humidity 0x61 = 97 -> 48.5 %
    ("cayenne-lpp", 1, "0567ffd7086861",
     {"temperature_5": {"attribute": "temperature", "unitCode": "CEL"},
      "relative_humidity_8": {"attribute": "relativeHumidity", "unitCode": "P1"}},
     {"temperature": -4.1, "relativeHumidity": 48.5}),
    # Dragino LDDS75: 0x0D3B = 3387 mV, distance 0x0AEF = 2799 mm -> 2.799 m
    ("dragino-ldds75", 2, "0d3b0aef00000001", {"distance": {"attribute": "distance", "unitCode": "MTR"}},
     {"distance": 2.799}),
    # Milesight WS302: Leq 0x0262 = 610 -> 61.0 dB, Lmax 0x02F3 = 755 -> 75.5 dB
    ("milesight-ws302", 85, "01755a055b056f026202f302",
     {"LAeq": {"attribute": "LAeq", "unitCode": "2N"}, "LAmax": {"attribute": "LAmax", "unitCode": "2N"}},
     {"LAeq": 61.0, "LAmax": 75.5}),
    # Decentlab DL-CTD10: depth 0x9088 - 32768 = 4232 mm -> 4.232 m; 0x8081 - 32768 = 129 -> 12.9 °C; 100 µS/cm
    ("decentlab-dl-ctd10", 1, "0207d9000390888081006400000c60",
     {"waterDepth": {"attribute": "currentLevel", "unitCode": "MTR"},
      "temperature": {"attribute": "temperature", "unitCode": "CEL"},
      "conductivity": {"attribute": "conductivity", "unitCode": "G42"}},
     {"currentLevel": 4.232, "temperature": 12.9, "conductivity": 100}),
    # Milesight VS350 period counts: 05 CC, in 0x000C = 12, out 0x0005 = 5
    ("milesight-vs350", 85, "05cc0c000500",
     {"intensityIn": {"attribute": "intensity", "unitCode": "C62", "datasetId": "urn:ngsi-ld:Dataset:in"},
      "intensityOut": {"attribute": "peopleCount", "unitCode": "C62"}},
     {"intensity": 12, "peopleCount": 5}),
    # Milesight WS558: voltage 0x08B2 = 2226 -> 222.6 V; active power 1 W; energy 1 Wh -> 0.001 kWh
    ("milesight-ws558", 85, "0831000105816407c902000374b208068301000000048001000000",
     {"voltage": {"attribute": "voltageR", "unitCode": "VLT"},
      "activePower": {"attribute": "totalActivePower", "unitCode": "WTT"},
      "energy": {"attribute": "energyConsumed", "unitCode": "KWH"}},
     {"voltageR": 222.6, "totalActivePower": 1, "energyConsumed": 0.001}),
    # Calanque streetlight: on, dim 0x3C = 60 % (x 0.01 -> 0.6), 0x0226 = 550 -> 55.0 W, 123.456 kWh
    ("calanque-streetlight", 10, "01053c02260001e2400910",
     {"powerState": {"attribute": "powerState"},
      "dimmingLevel": {"attribute": "illuminanceLevel", "unitCode": "C62", "scale": 0.01},
      "activePower": {"attribute": "powerConsumption", "unitCode": "WTT"},
      "energy": {"attribute": "lifetimePowerConsumption", "unitCode": "KWH"}},
     {"powerState": "on", "illuminanceLevel": 0.6, "powerConsumption": 55.0, "lifetimePowerConsumption": 123.456}),
    # JSON payload in the LoRaWAN frame
    ("json", 1, b'{"pH": 7.4}'.hex(), {"pH": {"attribute": "pH", "unitCode": "C62"}}, {"pH": 7.4}),
    # TS013 JavaScript: level 0x7D = 125 cm -> 1.25 m; temperature 0xFF38 = -200 -> -2.0 °C
    ("js", 2, "7dff38",
     {"level": {"attribute": "currentLevel", "unitCode": "MTR"},
      "temperature": {"attribute": "temperature", "unitCode": "CEL"}},
     {"currentLevel": 1.25, "temperature": -2.0}),
]


@pytest.fixture
def worker(store, mosquitto) -> Iterator[MqttIngestWorker]:  # type: ignore[no-untyped-def]
    """A running ChirpStack MQTT ingest worker on the private broker."""
    w = MqttIngestWorker(Ingestor(store), mosquitto.url, [Subscription.parse("chirpstack")],
                         client_id=f"codecs-{uuid.uuid4().hex[:8]}", batch_size=50, batch_wait=0.02)
    thread = w.start()
    assert w.connected.wait(10)
    yield w
    w.stop()
    thread.join(timeout=10)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def up(eui: str, f_port: int, frame: bytes, f_cnt: int, at: datetime) -> bytes:
    """A ChirpStack up event."""
    stamp = at.isoformat().replace("+00:00", "Z")
    return orjson.dumps({"deduplicationId": str(uuid.uuid4()), "time": stamp, "fCnt": f_cnt, "fPort": f_port,
                         "deviceInfo": {"applicationId": APP_ID, "devEui": eui},
                         "data": base64.b64encode(frame).decode(), "rxInfo": [{"gwTime": stamp, "rssi": -80}]})


def test_every_codec_through_the_worker(store, mosquitto, worker) -> None:  # type: ignore[no-untyped-def]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    with store.session(write=True) as s:
        for n, (codec, _, _, mapping, _) in enumerate(CASES):
            repo.create_device(s, "", DeviceConfig.model_validate({
                "id": f"70b3d57ed00040{n:02x}", "name": f"dev-{codec}", "deviceModel": codec, "codec": codec,
                "codecScript": TS013_DECODER if codec == "js" else None, "entityId": f"urn:ngsi-ld:Thing:{codec}",
                "entityType": "Thing", "mapping": mapping, "network": "chirpstack",
                "chirpstackApplicationId": APP_ID}))
    for n, (_, f_port, frame_hex, _, _) in enumerate(CASES):
        eui = f"70b3d57ed00040{n:02x}"
        client.publish(f"application/{APP_ID}/device/{eui}/event/up",
                       up(eui, f_port, bytes.fromhex(frame_hex), 1, T0), qos=1).wait_for_publish(10)
    js_eui = f"70b3d57ed00040{len(CASES) - 1:02x}"
    for f_cnt, (port, frame) in enumerate([(99, b"\x00"), (2, b"\xee\x00\x00"), (2, bytes.fromhex("64000a"))], 2):
        client.publish(f"application/{APP_ID}/device/{js_eui}/event/up",
                       up(js_eui, port, frame, f_cnt, T0 + timedelta(minutes=f_cnt)), qos=1).wait_for_publish(10)
    client.disconnect()

    def entity(codec: str) -> dict | None:
        with store.session() as s:
            return s.get_entity("", f"urn:ngsi-ld:Thing:{codec}")

    def at_t0(codec: str, names: list[str]) -> dict:
        """The values the frame observed at T0 left in the history."""
        with store.session() as s:
            rows = s.read_history("", HistoryQuery([f"urn:ngsi-ld:Thing:{codec}"], [term_iri(n) for n in names]))
        stamp = T0.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {n: r.instance["value"] for n in names for r in rows
                if r.attr == term_iri(n) and r.observed_at == stamp}

    for codec, _, _, _, expected in CASES:
        wait_until(lambda: entity(codec) is not None, f"the {codec} entity")
        got = at_t0(codec, list(expected))
        assert got.pop("powerState", None) == expected.get("powerState"), codec
        assert got == pytest.approx({k: v for k, v in expected.items() if k != "powerState"}), codec
    # after a loop (time limit) and a throw, the JS codec still decodes the next frame: 0x64 = 100 cm
    wait_until(lambda: entity("js")["attrs"][term_iri("currentLevel")][0]["value"] == 1.0,  # type: ignore[index]
               "the frame after the failures")
    with store.session() as s:
        letters = list_dead_letters(s, "", limit=10)[0]
    reasons = sorted(d.reason for d in letters)
    assert [d.error_kind for d in letters] == ["decode", "decode"]
    assert "time limit" in reasons[0] + reasons[1] and "unsupported frame type 0xEE" in reasons[0] + reasons[1]

"""Measurement mapping to NGSI-LD instances, decoding choices, and the ChirpStack → LDDS75 end-to-end path."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from calanque.field.connectors import Uplink, chirpstack, tts
from calanque.pipeline.mapping import (
    DecodeFailure,
    MappingError,
    decode,
    decode_full,
    measurements_to_attributes,
    unmapped_keys,
)

FIXTURES = Path(__file__).parent.parent / "field" / "fixtures"
AT = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
STAMP = "2026-03-02T09:15:00.000000Z"


def test_mapping_with_scale_unit_and_dataset() -> None:
    mapping = {
        "distance": {"attribute": "fillingDistance", "unitCode": "MMT", "scale": 1000},
        "t1": {"attribute": "temperature", "unitCode": "CEL", "datasetId": "urn:ngsi-ld:Dataset:probe1"},
        "t2": {"attribute": "temperature", "unitCode": "CEL", "datasetId": "urn:ngsi-ld:Dataset:probe2"},
        "status": {"attribute": "status"},
    }
    measurements = {"distance": 2.05, "t1": 25, "t2": -3.5, "status": "ok", "rssi": -90, "missing": None}
    attrs = measurements_to_attributes(measurements, mapping, AT)
    assert attrs["fillingDistance"][0]["value"] == pytest.approx(2050.0)  # 2.05 m × 1000 = 2050 mm
    assert attrs == {
        "fillingDistance": [{"type": "Property", "value": attrs["fillingDistance"][0]["value"],
                             "observedAt": STAMP, "unitCode": "MMT"}],
        "temperature": [
            {"type": "Property", "value": 25, "observedAt": STAMP, "unitCode": "CEL",
             "datasetId": "urn:ngsi-ld:Dataset:probe1"},
            {"type": "Property", "value": -3.5, "observedAt": STAMP, "unitCode": "CEL",
             "datasetId": "urn:ngsi-ld:Dataset:probe2"},
        ],
        "status": [{"type": "Property", "value": "ok", "observedAt": STAMP}],
    }
    assert unmapped_keys(measurements, mapping) == ["missing", "rssi"]


def test_non_numeric_where_numeric_expected_names_the_key() -> None:
    mapping = {"level": {"attribute": "waterLevel", "unitCode": "MTR"}}
    for bad in ("high", True, float("nan"), {"v": 1}):
        with pytest.raises(MappingError, match="measurement 'level' must be a finite number"):
            measurements_to_attributes({"level": bad}, mapping, AT)


def test_invalid_mapping_entries() -> None:
    with pytest.raises(MappingError, match="needs a non-empty string 'attribute'"):
        measurements_to_attributes({"x": 1}, {"x": {"unitCode": "MTR"}}, AT)
    with pytest.raises(MappingError, match="unknown member"):
        measurements_to_attributes({"x": 1}, {"x": {"attribute": "a", "units": "m"}}, AT)
    with pytest.raises(MappingError, match="'scale' must be a finite number"):
        measurements_to_attributes({"x": 1}, {"x": {"attribute": "a", "scale": "10"}}, AT)
    with pytest.raises(MappingError, match="which another measurement already fills"):
        measurements_to_attributes({"x": 1, "y": 2}, {"x": {"attribute": "a"}, "y": {"attribute": "a"}}, AT)


def test_decode_prefers_the_network_server_object() -> None:
    up = tts.parse_message((FIXTURES / "tts_uplink.json").read_bytes())
    assert isinstance(up, Uplink)
    # the codec would reject this 3-byte payload, so success proves the decoded_payload was used
    assert decode(up, "dragino-ldds75") == {"temperature": 1.0, "luminosity": 0.64}


def test_decode_failures_are_typed() -> None:
    up = chirpstack.parse_event("up", (FIXTURES / "chirpstack_up.json").read_bytes())
    assert isinstance(up, Uplink)
    with pytest.raises(DecodeFailure) as info:
        decode(up, "dragino-ldds75")
    assert info.value.reason == "dragino-ldds75: uplinks come on fPort 2, got fPort 1"
    assert (info.value.codec, info.value.device_key, info.value.payload_hex, info.value.f_port) == (
        "dragino-ldds75", "0101010101010101", "aa", 1)
    with pytest.raises(DecodeFailure, match="unknown codec 'no-such-codec'"):
        decode(up, "no-such-codec")
    empty = Uplink(network="x", device_key="d", observed_at=AT, received_at=AT, time_source="received")
    with pytest.raises(DecodeFailure, match="neither a payload nor a decoded object"):
        decode(empty, "cayenne-lpp")


def test_end_to_end_chirpstack_ldds75_to_attributes() -> None:
    # LDDS75 frame worked by hand: battery 0x0B45 = 2885 mV → 2.885 V; distance 0x0802 = 2050 mm;
    # interrupt 0x00; temperature 0x00FA = 250 → 25.0 °C; sensor flag 0x01.
    frame = bytes([0x0B, 0x45, 0x08, 0x02, 0x00, 0x00, 0xFA, 0x01])
    body = orjson.loads((FIXTURES / "chirpstack_up_ldds75.json").read_bytes())
    body["data"] = base64.b64encode(frame).decode()
    up = chirpstack.parse_event("up", orjson.dumps(body))
    assert isinstance(up, Uplink)
    result = decode_full(up, "dragino-ldds75")
    assert result.warnings == []
    mapping = {
        "distance": {"attribute": "https://smartdatamodels.org/dataModel.Waste/fillingLevelDistance",
                     "unitCode": "MTR"},
        "temperature": {"attribute": "https://smartdatamodels.org/temperature", "unitCode": "CEL"},
        "batteryVoltage": {"attribute": "https://smartdatamodels.org/batteryVoltage", "unitCode": "VLT"},
    }
    attrs = measurements_to_attributes(result.data, mapping, up.observed_at)
    stamp = "2026-03-02T08:15:00.103000Z"  # earliest gateway time of the two receptions
    assert attrs == {
        "https://smartdatamodels.org/dataModel.Waste/fillingLevelDistance": [
            {"type": "Property", "value": 2.05, "observedAt": stamp, "unitCode": "MTR"}],
        "https://smartdatamodels.org/temperature": [
            {"type": "Property", "value": 25.0, "observedAt": stamp, "unitCode": "CEL"}],
        "https://smartdatamodels.org/batteryVoltage": [
            {"type": "Property", "value": 2.885, "observedAt": stamp, "unitCode": "VLT"}],
    }
    assert unmapped_keys(result.data, mapping) == ["interruptFlag", "sensorDetected"]

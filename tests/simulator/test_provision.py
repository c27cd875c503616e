"""Provisioning: the fleet's entities follow docs/data-conventions.md, its device records validate with
the conventions' mappings, and provisioning a live platform (SQLite and PostgreSQL) is idempotent."""

from __future__ import annotations

import httpx

from calanque.devices.models import DeviceConfig
from calanque.simulator.fleet import FleetSpec, build_fleet
from calanque.simulator.geo import commune
from calanque.simulator.provision import device_records, entities, provision

FLEET = build_fleet(FleetSpec(seed=3, noise=3, containers=5, river=2, water=2, bikes=2, pedestrians=2,
                              streetlights=6, lights_per_group=3, lorawan_networks=("chirpstack", "tts"),
                              generic_networks=("http", "mqtt")))
ASSET_TYPES = {"NoiseLevelObserved", "WasteContainer", "FloodMonitoring", "WaterQualityObserved", "TrafficFlowObserved",
               "CrowdFlowObserved", "Streetlight", "StreetlightControlCabinet"}


def test_every_asset_carries_the_common_attributes() -> None:
    by_id = {e["id"]: e for e in entities(FLEET)}
    assets = [e for e in by_id.values() if e["type"] in ASSET_TYPES]
    assert len(assets) == len(FLEET.devices)
    for dev in FLEET.devices:
        e = by_id[dev.entity_id]
        assert e["type"] == dev.entity_type
        assert e["location"] == {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [dev.lon, dev.lat]}}
        assert e["address"]["value"] == {"addressLocality": commune(dev.commune.insee).name,
                                         "addressRegion": "Provence-Alpes-Côte d'Azur"}
        assert e["municipalityCode"] == {"type": "Property", "value": dev.commune.insee}
        assert e["site"]["type"] == "Property" and e["site"]["value"]
        assert e["name"]["type"] == "Property" and e["name"]["value"]
        assert e["refDevice"] == {"type": "Relationship", "object": f"urn:ngsi-ld:Device:{dev.id}"}


def test_kind_attributes_and_relationships() -> None:
    by_id = {e["id"]: e for e in entities(FLEET)}
    for dev in FLEET.of_kind("waste"):
        e = by_id[dev.entity_id]
        assert e["storedWasteKind"]["value"] in ("glass", "paper", "packaging")
        assert e["binFullnessThreshold"] == {"type": "Property", "value": 80, "unitCode": "P1"}
        model = by_id[e["refWasteContainerModel"]["object"]]
        assert model["type"] == "WasteContainerModel"
        assert model["emptyDistance"]["unitCode"] == model["fullDistance"]["unitCode"] == "MTR"
        assert model["emptyDistance"]["value"] > model["fullDistance"]["value"] >= 0
        assert model["cargoVolume"]["unitCode"] == "LTR"
        isle = by_id[e["refWasteContainerIsle"]["object"]]
        assert dev.entity_id in isle["refWasteContainer"]["object"]
    for dev in FLEET.of_kind("streetlight"):
        e = by_id[dev.entity_id]
        group = by_id[e["refStreetlightGroup"]["object"]]
        assert dev.entity_id in group["refStreetlight"]["object"]
        assert group["refStreetlightControlCabinet"] == e["refStreetlightControlCabinet"]
        assert by_id[e["refStreetlightControlCabinet"]["object"]]["type"] == "StreetlightControlCabinet"
        assert group["dimmingProfile"]["value"] == [{"from": "23:00", "to": "05:00", "level": 0.5}]
        assert by_id[e["refStreetlightModel"]["object"]]["powerConsumption"]["unitCode"] == "WTT"
    for kind, period in (("noise", 600), ("bike", 900), ("pedestrian", 900)):
        for dev in FLEET.of_kind(kind):
            assert by_id[dev.entity_id]["measurementPeriod"] == {"type": "Property", "value": period, "unitCode": "SEC"}
    assert all(by_id[d.entity_id]["vehicleType"]["value"] == "bicycle" for d in FLEET.of_kind("bike"))
    for dev in FLEET.of_kind("river"):
        thresholds = by_id[dev.entity_id]["vigilanceThresholds"]["value"]
        assert thresholds["level"]["yellow"] < thresholds["level"]["orange"] < thresholds["level"]["red"]
        assert set(thresholds["rise"]) == {"yellow", "orange", "red"}


def test_device_records_follow_the_conventions() -> None:
    records = {r["id"]: r for r in device_records(FLEET)}
    assert len(records) == len(FLEET.devices)
    for dev in FLEET.devices:
        record = records[dev.id]
        DeviceConfig.model_validate(record)
        assert record["entityId"] == dev.entity_id and record["network"] == dev.network
        assert record["commune"] == dev.commune.insee
        assert ("chirpstackApplicationId" in record) == (dev.network == "chirpstack")
        assert ("ttsApplicationId" in record) == (dev.network == "tts")
    # The mappings of docs/data-conventions.md, typed from the document.
    noise = records[FLEET.of_kind("noise")[0].id]
    assert (noise["codec"], noise["mapping"]) == ("milesight-ws302", {"LAeq": {"attribute": "LAeq", "unitCode": "2N"},
                                                                       "LAmax": {"attribute": "LAmax", "unitCode": "2N"}})
    river = records[FLEET.of_kind("river")[0].id]
    assert river["mapping"] == {"waterDepth": {"attribute": "currentLevel", "unitCode": "MTR"}}
    bike = records[FLEET.of_kind("bike")[0].id]["mapping"]
    assert bike["intensityIn"] == {"attribute": "intensity", "unitCode": "C62", "datasetId": "urn:ngsi-ld:Dataset:in"}
    assert bike["intensityOut"]["datasetId"] == "urn:ngsi-ld:Dataset:out"
    ped = records[FLEET.of_kind("pedestrian")[0].id]["mapping"]
    assert ped["intensityIn"]["attribute"] == ped["intensityOut"]["attribute"] == "peopleCount"
    light = records[FLEET.of_kind("streetlight")[0].id]["mapping"]
    assert light["dimmingLevel"] == {"attribute": "illuminanceLevel", "unitCode": "C62", "scale": 0.01}
    assert light["energy"] == {"attribute": "lifetimePowerConsumption", "unitCode": "KWH"}
    cabinet = records[FLEET.of_kind("cabinet")[0].id]
    assert cabinet["codec"] == "milesight-ws558"
    assert {k: v["attribute"] for k, v in cabinet["mapping"].items()} == {
        "energy": "energyConsumed", "activePower": "totalActivePower", "voltage": "voltageR"}
    water = records[FLEET.of_kind("water")[0].id]
    assert water["codec"] == "json" and {v["unitCode"] for v in water["mapping"].values()} == {"CEL", "C62", "G42", "M1"}


def test_provisioning_a_live_platform_is_idempotent(root: httpx.Client) -> None:
    base = str(root.base_url)
    first = provision(FLEET, base, batch_size=7)
    assert first.errors == []
    total = len(entities(FLEET))
    assert (first.entities, first.entities_created) == (total, total)
    assert (first.devices_created, first.devices_updated) == (len(FLEET.devices), 0)
    second = provision(FLEET, base, batch_size=50)
    assert second.errors == []
    assert (second.entities_created, second.devices_created, second.devices_updated) == (0, 0, len(FLEET.devices))
    listed = root.get("/api/v1/devices", params={"limit": 1000}).json()
    assert listed["total"] == len(FLEET.devices)
    container = FLEET.of_kind("waste")[0]
    got = root.get(f"/ngsi-ld/v1/entities/{container.entity_id}", params={"options": "keyValues"}).json()
    assert got["refWasteContainerModel"] == container.params.model.id
    assert got["location"] == {"type": "Point", "coordinates": [container.lon, container.lat]}
    count = root.get("/ngsi-ld/v1/entities", params={"type": ",".join(sorted(ASSET_TYPES)), "count": "true",
                                                     "limit": 1})
    assert count.headers["NGSILD-Results-Count"] == str(len(FLEET.devices))


def test_provisioning_into_a_tenant(root: httpx.Client) -> None:
    report = provision(FLEET, str(root.base_url), tenant="simtenant")
    assert report.errors == [] and report.devices_created == len(FLEET.devices)
    dev = FLEET.devices[0]
    assert root.get(f"/ngsi-ld/v1/entities/{dev.entity_id}", headers={"NGSILD-Tenant": "simtenant"}).status_code == 200
    assert root.get(f"/ngsi-ld/v1/entities/{dev.entity_id}").status_code == 404
    assert root.get(f"/api/v1/devices/{dev.id}", headers={"NGSILD-Tenant": "simtenant"}).status_code == 200

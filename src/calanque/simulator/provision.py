"""Provisioning of a simulated fleet: its NGSI-LD entities and its device records, and sending both
to a running Calanque over HTTP.

* :func:`entities` — the static entities in normalized NGSI-LD (core context, no ``@context``):
  every asset with ``location``, ``name``, ``address``, ``municipalityCode``, ``site`` and
  ``refDevice``, plus the kind's static attributes and relationships, and the
  WasteContainerModel, WasteContainerIsle, StreetlightModel and StreetlightGroup entities.
* :func:`device_records` — one device-registry record (the ``DeviceConfig`` JSON) per device,
  with the measurement mapping of docs/data-conventions.md.
* :func:`provision` — upserts the entities in batches (``POST /ngsi-ld/v1/entityOperations/upsert
  ?options=update``, which keeps measured attributes) and registers the devices
  (``POST /api/v1/devices``; a device that exists is updated with ``PATCH``). Running it twice
  changes nothing the second time: it is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from calanque.devices.models import DeviceConfig
from calanque.simulator.fleet import (
    ContainerModel,
    Fleet,
    LightModel,
    SimDevice,
    chirpstack_application_id,
    tts_application_id,
)
from calanque.simulator.geo import REGION
from calanque.simulator.signals import DIM_LEVEL

DATASET_IN = "urn:ngsi-ld:Dataset:in"
DATASET_OUT = "urn:ngsi-ld:Dataset:out"
BIN_FULLNESS_THRESHOLD = 80
UPSERT_PATH = "/ngsi-ld/v1/entityOperations/upsert"
DEVICES_PATH = "/api/v1/devices"

# Measurement key -> attribute mapping of each kind (docs/data-conventions.md).
MAPPINGS: dict[str, dict[str, dict[str, Any]]] = {
    "noise": {"LAeq": {"attribute": "LAeq", "unitCode": "2N"}, "LAmax": {"attribute": "LAmax", "unitCode": "2N"}},
    "waste": {"distance": {"attribute": "distance", "unitCode": "MTR"},
              "temperature": {"attribute": "temperature", "unitCode": "CEL"}},
    "river": {"waterDepth": {"attribute": "currentLevel", "unitCode": "MTR"}},
    "water": {"temperature": {"attribute": "temperature", "unitCode": "CEL"},
              "pH": {"attribute": "pH", "unitCode": "C62"},
              "conductivity": {"attribute": "conductivity", "unitCode": "G42"},
              "turbidity": {"attribute": "turbidity", "unitCode": "C62"},
              "O2": {"attribute": "O2", "unitCode": "M1"}},
    "bike": {"intensityIn": {"attribute": "intensity", "unitCode": "C62", "datasetId": DATASET_IN},
             "intensityOut": {"attribute": "intensity", "unitCode": "C62", "datasetId": DATASET_OUT}},
    "pedestrian": {"intensityIn": {"attribute": "peopleCount", "unitCode": "C62", "datasetId": DATASET_IN},
                   "intensityOut": {"attribute": "peopleCount", "unitCode": "C62", "datasetId": DATASET_OUT}},
    "streetlight": {"powerState": {"attribute": "powerState"},
                    "dimmingLevel": {"attribute": "illuminanceLevel", "unitCode": "C62", "scale": 0.01},
                    "activePower": {"attribute": "powerConsumption", "unitCode": "WTT"},
                    "energy": {"attribute": "lifetimePowerConsumption", "unitCode": "KWH"},
                    "voltage": {"attribute": "voltage", "unitCode": "VLT"}},
    "cabinet": {"energy": {"attribute": "energyConsumed", "unitCode": "KWH"},
                "activePower": {"attribute": "totalActivePower", "unitCode": "WTT"},
                "voltage": {"attribute": "voltageR", "unitCode": "VLT"}},
}


class ProvisionError(Exception):
    """The platform could not be reached or refused the fleet; the message says what and why."""


@dataclass
class ProvisionReport:
    """What a provisioning run did."""

    entities: int = 0
    entities_created: int = 0
    devices_created: int = 0
    devices_updated: int = 0
    errors: list[str] = field(default_factory=list)


def _prop(value: Any, unit: str | None = None) -> dict[str, Any]:
    """A normalized Property."""
    out: dict[str, Any] = {"type": "Property", "value": value}
    if unit is not None:
        out["unitCode"] = unit
    return out


def _rel(target: str | list[str]) -> dict[str, Any]:
    """A normalized Relationship (one object or a list of objects)."""
    return {"type": "Relationship", "object": target}


def _point(lat: float, lon: float) -> dict[str, Any]:
    """A normalized GeoProperty Point."""
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def _place(name: str, lat: float, lon: float, commune_name: str, insee: str, site: str) -> dict[str, Any]:
    """The attributes every located asset carries."""
    return {
        "name": _prop(name),
        "location": _point(lat, lon),
        "address": _prop({"addressLocality": commune_name, "addressRegion": REGION}),
        "municipalityCode": _prop(insee),
        "site": _prop(site),
    }


def device_entity(dev: SimDevice) -> dict[str, Any]:
    """The static entity a device feeds."""
    entity: dict[str, Any] = {"id": dev.entity_id, "type": dev.entity_type}
    entity.update(_place(dev.name, dev.lat, dev.lon, dev.commune.name, dev.commune.insee, dev.site))
    entity["refDevice"] = _rel(f"urn:ngsi-ld:Device:{dev.id}")
    p = dev.params
    if dev.kind in ("noise", "bike", "pedestrian"):
        entity["measurementPeriod"] = _prop(dev.period_s, "SEC")
    if dev.kind == "bike":
        entity["vehicleType"] = _prop("bicycle")
    elif dev.kind == "waste":
        entity["storedWasteKind"] = _prop(p.waste_kind)
        entity["refWasteContainerModel"] = _rel(p.model.id)
        entity["refWasteContainerIsle"] = _rel(p.isle_id)
        entity["binFullnessThreshold"] = _prop(BIN_FULLNESS_THRESHOLD, "P1")
    elif dev.kind == "river":
        base = p.base_level
        entity["vigilanceThresholds"] = _prop({
            "level": {"yellow": round(base + 0.8, 2), "orange": round(base + 1.4, 2), "red": round(base + 2.0, 2)},
            "rise": {"yellow": 20, "orange": 40, "red": 60},
        })
    elif dev.kind == "streetlight":
        entity["refStreetlightGroup"] = _rel(p.group_id)
        entity["refStreetlightControlCabinet"] = _rel(p.cabinet_id)
        entity["refStreetlightModel"] = _rel(p.model.id)
    return entity


def container_model_entity(model: ContainerModel) -> dict[str, Any]:
    """A WasteContainerModel entity with its lid-sensor geometry."""
    return {
        "id": model.id, "type": "WasteContainerModel", "name": _prop(model.name),
        "height": _prop(model.height, "MTR"), "width": _prop(model.width, "MTR"), "depth": _prop(model.depth, "MTR"),
        "cargoVolume": _prop(model.volume_l, "LTR"),
        "emptyDistance": _prop(model.empty_distance, "MTR"), "fullDistance": _prop(model.full_distance, "MTR"),
    }


def light_model_entity(model: LightModel) -> dict[str, Any]:
    """A StreetlightModel entity with its nominal power."""
    return {"id": model.id, "type": "StreetlightModel", "name": _prop(model.name),
            "powerConsumption": _prop(model.power_w, "WTT")}


def entities(fleet: Fleet) -> list[dict[str, Any]]:
    """Every static entity of the fleet, normalized NGSI-LD: models, isles, groups, then the assets."""
    out: list[dict[str, Any]] = [container_model_entity(m) for m in fleet.container_models()]
    out += [light_model_entity(m) for m in fleet.light_models()]
    for isle in fleet.isles:
        entity = {"id": isle.id, "type": "WasteContainerIsle"}
        entity.update(_place(isle.name, isle.lat, isle.lon, isle.commune.name, isle.commune.insee, isle.name))
        entity["refWasteContainer"] = _rel(list(isle.container_ids))
        out.append(entity)
    for group in fleet.groups:
        entity = {"id": group.id, "type": "StreetlightGroup"}
        entity.update(_place(group.name, group.lat, group.lon, group.commune.name, group.commune.insee, group.name))
        entity["refStreetlight"] = _rel(list(group.light_ids))
        entity["refStreetlightControlCabinet"] = _rel(group.cabinet_id)
        entity["dimmingProfile"] = _prop([{"from": "23:00", "to": "05:00", "level": DIM_LEVEL}])
        entity["switchOnOffset"] = _prop(0, "MIN")
        entity["switchOffOffset"] = _prop(0, "MIN")
        out.append(entity)
    out += [device_entity(d) for d in fleet.devices]
    return out


def device_record(dev: SimDevice) -> dict[str, Any]:
    """The device-registry record (DeviceConfig JSON, camelCase) of one device, validated."""
    record: dict[str, Any] = {
        "id": dev.id,
        # The registry name is the network-side device name (TTS end-device id, ChirpStack device name).
        "name": dev.tts_id,
        "deviceModel": dev.device_model,
        "codec": dev.codec,
        "entityId": dev.entity_id,
        "entityType": dev.entity_type,
        "mapping": MAPPINGS[dev.kind],
        "location": {"lon": dev.lon, "lat": dev.lat},
        "commune": dev.commune.insee,
        "site": dev.site,
        "installedOn": dev.installed_at.date().isoformat(),
        "expectedPeriod": dev.period_s,
        "status": "active",
        "network": dev.network,
    }
    if dev.network == "chirpstack":
        record["chirpstackApplicationId"] = chirpstack_application_id(dev.kind)
    elif dev.network == "tts":
        record["ttsApplicationId"] = tts_application_id(dev.kind)
    config = DeviceConfig.model_validate(record)
    return config.model_dump(mode="json", by_alias=True, exclude_none=True)


def device_records(fleet: Fleet) -> list[dict[str, Any]]:
    """The device-registry records of the whole fleet."""
    return [device_record(d) for d in fleet.devices]


def _problem(response: httpx.Response) -> str:
    """The ProblemDetails title/detail of an error response, or its start."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:300]
    return str(body)[:300]


def provision(
    fleet: Fleet,
    base_url: str,
    *,
    tenant: str = "",
    batch_size: int = 100,
    timeout: float = 30.0,
    progress: Callable[[str, int], None] | None = None,
    client: httpx.Client | None = None,
    api_key: str | None = None,
) -> ProvisionReport:
    """Upsert the fleet's entities and register its devices in the Calanque at ``base_url``.

    ``api_key`` (a ``clk_…`` key of an admin or operator) authenticates against a platform with
    authentication on; the demo and ``serve --no-auth`` need none.

    ``progress(step, n)`` is called after each batch with "entities" or "devices" and how many
    were done. Raises ProvisionError when the platform cannot be reached or answers an
    unexpected error; refused entities or devices are listed in the report's ``errors``.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    headers = {"Content-Type": "application/json"}
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    if api_key:
        headers["X-API-Key"] = api_key
    own = client is None
    http = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
    report = ProvisionReport()
    try:
        items = entities(fleet)
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            r = _post(http, UPSERT_PATH, batch, headers, params={"options": "update"})
            if r.status_code == 201:
                report.entities_created += len(r.json())
            elif r.status_code == 207:
                body = r.json()
                report.entities_created += len(body.get("success", []))
                report.errors += [f"entity {e.get('entityId')}: {(e.get('error') or {}).get('detail', e)}"
                                  for e in body.get("errors", [])]
            elif r.status_code != 204:
                raise ProvisionError(f"entity upsert refused ({r.status_code}) by {base_url}: {_problem(r)}")
            report.entities += len(batch)
            if progress:
                progress("entities", len(batch))
        for record in device_records(fleet):
            r = _post(http, DEVICES_PATH, record, headers)
            if r.status_code == 201:
                report.devices_created += 1
            elif r.status_code == 409:
                patch = {k: v for k, v in record.items() if k != "id"}
                r = _send(http, "PATCH", f"{DEVICES_PATH}/{record['id']}", patch, headers)
                if r.status_code == 200:
                    report.devices_updated += 1
                else:
                    report.errors.append(f"device {record['id']}: update refused ({r.status_code}): {_problem(r)}")
            elif r.status_code in (400, 422):
                report.errors.append(f"device {record['id']}: refused ({r.status_code}): {_problem(r)}")
            else:
                raise ProvisionError(f"device registration refused ({r.status_code}) by {base_url}: {_problem(r)}")
            if progress:
                progress("devices", 1)
    finally:
        if own:
            http.close()
    return report


def _post(http: httpx.Client, path: str, body: Any, headers: dict[str, str],
          params: dict[str, str] | None = None) -> httpx.Response:
    """POST JSON, turning transport failures into ProvisionError."""
    return _send(http, "POST", path, body, headers, params)


def _send(http: httpx.Client, method: str, path: str, body: Any, headers: dict[str, str],
          params: dict[str, str] | None = None) -> httpx.Response:
    """Send one JSON request, turning transport failures into ProvisionError."""
    try:
        return http.request(method, path, json=body, headers=headers, params=params)
    except httpx.HTTPError as err:
        raise ProvisionError(f"cannot reach Calanque at {http.base_url}: {err}") from err


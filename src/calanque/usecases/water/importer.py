"""Hub'Eau real-time hydrometry into ``WaterObserved`` entities and their history, through the broker.

Each Hub'Eau station ``<code>`` becomes the entity ``urn:ngsi-ld:WaterObserved:hubeau-<code>``
(docs/data-conventions.md) with ``height`` (MTR, from H) and ``flow`` (MQS, from Q); every
instance carries the observation's ``observedAt``, so the history lands at the observation time.
The station's ``location`` (a GeoJSON Point) is set when the entity is created.

Observations are written in time order, one :meth:`Broker.upsert_canonical` call per
observation time (holding every station observed at that time), so each write sees the
previous one and the entity ends with the latest height and flow. Two kinds of observation are
not written, and are counted in the report:

* ``duplicates``: the entity's history already holds that attribute at that exact time (an
  import run again over the same period writes nothing twice);
* ``older``: older than the entity's current value of that attribute. Writing one would make
  it the entity's current value; the broker has no history-only write, so back-filling before
  the latest stored observation is not done.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from calanque.ngsild.canonical import format_ts, now_ts, parse_ts
from calanque.ngsild.service import Broker
from calanque.usecases.common import term_iri, to_us
from calanque.usecases.water.hubeau import HubEauClient, HydroObservation

STATION_CODE = re.compile(r"[A-Za-z0-9]{1,24}")
_ATTRS = {"H": ("height", "MTR"), "Q": ("flow", "MQS")}


class ImportFailed(Exception):
    """The broker refused an import write; the message names the entity and the reason."""


def entity_id(station: str) -> str:
    """The WaterObserved entity id of a Hub'Eau station."""
    return f"urn:ngsi-ld:WaterObserved:hubeau-{station}"


def check_stations(stations: Iterable[str]) -> list[str]:
    """Validate Hub'Eau station codes (letters and digits); return them without repeats, in order."""
    codes = list(dict.fromkeys(stations))
    if not codes:
        raise ValueError("give at least one Hub'Eau station code, e.g. Y442404001")
    for code in codes:
        if not isinstance(code, str) or not STATION_CODE.fullmatch(code):
            raise ValueError(f"'{str(code)[:40]}' is not a Hub'Eau station code (letters and digits, "
                             "e.g. Y442404001)")
    return codes


@dataclass(slots=True)
class StationReport:
    """What an import did for one station."""

    station: str
    entity_id: str
    fetched: int = 0
    written: int = 0
    duplicates: int = 0
    older: int = 0
    created: bool = False

    def describe(self) -> dict[str, object]:
        """A JSON description for the API and the CLI."""
        return {"station": self.station, "entityId": self.entity_id, "fetched": self.fetched,
                "written": self.written, "duplicates": self.duplicates, "older": self.older,
                "created": self.created}


def fetch(client: HubEauClient, stations: Sequence[str], start: datetime, end: datetime | None,
          on_station: Callable[[str, int], None] | None = None) -> list[HydroObservation]:
    """Every H and Q observation of the stations in [start, end], station by station; raises HubEauError."""
    observations: list[HydroObservation] = []
    for code in stations:
        found = [o for o in client.observations(code, start=start, end=end) if o.station == code]
        observations += found
        if on_station is not None:
            on_station(code, len(found))
    return observations


def _current(entity: dict | None, attr_iri: str) -> datetime | None:
    """observedAt of the entity's current default instance of an attribute."""
    for instance in (entity or {}).get("attrs", {}).get(attr_iri, []):
        if "datasetId" not in instance and instance.get("observedAt"):
            return parse_ts(instance["observedAt"])
    return None


def import_observations(broker: Broker, tenant: str, stations: Sequence[str],
                        observations: Sequence[HydroObservation],
                        progress: Callable[[int], None] | None = None) -> list[StationReport]:
    """Write the observations of the given stations as WaterObserved entities with history.

    ``progress`` is told how many observations were handled after each write. Raises
    ImportFailed when an entity id is taken by an entity of another type or the broker refuses a write.
    """
    type_iri, location_iri = term_iri("WaterObserved"), term_iri("location")
    iris = {q: term_iri(name) for q, (name, _) in _ATTRS.items()}
    reports = {code: StationReport(code, entity_id(code)) for code in stations}
    by_time: dict[datetime, dict[str, list[HydroObservation]]] = {}
    needs_location: set[str] = set()
    existing: set[str] = set()
    with broker.store.session() as session:
        for code, report in reports.items():
            mine = [o for o in observations if o.station == code]
            report.fetched = len(mine)
            entity = session.get_entity(tenant, report.entity_id) if session.tenant_exists(tenant) else None
            if entity is not None and type_iri not in entity.get("type", []):
                raise ImportFailed(f"entity '{report.entity_id}' exists and is not a WaterObserved; "
                                   "rename or delete it before importing station " + code)
            if entity is not None:
                existing.add(code)
            if entity is None or location_iri not in entity.get("attrs", {}):
                needs_location.add(code)
            for quantity, iri in iris.items():
                series = [o for o in mine if o.quantity == quantity]
                if not series:
                    continue
                times = [to_us(o.observed_at) for o in series]
                stored = {ts for ts, _ in session.read_series(tenant, report.entity_id, iri, min(times),
                                                              max(times) + 1, dataset_id="")}
                latest = _current(entity, iri)
                for obs in series:
                    if to_us(obs.observed_at) in stored:
                        report.duplicates += 1
                    elif latest is not None and obs.observed_at < latest:
                        report.older += 1
                    else:
                        by_time.setdefault(obs.observed_at, {}).setdefault(code, []).append(obs)
    for moment in sorted(by_time):
        now = now_ts()
        entities = []
        for code, found in by_time[moment].items():
            attrs: dict[str, list[dict]] = {}
            for obs in found:
                unit = _ATTRS[obs.quantity][1]
                attrs[iris[obs.quantity]] = [{"type": "Property", "value": obs.value, "unitCode": unit,
                                              "observedAt": format_ts(obs.observed_at),
                                              "createdAt": now, "modifiedAt": now}]
            located = next((o for o in found if o.longitude is not None), None)
            if code in needs_location and located is not None:
                attrs[location_iri] = [{"type": "GeoProperty", "createdAt": now, "modifiedAt": now,
                                        "value": {"type": "Point",
                                                  "coordinates": [located.longitude, located.latitude]}}]
                needs_location.discard(code)
            entities.append({"id": entity_id(code), "type": [type_iri], "createdAt": now, "modifiedAt": now,
                             "attrs": attrs})
        outcome = broker.upsert_canonical(tenant, entities)
        if outcome.errors:
            failed, err = outcome.errors[0]
            raise ImportFailed(f"the broker refused the observations of {format_ts(moment)} for "
                               f"'{failed}': {err.detail}")
        handled = 0
        for code, found in by_time[moment].items():
            reports[code].written += len(found)
            reports[code].created = code not in existing
            handled += len(found)
        if progress is not None:
            progress(handled)
    return list(reports.values())

"""Counter entities in the store: what a counter is, and its count history as :class:`CountArrays`.

A counter is a ``TrafficFlowObserved`` (bikes, count attribute ``intensity``) or a
``CrowdFlowObserved`` (pedestrians, ``peopleCount``) entity (docs/data-conventions.md). Each
direction is one instance of the count attribute, told apart by its datasetId
(``urn:ngsi-ld:Dataset:in`` / ``…:out``); the direction's name is the datasetId without that
prefix ("in", "out"), and an instance without datasetId is the direction "unspecified". A
sample observed at t covers the ``measurementPeriod`` seconds (default 900) ending at t.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any

import numpy as np

from calanque.ngsild.canonical import parse_ts
from calanque.ngsild.errors import TooManyResults
from calanque.store.base import EntityQuery, HourlyRollup, Session, Store
from calanque.usecases.common import term_iri, to_us
from calanque.usecases.hourly import read_hybrid
from calanque.usecases.mobility.counts import CountArrays

COUNT_ATTRIBUTES = {"TrafficFlowObserved": "intensity", "CrowdFlowObserved": "peopleCount"}
COUNTER_TYPES = tuple(COUNT_ATTRIBUTES)
DATASET_PREFIX = "urn:ngsi-ld:Dataset:"
DEVICE_PREFIX = "urn:ngsi-ld:Device:"
UNSPECIFIED = "unspecified"
DEFAULT_PERIOD_S = 900.0


class CounterError(ValueError):
    """A counter entity or its history cannot be used as it is; the message says why and what to fix."""


@dataclass(frozen=True, slots=True)
class Counter:
    """What the mobility computations need to know about one counter entity."""

    id: str
    type: str  # "TrafficFlowObserved" or "CrowdFlowObserved"
    attribute: str  # "intensity" or "peopleCount"
    name: str | None
    period_s: float
    directions: tuple[tuple[str, str], ...]  # (direction name, datasetId or "" for the default instance)
    last_observed: dict[str, str]  # direction name -> observedAt of the current instance
    location: tuple[float, float] | None  # (lon, lat)
    municipality_code: str | None
    device_id: str | None  # local id of refDevice
    created_at: str

    @property
    def attribute_iri(self) -> str:
        """The expanded IRI of the count attribute."""
        return term_iri(self.attribute)


def direction_name(dataset_id: str) -> str:
    """The direction of a datasetId: "in" for urn:ngsi-ld:Dataset:in, "unspecified" for the default instance."""
    if not dataset_id:
        return UNSPECIFIED
    return dataset_id.removeprefix(DATASET_PREFIX)


def dataset_of(direction: str) -> str:
    """The datasetId of a direction name (the inverse of :func:`direction_name`)."""
    return "" if direction == UNSPECIFIED else DATASET_PREFIX + direction


def _value(entity: dict, term: str) -> Any:
    """The value (or object) of the default instance of attribute ``term``, or None."""
    for inst in entity.get("attrs", {}).get(term_iri(term), []):
        if not inst.get("datasetId"):
            return inst.get("value", inst.get("object"))
    return None


def counter_of(entity: dict) -> Counter:
    """Read a canonical counter entity; CounterError when it is not one or its settings are unusable."""
    types = set(entity.get("type", []))
    kind = next((t for t in COUNTER_TYPES if term_iri(t) in types), None)
    if kind is None:
        raise CounterError(f"entity '{entity.get('id')}' is not a {' or '.join(COUNTER_TYPES)}")
    attribute = COUNT_ATTRIBUTES[kind]
    period = _value(entity, "measurementPeriod")
    if period is None:
        period = DEFAULT_PERIOD_S
    elif isinstance(period, bool) or not isinstance(period, int | float) or not math.isfinite(period) or period <= 0:
        raise CounterError(
            f"counter '{entity['id']}' has measurementPeriod {period!r}; it must be a positive number of seconds "
            "(unitCode SEC): fix the entity"
        )
    directions, last = [], {}
    for inst in entity.get("attrs", {}).get(term_iri(attribute), []):
        dataset = inst.get("datasetId") or ""
        name = direction_name(dataset)
        directions.append((name, dataset))
        if inst.get("observedAt"):
            last[name] = inst["observedAt"]
    location = _value(entity, "location")
    point = None
    if isinstance(location, dict) and location.get("type") == "Point":
        lon, lat = location["coordinates"][:2]
        point = (float(lon), float(lat))
    device = _value(entity, "refDevice")
    name = _value(entity, "name")
    code = _value(entity, "municipalityCode")
    return Counter(
        id=entity["id"],
        type=kind,
        attribute=attribute,
        name=name if isinstance(name, str) else None,
        period_s=float(period),
        directions=tuple(sorted(directions)),
        last_observed=last,
        location=point,
        municipality_code=code if isinstance(code, str) else None,
        device_id=device.removeprefix(DEVICE_PREFIX) if isinstance(device, str) else None,
        created_at=entity.get("createdAt", ""),
    )


def list_counters(store: Store, tenant: str, page: int = 500) -> Iterator[Counter]:
    """Every counter entity of a tenant, in storage order (none when the tenant does not exist)."""
    query = EntityQuery(type_iris=[term_iri(t) for t in COUNTER_TYPES], limit=page)
    with store.session() as session:
        if not session.tenant_exists(tenant):
            return
    offset = 0
    while True:
        query.offset = offset
        with store.session() as session:
            entities, _ = session.query_entities(tenant, query)
        for entity in entities:
            yield counter_of(entity)
        if len(entities) < page:
            return
        offset += page


@dataclass(frozen=True, slots=True)
class Samples:
    """The count samples of one counter, per direction: raw (observedAt µs array, count array), and the
    whole hours read as the store's hourly summaries (:mod:`calanque.usecases.hourly`)."""

    series: dict[str, tuple[np.ndarray, np.ndarray]]
    ignored: int  # negative counts left out
    hours: dict[str, HourlyRollup] = field(default_factory=dict)

    def arrays(self, period_s: float) -> CountArrays:
        """The samples as count records of ``period_s`` seconds each (an hour's samples after its first
        one as a single record from its first to its last sample: they lie between the two)."""
        summaries = {name: (h.t0, h.v0, h.t1, h.s - h.v0, h.n) for name, h in self.hours.items()}
        return CountArrays.from_samples(self.series, period_s, summaries)


def read_direction(
    store: Store, tenant: str, counter: Counter, dataset: str, start_us: int | None, end_us: int | None,
    *, limit: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The samples of one direction observed in [start_us, end_us): (observedAt µs, counts), oldest first.

    TooManyResults (403) when there are more than ``limit`` of them.
    """
    with store.session() as session:
        rows = session.read_series(
            tenant, counter.id, counter.attribute_iri, start_us, end_us,
            dataset_id=dataset, limit=None if limit is None else limit + 1,
        )
    if limit is not None and len(rows) > limit:
        raise _too_many(counter, dataset, limit)
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=2 * len(rows))
    return flat[0::2].astype(np.int64), flat[1::2]


def read_samples(
    store: Store, tenant: str, counter: Counter, start: datetime | None, end: datetime | None,
    *, limit: int | None = None,
) -> Samples:
    """Count samples whose interval overlaps [start, end): observed in [start, end + period).

    Whole hours whose samples are non-negative and do not overlap (steps of at least the period) are
    read as the store's hourly summaries, the rest raw. Negative counts (a device fault) are left out
    and counted in ``ignored``. TooManyResults (403) when a direction holds more than ``limit`` samples
    in the window.
    """
    if start is None or end is None:
        with store.session() as session:
            return _raw_samples(session, tenant, counter, start, end, limit)
    start_us = to_us(start)
    end_us = to_us(end) + int(counter.period_s * 1_000_000)
    period_us = counter.period_s * 1e6

    def usable(hours: HourlyRollup) -> np.ndarray:
        return (hours.mn >= 0) & ((hours.n == 1) | (hours.dmin >= period_us))

    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    summaries: dict[str, HourlyRollup] = {}
    ignored = 0
    with store.session() as session:
        for name, dataset in counter.directions:
            hybrid = read_hybrid(session, tenant, counter.id, counter.attribute_iri, start_us, end_us,
                                 dataset_id=dataset, usable=usable)
            if limit is not None and hybrid.samples > limit:
                raise _too_many(counter, dataset, limit)
            times, values = hybrid.times, hybrid.values
            good = values >= 0
            if not good.all():
                ignored += int((~good).sum())
                times, values = times[good], values[good]
            series[name] = (times, values)
            summaries[name] = hybrid.hours
    return Samples(series, ignored, summaries)


def _raw_samples(session: Session, tenant: str, counter: Counter, start: datetime | None, end: datetime | None,
                 limit: int | None) -> Samples:
    """:func:`read_samples` from raw samples only (open windows)."""
    start_us = to_us(start) if start else None
    end_us = to_us(end) + int(counter.period_s * 1_000_000) if end else None
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    ignored = 0
    for name, dataset in counter.directions:
        rows = session.read_series(tenant, counter.id, counter.attribute_iri, start_us, end_us, dataset_id=dataset,
                                   limit=None if limit is None else limit + 1)
        if limit is not None and len(rows) > limit:
            raise _too_many(counter, dataset, limit)
        flat = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=2 * len(rows))
        times, values = flat[0::2].astype(np.int64), flat[1::2]
        good = values >= 0
        if not good.all():
            ignored += int((~good).sum())
            times, values = times[good], values[good]
        series[name] = (times, values)
    return Samples(series, ignored)


def _too_many(counter: Counter, dataset: str, limit: int) -> TooManyResults:
    """The error for a direction holding more than ``limit`` samples in a period."""
    return TooManyResults(
        f"direction '{direction_name(dataset)}' of counter '{counter.id}' holds more than {limit} samples in "
        "this period (the server's max_history_rows); ask for a shorter period"
    )


def first_sample_us(store: Store, tenant: str, counter: Counter, dataset: str) -> int | None:
    """The observedAt (epoch µs) of the oldest count sample of one direction, or None."""
    with store.session() as session:
        rows = session.read_series(tenant, counter.id, counter.attribute_iri, dataset_id=dataset, limit=1)
    return int(rows[0][0]) if rows else None


def last_observed(counter: Counter) -> datetime | None:
    """The latest observedAt among the counter's current direction instances, or None."""
    times = [parse_ts(t) for t in counter.last_observed.values()]
    return max(times) if times else None

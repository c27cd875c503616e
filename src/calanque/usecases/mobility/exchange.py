"""The tenant's counters in the national open-data schema "comptage des mobilités": export and import.

Export (:func:`export_folder`, :func:`export_text`) writes the three CSV files of
:mod:`.frschema` from the counter entities (:mod:`.counters`):

* **site**: one row per counter entity located by a Point: ``site_id`` = entity id,
  ``site_name`` = ``name`` (else the id's last part), ``xlong``/``ylat`` = ``location``,
  ``fr_insee_code`` = ``municipalityCode``. A counter without a valid WGS84 Point location
  cannot be a site: it is left out of the three files and reported in ``skipped``.
* **channel**: one row per direction: ``channel_id`` = ``<entity id>:<direction>``,
  ``mobility_type`` BIKE (TrafficFlowObserved) or PEDESTRIAN (CrowdFlowObserved),
  ``provider_direction_code`` = the direction ("in", "out"), ``temporality`` PERMANENT,
  ``started_at`` = start of the oldest sample (else the entity's creation),
  ``last_updated_at`` = observedAt of the current value, ``time_step`` = ``measurementPeriod``.
* **measure**: one row per count sample observed in the period: ``end_datetime`` = its
  ``observedAt``, ``start_datetime`` = ``observedAt - measurementPeriod``, ``counter_id`` = the
  ``refDevice`` device id (else the entity id). Negative counts (device faults) are left out.
  The file is written column-wise (:func:`.frschema.export_measure_series`): a year of
  1-minute counts is half a million rows per direction.

Import (:func:`import_folder`, :func:`import_texts`) reads the same three files and writes
counters through the broker. Rows that break the schema or the rules below are reported with
their file and line and not imported; the others are:

* a channel's ``mobility_type`` must be exactly BIKE (→ ``TrafficFlowObserved`` with
  ``vehicleType`` "bicycle", counts in ``intensity``) or PEDESTRIAN (→ ``CrowdFlowObserved``,
  ``peopleCount``); its site must be an accepted row of the site file. The counter entity is
  ``urn:ngsi-ld:<type>:<site_id>`` (or ``site_id`` itself when it already is such an id, as in
  files this module exported), one per site and mode;
* the direction is ``provider_direction_code`` (else the compass ``direction``) in lower case,
  stored as datasetId ``urn:ngsi-ld:Dataset:<direction>``; "IN"/"OUT" thus become the
  platform's "in"/"out". A channel without either is the counter's default instance. One
  channel per site, mode and direction;
* a counter has one counting period (``measurementPeriod``): the existing entity's, else its
  channels' ``time_step``, else its first measure's length; a measure of another length is
  rejected, as is a second measure of one channel ending at the same time;
* a measure without a count (a gap) is skipped, and one ending at a time already in the
  counter's history is skipped as already stored, so importing the same files twice adds nothing.

The counter entities (name, location, municipalityCode, measurementPeriod, vehicleType, and
each direction's latest count unless the entity already holds a newer one) are upserted with
:meth:`calanque.ngsild.service.Broker.upsert_canonical`; the older counts are appended to the
history (``observedAt`` = the measure's end) in batches of :data:`HISTORY_BATCH` rows, rows
built by :func:`calanque.ngsild.service.history_rows`, the broker's own row builder.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from calanque.ngsild.canonical import format_ts, now_ts, parse_ts
from calanque.ngsild.entity import parse_attributes, parse_entity
from calanque.ngsild.errors import NgsiLdError
from calanque.ngsild.service import Broker, history_rows
from calanque.store.base import Store
from calanque.usecases.common import from_us, term_iri, to_us
from calanque.usecases.mobility import frschema
from calanque.usecases.mobility.counters import (
    COUNT_ATTRIBUTES,
    DEVICE_PREFIX,
    Counter,
    CounterError,
    counter_of,
    dataset_of,
    first_sample_us,
    list_counters,
    read_direction,
)

KINDS = ("site", "channel", "measure")
MODES = {"BIKE": "TrafficFlowObserved", "PEDESTRIAN": "CrowdFlowObserved"}
MODE_OF_TYPE = {entity_type: mode for mode, entity_type in MODES.items()}
HISTORY_BATCH = 10_000
_DIRECTION_CHARS = re.compile(r"[^a-z0-9._-]+")
_DEVICE_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")

Progress = Callable[[str, int, int | None], None]  # (step, done, total or None)


class ImportFilesError(ValueError):
    """The import folder or request lacks one of the three files; the message names it."""


# --- export ------------------------------------------------------------------------------------


@dataclass(slots=True)
class ExportResult:
    """Rows written per file and the counters left out, with the reason."""

    rows: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _exportable(store: Store, tenant: str, skipped: list[tuple[str, str]]) -> list[Counter]:
    """The tenant's counters that can be sites (located by a Point); the others go to ``skipped``."""
    counters = []
    for counter in list_counters(store, tenant):
        if counter.location is None:
            skipped.append((counter.id, "no Point location: the schema's site needs xlong and ylat"))
        elif not (-180 <= counter.location[0] <= 180 and -90 <= counter.location[1] <= 90):
            skipped.append((counter.id, f"location {list(counter.location)} is not a WGS84 [longitude, latitude]"))
        else:
            counters.append(counter)
    return counters


def _site(counter: Counter) -> frschema.Site:
    """The site row of a located counter."""
    lon, lat = counter.location or (0.0, 0.0)
    code = counter.municipality_code
    valid_code = code if code and re.fullmatch(r"([013-9]\d|2[AB1-9])\d{3}", code) else None
    return frschema.Site(
        site_id=counter.id,
        site_name=counter.name or counter.id.rsplit(":", 1)[-1],
        xlong=lon,
        ylat=lat,
        fr_insee_code=valid_code,
    )


def channel_id(counter: Counter, direction: str) -> str:
    """The channel id of one direction of a counter in exported files."""
    return f"{counter.id}:{direction}"


def _channels(store: Store, tenant: str, counter: Counter) -> list[frschema.Channel]:
    """The channel rows of a counter, one per direction."""
    rows = []
    for direction, dataset in counter.directions:
        first = first_sample_us(store, tenant, counter, dataset)
        started = (from_us(first) - timedelta(seconds=counter.period_s)) if first is not None \
            else parse_ts(counter.created_at)
        last = counter.last_observed.get(direction)
        rows.append(frschema.Channel(
            channel_id=channel_id(counter, direction),
            site_id=counter.id,
            temporality="PERMANENT",
            started_at=started,
            mobility_type=(MODE_OF_TYPE[counter.type],),
            provider_direction_code=direction,
            last_updated_at=parse_ts(last) if last else None,
            time_step=counter.period_s,
        ))
    return rows


def _measures(
    store: Store, tenant: str, counters: Iterable[Counter], start: datetime | None, end: datetime | None,
    limit: int | None,
) -> Iterator[frschema.MeasureSeries]:
    """The measures of each counter direction, samples observed in [start, end); negative counts left out."""
    for counter in counters:
        for direction, dataset in counter.directions:
            times, values = read_direction(
                store, tenant, counter, dataset, to_us(start) if start else None, to_us(end) if end else None,
                limit=limit,
            )
            good = values >= 0
            yield frschema.MeasureSeries(channel_id(counter, direction), counter.device_id or counter.id,
                                         times[good], values[good], counter.period_s)


def export_folder(
    store: Store, tenant: str, folder: Path, start: datetime | None = None, end: datetime | None = None,
    *, limit: int | None = None, progress: Progress | None = None,
) -> ExportResult:
    """Write site.csv, channel.csv and measure.csv (samples observed in [start, end)) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    result = ExportResult()
    counters = _exportable(store, tenant, result.skipped)
    result.rows["site"] = frschema.export_sites([_site(c) for c in counters], folder / "site.csv")
    channels = [row for c in counters for row in _channels(store, tenant, c)]
    result.rows["channel"] = frschema.export_channels(channels, folder / "channel.csv")
    if progress is not None:
        progress("channel", len(channels), len(channels))
    result.rows["measure"] = frschema.export_measure_series(
        _measures(store, tenant, counters, start, end, limit), folder / "measure.csv",
        None if progress is None else lambda done: progress("measure", done, None),
    )
    return result


def export_text(
    store: Store, tenant: str, kind: str, start: datetime | None = None, end: datetime | None = None,
    *, limit: int | None = None,
) -> tuple[str, ExportResult]:
    """One of the three files as text, and what was written and left out."""
    if kind not in KINDS:
        raise ValueError(f"unknown file {kind!r}; expected one of {', '.join(KINDS)}")
    result = ExportResult()
    counters = _exportable(store, tenant, result.skipped)
    with tempfile.TemporaryDirectory(prefix="calanque-export-") as tmp:
        path = Path(tmp) / f"{kind}.csv"
        if kind == "site":
            result.rows[kind] = frschema.export_sites([_site(c) for c in counters], path)
        elif kind == "channel":
            rows = [row for c in counters for row in _channels(store, tenant, c)]
            result.rows[kind] = frschema.export_channels(rows, path)
        else:
            result.rows[kind] = frschema.export_measure_series(_measures(store, tenant, counters, start, end, limit),
                                                               path)
        return path.read_text(encoding="utf-8"), result


# --- import ------------------------------------------------------------------------------------


@dataclass(slots=True)
class FileReport:
    """The rows of one file that were accepted, and one (line, reason) per rejected row."""

    accepted: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class ImportReport:
    """What an import did: per-file reports, counters written, samples added and skipped."""

    files: dict[str, FileReport] = field(default_factory=lambda: {k: FileReport() for k in KINDS})
    counters: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    samples: int = 0
    already_stored: int = 0
    gaps: int = 0
    counter_errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def imported_nothing(self) -> bool:
        """True when no counter and no sample was written."""
        return not self.counters and self.samples == 0

    def describe(self) -> dict[str, Any]:
        """The report as JSON."""
        return {
            "files": {
                kind: {"accepted": rep.accepted,
                       "errors": [{"line": line, "reason": reason} for line, reason in rep.errors]}
                for kind, rep in self.files.items()
            },
            "counters": self.counters,
            "created": self.created,
            "samples": self.samples,
            "alreadyStored": self.already_stored,
            "gaps": self.gaps,
            "counterErrors": [{"id": i, "reason": r} for i, r in self.counter_errors],
        }


@lru_cache(maxsize=1)
def _core_context() -> Any:
    """The NGSI-LD core context: imported entities use the Smart Data Models terms as the ingestion does."""
    from calanque.ngsild.jsonld import ContextResolver

    return ContextResolver().core


def _entity_id(site_id: str, entity_type: str) -> str:
    """The counter entity of a site and mode."""
    prefix = f"urn:ngsi-ld:{entity_type}:"
    return site_id if site_id.startswith(prefix) and len(site_id) > len(prefix) else prefix + site_id


def _direction(channel: dict[str, Any] | frschema.Channel) -> str:
    """The direction name of a channel: provider_direction_code, else compass direction, lower case."""
    get = channel.get if isinstance(channel, dict) else lambda name: getattr(channel, name)
    raw = (get("provider_direction_code") or get("direction") or "").strip().lower()
    return _DIRECTION_CHARS.sub("-", raw).strip("-") or "unspecified"


@dataclass(frozen=True, slots=True)
class _Route:
    """Where the counts of one accepted channel go."""

    entity_id: str
    entity_type: str
    direction: str
    site_id: str


@dataclass(slots=True)
class _Plan:
    """What the checks learn while reading the files: channels' counters, periods, measures seen."""

    existing: dict[str, dict]
    sites: dict[str, frschema.Site] = field(default_factory=dict)
    routes: dict[str, _Route] = field(default_factory=dict)  # by channel_id
    channel_of_direction: dict[tuple[str, str], str] = field(default_factory=dict)
    period: dict[str, float] = field(default_factory=dict)
    period_source: dict[str, str] = field(default_factory=dict)
    seen: set[tuple[str, datetime]] = field(default_factory=set)

    def known_period(self, entity_id: str) -> float | None:
        """The counting period of a counter as known so far (the existing entity's first)."""
        if entity_id not in self.period and entity_id in self.existing:
            try:
                counter = counter_of(self.existing[entity_id])
            except CounterError:
                return None
            self.period[entity_id] = counter.period_s
            self.period_source[entity_id] = "its measurementPeriod in the platform"
        return self.period.get(entity_id)


def _check_channel(plan: _Plan) -> frschema.RowCheck:
    """The Calanque rules on a schema-valid channel row."""

    def check(values: dict[str, Any]) -> str | None:
        """Site accepted, one supported mode, one channel per direction, one period per counter."""
        site_id = values["site_id"]
        if site_id not in plan.sites:
            return f"site_id '{site_id}' is not an accepted row of the site file; add the site or fix its row"
        modes = values["mobility_type"]
        if len(modes) != 1 or modes[0] not in MODES:
            return (f"mobility_type '{','.join(modes)}' cannot be imported: Calanque's mobility counters take one "
                    "mode per channel, BIKE (TrafficFlowObserved) or PEDESTRIAN (CrowdFlowObserved)")
        entity_type = MODES[modes[0]]
        entity_id = _entity_id(site_id, entity_type)
        direction = _direction(values)
        other = plan.channel_of_direction.get((entity_id, direction))
        if other is not None:
            return (f"channel '{other}' already counts {modes[0]} in direction '{direction}' at site '{site_id}'; "
                    "give each channel its own provider_direction_code")
        step = values["time_step"]
        known = plan.known_period(entity_id)
        if step is not None and known is not None and step != known:
            return (f"time_step {step:g} s differs from the {known:g} s counting period of counter '{entity_id}' "
                    f"({plan.period_source[entity_id]}); Calanque keeps one counting period per counter")
        if step is not None and known is None:
            plan.period[entity_id] = step
            plan.period_source[entity_id] = f"time_step of channel '{values['channel_id']}'"
        plan.channel_of_direction[(entity_id, direction)] = values["channel_id"]
        plan.routes[values["channel_id"]] = _Route(entity_id, entity_type, direction, site_id)
        return None

    return check


def _measure_end(measure: dict[str, Any] | frschema.Measure, channel: frschema.Channel) -> datetime:
    """A measure's end: end_datetime, else start + the channel's time_step (the schema's rule)."""
    get = measure.get if isinstance(measure, dict) else lambda name: getattr(measure, name)
    return get("end_datetime") or get("start_datetime") + timedelta(seconds=channel.time_step or 0)


def _check_measure(plan: _Plan, channels: dict[str, frschema.Channel]) -> frschema.RowCheck:
    """The Calanque rules on a schema-valid measure row of an accepted channel."""

    def check(values: dict[str, Any]) -> str | None:
        """One length per counter, one measure per channel and end time."""
        if values["count"] is None:
            return None
        channel = channels[values["channel_id"]]
        end = _measure_end(values, channel)
        length = (end - values["start_datetime"]).total_seconds()
        entity_id = plan.routes[channel.channel_id].entity_id
        known = plan.known_period(entity_id)
        if known is None:
            plan.period[entity_id] = length
            plan.period_source[entity_id] = "its first measure"
        elif length != known:
            return (f"the measure lasts {length:g} s but counter '{entity_id}' counts over {known:g} s "
                    f"({plan.period_source[entity_id]}); Calanque keeps one counting period per counter")
        key = (channel.channel_id, end)
        if key in plan.seen:
            return f"channel '{channel.channel_id}' already has a measure ending at {end.isoformat()} in this file"
        plan.seen.add(key)
        return None

    return check


def _payload(route: _Route, site: frschema.Site, period: float | None, device: str | None) -> dict[str, Any]:
    """The NGSI-LD payload of a counter entity from its site row (counts added separately)."""
    body: dict[str, Any] = {
        "id": route.entity_id,
        "type": route.entity_type,
        "name": {"type": "Property", "value": site.site_name},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [site.xlong, site.ylat]}},
    }
    if period is not None:
        body["measurementPeriod"] = {"type": "Property", "value": period, "unitCode": "SEC"}
    if site.fr_insee_code:
        body["municipalityCode"] = {"type": "Property", "value": site.fr_insee_code}
    if route.entity_type == "TrafficFlowObserved":
        body["vehicleType"] = {"type": "Property", "value": "bicycle"}
    if device is not None:
        body["refDevice"] = {"type": "Relationship", "object": DEVICE_PREFIX + device}
    return body


def _instance_maker(attribute: str, direction: str, now: str) -> Callable[[float, datetime], dict[str, Any]]:
    """A maker of canonical count instances of one direction: a template parsed like any NGSI-LD
    payload once, then copied with each count and observedAt."""
    raw: dict[str, Any] = {"type": "Property", "value": 0, "unitCode": "C62", "observedAt": now}
    dataset = dataset_of(direction)
    if dataset:
        raw["datasetId"] = dataset
    template = parse_attributes({attribute: raw}, _core_context(), now=now)[term_iri(attribute)][0]

    def make(count: float, observed: datetime) -> dict[str, Any]:
        """The instance holding ``count`` observed at ``observed``."""
        value = int(count) if float(count).is_integer() else count
        return {**template, "value": value, "observedAt": format_ts(observed)}

    return make


Counts = dict[_Route, list[tuple[datetime, float, str]]]  # (end, count, counter_id), oldest first


def import_folder(broker: Broker, tenant: str, folder: Path, *, progress: Progress | None = None) -> ImportReport:
    """Import site.csv, channel.csv and measure.csv from ``folder`` (see the module documentation)."""
    paths = {kind: folder / f"{kind}.csv" for kind in KINDS}
    missing = [p.name for p in paths.values() if not p.is_file()]
    if missing:
        raise ImportFilesError(f"folder {folder} has no {', '.join(missing)}; it needs site.csv, channel.csv "
                               "and measure.csv of the national schema comptage-mobilites")
    report = ImportReport()
    sites = frschema.import_sites(paths["site"])
    report.files["site"] = FileReport(len(sites.rows), sites.errors)
    # The counters these files may touch: their counting period and newest counts are respected.
    with broker.store.session() as session:
        candidates = [_entity_id(s.site_id, t) for s in sites.rows for t in MODES.values()]
        existing = session.get_entities(tenant, candidates) if session.tenant_exists(tenant) else {}
    plan = _Plan(existing=existing, sites={s.site_id: s for s in sites.rows})
    channels = frschema.import_channels(paths["channel"], _check_channel(plan))
    report.files["channel"] = FileReport(len(channels.rows), channels.errors)
    accepted = {c.channel_id: c for c in channels.rows}
    measures = frschema.import_measures(paths["measure"], accepted, _check_measure(plan, accepted))
    report.files["measure"] = FileReport(len(measures.rows), measures.errors)
    if progress is not None:
        progress("read", len(measures.rows), len(measures.rows))

    counts: Counts = {route: [] for route in plan.routes.values()}
    for measure in measures.rows:
        if measure.count is None:
            report.gaps += 1
            continue
        route = plan.routes[measure.channel_id]
        end = _measure_end(measure, accepted[measure.channel_id]).astimezone(UTC)
        counts[route].append((end, measure.count, measure.counter_id))
    for route, items in counts.items():
        items.sort(key=lambda item: item[0])
        if items and route.entity_id in existing:
            stored = _stored_times(broker.store, tenant, route, items[0][0], items[-1][0])
            kept = [item for item in items if to_us(item[0]) not in stored]
            report.already_stored += len(items) - len(kept)
            items[:] = kept

    now = now_ts()
    routes_of: dict[str, list[_Route]] = {}
    for route in plan.routes.values():
        routes_of.setdefault(route.entity_id, []).append(route)
    entities, current, history = [], {}, []
    for entity_id, routes in routes_of.items():
        try:
            entity, latest, older = _counter_entity(plan, routes, counts, now)
        except NgsiLdError as err:
            report.counter_errors.append((entity_id, err.detail))
            continue
        entities.append(entity)
        current[entity_id] = latest
        if older:
            history.append((entity_id, older))
    if entities:
        outcome = broker.upsert_canonical(tenant, entities)
        report.counters = list(outcome.success)
        report.created = list(outcome.created)
        report.counter_errors += [(i or "?", err.detail) for i, err in outcome.errors]
        report.samples += sum(current[i] for i in outcome.success)
        history = [(i, rows) for i, rows in history if i in set(outcome.success)]
    report.samples += _append_history(broker.store, tenant, history, progress)
    return report


def _stored_times(store: Store, tenant: str, route: _Route, first: datetime, last: datetime) -> set[int]:
    """observedAt (µs) of the counts a counter direction already holds in [first, last]."""
    attribute = term_iri(COUNT_ATTRIBUTES[route.entity_type])
    with store.session() as session:
        rows = session.read_series(tenant, route.entity_id, attribute, to_us(first), to_us(last) + 1,
                                   dataset_id=dataset_of(route.direction))
    return {int(t) for t, _ in rows}


def _counter_entity(plan: _Plan, routes: list[_Route], counts: Counts, now: str) -> tuple[dict, int, list]:
    """A counter's canonical entity with each direction's latest count, how many, and the older counts' rows.

    A direction's latest imported count becomes the entity's current value unless the entity
    already holds a newer one; every other count goes to the history only.
    """
    first = routes[0]
    attribute = COUNT_ATTRIBUTES[first.entity_type]
    existing = plan.existing.get(first.entity_id)
    newest: dict[str, datetime] = {}
    if existing is not None:
        try:
            newest = {d: parse_ts(t) for d, t in counter_of(existing).last_observed.items()}
        except CounterError:
            newest = {}
    device = None
    if existing is None:  # a new counter refers to the physical counter of its latest measure
        ids = [counts[r][-1] for r in routes if counts[r]]
        latest_id = max(ids, key=lambda item: item[0])[2] if ids else None
        device = latest_id if latest_id and _DEVICE_ID.fullmatch(latest_id) else None
    body = _payload(first, plan.sites[first.site_id], plan.known_period(first.entity_id), device)
    entity = parse_entity(body, _core_context(), now=now)
    instances, older = [], []
    for route in sorted(routes, key=lambda r: r.direction):
        items = counts[route]
        if not items:
            continue
        make = _instance_maker(attribute, route.direction, now)
        end, value, _ = items[-1]
        if route.direction not in newest or end > newest[route.direction]:
            instances.append(make(value, end))
            items = items[:-1]
        older += [make(v, t) for t, v, _ in items]
    if instances:
        entity["attrs"][term_iri(attribute)] = instances
    rows = history_rows({"id": first.entity_id, "modifiedAt": now, "attrs": {term_iri(attribute): older}}) \
        if older else []
    return entity, len(instances), rows


def _append_history(store: Store, tenant: str, history: list[tuple[str, list]], progress: Progress | None) -> int:
    """Append history rows in batches of HISTORY_BATCH, one transaction each; return how many."""
    rows = [row for _, entity_rows in history for row in entity_rows]
    for start in range(0, len(rows), HISTORY_BATCH):
        with store.session(write=True) as session:
            session.add_history(tenant, rows[start:start + HISTORY_BATCH])
        if progress is not None:
            progress("history", min(start + HISTORY_BATCH, len(rows)), len(rows))
    return len(rows)


def import_texts(broker: Broker, tenant: str, texts: dict[str, str]) -> ImportReport:
    """Import the three files given as texts ({"site": …, "channel": …, "measure": …})."""
    with tempfile.TemporaryDirectory(prefix="calanque-import-") as tmp:
        folder = Path(tmp)
        for kind in KINDS:
            if kind not in texts:
                raise ImportFilesError(f"the {kind} file is missing; send site, channel and measure")
            (folder / f"{kind}.csv").write_text(texts[kind], encoding="utf-8")
        return import_folder(broker, tenant, folder)


__all__ = [
    "KINDS",
    "ExportResult",
    "FileReport",
    "ImportFilesError",
    "ImportReport",
    "export_folder",
    "export_text",
    "import_folder",
    "import_texts",
]

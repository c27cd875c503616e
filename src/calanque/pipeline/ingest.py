"""The ingestion pipeline: raw connector messages in, NGSI-LD entity updates with history out, in batches.

One call to :meth:`Ingestor.ingest` takes a batch of :class:`Inbound` messages (as an MQTT
worker or an HTTP endpoint received them) and, in ONE store transaction:

1. parses each message with its connector (ChirpStack, The Things Stack, generic MQTT/HTTP);
2. drops duplicates: each uplink's keys (network id, DevEUI + fCnt, message time; see
   :mod:`calanque.pipeline.dedup`) are inserted into the shared ``ingest_dedup`` table in the
   same transaction as the history, so an uplink is stored once whichever worker sees it, and
   after a crash and a broker redelivery;
3. finds the device in the registry, decodes the payload (the network's decoded object when
   present, else the device's codec), maps measurements to attributes (Smart Data Models names,
   unitCodes) and lets the use case of the entity type derive more (its ``enrich`` hook);
4. merges the instances into the entity (a late uplink lands in the history at its observed
   time but does not overwrite a newer current value), appends one history row per instance,
   updates the device's link metadata (last seen, battery, RSSI/SNR, gateways, frame counter);
5. records every message that cannot go through (parse, unknown device, decode, mapping) in
   the dead-letter store with its raw payload and the reason.

If the batch as a whole fails in the store, each message is retried in its own transaction and
the ones that still fail become ``store`` dead letters: one poison message never blocks a stream.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from calanque.devices import repository as devrepo
from calanque.devices.deadletters import DeadLetter, add_dead_letter
from calanque.devices.models import Device
from calanque.field.connectors import chirpstack, generic, tts
from calanque.field.connectors.model import DeviceEvent, ParseError, Uplink
from calanque.ngsild.canonical import format_ts, parse_ts
from calanque.pipeline.dedup import DEFAULT_COUNTER_TOLERANCE, DedupIndex, keys_for
from calanque.pipeline.mapping import DecodeFailure, MappingError, decode_full, measurements_to_attributes
from calanque.store.base import HistoryRow, Session, Store

log = logging.getLogger("calanque.ingest")

CONNECTORS = ("chirpstack", "tts", "mqtt", "http")
_INACTIVE = ("inactive", "decommissioned")
_DEDUP_CHUNK = 300


@dataclass(slots=True)
class Inbound:
    """One raw message as a connector received it, before parsing.

    ``connector`` is chirpstack, tts, mqtt (generic topic pattern) or http (generic push);
    ``topic`` is the MQTT topic or the URL path; ``event`` the ChirpStack HTTP ``?event=``;
    ``pattern`` the generic MQTT topic pattern that matched.
    """

    connector: str
    tenant: str
    topic: str
    payload: bytes
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    event: str | None = None
    pattern: generic.TopicPattern | None = None
    transport: str = "mqtt"  # mqtt | http, for the dead-letter record


@dataclass(slots=True)
class Outcome:
    """What happened to one message of a batch."""

    status: str  # stored | duplicate | event | dead-letter
    device_id: str | None = None
    entity_id: str | None = None
    reason: str | None = None
    dead_letter_id: int | None = None
    error_kind: str | None = None


@dataclass(slots=True)
class BatchReport:
    """Counts of a batch, and one outcome per message in input order."""

    outcomes: list[Outcome] = field(default_factory=list)
    history_rows: int = 0

    def count(self, status: str) -> int:
        """How many messages ended with ``status``."""
        return sum(1 for o in self.outcomes if o.status == status)

    def summary(self) -> dict[str, int]:
        """Counts per status plus the history rows written."""
        return {
            "received": len(self.outcomes),
            "stored": self.count("stored"),
            "duplicates": self.count("duplicate"),
            "events": self.count("event"),
            "deadLetters": self.count("dead-letter"),
            "historyRows": self.history_rows,
        }


def parse_inbound(msg: Inbound) -> Uplink | DeviceEvent:
    """Parse one raw message with its connector; ParseError names what is wrong."""
    if msg.connector == "chirpstack":
        topic = msg.topic if msg.transport == "mqtt" else None
        return chirpstack.parse_event(msg.event, msg.payload, topic, received_at=msg.received_at)
    if msg.connector == "tts":
        topic = msg.topic if msg.transport == "mqtt" else None
        return tts.parse_message(msg.payload, topic, received_at=msg.received_at)
    if msg.connector == "mqtt":
        if msg.pattern is None:
            raise ParseError("generic MQTT message without a topic pattern")
        return generic.parse_mqtt(msg.pattern, msg.topic, msg.payload, received_at=msg.received_at)
    if msg.connector == "http":
        return generic.parse_http(msg.payload, received_at=msg.received_at)
    raise ParseError(f"unknown connector {msg.connector!r}: expected one of {', '.join(CONNECTORS)}")


class _DeadLetter(Exception):
    """Internal: this message goes to the dead-letter store."""

    def __init__(self, kind: str, reason: str, device_id: str | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.device_id = device_id


@dataclass(slots=True)
class _Item:
    index: int
    msg: Inbound
    tenant: str
    parsed: Uplink | DeviceEvent | None = None
    dead: _DeadLetter | None = None


class Ingestor:
    """Turns batches of raw messages into entity updates, history, device metadata and dead letters."""

    def __init__(
        self,
        store: Store,
        *,
        usecases: Sequence[Any] = (),
        listeners: Sequence[Callable[[list[Any]], None]] = (),
        counter_tolerance: timedelta = DEFAULT_COUNTER_TOLERANCE,
        dedup_retention: timedelta = timedelta(days=7),
    ) -> None:
        """Ingest into ``store``; ``usecases`` give the enrich hooks, ``listeners`` hear committed changes."""
        from calanque.usecases.common import term_iri

        self.store = store
        self.listeners = list(listeners)
        self.counter_tolerance = counter_tolerance
        self.dedup_retention = dedup_retention
        self._term_iri = term_iri
        self._enrichers: dict[str, list[Callable]] = {}
        for uc in usecases:
            if getattr(uc, "enrich", None) is not None:
                for t in uc.entity_types:
                    self._enrichers.setdefault(t, []).append(uc.enrich)
        self._mapping_cache: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._device_cache: dict[tuple[str, str], tuple[int | None, Device]] = {}
        self._last_prune = 0.0

    # public ------------------------------------------------------------------------------
    def ingest(self, messages: Sequence[Inbound]) -> BatchReport:
        """Process a batch in one transaction (per-message transactions if the batch fails in the store)."""
        items = [_Item(i, m, m.tenant) for i, m in enumerate(messages)]
        for item in items:
            try:
                item.parsed = parse_inbound(item.msg)
            except ParseError as err:
                item.dead = _DeadLetter("parse", str(err))
            else:
                hint = item.parsed.tenant_hint if item.msg.connector == "mqtt" else None
                if hint is not None:
                    item.tenant = hint
        try:
            report = self._run(items)
        except Exception as err:  # the store refused the batch: isolate the poison message(s)
            if len(items) == 1:
                report = self._store_failure(items[0], err)
            else:
                log.warning("batch of %d failed in the store (%s); retrying message by message", len(items), err)
                report = BatchReport(outcomes=[Outcome("dead-letter")] * len(items))
                for item in items:
                    try:
                        one = self._run([_Item(0, item.msg, item.tenant, item.parsed, item.dead)])
                    except Exception as single:
                        one = self._store_failure(item, single)
                    report.outcomes[item.index] = one.outcomes[0]
                    report.history_rows += one.history_rows
        self._maybe_prune()
        return report

    def retry_dead_letter(self, letter: DeadLetter) -> None:
        """Re-run a dead letter through the pipeline; raise with the reason if it fails again."""
        connector, _, transport = letter.connector.partition("-")
        if connector not in CONNECTORS:
            raise RuntimeError(f"dead letter {letter.id} came from an unknown connector '{letter.connector}'")
        event = None
        topic = letter.topic
        if connector == "chirpstack" and transport == "http":
            topic, _, query = topic.partition("?event=")
            event = query or "up"
        pattern = None
        if connector == "mqtt":
            topic, _, pattern_text = letter.topic.partition(" ")
            pattern = generic.TopicPattern(pattern_text) if pattern_text else None
        msg = Inbound(connector, letter.tenant, topic, letter.raw(), letter.received_at, event, pattern,
                      "http" if transport == "http" else "mqtt")
        outcome = self.ingest_one_no_deadletter(msg)
        if outcome.status == "dead-letter":
            raise RuntimeError(f"{outcome.error_kind}: {outcome.reason}")

    def ingest_one_no_deadletter(self, msg: Inbound) -> Outcome:
        """Ingest one message but do not record a new dead letter when it fails (used by retries)."""
        item = _Item(0, msg, msg.tenant)
        try:
            item.parsed = parse_inbound(msg)
        except ParseError as err:
            return Outcome("dead-letter", reason=str(err), error_kind="parse")
        report = self._run([item], record_dead_letters=False)
        return report.outcomes[0]

    # the batch ---------------------------------------------------------------------------
    def _run(self, items: list[_Item], *, record_dead_letters: bool = True) -> BatchReport:
        report = BatchReport(outcomes=[Outcome("dead-letter") for _ in items])
        changes: list[Any] = []
        attempts = 0
        while True:
            try:
                with self.store.session(write=True) as session:
                    changes = self._transaction(session, items, report, record_dead_letters)
                break
            except Exception as err:
                attempts += 1
                if attempts >= 3 or not _is_transient(err):
                    raise
                report = BatchReport(outcomes=[Outcome("dead-letter") for _ in items])
                time.sleep(0.05 * attempts)
        for listener in self.listeners:
            if changes:
                listener(changes)
        return report

    def _transaction(self, session: Session, items: list[_Item], report: BatchReport,
                     record_dead_letters: bool) -> list[Any]:
        now = datetime.now(UTC)
        now_ts = format_ts(now)
        by_tenant: dict[str, list[_Item]] = {}
        for item in items:
            if item.dead is None:
                by_tenant.setdefault(item.tenant, []).append(item)
        changes: list[Any] = []
        for tenant, group in by_tenant.items():
            session.ensure_tenant(tenant)
            changes += self._tenant_batch(session, tenant, group, report, now, now_ts)
        for item in items:
            if item.dead is not None:
                out = report.outcomes[item.index]
                out.status, out.reason, out.error_kind = "dead-letter", item.dead.reason, item.dead.kind
                out.device_id = out.device_id or item.dead.device_id
                if record_dead_letters:
                    letter = add_dead_letter(
                        session, tenant=item.tenant, payload=item.msg.payload,
                        connector=f"{item.msg.connector}-{item.msg.transport}", topic=_topic_of(item.msg),
                        error_kind=item.dead.kind, reason=item.dead.reason, device_id=item.dead.device_id,
                        received_at=item.msg.received_at,
                    )
                    out.dead_letter_id = letter.id
        return changes

    def _tenant_batch(self, session: Session, tenant: str, items: list[_Item], report: BatchReport,
                      now: datetime, now_ts: str) -> list[Any]:
        from calanque.ngsild.service import Change

        uplinks = [i for i in items if isinstance(i.parsed, Uplink)]
        events = [i for i in items if isinstance(i.parsed, DeviceEvent)]
        fresh = self._dedup(session, tenant, uplinks, report, now)
        keys = sorted({i.parsed.device_key for i in fresh + events})  # type: ignore[union-attr]
        devices = self._devices(session, tenant, keys)
        links: dict[str, devrepo.LinkUpdate] = {}

        # decode and map ----------------------------------------------------------------
        readings: list[tuple[_Item, Device, datetime, dict[str, list[dict]]]] = []
        for item in fresh:
            up: Uplink = item.parsed  # type: ignore[assignment]
            device = devices.get(up.device_key)
            try:
                if device is None:
                    raise _DeadLetter("unknown_device", f"no device '{up.device_key}' is registered in tenant "
                                      f"'{tenant}' (register it with the device API or `calanque devices import`)",
                                      up.device_key)
                if device.status in _INACTIVE:
                    raise _DeadLetter("unknown_device", f"device '{device.id}' is {device.status}; set its status "
                                      "to active to ingest its uplinks", device.id)
                try:
                    decoded = decode_full(up, device.codec, device.codec_script).data
                except DecodeFailure as err:
                    raise _DeadLetter("decode", err.reason, device.id) from None
                entity_attrs = self._map(device, decoded, up.observed_at)
            except _DeadLetter as dead:
                item.dead = dead
                report.outcomes[item.index].device_id = dead.device_id
                continue
            battery = decoded.get("batteryLevel")
            link = links.setdefault(device.id, devrepo.LinkUpdate(device.id))
            link.seen(up.observed_at, battery=battery if isinstance(battery, int | float) else None,
                      rssi=up.rssi, snr=up.snr, gateways=up.gateways or None, fcnt=up.f_cnt)
            out = report.outcomes[item.index]
            out.status, out.device_id, out.entity_id = "stored", device.id, device.entity_id
            readings.extend((item, device, at, attrs) for at, attrs in entity_attrs)

        for item in events:
            ev: DeviceEvent = item.parsed  # type: ignore[assignment]
            device = devices.get(ev.device_key)
            out = report.outcomes[item.index]
            out.status, out.device_id = "event", ev.device_key
            if device is None:
                item.dead = _DeadLetter("unknown_device", f"{ev.kind} event for unregistered device "
                                        f"'{ev.device_key}' in tenant '{tenant}'", ev.device_key)
                continue
            link = links.setdefault(device.id, devrepo.LinkUpdate(device.id))
            battery = ev.battery / 100 if ev.battery is not None else None
            link.seen(ev.observed_at, battery=battery)
            if ev.kind in ("ack", "nack", "txack", "downlink-queued", "downlink-sent", "downlink-failed"):
                from calanque.devices.commands import record_event

                record_event(session, tenant, device, ev)

        # merge into entities -------------------------------------------------------------
        readings.sort(key=lambda r: r[2])
        entity_ids = list(dict.fromkeys(d.entity_id for _, d, _, _ in readings))
        current = session.get_entities(tenant, entity_ids, for_update=True) if entity_ids else {}
        created: dict[str, dict] = {}
        touched: dict[str, dict] = {}
        reindex: set[str] = set()
        touched_attrs: dict[str, set[str]] = {}
        rows: list[HistoryRow] = []
        for item, device, at, attrs in readings:
            eid = device.entity_id
            entity = touched.get(eid) or current.get(eid)
            if entity is None:
                entity = _new_entity(device, self._term_iri(device.entity_type), now_ts, self._term_iri)
                created[eid] = entity
                reindex.add(eid)
            else:
                entity = touched.get(eid) or _copy_entity(entity)
            for enrich in self._enrichers.get(device.entity_type, ()):
                from calanque.usecases.registry import Enrichment

                before = None if eid in created and eid not in touched else entity
                extra = enrich(Enrichment(tenant, eid, device.entity_type, before, attrs, at,
                                          lambda other: _peek(session, tenant, other, touched, current)))
                for attr, insts in (extra or {}).items():
                    attrs.setdefault(attr, []).extend(insts)
            for attr, insts in attrs.items():
                existing = entity["attrs"].get(attr)
                if existing is None:
                    reindex.add(eid)
                    existing = entity["attrs"][attr] = []
                for inst in insts:
                    inst.setdefault("createdAt", now_ts)
                    inst["modifiedAt"] = now_ts
                    ds = inst.get("datasetId")
                    slot = next((k for k, old in enumerate(existing) if old.get("datasetId") == ds), None)
                    if slot is None:
                        existing.append(inst)
                        reindex.add(eid)
                    else:
                        old = existing[slot]
                        if old.get("type") != inst.get("type"):
                            reindex.add(eid)
                        if (old.get("observedAt") or "") <= (inst.get("observedAt") or ""):
                            inst["createdAt"] = old.get("createdAt", now_ts)
                            existing[slot] = inst
                    rows.append(HistoryRow(
                        entity_id=eid, attr=attr, instance=inst, dataset_id=ds or "",
                        instance_id=f"urn:ngsi-ld:attribute:instance:{uuid.uuid4()}",
                        observed_at=inst.get("observedAt"), created_at=now_ts, modified_at=now_ts,
                    ))
                    touched_attrs.setdefault(eid, set()).add(attr)
            entity["modifiedAt"] = now_ts
            touched[eid] = entity

        # uplinks that became dead letters are not stored: forget their keys so a retry goes through
        dead_keys = [_key_digest(session, f"{tenant}|{k}") for i in fresh if i.dead is not None
                     for k in keys_for(i.parsed)]
        for where, params in session.in_chunks("key", dead_keys):  # type: ignore[attr-defined]
            session._exec(f"DELETE FROM ingest_dedup WHERE {where}", params)  # type: ignore[attr-defined]
        if created:
            session.insert_entities(tenant, list(created.values()))
            session.upsert_temporal_entities(tenant, list(created.values()))
        updated = [e for eid, e in touched.items() if eid not in created]
        session.update_entities(tenant, [e for e in updated if e["id"] in reindex], reindex=True)
        session.update_entities(tenant, [e for e in updated if e["id"] not in reindex], reindex=False)
        session.add_history(tenant, rows)
        report.history_rows += len(rows)
        devrepo.apply_link_updates(session, tenant, devices, list(links.values()))
        return [
            Change(tenant, eid, "create" if eid in created else "update", e, current.get(eid),
                   sorted(touched_attrs.get(eid, ())))
            for eid, e in touched.items()
        ]

    # helpers -----------------------------------------------------------------------------
    def _dedup(self, session: Session, tenant: str, uplinks: list[_Item], report: BatchReport,
               now: datetime) -> list[_Item]:
        """Drop duplicates within the batch and against the shared index; record the new keys."""
        local = DedupIndex(capacity=max(1, 4 * len(uplinks) + 1), counter_tolerance=self.counter_tolerance)
        candidates: list[_Item] = []
        for item in uplinks:
            if local.check_and_record(item.parsed):  # type: ignore[arg-type]
                report.outcomes[item.index].status = "duplicate"
                report.outcomes[item.index].device_id = item.parsed.device_key  # type: ignore[union-attr]
            else:
                candidates.append(item)
        rows: list[tuple[str, int, bool, int, _Item]] = []
        stored_us = devrepo.to_us(now)
        for item in candidates:
            up: Uplink = item.parsed  # type: ignore[assignment]
            at = devrepo.to_us(up.observed_at)
            for key in keys_for(up):
                rows.append((_key_digest(session, f"{tenant}|{key}"), at, ":fcnt:" in key, stored_us, item))
        accepted: set[Any] = set()
        tolerance_us = int(self.counter_tolerance.total_seconds() * 1_000_000)
        counter_col = "ingest_dedup.counter" if session.dialect == "postgres" else "ingest_dedup.counter = 1"
        upsert = ("ON CONFLICT (key) DO UPDATE SET at = excluded.at, stored_at = excluded.stored_at "
                  f"WHERE {counter_col} AND abs(ingest_dedup.at - excluded.at) > {tolerance_us} RETURNING key")
        if session.dialect == "postgres" and rows:  # one short statement whatever the batch size
            cur = session._exec(  # type: ignore[attr-defined]
                "INSERT INTO ingest_dedup (key, at, counter, stored_at) "
                f"SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::boolean[], %b::bigint[]) {upsert}",
                ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]))
            accepted.update(r[0] for r in cur.fetchall())
            rows_sqlite: list = []
        else:
            rows_sqlite = rows
        for start in range(0, len(rows_sqlite), _DEDUP_CHUNK):
            chunk = rows_sqlite[start : start + _DEDUP_CHUNK]
            values = ", ".join("(?, ?, ?, ?)" for _ in chunk)
            params: list[Any] = []
            for key, at, counter, stored, _ in chunk:
                params += [key, at, counter if session.dialect == "postgres" else int(counter), stored]
            sql = f"INSERT INTO ingest_dedup (key, at, counter, stored_at) VALUES {values} {upsert}"
            accepted.update(r[0] for r in session._exec(sql, params).fetchall())  # type: ignore[attr-defined]
        fresh = []
        wanted: dict[int, list[str]] = {}
        for key, _, _, _, item in rows:
            wanted.setdefault(item.index, []).append(key)
        for item in candidates:
            keys = wanted.get(item.index, [])
            if all(k in accepted for k in keys):
                fresh.append(item)
            else:
                report.outcomes[item.index].status = "duplicate"
                report.outcomes[item.index].device_id = item.parsed.device_key  # type: ignore[union-attr]
        return fresh

    def _devices(self, session: Session, tenant: str, keys: list[str]) -> dict[str, Device]:
        """The batch's devices: configuration from a per-worker cache checked against ``modified_at``,
        link metadata fresh from the store; locked in id order on PostgreSQL so workers serialise."""
        lock = " ORDER BY device_id FOR UPDATE" if session.dialect == "postgres" else ""
        rows: list[Any] = []
        for where, params in session.in_chunks("device_id", keys):  # type: ignore[attr-defined]
            rows += session._exec(  # type: ignore[attr-defined]
                f"SELECT device_id, modified_at, last_seen, last_fcnt, fcnt_resets FROM devices "
                f"WHERE tenant = ? AND {where}{lock}", (tenant, *params)).fetchall()
        stale = [r[0] for r in rows if (c := self._device_cache.get((tenant, r[0]))) is None or c[0] != r[1]]
        if stale:
            for device_id, device in devrepo.get_devices(session, tenant, stale).items():
                self._device_cache[(tenant, device_id)] = (devrepo.to_us(device.modified_at)
                                                           if device.modified_at else None, device)
            if len(self._device_cache) > 200_000:
                self._device_cache.clear()
        out: dict[str, Device] = {}
        for device_id, _, last_seen, last_fcnt, resets in rows:
            cached = self._device_cache.get((tenant, device_id))
            if cached is None:
                continue
            out[device_id] = cached[1].model_copy(update={
                "last_seen": devrepo.from_us(last_seen), "last_fcnt": last_fcnt, "fcnt_resets": resets})
        return out

    def _map(self, device: Device, decoded: dict[str, Any], observed_at: datetime
             ) -> list[tuple[datetime, dict[str, list[dict]]]]:
        """Map decoded measurements (and any history entries they carry) to attribute instances."""
        cache_key = (device.tenant, device.id)
        stamp = devrepo.to_us(device.modified_at) if device.modified_at else 0
        cached = self._mapping_cache.get(cache_key)
        if cached is None or cached[0] != str(stamp):
            mapping = {
                key: {k: v for k, v in (("attribute", self._term_iri(m.attribute)), ("unitCode", m.unit_code),
                                        ("scale", m.scale), ("datasetId", m.dataset_id)) if v is not None}
                for key, m in device.mapping.items()
            }
            self._mapping_cache[cache_key] = cached = (str(stamp), mapping)
        mapping = cached[1]
        readings: list[tuple[datetime, dict[str, Any]]] = []
        main = {k: v for k, v in decoded.items() if k not in ("history", "observedAt")}
        at = _device_time(decoded.get("observedAt")) or observed_at
        readings.append((at, main))
        for entry in decoded.get("history") or ():
            if isinstance(entry, dict) and _device_time(entry.get("observedAt")) is not None:
                readings.append((_device_time(entry["observedAt"]),  # type: ignore[arg-type]
                                 {k: v for k, v in entry.items() if k != "observedAt"}))
        out = []
        for when, values in readings:
            try:
                attrs = measurements_to_attributes(values, mapping, when)
            except MappingError as err:
                raise _DeadLetter("mapping", str(err), device.id) from None
            if attrs:
                out.append((when, attrs))
        return out

    def _store_failure(self, item: _Item, err: Exception) -> BatchReport:
        reason = f"the store refused the message: {type(err).__name__}: {str(err)[:300]}"
        log.error("message on %s dead-lettered: %s", item.msg.topic, reason)
        with self.store.session(write=True) as session:
            letter = add_dead_letter(
                session, tenant=item.tenant, payload=item.msg.payload,
                connector=f"{item.msg.connector}-{item.msg.transport}", topic=_topic_of(item.msg),
                error_kind="store", reason=reason, received_at=item.msg.received_at,
            )
        return BatchReport(outcomes=[Outcome("dead-letter", reason=reason, dead_letter_id=letter.id,
                                             error_kind="store")])

    def _maybe_prune(self) -> None:
        """Forget dedup keys older than the retention, at most once a minute."""
        if time.monotonic() - self._last_prune < 60:
            return
        self._last_prune = time.monotonic()
        cutoff = devrepo.to_us(datetime.now(UTC) - self.dedup_retention)
        with self.store.session(write=True) as session:
            session._exec("DELETE FROM ingest_dedup WHERE stored_at < ?", (cutoff,))  # type: ignore[attr-defined]


def _key_digest(session: Session, key: str) -> Any:
    """The stored form of a dedup key: its 128-bit BLAKE2b digest (a UUID on PostgreSQL, bytes on SQLite)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
    return uuid.UUID(bytes=digest) if session.dialect == "postgres" else digest


def _topic_of(msg: Inbound) -> str:
    """The topic recorded with a dead letter (generic MQTT keeps its pattern for retries)."""
    if msg.connector == "chirpstack" and msg.transport == "http":
        return f"{msg.topic}?event={msg.event or 'up'}"
    if msg.connector == "mqtt" and msg.pattern is not None:
        return f"{msg.topic} {msg.pattern.pattern}"
    return msg.topic


def _new_entity(device: Device, type_iri: str, now_ts: str, term_iri: Callable[[str], str]) -> dict:
    """A new entity for a device whose entity does not exist yet: its type and the device's location."""
    entity: dict[str, Any] = {"id": device.entity_id, "type": [type_iri], "createdAt": now_ts,
                              "modifiedAt": now_ts, "attrs": {}}
    if device.location is not None:
        entity["attrs"][term_iri("location")] = [{
            "type": "GeoProperty", "value": {"type": "Point", "coordinates": [device.location.lon,
                                                                              device.location.lat]},
            "createdAt": now_ts, "modifiedAt": now_ts,
        }]
    return entity


def _copy_entity(entity: dict) -> dict:
    """A copy deep enough to replace instances without touching the loaded document."""
    return {**entity, "attrs": {a: list(insts) for a, insts in entity.get("attrs", {}).items()}}


def _peek(session: Session, tenant: str, entity_id: str, touched: dict[str, dict],
          current: dict[str, dict]) -> dict | None:
    """Another entity as this batch sees it (for enrichers: a container's model, a station's settings)."""
    return touched.get(entity_id) or current.get(entity_id) or session.get_entity(tenant, entity_id)


def _device_time(value: Any) -> datetime | None:
    """A device clock time written by a codec (ISO 8601 UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        return parse_ts(value)
    except ValueError:
        return None


def _is_transient(err: Exception) -> bool:
    """True for a deadlock, serialisation failure or busy database: the batch can simply be retried."""
    name = type(err).__name__
    text = str(err).lower()
    return name in ("DeadlockDetected", "SerializationFailure", "LockNotAvailable") or "database is locked" in text

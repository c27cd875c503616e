"""The context broker's operations: NGSI-LD semantics over the store, independent of HTTP.

Every write runs in one store transaction: it loads the entities it changes (locked on
PostgreSQL), applies the pure operations of :mod:`calanque.ngsild.algebra`, writes the new
documents and one history row per changed attribute instance, then tells the change
listeners (subscriptions, live dashboards) after commit.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from calanque.ngsild import algebra
from calanque.ngsild.canonical import VALUE_MEMBER, now_ts
from calanque.ngsild.context_protocol import PinnedTerm, TermContext
from calanque.ngsild.entity import NGSI_NULL, parse_attributes, parse_entity
from calanque.ngsild.errors import (
    AlreadyExists,
    BadRequestData,
    NgsiLdError,
    NonexistentTenant,
    ResourceNotFound,
)
from calanque.store.base import EntityQuery, HistoryRow, Session, Store
from calanque.store.scope import CURRENT as READ_SCOPE


@dataclass(slots=True)
class Change:
    """What one write did to one entity, for listeners (subscriptions, live pages)."""

    tenant: str
    entity_id: str
    operation: str  # create | update | replace | delete
    entity: dict | None  # the entity after the change (None when deleted)
    previous: dict | None = None
    attrs: list[str] = field(default_factory=list)  # attribute IRIs touched


@dataclass(slots=True)
class BatchOutcome:
    """Result of a batch operation: ids that succeeded and one error per failed entity."""

    success: list[str] = field(default_factory=list)
    errors: list[tuple[str | None, NgsiLdError]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


ChangeListener = Callable[[list[Change]], None]


# Instance ids: a random per-process prefix and a counter (str(uuid4()) per instance was 3 µs, 10 % of
# the CPU of a batch creation); unique across processes and restarts by the prefix's 64 random bits.
_INSTANCE_PREFIX = f"urn:ngsi-ld:attribute:instance:{uuid.uuid4().hex[:16]}-"
_INSTANCE_COUNTER = itertools.count(1)


def _instance_id() -> str:
    return f"{_INSTANCE_PREFIX}{next(_INSTANCE_COUNTER):x}"


def history_rows(entity: dict, touched: Iterable[tuple[str, str | None]] | None = None) -> list[HistoryRow]:
    """History rows for the given (attribute IRI, datasetId) instances, or for all of them."""
    wanted = None if touched is None else {(a, d or "") for a, d in touched}
    rows = []
    for attr, instances in entity.get("attrs", {}).items():
        for inst in instances:
            ds = inst.get("datasetId") or ""
            if wanted is not None and (attr, ds) not in wanted:
                continue
            rows.append(
                HistoryRow(
                    entity_id=entity["id"],
                    attr=attr,
                    instance=inst,
                    dataset_id=ds,
                    instance_id=_instance_id(),
                    observed_at=inst.get("observedAt"),
                    created_at=inst.get("modifiedAt") or entity["modifiedAt"],
                    modified_at=inst.get("modifiedAt") or entity["modifiedAt"],
                )
            )
    return rows


def _null_value(kind: str) -> Any:
    """The NGSI-LD Null in the value member of an attribute type (ETSI GS CIM 009 clause 5.2.1)."""
    if kind == "LanguageProperty":
        return {"@none": NGSI_NULL}
    if kind in ("ListProperty", "ListRelationship"):
        return [NGSI_NULL]
    return NGSI_NULL


def deletion_rows(previous: dict, deleted: Iterable[tuple[str, str | None]], at: str) -> list[HistoryRow]:
    """History rows recording the deletion of attribute instances of ``previous`` at time ``at``.

    Clause 5.2.1: in the temporal evolution a deleted element is represented with the NGSI-LD Null
    ("urn:ngsi-ld:null") as its value (``{"@none": "urn:ngsi-ld:null"}`` as a languageMap), and clause 4.8
    gives it ``deletedAt``, shown with options=sysAttrs (clause 6.3.11). The row is never observed: it
    is read with timeproperty=deletedAt or modifiedAt, and stays out of values and rollups.
    """
    rows = []
    attrs = previous.get("attrs", {})
    for attr, ds in dict.fromkeys(deleted):
        for inst in attrs.get(attr, []):
            if inst.get("datasetId") != ds:
                continue
            kind = inst.get("type", "Property")
            marker: dict[str, Any] = {"type": kind, VALUE_MEMBER.get(kind, "value"): _null_value(kind)}
            if ds is not None:
                marker["datasetId"] = ds
            if inst.get("createdAt"):
                marker["createdAt"] = inst["createdAt"]
            marker["modifiedAt"] = marker["deletedAt"] = at
            rows.append(HistoryRow(entity_id=previous["id"], attr=attr, instance=marker, dataset_id=ds or "",
                                   instance_id=_instance_id(), observed_at=None, created_at=at, modified_at=at,
                                   deleted=True))
    return rows


class Broker:
    """The NGSI-LD context broker over one store."""

    def __init__(self, store: Store, *, max_batch: int = 1000) -> None:
        self.store = store
        self.max_batch = max_batch
        self.listeners: list[ChangeListener] = []

    # plumbing --------------------------------------------------------------------------
    def add_listener(self, listener: ChangeListener) -> None:
        """Register a callable told about every committed change."""
        self.listeners.append(listener)

    def notify(self, changes: list[Change]) -> None:
        """Tell the listeners about committed changes (the ingestion pipeline calls this too).

        Listeners serve everyone (subscriptions, live pages): they run outside the read scope of the
        request that made the change (calanque.store.scope)."""
        if changes:
            token = READ_SCOPE.set(None)
            try:
                for listener in list(self.listeners):
                    listener(changes)
            finally:
                READ_SCOPE.reset(token)

    def check_tenant(self, session: Session, tenant: str) -> None:
        """Raise NonexistentTenant for reads on a tenant that was never created."""
        if not session.tenant_exists(tenant):
            raise NonexistentTenant(f"tenant '{tenant}' does not exist: create an entity in it first")

    def _record(self, session: Session, tenant: str, entities: Sequence[dict], rows: list[HistoryRow]) -> None:
        session.add_history(tenant, rows)
        session.upsert_temporal_entities(tenant, list(entities))

    def _record_deletions(self, session: Session, tenant: str, entities: Sequence[dict], at: str) -> None:
        """History of deleted entities: every attribute instance ends with its deletion at ``at``."""
        rows = [r for e in entities
                for r in deletion_rows(e, [(a, i.get("datasetId")) for a, insts in e.get("attrs", {}).items()
                                           for i in insts], at)]
        session.add_history(tenant, rows)
        session.upsert_temporal_entities(tenant, list(entities))  # an entity written before its history was
        session.mark_temporal_entities_deleted(tenant, [e["id"] for e in entities], at)

    def _load(self, session: Session, tenant: str, entity_id: str) -> dict:
        entity = session.get_entity(tenant, entity_id, for_update=True)
        if entity is None:
            raise ResourceNotFound(f"entity '{entity_id}' does not exist")
        return entity

    # create / read -----------------------------------------------------------------------
    def create_entity(self, tenant: str, body: Any, ctx: TermContext) -> str:
        """Create one entity from an NGSI-LD payload; return its id."""
        entity = parse_entity(body, ctx, now=now_ts())
        self.create_canonical(tenant, [entity], fail_if_exists=True)
        return entity["id"]

    def create_canonical(self, tenant: str, entities: Sequence[dict], *, fail_if_exists: bool) -> list[str]:
        """Insert parsed entities with their history; return ids that already existed."""
        with self.store.session(write=True) as session:
            session.ensure_tenant(tenant)
            existing = session.insert_entities(tenant, entities)
            if existing and fail_if_exists and len(entities) == 1:
                raise AlreadyExists(f"entity '{existing[0]}' already exists")
            skip = set(existing)
            fresh = [e for e in entities if e["id"] not in skip]
            rows = [r for e in fresh for r in history_rows(e)]
            self._record(session, tenant, fresh, rows)
        self.notify([Change(tenant, e["id"], "create", e, None, list(e.get("attrs", {}))) for e in fresh])
        return existing

    def get_entity(self, tenant: str, entity_id: str) -> dict:
        """Return one canonical entity or raise ResourceNotFound."""
        with self.store.session() as session:
            self.check_tenant(session, tenant)
            entity = session.get_entity(tenant, entity_id)
        if entity is None:
            raise ResourceNotFound(f"entity '{entity_id}' does not exist")
        return entity

    def query(self, tenant: str, query: EntityQuery) -> tuple[list[dict], int | None]:
        """Run an entity query; return the page and, if asked, the total count."""
        with self.store.session() as session:
            self.check_tenant(session, tenant)
            return session.query_entities(tenant, query)

    # attribute writes ----------------------------------------------------------------
    def _modify(
        self, tenant: str, entity_id: str, operation: str, apply: Callable[[dict], algebra.UpdateResult]
    ) -> algebra.UpdateResult:
        with self.store.session(write=True) as session:
            self.check_tenant(session, tenant)
            previous = self._load(session, tenant, entity_id)
            result = apply(previous)
            if result.changed:
                session.update_entities(tenant, [result.entity])
                rows = history_rows(result.entity, result.updated)
                rows += deletion_rows(previous, result.deleted, result.entity["modifiedAt"])
                self._record(session, tenant, [result.entity], rows)
        if result.changed:
            attrs = list(dict.fromkeys(a for a, _ in [*result.updated, *result.deleted]))
            self.notify([Change(tenant, entity_id, operation, result.entity, previous, attrs)])
        return result

    def append_attrs(self, tenant: str, entity_id: str, body: Any, ctx: TermContext, *,
                     no_overwrite: bool = False) -> algebra.UpdateResult:
        """POST /entities/{id}/attrs: add attributes, overwriting unless no_overwrite."""
        now = now_ts()
        attrs, extra_types = self._attrs_payload(body, ctx, now)
        return self._modify(
            tenant, entity_id, "update",
            lambda e: algebra.append_attrs(algebra.add_types(e, extra_types, now).entity, attrs, now,
                                           no_overwrite=no_overwrite),
        )

    def update_attrs(self, tenant: str, entity_id: str, body: Any, ctx: TermContext) -> algebra.UpdateResult:
        """PATCH /entities/{id}/attrs: update existing attributes only."""
        now = now_ts()
        attrs, _ = self._attrs_payload(body, ctx, now, allow_null=True)
        return self._modify(tenant, entity_id, "update", lambda e: algebra.update_attrs(e, attrs, now))

    def partial_update_attr(self, tenant: str, entity_id: str, attr: str, body: Any, ctx: TermContext) -> None:
        """PATCH /entities/{id}/attrs/{attr}: merge members into one attribute."""
        from calanque.ngsild.entity import parse_attribute_fragment

        now = now_ts()
        if not isinstance(body, dict):
            raise BadRequestData("the body must be a JSON object holding the attribute's members")
        fragment = parse_attribute_fragment(body, ctx, attr)
        dataset_id = fragment.get("datasetId") if isinstance(fragment, dict) else None
        self._modify(
            tenant, entity_id, "update",
            lambda e: algebra.partial_update_attr(e, attr, fragment, now, dataset_id=dataset_id),
        )

    def replace_attr(self, tenant: str, entity_id: str, attr: str, body: Any, ctx: TermContext) -> None:
        """PUT /entities/{id}/attrs/{attr}: replace one attribute."""
        now = now_ts()
        if not isinstance(body, dict):
            raise BadRequestData("the body must be a JSON object describing the attribute")
        member = {k: v for k, v in body.items() if k != "@context"}
        instances = parse_attributes({"__attr__": member}, PinnedTerm(ctx, "__attr__", attr), now=now)[attr]
        self._modify(tenant, entity_id, "replace", lambda e: algebra.replace_attr(e, attr, instances, now))

    def merge_entity(self, tenant: str, entity_id: str, body: Any, ctx: TermContext) -> None:
        """PATCH /entities/{id}: merge-patch the entity."""
        now = now_ts()
        attrs, extra_types = self._attrs_payload(body, ctx, now, merge=True, expected_id=entity_id)
        self._modify(
            tenant, entity_id, "update",
            lambda e: algebra.merge_entity(e, attrs, now, types=extra_types or None),
        )

    def replace_entity(self, tenant: str, entity_id: str, body: Any, ctx: TermContext) -> None:
        """PUT /entities/{id}: replace the entity's types and attributes."""
        if not isinstance(body, dict):
            raise BadRequestData("the body must be a JSON object describing the entity")
        payload = dict(body)
        if payload.get("id", entity_id) != entity_id:
            raise BadRequestData(f"the body's id '{payload.get('id')}' differs from the URL's id '{entity_id}'")
        payload["id"] = entity_id
        new = parse_entity(payload, ctx, now=now_ts())
        self._modify(tenant, entity_id, "replace", lambda e: algebra.replace_entity(e, new, new["modifiedAt"]))

    def delete_attr(self, tenant: str, entity_id: str, attr: str, *, dataset_id: str | None = None,
                    delete_all: bool = False) -> None:
        """DELETE /entities/{id}/attrs/{attr}: one instance, a datasetId or all instances."""
        now = now_ts()
        with self.store.session(write=True) as session:
            self.check_tenant(session, tenant)
            previous = self._load(session, tenant, entity_id)
            result = algebra.delete_attr(previous, attr, dataset_id=dataset_id,
                                         delete_all=delete_all, now=now)
            session.update_entities(tenant, [result.entity])
            self._record(session, tenant, [result.entity], deletion_rows(previous, result.deleted, now))
        self.notify([Change(tenant, entity_id, "update", result.entity, previous, [attr])])

    def delete_entity(self, tenant: str, entity_id: str) -> None:
        """DELETE /entities/{id}."""
        with self.store.session(write=True) as session:
            self.check_tenant(session, tenant)
            previous = session.get_entity(tenant, entity_id, for_update=True)
            if previous is None:
                raise ResourceNotFound(f"entity '{entity_id}' does not exist")
            session.delete_entities(tenant, [entity_id])
            self._record_deletions(session, tenant, [previous], now_ts())
        self.notify([Change(tenant, entity_id, "delete", None, previous, list(previous.get("attrs", {})))])

    # helpers for payloads ----------------------------------------------------------------
    def _attrs_payload(self, body: Any, ctx: TermContext, now: str, *, merge: bool = False,
                       allow_null: bool = False,
                       expected_id: str | None = None) -> tuple[dict[str, list[dict]], list[str]]:
        """Parse an attributes payload; return the attributes and any extra entity types."""
        if not isinstance(body, dict):
            raise BadRequestData("the body must be a JSON object of attributes")
        payload = dict(body)
        payload.pop("@context", None)
        if "id" in payload:
            if expected_id is not None and payload["id"] != expected_id:
                raise BadRequestData(f"the body's id '{payload['id']}' differs from the URL's id '{expected_id}'")
            payload.pop("id")
        types_raw = payload.pop("type", None)
        extra_types: list[str] = []
        if types_raw is not None:
            values = types_raw if isinstance(types_raw, list) else [types_raw]
            if not values or not all(isinstance(t, str) and t for t in values):
                raise BadRequestData("'type' must be a non-empty string or a list of strings")
            extra_types = [ctx.expand(t) for t in values]
        for member in ("createdAt", "modifiedAt", "scope"):
            payload.pop(member, None)
        attrs = (
            parse_attributes(payload, ctx, now=now, allow_null=allow_null or merge, partial=merge) if payload else {}
        )
        if not attrs and not extra_types and not merge:
            raise BadRequestData("the body holds no attribute")
        return attrs, extra_types

    # batch operations ---------------------------------------------------------------------
    def _check_batch(self, items: Any, what: str) -> list:
        if not isinstance(items, list):
            raise BadRequestData(f"the body of a batch {what} must be a JSON array")
        if not items:
            raise BadRequestData(f"the batch {what} is empty")
        if len(items) > self.max_batch:
            raise BadRequestData(f"the batch holds {len(items)} items; the limit is {self.max_batch}")
        return items

    def _parse_many(self, bodies: list, ctx: TermContext, outcome: BatchOutcome) -> list[dict]:
        parsed: list[dict] = []
        seen: set[str] = set()
        now = now_ts()
        for body in bodies:
            entity_id = body.get("id") if isinstance(body, dict) else None
            try:
                entity = parse_entity(body, ctx, now=now)
            except NgsiLdError as err:
                outcome.errors.append((entity_id if isinstance(entity_id, str) else None, err))
                continue
            if entity["id"] in seen:
                outcome.errors.append(
                    (entity["id"], BadRequestData(f"entity '{entity['id']}' appears twice in the batch"))
                )
                continue
            seen.add(entity["id"])
            parsed.append(entity)
        return parsed

    def batch_create(self, tenant: str, bodies: Any, ctx: TermContext) -> BatchOutcome:
        """POST /entityOperations/create."""
        bodies = self._check_batch(bodies, "create")
        outcome = BatchOutcome()
        parsed = self._parse_many(bodies, ctx, outcome)
        if parsed:
            existing = set(self.create_canonical(tenant, parsed, fail_if_exists=False))
            for e in parsed:
                if e["id"] in existing:
                    outcome.errors.append((e["id"], AlreadyExists(f"entity '{e['id']}' already exists")))
                else:
                    outcome.success.append(e["id"])
        return outcome

    def batch_upsert(self, tenant: str, bodies: Any, ctx: TermContext, *, replace: bool = True) -> BatchOutcome:
        """POST /entityOperations/upsert: create missing entities; replace or update the others."""
        bodies = self._check_batch(bodies, "upsert")
        outcome = BatchOutcome()
        parsed = self._parse_many(bodies, ctx, outcome)
        if parsed:
            self._upsert_parsed(tenant, parsed, replace=replace, outcome=outcome)
        return outcome

    def upsert_canonical(self, tenant: str, entities: Sequence[dict], *, replace: bool = False) -> BatchOutcome:
        """Upsert already-parsed canonical entities (used by the ingestion pipeline)."""
        outcome = BatchOutcome()
        self._upsert_parsed(tenant, list(entities), replace=replace, outcome=outcome)
        return outcome

    def _upsert_parsed(self, tenant: str, parsed: list[dict], *, replace: bool, outcome: BatchOutcome) -> None:
        changes: list[Change] = []
        with self.store.session(write=True) as session:
            session.ensure_tenant(tenant)
            current = session.get_entities(tenant, [e["id"] for e in parsed], for_update=True)
            fresh = [e for e in parsed if e["id"] not in current]
            session.insert_entities(tenant, fresh)
            rows = [r for e in fresh for r in history_rows(e)]
            changed: list[dict] = list(fresh)
            updated_docs: list[dict] = []
            for e in parsed:
                if e["id"] not in current:
                    outcome.created.append(e["id"])
                    outcome.success.append(e["id"])
                    changes.append(Change(tenant, e["id"], "create", e, None, list(e.get("attrs", {}))))
                    continue
                previous = current[e["id"]]
                try:
                    if replace:
                        result = algebra.replace_entity(previous, e, e["modifiedAt"])
                    else:
                        base = algebra.add_types(previous, e["type"], e["modifiedAt"]).entity
                        result = algebra.append_attrs(base, e.get("attrs", {}), e["modifiedAt"])
                except NgsiLdError as err:
                    outcome.errors.append((e["id"], err))
                    continue
                updated_docs.append(result.entity)
                changed.append(result.entity)
                rows += history_rows(result.entity, result.updated)
                rows += deletion_rows(previous, result.deleted, e["modifiedAt"])
                outcome.success.append(e["id"])
                changes.append(Change(tenant, e["id"], "replace" if replace else "update", result.entity, previous,
                                      list(dict.fromkeys(a for a, _ in result.updated))))
            session.update_entities(tenant, updated_docs)
            self._record(session, tenant, changed, rows)
        self.notify(changes)

    def batch_update(self, tenant: str, bodies: Any, ctx: TermContext, *, no_overwrite: bool = False) -> BatchOutcome:
        """POST /entityOperations/update: append attributes to existing entities."""
        return self._batch_modify(tenant, bodies, ctx, "update", no_overwrite=no_overwrite)

    def batch_merge(self, tenant: str, bodies: Any, ctx: TermContext) -> BatchOutcome:
        """POST /entityOperations/merge: merge-patch existing entities."""
        return self._batch_modify(tenant, bodies, ctx, "merge")

    def _batch_modify(self, tenant: str, bodies: Any, ctx: TermContext, op: str, *,
                      no_overwrite: bool = False) -> BatchOutcome:
        bodies = self._check_batch(bodies, op)
        outcome = BatchOutcome()
        now = now_ts()
        payloads: list[tuple[str, dict[str, list[dict]], list[str]]] = []
        for body in bodies:
            entity_id = body.get("id") if isinstance(body, dict) else None
            if not isinstance(entity_id, str) or not entity_id:
                outcome.errors.append((None, BadRequestData("every item of the batch needs an 'id'")))
                continue
            try:
                attrs, types = self._attrs_payload(body, ctx, now, merge=op == "merge")
            except NgsiLdError as err:
                outcome.errors.append((entity_id, err))
                continue
            payloads.append((entity_id, attrs, types))
        changes: list[Change] = []
        with self.store.session(write=True) as session:
            self.check_tenant(session, tenant)
            current = session.get_entities(tenant, [p[0] for p in payloads], for_update=True)
            docs, rows = [], []
            for entity_id, attrs, types in payloads:
                previous = current.get(entity_id)
                if previous is None:
                    outcome.errors.append((entity_id, ResourceNotFound(f"entity '{entity_id}' does not exist")))
                    continue
                try:
                    if op == "merge":
                        result = algebra.merge_entity(previous, attrs, now, types=types or None)
                    else:
                        base = algebra.add_types(previous, types, now).entity
                        result = algebra.append_attrs(base, attrs, now, no_overwrite=no_overwrite)
                except NgsiLdError as err:
                    outcome.errors.append((entity_id, err))
                    continue
                current[entity_id] = result.entity
                docs.append(result.entity)
                rows += history_rows(result.entity, result.updated)
                rows += deletion_rows(previous, result.deleted, now)
                outcome.success.append(entity_id)
                changes.append(Change(tenant, entity_id, "update", result.entity, previous,
                                      list(dict.fromkeys(a for a, _ in result.updated))))
            session.update_entities(tenant, docs)
            self._record(session, tenant, docs, rows)
        self.notify(changes)
        return outcome

    def batch_delete(self, tenant: str, ids: Any) -> BatchOutcome:
        """POST /entityOperations/delete: delete entities by id."""
        ids = self._check_batch(ids, "delete")
        outcome = BatchOutcome()
        valid = []
        for entity_id in ids:
            if not isinstance(entity_id, str) or not entity_id:
                outcome.errors.append((None, BadRequestData("the batch delete takes an array of entity ids")))
            else:
                valid.append(entity_id)
        with self.store.session(write=True) as session:
            self.check_tenant(session, tenant)
            previous = session.get_entities(tenant, valid, for_update=True)
            deleted = set(session.delete_entities(tenant, valid))
            self._record_deletions(session, tenant, [previous[i] for i in valid if i in deleted], now_ts())
        for entity_id in valid:
            if entity_id in deleted:
                outcome.success.append(entity_id)
            else:
                outcome.errors.append((entity_id, ResourceNotFound(f"entity '{entity_id}' does not exist")))
        self.notify([Change(tenant, i, "delete", None, previous.get(i)) for i in deleted])
        return outcome


"""The NGSI-LD write operations as pure functions over canonical entities.

Each operation takes a canonical entity (never modified) and canonical attributes as produced by
:mod:`calanque.ngsild.entity`, and returns an :class:`UpdateResult`: the new entity plus which
attribute instances were updated, deleted or left alone (with a reason), so that the caller can
write history rows and answer 204 or 207.

Rules shared by all operations (ETSI GS CIM 009 clause 5.6):

* instances are matched by ``datasetId`` (absent = the default instance);
* ``createdAt`` of an existing instance is preserved, ``modifiedAt`` of touched instances and
  of the entity is set to ``now``;
* entity types only grow (types may be appended, never removed).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from calanque.ngsild.canonical import VALUE_MEMBER
from calanque.ngsild.entity import NGSI_NULL, is_ngsi_null_instance
from calanque.ngsild.errors import BadRequestData, ResourceNotFound

Instance = dict[str, Any]
Attrs = dict[str, list[Instance]]
AttrKey = tuple[str, str | None]

_SYSTEM = ("createdAt", "modifiedAt")
_EXISTS = "attribute instance already exists and noOverwrite is set"
_VALUE_MEMBERS = frozenset(VALUE_MEMBER.values())


@dataclass
class UpdateResult:
    """The outcome of a write: the new entity and what happened to each attribute instance."""

    entity: dict[str, Any]
    updated: list[AttrKey] = field(default_factory=list)
    not_updated: list[tuple[str, str | None, str]] = field(default_factory=list)
    deleted: list[AttrKey] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True if at least one instance was written or deleted."""
        return bool(self.updated or self.deleted)


def append_attrs(
    entity: dict[str, Any], attrs: Attrs, now: str, *, no_overwrite: bool = False
) -> UpdateResult:
    """Append attributes (POST .../attrs): add new instances, overwrite existing ones unless no_overwrite."""
    result = UpdateResult(copy.deepcopy(entity))
    for iri, instances in attrs.items():
        for inst in instances:
            ds = inst.get("datasetId")
            index = _find(result.entity, iri, ds)
            if index is not None and no_overwrite:
                result.not_updated.append((iri, ds, _EXISTS))
                continue
            _put(result.entity, iri, inst, now)
            result.updated.append((iri, ds))
    return _touch(result, now)


def update_attrs(entity: dict[str, Any], attrs: Attrs, now: str) -> UpdateResult:
    """Update attributes (PATCH .../attrs): replace existing instances only; NGSI-LD Null deletes."""
    result = UpdateResult(copy.deepcopy(entity))
    for iri, instances in attrs.items():
        for inst in instances:
            ds = inst.get("datasetId")
            if _find(result.entity, iri, ds) is None:
                result.not_updated.append((iri, ds, _absent_reason(result.entity, iri, ds)))
                continue
            if is_ngsi_null_instance(inst):
                _remove(result.entity, iri, ds)
                result.deleted.append((iri, ds))
                continue
            _put(result.entity, iri, inst, now)
            result.updated.append((iri, ds))
    return _touch(result, now)


def partial_update_attr(
    entity: dict[str, Any], attr_iri: str, fragment: Instance, now: str, dataset_id: str | None = None
) -> UpdateResult:
    """Partial attribute update (PATCH .../attrs/{attr}): merge the fragment's members into one instance.

    Members present in the fragment replace the stored ones; an NGSI-LD Null removes an optional
    member or a sub-attribute. The instance is chosen by ``dataset_id``, else by the fragment's
    datasetId, else the default instance. Raises ResourceNotFound when it does not exist.
    """
    ds = dataset_id if dataset_id is not None else fragment.get("datasetId")
    result = UpdateResult(copy.deepcopy(entity))
    index = _find(result.entity, attr_iri, ds)
    if index is None:
        raise ResourceNotFound(_absent_reason(result.entity, attr_iri, ds), attribute=attr_iri)
    existing = result.entity["attrs"][attr_iri][index]
    for member in _VALUE_MEMBERS:
        if member in fragment and _is_null(fragment[member]):
            raise BadRequestData(
                f"attribute '{attr_iri}': '{member}' cannot be set to the NGSI-LD Null in a partial update "
                "(delete the attribute instead)"
            )
    merged = _merge_members(existing, fragment, attr_iri, deep=False, now=now)
    result.entity["attrs"][attr_iri][index] = merged
    result.updated.append((attr_iri, ds))
    return _touch(result, now)


def replace_attr(entity: dict[str, Any], attr_iri: str, instances: list[Instance], now: str) -> UpdateResult:
    """Replace an attribute (PUT .../attrs/{attr}): each given instance replaces the one with its datasetId.

    Raises ResourceNotFound when the entity has no such attribute.
    """
    if attr_iri not in entity.get("attrs", {}):
        raise ResourceNotFound(f"entity '{entity['id']}' has no attribute '{attr_iri}'", attribute=attr_iri)
    result = UpdateResult(copy.deepcopy(entity))
    for inst in instances:
        _put(result.entity, attr_iri, inst, now)
        result.updated.append((attr_iri, inst.get("datasetId")))
    return _touch(result, now)


def merge_entity(
    entity: dict[str, Any],
    patch_entity_attrs: Attrs,
    now: str,
    *,
    types: list[str] | None = None,
    scope: list[str] | None = None,
) -> UpdateResult:
    """Merge entity (PATCH /entities/{id}, clause 5.6.17) with JSON merge-patch semantics.

    Mentioned attributes are merged member by member (sub-attributes recursively, JSON object
    values and languageMaps key by key); unmentioned attributes and members are kept. The NGSI-LD
    Null (``urn:ngsi-ld:null``) deletes the attribute instance, sub-attribute, member or key it
    replaces. ``types`` are appended to the entity types; ``scope`` replaces the scopes.
    """
    result = UpdateResult(copy.deepcopy(entity))
    for iri, instances in patch_entity_attrs.items():
        for inst in instances:
            ds = inst.get("datasetId")
            index = _find(result.entity, iri, ds)
            if is_ngsi_null_instance(inst):
                if index is None:
                    result.not_updated.append((iri, ds, _absent_reason(result.entity, iri, ds)))
                else:
                    _remove(result.entity, iri, ds)
                    result.deleted.append((iri, ds))
                continue
            if index is None:
                fresh = _strip_nulls(inst)
                kind = fresh.get("type")
                if kind is None or VALUE_MEMBER[kind] not in fresh:
                    result.not_updated.append((iri, ds, "new attribute has no value to create it from"))
                    continue
                _put(result.entity, iri, fresh, now)
                result.updated.append((iri, ds))
                continue
            existing = result.entity["attrs"][iri][index]
            merged = _merge_members(existing, inst, iri, deep=True, now=now)
            result.entity["attrs"][iri][index] = merged
            result.updated.append((iri, ds))
    if types:
        _append_types(result, types)
    if scope is not None:
        if scope == [NGSI_NULL]:
            result.entity.pop("scope", None)
        else:
            result.entity["scope"] = list(scope)
        result.updated.append(("scope", None))
    return _touch(result, now)


def replace_entity(old: dict[str, Any], new: dict[str, Any], now: str) -> UpdateResult:
    """Replace entity (PUT /entities/{id}): the new attributes replace all old ones.

    The entity keeps its ``createdAt``; instances that exist in both keep theirs too. Types are
    the union of old and new types (types only grow). Raises BadRequestData if the ids differ.
    """
    if new.get("id") not in (None, old["id"]):
        raise BadRequestData(f"the payload id '{new['id']}' does not match the entity id '{old['id']}'")
    result = UpdateResult(copy.deepcopy(old))
    entity = result.entity
    for iri, instances in old.get("attrs", {}).items():
        kept = {inst.get("datasetId") for inst in new.get("attrs", {}).get(iri, [])}
        result.deleted.extend(
            (iri, inst.get("datasetId")) for inst in instances if inst.get("datasetId") not in kept
        )
    new_attrs: Attrs = {}
    for iri, instances in new.get("attrs", {}).items():
        for inst in instances:
            ds = inst.get("datasetId")
            fresh = copy.deepcopy(inst)
            index = _find(old, iri, ds)
            fresh["createdAt"] = old["attrs"][iri][index]["createdAt"] if index is not None else now
            fresh["modifiedAt"] = now
            new_attrs.setdefault(iri, []).append(fresh)
            result.updated.append((iri, ds))
    entity["attrs"] = new_attrs
    if "scope" in new:
        entity["scope"] = list(new["scope"])
    else:
        entity.pop("scope", None)
    _append_types(result, new.get("type", []))
    entity["modifiedAt"] = now
    return result


def delete_attr(
    entity: dict[str, Any],
    attr_iri: str,
    dataset_id: str | None = None,
    delete_all: bool = False,
    *,
    now: str,
) -> UpdateResult:
    """Delete an attribute: the default instance, the instance with ``dataset_id``, or all instances.

    Raises ResourceNotFound when the attribute or the selected instance does not exist.
    """
    if attr_iri not in entity.get("attrs", {}):
        raise ResourceNotFound(f"entity '{entity['id']}' has no attribute '{attr_iri}'", attribute=attr_iri)
    result = UpdateResult(copy.deepcopy(entity))
    if delete_all:
        removed = result.entity["attrs"].pop(attr_iri)
        result.deleted.extend((attr_iri, inst.get("datasetId")) for inst in removed)
    else:
        if _find(result.entity, attr_iri, dataset_id) is None:
            raise ResourceNotFound(_absent_reason(result.entity, attr_iri, dataset_id), attribute=attr_iri)
        _remove(result.entity, attr_iri, dataset_id)
        result.deleted.append((attr_iri, dataset_id))
    return _touch(result, now)


def add_types(entity: dict[str, Any], types: list[str], now: str) -> UpdateResult:
    """Append entity types (expanded IRIs); existing types are kept, duplicates ignored."""
    result = UpdateResult(copy.deepcopy(entity))
    _append_types(result, types)
    return _touch(result, now)


# -- internals --------------------------------------------------------------------------------------


def _find(entity: dict[str, Any], iri: str, ds: str | None) -> int | None:
    """Index of the instance of ``iri`` with datasetId ``ds`` (None = default), or None."""
    for index, inst in enumerate(entity.get("attrs", {}).get(iri, [])):
        if inst.get("datasetId") == ds:
            return index
    return None


def _absent_reason(entity: dict[str, Any], iri: str, ds: str | None) -> str:
    """Explain why an attribute instance was not found."""
    if iri not in entity.get("attrs", {}):
        return f"entity '{entity['id']}' has no attribute '{iri}'"
    which = f"datasetId '{ds}'" if ds is not None else "the default instance (no datasetId)"
    return f"attribute '{iri}' of entity '{entity['id']}' has no instance with {which}"


def _put(entity: dict[str, Any], iri: str, inst: Instance, now: str) -> None:
    """Insert or replace an instance, keeping the createdAt of the instance it replaces."""
    fresh = copy.deepcopy(inst)
    instances = entity.setdefault("attrs", {}).setdefault(iri, [])
    index = _find(entity, iri, inst.get("datasetId"))
    fresh["modifiedAt"] = now
    if index is None:
        fresh["createdAt"] = now
        instances.append(fresh)
    else:
        fresh["createdAt"] = instances[index].get("createdAt", now)
        instances[index] = fresh


def _remove(entity: dict[str, Any], iri: str, ds: str | None) -> None:
    """Remove one instance; drop the attribute when it has no instance left."""
    instances = [inst for inst in entity["attrs"][iri] if inst.get("datasetId") != ds]
    if instances:
        entity["attrs"][iri] = instances
    else:
        del entity["attrs"][iri]


def _touch(result: UpdateResult, now: str) -> UpdateResult:
    """Set the entity modifiedAt when something changed."""
    if result.changed:
        result.entity["modifiedAt"] = now
    return result


def _append_types(result: UpdateResult, types: list[str]) -> None:
    """Append missing types to the entity, recording the change."""
    current = result.entity["type"]
    added = [t for t in types if t not in current]
    if added:
        result.entity["type"] = current + added
        result.updated.append(("type", None))


def _is_null(value: Any) -> bool:
    """True if a member value is the NGSI-LD Null."""
    return value == NGSI_NULL or value == [NGSI_NULL]


def _merge_members(existing: Instance, fragment: Instance, iri: str, *, deep: bool, now: str) -> Instance:
    """Merge fragment members into an existing instance (shallow for partial update, deep for merge).

    The result keeps the existing createdAt and gets modifiedAt = ``now``.
    """
    merged = copy.deepcopy(existing)
    merged["modifiedAt"] = now
    new_type = fragment.get("type", existing["type"])
    if new_type != existing["type"]:
        if VALUE_MEMBER[new_type] not in fragment:
            raise BadRequestData(
                f"attribute '{iri}': changing its type from {existing['type']} to {new_type} "
                f"requires the '{VALUE_MEMBER[new_type]}' member"
            )
        merged.pop(VALUE_MEMBER[existing["type"]], None)
        merged["type"] = new_type
    for member, value in fragment.items():
        if member in ("type", "sub", *_SYSTEM):
            continue
        if _is_null(value):
            merged.pop(member, None)
        elif deep and member in ("value", "json", "languageMap") and isinstance(value, dict) and isinstance(
            merged.get(member), dict
        ):
            merged[member] = _merge_json(merged[member], value)
        else:
            merged[member] = copy.deepcopy(value)
    subs = merged.get("sub", {})
    for sub_iri, sub_inst in fragment.get("sub", {}).items():
        if is_ngsi_null_instance(sub_inst):
            subs.pop(sub_iri, None)
        elif deep and sub_iri in subs:
            subs[sub_iri] = _merge_members(subs[sub_iri], sub_inst, f"{iri} > {sub_iri}", deep=True, now=now)
        else:
            fresh = _strip_nulls(sub_inst)
            if "type" not in fresh or VALUE_MEMBER[fresh["type"]] not in fresh:
                raise BadRequestData(
                    f"attribute '{iri}': new sub-attribute '{sub_iri}' has no value to create it from"
                )
            created = subs[sub_iri].get("createdAt", now) if sub_iri in subs else now
            subs[sub_iri] = _stamp(fresh, now, created)
    if subs:
        merged["sub"] = subs
    else:
        merged.pop("sub", None)
    return merged


def _stamp(inst: Instance, now: str, created: str) -> Instance:
    """Set createdAt (to ``created``) and modifiedAt (to ``now``) on an instance and its sub-attributes."""
    inst["createdAt"] = created
    inst["modifiedAt"] = now
    for sub in inst.get("sub", {}).values():
        _stamp(sub, now, now)
    return inst


def _merge_json(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 merge of JSON objects where the NGSI-LD Null (not JSON null) deletes a key."""
    out = copy.deepcopy(target)
    for key, value in patch.items():
        if value == NGSI_NULL:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_json(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _strip_nulls(inst: Instance) -> Instance:
    """Copy of an instance without NGSI-LD Null members and sub-attributes (nothing to delete)."""
    out = {k: copy.deepcopy(v) for k, v in inst.items() if k != "sub" and not _is_null(v)}
    subs = {k: _strip_nulls(v) for k, v in inst.get("sub", {}).items() if not is_ngsi_null_instance(v)}
    if subs:
        out["sub"] = subs
    return out

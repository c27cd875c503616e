"""What a write touches, for the checks a role table cannot make alone.

An operator may change only the entities, devices and commands of its use cases (an entity's type
must be one of the use case's entity types), and an identity narrowed to communes or sites may change
only what lies in them (an entity's ``municipalityCode`` / ``site``, a device's ``commune`` / ``site``).
Both the stored target and the new content are checked, so a write can neither touch an entity out of
reach nor move one out of reach. A target that does not exist is not refused here: the endpoint answers
404 or creates it from the body, which was checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from calanque.auth.model import Principal, term_of
from calanque.auth.policy import Endpoint, Refusal
from calanque.store.base import Session

_ENTITY_PATH = re.compile(r"^/ngsi-ld/v1/(temporal/)?entities/(.+?)(?:/attrs(?:/.*)?)?$")
_BATCH_PATH = re.compile(r"^/ngsi-ld/v1/entityOperations/(create|upsert|update|merge|delete)/?$")
_DEVICE_PATH = re.compile(r"^/api/v1/devices/([^/]+)$")


@dataclass(slots=True)
class Target:
    """One thing a write touches: its entity types (terms), commune and site, and how to name it."""

    label: str
    types: frozenset[str]
    commune: str | None
    site: str | None


def needs_check(principal: Principal, endpoint: Endpoint) -> bool:
    """Whether this write must be checked against its targets."""
    return (
        endpoint.family in ("ngsi-ld", "devices", "commands")
        and endpoint.action in ("write", "command")
        and (principal.role == "operator" or bool(principal.communes) or bool(principal.sites))
    )


def check(
    session: Session,
    principal: Principal,
    method: str,
    path: str,
    tenant: str,
    body: bytes,
    usecase_types: dict[str, frozenset[str]],
) -> Refusal | None:
    """None when every target of the write is within the principal's reach, else the refusal."""
    try:
        targets = _targets(session, method, path, tenant, body)
    except _Unknown as err:
        return Refusal(403, f"this {principal.kind} is limited to {_reach(principal)} and {err}")
    allowed: frozenset[str] | None = None
    if principal.role == "operator":
        allowed = frozenset().union(*(usecase_types.get(u, frozenset()) for u in principal.usecases))
    for t in targets:
        if allowed is not None and not (t.types & allowed):
            return Refusal(
                403,
                f"{t.label} (type {', '.join(sorted(t.types)) or 'unknown'}) is outside the use "
                f"cases of this operator ({', '.join(principal.usecases)})",
            )
        if principal.communes and t.commune not in principal.communes:
            return Refusal(
                403,
                f"{t.label} is in commune {t.commune or '(none given)'}; this {principal.kind} "
                f"may change only communes {', '.join(principal.communes)}",
            )
        if principal.sites and t.site not in principal.sites:
            return Refusal(
                403,
                f"{t.label} is on site {t.site or '(none given)'}; this {principal.kind} may "
                f"change only sites {', '.join(principal.sites)}",
            )
    return None


class _Unknown(Exception):
    """The targets of a write cannot be determined (so a limited identity may not perform it)."""


def _reach(principal: Principal) -> str:
    parts = []
    if principal.role == "operator":
        parts.append(f"use cases {', '.join(principal.usecases)}")
    if principal.communes:
        parts.append(f"communes {', '.join(principal.communes)}")
    if principal.sites:
        parts.append(f"sites {', '.join(principal.sites)}")
    return "; ".join(parts)


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        raise _Unknown("the request body is not JSON") from None


def _targets(session: Session, method: str, path: str, tenant: str, body: bytes) -> list[Target]:
    if path.startswith("/ngsi-ld/v1/"):
        return _ngsild_targets(session, method, path, tenant, body)
    if path.startswith("/api/v1/devices"):
        return _device_targets(session, method, path, tenant, body)
    if path.rstrip("/") == "/api/v1/commands":
        return _command_targets(session, tenant, _json(body))
    raise _Unknown(f"{path} is not an endpoint whose targets it knows")


def _ngsild_targets(session: Session, method: str, path: str, tenant: str, body: bytes) -> list[Target]:
    if path.rstrip("/") in ("/ngsi-ld/v1/entities", "/ngsi-ld/v1/temporal/entities"):
        doc = _json(body)
        if not isinstance(doc, dict):
            raise _Unknown("the body is not an entity")
        return [_body_target(doc)] + _stored(session, tenant, doc.get("id"))
    m = _BATCH_PATH.match(path)
    if m:
        items = _json(body)
        if not isinstance(items, list):
            raise _Unknown("the batch body is not a list")
        found: list[Target] = []
        for item in items:
            if m.group(1) == "delete":
                found += _stored(session, tenant, item)
            elif isinstance(item, dict):
                found += [_body_target(item)] if m.group(1) in ("create", "upsert") or "type" in item else []
                found += _stored(session, tenant, item.get("id"))
            else:
                raise _Unknown("a batch item is not an entity")
        return found
    m = _ENTITY_PATH.match(path)
    if m:
        found = _stored(session, tenant, m.group(2), temporal=bool(m.group(1)))
        doc = _json(body) if body and method in ("PUT", "PATCH", "POST") else None
        if isinstance(doc, dict) and not path.endswith("/attrs") and "/attrs/" not in path:
            found.append(_body_target(doc, fallback=found[0] if found else None))
        elif isinstance(doc, dict) and (
            _attr(doc, "municipalityCode") is not None or _attr(doc, "site") is not None
        ):
            found.append(_body_target(doc, fallback=found[0] if found else None))
        return found
    raise _Unknown(f"{method} {path} is not an entity write it can check")


def _attr(doc: dict[str, Any], term: str) -> Any:
    """The value of an attribute in a request body (normalised or concise), or None."""
    for key, value in doc.items():
        if key == term or term_of(key) == term:
            if isinstance(value, list):
                value = value[0] if value else None
            if isinstance(value, dict):
                return value.get("value")
            return value
    return None


def _types(value: Any) -> frozenset[str]:
    items = value if isinstance(value, list) else [value]
    return frozenset(term_of(t) for t in items if isinstance(t, str))


def _body_target(doc: dict[str, Any], fallback: Target | None = None) -> Target:
    commune, site = _attr(doc, "municipalityCode"), _attr(doc, "site")
    return Target(
        label=f"entity {str(doc.get('id', '(new)'))[:120]}",
        types=_types(doc["type"]) if "type" in doc else (fallback.types if fallback else frozenset()),
        commune=str(commune) if commune is not None else (fallback.commune if fallback else None),
        site=str(site) if site is not None else (fallback.site if fallback else None),
    )


def _stored(session: Session, tenant: str, entity_id: Any, *, temporal: bool = False) -> list[Target]:
    if not isinstance(entity_id, str):
        return []
    doc = session.get_entity(tenant, entity_id)
    if doc is None and temporal:
        found = session.temporal_entity(tenant, entity_id)
        return [Target(f"entity {entity_id[:120]}", _types(found["type"]), None, None)] if found else []
    if doc is None:
        return []
    attrs = doc.get("attrs", {})

    def value(term: str) -> str | None:
        for iri, instances in attrs.items():
            if term_of(iri) == term and instances:
                v = instances[0].get("value")
                return str(v) if v is not None else None
        return None

    return [
        Target(
            f"entity {entity_id[:120]}", _types(doc.get("type", [])), value("municipalityCode"), value("site")
        )
    ]


def _device_targets(session: Session, method: str, path: str, tenant: str, body: bytes) -> list[Target]:
    from calanque.devices.repository import get_device

    if path.rstrip("/") == "/api/v1/devices/import":
        from calanque.devices.importer import rows_reach

        try:
            rows = rows_reach(body)
        except ValueError as err:
            raise _Unknown(str(err)) from None
        return [Target(f"device {device_id[:120]}", _types(entity_type), commune, site)
                for device_id, entity_type, commune, site in rows]
    found: list[Target] = []
    m = _DEVICE_PATH.match(path)
    if m:
        device = get_device(session, tenant, m.group(1))
        if device is not None:
            found.append(
                Target(f"device {device.id}", _types(device.entity_type), device.commune, device.site)
            )
    elif path.rstrip("/") != "/api/v1/devices":
        raise _Unknown(f"{method} {path} is not a device write it can check")
    doc = _json(body) if method in ("POST", "PATCH", "PUT") else None
    if isinstance(doc, dict):
        base = found[0] if found else None
        found.append(
            Target(
                f"device {str(doc.get('id') or (base.label if base else '(new)'))[:120]}",
                _types(doc["entityType"]) if "entityType" in doc else (base.types if base else frozenset()),
                doc.get("commune") if "commune" in doc else (base.commune if base else None),
                doc.get("site") if "site" in doc else (base.site if base else None),
            )
        )
    return found


def _command_targets(session: Session, tenant: str, doc: Any) -> list[Target]:
    from calanque.devices.repository import get_device

    if not isinstance(doc, dict):
        raise _Unknown("the command body is not an object")
    if isinstance(doc.get("device"), str):
        device = get_device(session, tenant, doc["device"])
        return (
            [Target(f"device {device.id}", _types(device.entity_type), device.commune, device.site)]
            if device
            else []
        )
    for member in ("entity", "group"):
        if isinstance(doc.get(member), str):
            return _stored(session, tenant, doc[member])
    return []

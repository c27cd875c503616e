"""Public data: which entity types and attributes of a tenant anonymous callers may read.

Everything is private unless published. A tenant's publication is a set of entity types, each with
the attributes of it that are public (its ``id`` and ``type`` come with it); it lives in the store
(``publications``, migration 0007) and is changed by the tenant's admins through
``/api/v1/publication`` and ``calanque publication``. Use cases declare defaults
(:class:`calanque.usecases.registry.Publication`): the platform applies each default once to the
default tenant (``publication_defaults`` remembers it, so a default an admin unpublished stays
unpublished), and an admin may apply them to any tenant.

Types and attributes are stored as IRIs; callers name them with core-context terms (``LAeq``) or
full IRIs. Anonymous reads apply a publication through a :class:`calanque.store.scope.ReadScope`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from calanque.auth.model import AuthInputError, now_us
from calanque.store.base import Session

MAX_ATTRIBUTES = 500
_NAME = re.compile(r"[^\s\x00-\x1f\"'<>\\{}|^`]{1,512}")
_CORE_MEMBERS = {"id", "type", "@id", "@type", "@context", "scope", "createdAt", "modifiedAt", "deletedAt"}


def _x(session: Session, sql: str, params: Any = ()) -> Any:
    return session._exec(sql, params)  # type: ignore[attr-defined]


def expand(name: str, what: str) -> str:
    """The IRI of a type or attribute named by a core-context term or an IRI (AuthInputError if invalid)."""
    from calanque.usecases.common import term_iri

    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise AuthInputError(
            f"bad {what} name '{str(name)[:80]}': give a term such as LAeq or an absolute IRI"
        )
    if name in _CORE_MEMBERS:
        raise AuthInputError(
            f"'{name}' is not an attribute: an entity's id and type are public with its type"
        )
    return term_iri(name)


def compact(iri: str) -> str:
    """The core-context term of an IRI (the IRI itself when no term maps to it)."""
    from calanque.usecases.common import _core_resolver

    return _core_resolver().core.compact(iri)


@dataclass(frozen=True, slots=True)
class PublishedType:
    """One published entity type: its public attributes and who published it, when."""

    entity_type: str
    attributes: tuple[str, ...]
    source: str
    updated_at: int
    updated_by: str

    def as_json(self) -> dict[str, Any]:
        """The type as the API shows it (terms of the core context)."""
        from calanque.devices.repository import from_us

        moment = from_us(self.updated_at)
        return {
            "entityType": compact(self.entity_type),
            "attributes": sorted(compact(a) for a in self.attributes),
            "source": self.source,
            "updatedAt": moment.isoformat().replace("+00:00", "Z") if moment else None,
            "updatedBy": self.updated_by,
        }


def list_published(session: Session, tenant: str) -> list[PublishedType]:
    """The published types of a tenant, by type IRI (attribute rows of an unpublished type are ignored)."""
    rows = _x(
        session,
        "SELECT entity_type, attr, source, updated_at, updated_by FROM publications WHERE tenant = ? "
        "ORDER BY entity_type, attr",
        (tenant,),
    ).fetchall()
    heads: dict[str, tuple[str, int, str]] = {}
    attrs: dict[str, list[str]] = {}
    for entity_type, attr, source, updated_at, updated_by in rows:
        if attr == "":
            heads[entity_type] = (source, int(updated_at), updated_by)
        else:
            attrs.setdefault(entity_type, []).append(attr)
    out = []
    for entity_type, (source, updated_at, updated_by) in heads.items():
        latest = max([updated_at] + [int(r[3]) for r in rows if r[0] == entity_type])
        by = next((r[4] for r in rows if r[0] == entity_type and int(r[3]) == latest), updated_by)
        out.append(PublishedType(entity_type, tuple(attrs.get(entity_type, [])), source, latest, by))
    return out


def published(session: Session, tenant: str) -> dict[str, frozenset[str]]:
    """{type IRI: public attribute IRIs} of a tenant: what its read scope shows anonymous callers."""
    return {p.entity_type: frozenset(p.attributes) for p in list_published(session, tenant)}


def publish(
    session: Session,
    tenant: str,
    entity_type: str,
    attributes: Iterable[str],
    *,
    actor: str,
    replace: bool,
    source: str = "admin",
) -> PublishedType:
    """Publish a type with these attributes (names or IRIs): exactly these (``replace``) or these too."""
    type_iri = expand(entity_type, "entity type")
    wanted = sorted({expand(a, "attribute") for a in attributes})
    if len(wanted) > MAX_ATTRIBUTES:
        raise AuthInputError(f"{len(wanted)} attributes: at most {MAX_ATTRIBUTES} can be published per type")
    now = now_us()
    if replace:
        _x(session, "DELETE FROM publications WHERE tenant = ? AND entity_type = ?", (tenant, type_iri))
    for attr in ["", *wanted]:
        _x(
            session,
            "INSERT INTO publications (tenant, entity_type, attr, source, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, entity_type, attr) DO NOTHING",
            (tenant, type_iri, attr, source, now, actor),
        )
    return next(p for p in list_published(session, tenant) if p.entity_type == type_iri)


def unpublish(
    session: Session, tenant: str, entity_type: str, attributes: Sequence[str] | None = None
) -> int:
    """Unpublish a whole type (``attributes`` None) or some of its attributes; return the rows removed."""
    type_iri = expand(entity_type, "entity type")
    if attributes is None:
        cur = _x(session, "DELETE FROM publications WHERE tenant = ? AND entity_type = ?", (tenant, type_iri))
        return int(cur.rowcount)
    removed = 0
    for attr in {expand(a, "attribute") for a in attributes}:
        cur = _x(
            session,
            "DELETE FROM publications WHERE tenant = ? AND entity_type = ? AND attr = ?",
            (tenant, type_iri, attr),
        )
        removed += int(cur.rowcount)
    return removed


def default_items(usecases: Iterable[Any]) -> list[tuple[str, str, str]]:
    """(use case, type IRI, attribute IRI or '') for every default the use cases declare."""
    from calanque.usecases.common import term_iri

    out = []
    for uc in usecases:
        for item in getattr(uc, "publishes", ()):
            type_iri = term_iri(item.entity_type)
            out.append((uc.name, type_iri, ""))
            out += [(uc.name, type_iri, term_iri(a)) for a in item.attributes]
    return out


def apply_defaults(
    session: Session, tenant: str, usecases: Iterable[Any], *, actor: str, only_new: bool
) -> list[tuple[str, str]]:
    """Publish the use cases' defaults in a tenant; return the (type, attribute) rows added.

    ``only_new``: skip the defaults already applied once to the tenant (the start-up seeding: an admin's
    unpublishing holds across restarts and upgrades). Otherwise every default is published again.
    """
    added = []
    now = now_us()
    for usecase, type_iri, attr in default_items(usecases):
        if (
            only_new
            and _x(
                session,
                "SELECT 1 FROM publication_defaults WHERE tenant = ? AND entity_type = ? AND attr = ?",
                (tenant, type_iri, attr),
            ).fetchone()
        ):
            continue
        cur = _x(
            session,
            "INSERT INTO publications (tenant, entity_type, attr, source, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, entity_type, attr) DO NOTHING",
            (tenant, type_iri, attr, f"default:{usecase}", now, actor),
        )
        if cur.rowcount:
            added.append((type_iri, attr))
        _x(
            session,
            "INSERT INTO publication_defaults (tenant, entity_type, attr, applied_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (tenant, entity_type, attr) DO NOTHING",
            (tenant, type_iri, attr, now),
        )
    return added


def seed(session: Session, usecases: Iterable[Any]) -> list[tuple[str, str]]:
    """Apply to the default tenant the use-case defaults never applied there (at start-up; audited)."""
    from calanque.auth import repository as repo

    added = apply_defaults(session, "", usecases, actor="system", only_new=True)
    if added:
        repo.append_audit(
            session,
            repo.AuditEntry(
                at=now_us(),
                actor="system",
                role="admin",
                tenant="",
                action="publication defaults",
                address="local",
                status=0,
                detail={"published": [[compact(t), compact(a) if a else ""] for t, a in added]},
            ),
        )
    return added


def describe_defaults(usecases: Iterable[Any]) -> list[dict[str, Any]]:
    """The defaults the use cases declare, for the API and the CLI."""
    return [
        {"usecase": uc.name, "entityType": p.entity_type, "attributes": list(p.attributes)}
        for uc in usecases
        for p in getattr(uc, "publishes", ())
    ]

"""What one request may read: the read scope the store applies to every read of that request.

Authorisation decides *whether* a request may run (``calanque.auth.policy``); the read scope decides
*what it sees* when the caller is restricted:

* an anonymous caller sees only the entity types and attributes its tenant has published;
* an operator sees only the entity types of its use cases;
* an identity narrowed to communes or sites sees only entities whose ``municipalityCode`` /
  ``site`` is one of them (and devices whose ``commune`` / ``site`` is).

The auth middleware builds one :class:`ReadScope` per restricted request and sets it in the
:data:`CURRENT` context variable for the duration of the request (unrestricted callers get None and
pay nothing). The store's **read** sessions pick it up (:meth:`ReadScope.predicate` is added to
entity queries, so pages and counts agree; documents are :meth:`redacted <ReadScope.redact>`; history
reads keep visible entities and attributes only), so the NGSI-LD API, the temporal API, discovery
and every use-case endpoint are covered by the same code. Write sessions never apply it: a write
must see and keep the whole stored entity.

Filters on hidden attributes match nothing: an entity is selected by ``q``, ``attrs`` or a
geo-query only when every attribute the filter names is visible for one of the entity's visible
types (otherwise the filter could reveal a hidden value or its existence, e.g. through a count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from calanque.store.base import Dialect, EntityQuery, SqlPredicate

NOTHING = SqlPredicate("1 = 0")


@dataclass(frozen=True, slots=True)
class ReadScope:
    """What a restricted request may read in one tenant.

    ``types``: the visible entity type IRIs (None: every type). ``attrs``: for each visible type, its
    visible attribute IRIs (None: every attribute). ``communes`` / ``sites``: when not empty, only
    entities whose ``commune_attr`` / ``site_attr`` value is one of them are visible.
    """

    tenant: str
    types: frozenset[str] | None = None
    attrs: Mapping[str, frozenset[str]] | None = None
    communes: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    commune_attr: str = ""
    site_attr: str = ""
    label: str = "this caller"
    # per request: entity id -> visible attribute IRIs (None: all) or False (not visible)
    _seen: dict[str, frozenset[str] | None | bool] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attrs is not None and self.types is None:
            raise ValueError("a read scope restricting attributes must restrict types too")
        if self.communes and not self.commune_attr or self.sites and not self.site_attr:
            raise ValueError("a read scope narrowed to communes or sites needs their attribute IRIs")

    @property
    def hides_attributes(self) -> bool:
        """Whether some attributes of visible entities are hidden (the public scope)."""
        return self.attrs is not None

    # visibility of one entity ------------------------------------------------------------------
    def visible_types(self, types: Iterable[str]) -> list[str]:
        """The entity types among ``types`` that are visible."""
        return list(types) if self.types is None else [t for t in types if t in self.types]

    def allowed_attrs(self, types: Iterable[str]) -> frozenset[str] | None:
        """The visible attributes of an entity of these types (None: every attribute)."""
        if self.attrs is None:
            return None
        out: frozenset[str] = frozenset()
        for t in self.visible_types(types):
            out |= self.attrs.get(t, frozenset())
        return out

    def visible(self, entity: Mapping[str, Any], tenant: str) -> bool:
        """Whether a canonical entity of ``tenant`` is visible."""
        if tenant != self.tenant:
            return False
        if self.types is not None and not self.visible_types(entity.get("type", [])):
            return False
        from calanque.ngsild import qlang

        return all(qlang.q_matches(expr, entity) for expr in self._place_terms())

    def may_filter(self, entity: Mapping[str, Any], names: Iterable[str]) -> bool:
        """Whether a filter naming these attributes may select this (visible) entity."""
        wanted = set(names)
        if self.attrs is None or not wanted:
            return True
        return any(
            wanted <= self.attrs.get(t, frozenset()) for t in self.visible_types(entity.get("type", []))
        )

    def redact(self, entity: dict[str, Any]) -> dict[str, Any]:
        """The entity as this scope shows it: visible types and attributes only."""
        if self.types is None:
            return entity
        out = dict(entity)
        out["type"] = self.visible_types(entity.get("type", []))
        allowed = self.allowed_attrs(entity.get("type", []))
        if allowed is None:
            return out
        kept = {a: v for a, v in entity.get("attrs", {}).items() if a in allowed}
        out["attrs"] = kept
        out.pop("scope", None)  # scopes are an entity's own classification, not published data
        # the entity's last change must not tell when a hidden attribute changed
        stamps = [
            i["modifiedAt"] for insts in kept.values() for i in insts if isinstance(i.get("modifiedAt"), str)
        ]
        if "modifiedAt" in out:
            out["modifiedAt"] = max(stamps, default=out.get("createdAt", out["modifiedAt"]))
        return out

    # SQL -----------------------------------------------------------------------------------------
    def predicate(self, dialect: Dialect, query: EntityQuery | None = None) -> SqlPredicate:
        """A SQL condition on entity alias ``e``: visible, and selectable by the query's filters.

        Types named by a plain type list are intersected with the visible types; a type expression
        (``;``, parentheses) naming a hidden type matches nothing. Each visible type is kept only
        if every attribute the filters name (q, geoproperty) is visible for it, and, with ``attrs``,
        the entity must have one of the named attributes that is visible for that type.
        """
        ph = "?" if dialect == "sqlite" else "%s"
        clauses: list[str] = []
        params: list[Any] = []
        if self.types is not None:
            candidates = set(self.types)
            if query is not None and query.type_iris is not None:
                named = set(query.type_iris)
                if query.type_selection_complex and not named <= self.types:
                    return NOTHING
                candidates &= named
            needed = set(query.filter_attrs) if query is not None else set()
            if query is not None and query.geo_attr is not None:
                needed.add(query.geo_attr)
            any_of = set(query.attrs_any) if query is not None and query.attrs_any is not None else None
            groups: dict[frozenset[str] | None, list[str]] = {}
            for t in sorted(candidates):
                visible = self.attrs.get(t, frozenset()) if self.attrs is not None else None
                if visible is not None and not needed <= visible:
                    continue
                present = None if any_of is None or visible is None else frozenset(any_of & visible)
                if present is not None and not present:
                    continue
                groups.setdefault(present, []).append(t)
            if not groups:
                return NOTHING
            options = []
            for present, types in groups.items():
                option = (
                    f"e.seq IN (SELECT st.entity_seq FROM entity_types st WHERE st.tenant = {ph} "
                    f"AND st.type IN ({', '.join([ph] * len(types))}))"
                )
                params += [self.tenant, *types]
                if present:
                    option += (
                        f" AND e.seq IN (SELECT sa.entity_seq FROM entity_attrs sa WHERE sa.tenant = {ph} "
                        f"AND sa.attr IN ({', '.join([ph] * len(present))}))"
                    )
                    params += [self.tenant, *sorted(present)]
                options.append(f"({option})")
            clauses.append(options[0] if len(options) == 1 else f"({' OR '.join(options)})")
        if self._place_terms():
            from calanque.ngsild import qlang

            for expr in self._place_terms():
                sql, extra = qlang.q_to_sql(expr, dialect, "e.doc")
                clauses.append(f"({sql})")
                params += extra
        return SqlPredicate(" AND ".join(clauses) or "1 = 1", params)

    def device_predicate(self) -> SqlPredicate | None:
        """A condition on the columns of the ``devices`` table (``?`` placeholders), or None."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.types is not None:
            names = sorted({*self.types, *(_term(t) for t in self.types)})
            if not names:
                return NOTHING
            clauses.append(f"entity_type IN ({', '.join('?' * len(names))})")
            params += names
        for column, values in (("commune", [c.upper() for c in self.communes]), ("site", list(self.sites))):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params += values
        return SqlPredicate(" AND ".join(clauses), params) if clauses else None

    def device_visible(self, entity_type: str, commune: str | None, site: str | None) -> bool:
        """Whether a device of the registry (its entity type term, commune and site) is visible."""
        if (
            self.types is not None
            and entity_type not in self.types
            and not any(_term(t) == entity_type for t in self.types)
        ):
            return False
        if self.communes and (commune or "").upper() not in {c.upper() for c in self.communes}:
            return False
        return not self.sites or site in self.sites

    def _place_terms(self) -> list[Any]:
        from calanque.ngsild import qlang

        out = []
        for attr, values in ((self.commune_attr, self.communes), (self.site_attr, self.sites)):
            if values:
                out.append(
                    qlang.QTerm(
                        qlang.AttrPath(attr),
                        qlang.EqualsAny(tuple(qlang.QValue("text", str(v)) for v in values)),
                    )
                )
        return out

    # per-request memory of entity lookups (history reads ask about the same entities repeatedly)
    def remembered(self, entity_id: str) -> frozenset[str] | None | bool:
        """What an earlier lookup found for an entity: False (hidden), None or its visible attributes;
        a missing key raises KeyError."""
        return self._seen[entity_id]

    def remember(self, entity_id: str, value: frozenset[str] | None | bool) -> None:
        """Keep what a lookup found for an entity, for the rest of the request."""
        if len(self._seen) < 100_000:
            self._seen[entity_id] = value


def _term(iri: str) -> str:
    import re

    return re.split(r"[/#:]", iri.rstrip("/"))[-1]


CURRENT: ContextVar[ReadScope | None] = ContextVar("calanque_read_scope", default=None)


def current() -> ReadScope | None:
    """The read scope of the request being served, or None (unrestricted)."""
    return CURRENT.get()

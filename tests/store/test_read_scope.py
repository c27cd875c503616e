"""Read scopes in the store (both backends): per-type visible attributes decide filters, pages, counts,
redaction, summaries and history; write sessions ignore the scope; the scope follows the context."""

from __future__ import annotations

from typing import Any

from calanque.ngsild import qlang
from calanque.ngsild.canonical import now_ts
from calanque.ngsild.service import Broker
from calanque.store.base import EntityQuery, HistoryQuery
from calanque.store.scope import CURRENT, ReadScope
from calanque.usecases.common import _core_resolver, term_iri

A, B = term_iri("TypeA"), term_iri("TypeB")
X, Y = term_iri("x"), term_iri("y")


def entity(entity_id: str, entity_type: str, **attrs: float) -> dict[str, Any]:
    """An entity with numeric Properties observed now."""
    body: dict[str, Any] = {"id": entity_id, "type": entity_type}
    for name, value in attrs.items():
        body[name] = {"type": "Property", "value": value, "observedAt": now_ts()}
    return body


def fill(store: Any) -> None:
    """A1 (A: x, y), B1 (B: x), B2 (B: y)."""
    broker = Broker(store)
    for body in (
        entity("urn:a1", "TypeA", x=1.0, y=2.0),
        entity("urn:b1", "TypeB", x=3.0),
        entity("urn:b2", "TypeB", y=4.0),
    ):
        broker.create_entity("", body, _core_resolver().core)


SCOPE = dict(tenant="", types=frozenset({A, B}), attrs={A: frozenset({X}), B: frozenset({Y})})


def run(store: Any, query: EntityQuery) -> tuple[list[str], int | None]:
    """The ids and count of a query under a fresh scope (x public for A, y public for B)."""
    token = CURRENT.set(ReadScope(**SCOPE))
    try:
        with store.session() as session:
            page, count = session.query_entities("", query)
    finally:
        CURRENT.reset(token)
    return sorted(e["id"] for e in page), count


def test_filters_use_the_attributes_visible_for_each_type(store: Any) -> None:
    """attrs and q select an entity only through attributes visible for its type."""
    fill(store)
    assert run(store, EntityQuery(attrs_any=[X], count=True)) == (["urn:a1"], 1)  # b1's x is hidden
    assert run(store, EntityQuery(attrs_any=[X, Y], count=True)) == (["urn:a1", "urn:b2"], 2)
    expr = qlang.parse_q("y>0", lambda t: term_iri(t))
    sql, params = qlang.q_to_sql(expr, store.dialect, "e.doc")
    from calanque.store.base import SqlPredicate

    q = EntityQuery(predicates=[SqlPredicate(sql, params)], filter_attrs=qlang.q_attributes(expr), count=True)
    assert run(store, q) == (["urn:b2"], 1)  # a1's y is hidden
    assert run(store, EntityQuery(type_iris=[A], count=True)) == (["urn:a1"], 1)
    assert run(store, EntityQuery(count=True, limit=0)) == ([], 3)
    with store.session() as session:  # without a scope everything is there
        assert session.query_entities("", EntityQuery(attrs_any=[X], count=True))[1] == 2


def test_documents_summaries_and_history_show_visible_attributes(store: Any) -> None:
    """Redacted documents, summaries and history rows hold visible attributes only; writes see all."""
    fill(store)
    token = CURRENT.set(ReadScope(**SCOPE))
    try:
        with store.session() as session:
            docs = session.get_entities("", ["urn:a1", "urn:b1", "urn:b2"])
            assert {i: sorted(d["attrs"]) for i, d in docs.items()} == {
                "urn:a1": [X],
                "urn:b1": [],
                "urn:b2": [Y],
            }
            assert session.type_summary("") == {A: {"": 1, X: 1}, B: {"": 2, Y: 1}}
            summary = session.attribute_summary("")
            assert {k: (v["count"], v["types"]) for k, v in summary.items()} == {X: (1, {A}), Y: (1, {B})}
            rows = session.read_history("", HistoryQuery(entity_ids=["urn:a1", "urn:b1", "urn:b2"]))
            assert sorted((r.entity_id, r.attr) for r in rows) == [("urn:a1", X), ("urn:b2", Y)]
            assert session.read_series("", "urn:b1", X) == []
            assert [v for _, v in session.read_series("", "urn:a1", X)] == [1.0]
        with store.session(write=True) as session:  # a write must see and keep the whole entity
            assert sorted(session.get_entity("", "urn:a1")["attrs"]) == sorted([X, Y])
    finally:
        CURRENT.reset(token)
    with store.session() as session:
        assert session.scope is None and sorted(session.get_entity("", "urn:a1")["attrs"]) == sorted([X, Y])


def test_another_tenant_shows_nothing(store: Any) -> None:
    """A scope built for one tenant shows nothing of another."""
    fill(store)
    token = CURRENT.set(ReadScope(**{**SCOPE, "tenant": "elsewhere"}))
    try:
        with store.session() as session:
            assert session.query_entities("", EntityQuery(count=True)) == ([], 0)
            assert session.get_entities("", ["urn:a1"]) == {}
            assert session.type_summary("") == {} and session.attribute_summary("") == {}
    finally:
        CURRENT.reset(token)


def test_change_listeners_run_outside_the_read_scope(store: Any) -> None:
    """A write made under a read scope tells its listeners, which read the store unrestricted."""
    broker = Broker(store)
    seen: list[Any] = []

    def listener(changes: Any) -> None:
        with store.session() as session:
            seen.append(session.scope)

    broker.add_listener(listener)
    token = CURRENT.set(ReadScope(**SCOPE))
    try:
        broker.create_entity("", entity("urn:a9", "TypeA", x=1.0), _core_resolver().core)
    finally:
        CURRENT.reset(token)
    assert seen == [None]

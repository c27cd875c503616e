"""The numeric index of attribute values never changes the answer of a q query.

Entities are stored through the real store (both backends) with every shape a numeric comparison can
meet: one number, several instances, arrays, {"@value": n}, text, booleans, integers beyond 2**53,
lists, JSON values and numeric sub-attributes. Each query's answer (page and count) must equal the
reference evaluator q_matches run over the same documents; the expected index entries of a few
shapes are worked out by hand.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calanque.ngsild.qlang import NUM_NONE, NUM_OTHER, NUM_SINGLE, numeric_key, parse_q, q_matches
from calanque.ngsild.query import build_query

NS = "https://ex.org/ns/"
TS = "2024-05-01T00:00:00.000000Z"
BIG = 2**60 + 1  # not exactly representable as a double


class Ctx:
    """Expands every term into the NS vocabulary."""

    def expand(self, term: str) -> str:
        """NS + term."""
        return NS + term

    def compact(self, iri: str) -> str:
        """The term of an NS IRI."""
        return iri.removeprefix(NS)


def prop(value: Any, **extra: Any) -> dict[str, Any]:
    """A Property instance."""
    return {"type": "Property", "value": value, "createdAt": TS, "modifiedAt": TS, **extra}


def shape(rng: random.Random) -> list[dict[str, Any]] | None:
    """One attribute in a random shape (None: the entity does not have it)."""
    pick = rng.randrange(14)
    x = rng.choice([rng.randrange(-5, 40), round(rng.uniform(-5, 40), 2), 20, 20.0, 0, -0.0])
    if pick < 5:
        return [prop(x)]
    if pick == 5:
        return [prop(x), prop(rng.randrange(0, 40), datasetId="urn:ngsi-ld:Dataset:b")]
    if pick == 6:
        return [prop([x, rng.randrange(0, 40)])]
    if pick == 7:
        return [prop({"@value": x})]
    if pick == 8:
        return [prop(rng.choice(["warm", "20", True, False]))]
    if pick == 9:
        return [prop(rng.choice([BIG, -BIG, 2**53, 2**53 + 2]))]
    if pick == 10:
        return [{"type": "ListProperty", "valueList": [x, "a"], "createdAt": TS, "modifiedAt": TS}]
    if pick == 11:
        return [{"type": "JsonProperty", "json": x, "createdAt": TS, "modifiedAt": TS}]
    if pick == 12:
        return [prop("n/a", sub={NS + "accuracy": prop(x)})]
    return None


def make_entities(seed: int, n: int) -> list[dict[str, Any]]:
    """Canonical entities urn:e<i> of type Thing (every third also Other)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        attrs = {}
        for name in ("temperature", "humidity"):
            value = shape(rng)
            if value is not None:
                attrs[NS + name] = value
        types = [NS + "Thing"] + ([NS + "Other"] if i % 3 == 0 else [])
        out.append({"id": f"urn:e{i}", "type": types, "createdAt": TS, "modifiedAt": TS, "attrs": attrs})
    return out


def test_numeric_keys_by_hand() -> None:
    """Index entries of the shapes, derived from the q element rules (module docstring of qlang)."""
    assert numeric_key([prop(21.5)]) == (21.5, NUM_SINGLE)
    assert numeric_key([prop(7)]) == (7.0, NUM_SINGLE)
    assert numeric_key([prop({"@value": 3})]) == (3.0, NUM_SINGLE)
    assert numeric_key([prop([3])]) == (3.0, NUM_SINGLE)  # an array contributes its elements
    assert numeric_key([prop(2**53)]) == (float(2**53), NUM_SINGLE)
    assert numeric_key([prop(BIG)]) == (None, NUM_OTHER)  # a double would round it
    assert numeric_key([prop([1, 2])]) == (None, NUM_OTHER)
    assert numeric_key([prop(1), prop(2, datasetId="urn:d")]) == (None, NUM_OTHER)
    assert numeric_key([prop([1, "a"])]) == (None, NUM_OTHER)
    assert numeric_key([prop("12")]) == (None, NUM_NONE)
    assert numeric_key([prop(True)]) == (None, NUM_NONE)
    assert numeric_key([prop("x", sub={NS + "accuracy": prop(1)})]) == (None, NUM_NONE)
    assert numeric_key([{"type": "Relationship", "object": "urn:x"}]) == (None, NUM_NONE)


def run(store: Any, q: str, type_: str | None = "Thing") -> tuple[list[str], int]:
    """The ids (all pages in one) and the count the store answers for a query."""
    params = {"q": q, "limit": "1000", "count": "true"}
    if type_ is not None:
        params["type"] = type_
    query, _ = build_query(params, Ctx(), tenant="", dialect=store.dialect, default_limit=20, max_limit=1000)
    with store.session() as s:
        page, count = s.query_entities("", query)
    return [e["id"] for e in page], count


def expected(entities: list[dict], q: str, type_: str | None = "Thing") -> list[str]:
    """The reference answer: q_matches over the documents, in creation order."""
    expr = parse_q(q, Ctx().expand)
    return [e["id"] for e in entities if (type_ is None or NS + type_ in e["type"]) and q_matches(expr, e)]


NUMBERS = ["20", "20.0", "-0.5", "0", "13", "39.99", "-5", str(BIG), str(2**53), str(2**53 + 1), "1e300"]
PATHS = ["temperature", "humidity", "temperature.accuracy", "temperature[k]", "temperature.observedAt"]
TERMS = st.one_of(
    st.tuples(st.sampled_from(PATHS), st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
              st.sampled_from(NUMBERS)).map("".join),
    st.tuples(st.sampled_from(PATHS), st.sampled_from(["==", "!="]),
              st.lists(st.sampled_from(NUMBERS), min_size=2, max_size=3)).map(lambda t: t[0] + t[1] + ",".join(t[2])),
    st.tuples(st.sampled_from(PATHS), st.sampled_from(["==", "!="]),
              st.sampled_from(["0..20", "-5..13", "13..39.99", "20..20", '"a".."z"'])).map("".join),
    st.sampled_from(["temperature", "!humidity", 'temperature=="warm"', "humidity==true"]),
)
QUERIES = st.recursive(
    TERMS,
    lambda inner: st.tuples(inner, st.sampled_from([";", "|"]), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
    max_leaves=5,
)


@pytest.fixture
def filled(store: Any) -> tuple[Any, list[dict]]:
    """A store holding 400 entities of every shape."""
    entities = make_entities(7, 400)
    with store.session(write=True) as s:
        assert s.insert_entities("", entities) == []
    return store, entities


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=QUERIES, type_=st.sampled_from(["Thing", "Other", None]))
def test_indexed_queries_equal_the_reference(filled: tuple[Any, list[dict]], q: str, type_: str | None) -> None:
    """Whatever the query, the store returns exactly the entities q_matches selects, and their count."""
    store, entities = filled
    want = expected(entities, q, type_)
    ids, count = run(store, q, type_)
    assert sorted(ids) == sorted(want)
    assert count == len(want)


@pytest.mark.parametrize("q", ["temperature>20", "temperature>=0;temperature<20.5", "humidity==20,13",
                               "temperature==0..20;humidity>3", "(temperature>30|humidity<0);temperature<=39.99"])
def test_pages_come_in_creation_order(filled: tuple[Any, list[dict]], q: str) -> None:
    """Paging over an indexed query walks the matches in creation order, as without the index."""
    store, entities = filled
    want = expected(entities, q)
    assert want  # the fixture has matches for each of these
    got = []
    for offset in range(0, len(want) + 7, 7):
        params = {"type": "Thing", "q": q, "limit": "7", "offset": str(offset)}
        query, _ = build_query(params, Ctx(), tenant="", dialect=store.dialect, default_limit=20, max_limit=1000)
        with store.session() as s:
            got += [e["id"] for e in s.query_entities("", query)[0]]
    assert got == want


def test_index_follows_updates_with_and_without_reindex(filled: tuple[Any, list[dict]]) -> None:
    """New values written by update_entities, with or without reindexing (the ingestion path), are
    what the index answers for; shapes may change between a single number and anything else."""
    store, entities = filled
    rng = random.Random(3)
    for reindex in (True, False):
        changed = []
        for e in rng.sample(entities, 120):
            for name in list(e["attrs"]):
                e["attrs"][name] = shape(rng) or [prop(rng.randrange(-5, 40))]  # names are kept (reindex=False)
            changed.append(e)
        with store.session(write=True) as s:
            s.update_entities("", changed, reindex=reindex)
        for q in ["temperature>20", "temperature<=13;humidity>=0", "humidity==20,0", "temperature==-5..13",
                  "temperature>=0|humidity<5"]:
            want = expected(entities, q)
            ids, count = run(store, q)
            assert sorted(ids) == sorted(want), (reindex, q)
            assert count == len(want)

"""Entity type selection: Python matching and SQL (SQLite, a small types table) against hand-derived sets."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calanque.ngsild.errors import BadRequestData
from calanque.ngsild.typesel import MAX_TYPES_DEPTH, parse_types, types_match, types_to_sql

NS = "https://ex.org/ns/"


def expand(term: str) -> str:
    """Absolute IRIs pass through; terms go into the NS vocabulary."""
    return term if "://" in term else NS + term


ENTITY_TYPES: dict[int, list[str]] = {
    1: ["Building"],
    2: ["Building", "Shop"],
    3: ["Shop"],
    4: ["Park"],
    5: ["Building", "Park"],
    6: ["Vehicle"],
    7: ["Shop", "Park", "Building"],
    8: ["https://other.org/Sensor"],
}
EXPANDED = {n: [expand(t) for t in types] for n, types in ENTITY_TYPES.items()}

# Building = {1,2,5,7}, Shop = {2,3,7}, Park = {4,5,7}, Vehicle = {6}.
CASES: list[tuple[str, set[int]]] = [
    ("Building", {1, 2, 5, 7}),
    ("Building,Shop", {1, 2, 3, 5, 7}),
    ("Building|Shop", {1, 2, 3, 5, 7}),
    (" Building , Shop ", {1, 2, 3, 5, 7}),
    ("Building;Shop", {2, 7}),
    ("Shop;Park;Building", {7}),
    # ';' binds tighter: (Building;Shop) | Park = {2,7} | {4,5,7}
    ("Building;Shop|Park", {2, 4, 5, 7}),
    ("Park,Building;Shop", {2, 4, 5, 7}),
    # {1,2,5,7} & ({2,3,7} | {4,5,7})
    ("Building;(Shop|Park)", {2, 5, 7}),
    ("(Park,Vehicle);Building", {5, 7}),
    ("((Vehicle))", {6}),
    ("Vehicle;Building", set()),
    ("Unknown", set()),
    ("https://other.org/Sensor", {8}),
    ("https://other.org/Sensor|Vehicle", {6, 8}),
]


@pytest.fixture(scope="module")
def conn() -> Iterator[sqlite3.Connection]:
    """SQLite with entities(id) and entity_types(entity_id, type)."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE entities(id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE entity_types(entity_id INTEGER, type TEXT)")
    db.executemany("INSERT INTO entities(id) VALUES (?)", [(n,) for n in EXPANDED])
    db.executemany(
        "INSERT INTO entity_types VALUES (?, ?)", [(n, t) for n, types in EXPANDED.items() for t in types]
    )
    yield db
    db.close()


def has_type(iri: str) -> tuple[str, list[Any]]:
    """The per-type predicate a store would supply."""
    return "EXISTS (SELECT 1 FROM entity_types t WHERE t.entity_id = e.id AND t.type = ?)", [iri]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_type_selection_python_and_sql(text: str, expected: set[int], conn: sqlite3.Connection) -> None:
    """Python matching and the compiled SQL both give the hand-derived set."""
    expr = parse_types(text, expand)
    assert {n for n, types in EXPANDED.items() if types_match(expr, types)} == expected
    sql, params = types_to_sql(expr, has_type)
    rows = conn.execute(f"SELECT e.id FROM entities e WHERE {sql}", params)
    assert {row[0] for row in rows} == expected


def test_iris_lists_every_type_once() -> None:
    """iris() returns the set of all expanded types in the selection."""
    expr = parse_types("Building;(Shop|Park),Building,https://other.org/Sensor", expand)
    assert expr.iris() == {NS + "Building", NS + "Shop", NS + "Park", "https://other.org/Sensor"}


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("Building,", 9, "an entity type"),
        (",Building", 0, "an entity type"),
        ("(Building", 9, "')'"),
        ("Building)", 8, "the end of the selection"),
        ("Building;;Shop", 9, "an entity type"),
        ("()", 1, "an entity type"),
        ("Building Shop", 9, "',' or '|'"),
    ],
)
def test_syntax_errors(text: str, position: int, fragment: str) -> None:
    """Syntax errors are BadRequestData naming the position and what was expected."""
    with pytest.raises(BadRequestData) as info:
        parse_types(text, expand)
    assert f"position {position}" in info.value.detail
    assert fragment in info.value.detail


def test_empty_and_too_deep_selections() -> None:
    """Empty and over-nested selections are refused with a clear message."""
    with pytest.raises(BadRequestData, match="empty"):
        parse_types(" ", expand)
    deep = "(" * (MAX_TYPES_DEPTH + 1) + "A" + ")" * (MAX_TYPES_DEPTH + 1)
    with pytest.raises(BadRequestData, match=f"more than {MAX_TYPES_DEPTH} levels"):
        parse_types(deep, expand)
    assert types_match(parse_types("(" * MAX_TYPES_DEPTH + "A" + ")" * MAX_TYPES_DEPTH, expand), [NS + "A"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.lists(st.sampled_from(list("AB,;|() ")), max_size=20).map("".join)))
def test_garbage_raises_only_bad_request_data(text: str) -> None:
    """Whatever the input, parse_types returns a selection or raises BadRequestData."""
    try:
        expr = parse_types(text, expand)
    except BadRequestData as exc:
        assert exc.detail
        return
    assert expr.iris()

"""The q query language: every case runs in Python, SQLite and PostgreSQL against hand-derived sets.

The expected sets below were worked out by reading the fixture entities, not by running the code;
the comment on a case gives the reasoning where it is not obvious.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from calanque.ngsild.errors import BadRequestData
from calanque.ngsild.qlang import (
    MAX_Q_DEPTH,
    MAX_Q_LENGTH,
    QExpr,
    parse_q,
    q_matches,
    q_to_sql,
    register_sqlite_functions,
)

NS = "https://ex.org/ns/"
PREFIXES = {"schema": "https://schema.org/"}
TS = "2024-05-01T00:00:00.000000Z"


def expand(term: str) -> str:
    """Expand 'prefix:name' with PREFIXES, anything else into the NS vocabulary."""
    prefix, sep, rest = term.partition(":")
    if sep and prefix in PREFIXES:
        return PREFIXES[prefix] + rest
    return NS + term


def inst(kind: str, member: str, value: Any, **extra: Any) -> dict[str, Any]:
    """A canonical attribute instance; sub-attributes go in extra['sub'] keyed by short name."""
    out: dict[str, Any] = {"type": kind, member: value, "createdAt": TS, "modifiedAt": TS}
    subs = extra.pop("sub", None)
    out.update(extra)
    if subs:
        out["sub"] = {NS + name: sub for name, sub in subs.items()}
    return out


def prop(value: Any, **extra: Any) -> dict[str, Any]:
    """A Property instance."""
    return inst("Property", "value", value, **extra)


def entity(n: int, **attrs: Any) -> dict[str, Any]:
    """A canonical entity urn:e<n>; each attribute is an instance or a list of instances."""
    expanded = {}
    for name, value in attrs.items():
        iri = PREFIXES["schema"] + name[7:] if name.startswith("schema_") else NS + name
        expanded[iri] = value if isinstance(value, list) else [value]
    return {"id": f"urn:e{n}", "type": [NS + "Thing"], "createdAt": TS, "modifiedAt": TS, "attrs": expanded}


ENTITIES = [
    entity(
        1,
        temperature=prop(21.5, observedAt="2024-05-01T10:00:00.000000Z", unitCode="CEL",
                         sub={"accuracy": prop(0.5)}),
        status=prop("open"),
        enabled=prop(True),
        address=prop({"city": "Marseille", "zip": "13001", "geo": {"lat": 43.3}}),
        seen=prop({"@type": "DateTime", "@value": "2024-05-01T12:00:00Z"}),
        name=inst("LanguageProperty", "languageMap", {"fr": "Vieux-Port", "en": "Old Port"}),
        owner=inst("Relationship", "object", "urn:ngsi-ld:Person:alice"),
        schema_description=prop("quai"),
    ),
    entity(
        2,
        temperature=[
            prop(18, observedAt="2024-05-02T08:00:00.000000Z"),
            prop(30, observedAt="2024-05-02T09:30:00.000000Z", datasetId="urn:ds:b"),
        ],
        status=prop("closed"),
        enabled=prop(False),
        readings=prop([1, 5, 9]),
        tags=inst("ListProperty", "valueList", ["red", "blue"]),
        owner=inst("Relationship", "object", ["urn:ngsi-ld:Person:bob", "urn:ngsi-ld:Person:carol"]),
    ),
    entity(
        3,
        temperature=prop("21.5"),
        status=prop("Open"),
        address=prop({"city": "Aix", "zip": 13100}),
        seen=prop("2024-05-01T13:00:00+02:00"),
        category=inst("VocabProperty", "vocab", "https://ex.org/vocab/Park"),
        friends=inst("ListRelationship", "objectList", ["urn:ngsi-ld:Person:alice"]),
    ),
    entity(
        4,
        status=prop(["open", "maintenance"]),
        enabled=prop("true"),
        name=inst("LanguageProperty", "languageMap", {"fr": "Plage des Catalans"}),
        config=inst("JsonProperty", "json", {"mode": "eco", "level": 3}),
        readings=prop([]),
    ),
    entity(
        5,
        temperature=prop(25, observedAt="2024-04-30T23:59:59.999999Z", datasetId="urn:ds:a",
                         sub={"accuracy": prop(2)}),
        status=prop("open"),
        tags=inst("ListProperty", "valueList", ["green"]),
        address=prop({"city": "Marseille", "zip": "13007"}),
        seen=prop({"@type": "DateTime", "@value": "2024-04-30T22:00:00.000000Z"}),
        category=inst("VocabProperty", "vocab", ["https://ex.org/vocab/Beach", "https://ex.org/vocab/Park"]),
    ),
    entity(
        6,
        temperature=prop(-3.25, unitCode="FAH"),
        status=prop("clôturé"),
        owner=inst("Relationship", "object", "urn:ngsi-ld:Person:alice"),
        seen=prop("not a date"),
        readings=prop([10, "x", True]),
    ),
    entity(7),
    entity(
        8,
        temperature=prop({"@type": "xsd:int", "@value": 19}),
        status=prop("open"),
        address=prop("Rue de Rome"),
        seen=prop("2024-02-30T10:00:00Z"),  # 30 February: not a date-time
        name=inst("LanguageProperty", "languageMap", {"fr": ["Rome", "Rue de Rome"]}),
    ),
    entity(
        9,
        temperature=prop(21.5, sub={"accuracy": prop(0.1, observedAt="2024-05-03T00:00:00.000000Z")}),
        status=prop("open;closed"),
        enabled=prop(True),
        config=inst("JsonProperty", "json", {"mode": "full"}),
        address=prop({"city": "Marseille", "zip": "13002", "geo": {"lat": 43.29}}),
    ),
    entity(
        10,
        temperature=prop(1000, modifiedAt="2024-06-02T00:00:00.000000Z"),
        status=prop("maintenance"),
        owner=inst("Relationship", "object", "urn:ngsi-ld:Person:dave"),
        tags=inst("ListProperty", "valueList", ["blue", "red", "green"]),
        seen=prop("2024-05-01T10:00:00.5Z"),
    ),
]

ALL = set(range(1, 11))

# Numeric temperature elements: e1 21.5, e2 18 and 30 (two datasetIds), e3 "21.5" (a string),
# e5 25, e6 -3.25, e8 19 (an @value object), e9 21.5, e10 1000; e4 and e7 have none.
# Date-times of 'seen': e1 12:00Z (@value), e3 13:00+02:00 = 11:00Z, e5 2024-04-30T22:00Z (@value),
# e10 10:00:00.5Z; e6 "not a date" and e8 (30 February) are plain strings.
CASES: list[tuple[str, set[int]]] = [
    ("temperature", {1, 2, 3, 5, 6, 8, 9, 10}),
    ("!temperature", {4, 7}),
    ("temperature==21.5", {1, 9}),
    ('temperature=="21.5"', {3}),
    ("temperature>20", {1, 2, 5, 9, 10}),
    ("temperature<=19", {2, 6, 8}),
    # every existing element that is not the number 21.5; e1 and e9 only hold 21.5
    ("temperature!=21.5", {2, 3, 5, 6, 8, 10}),
    ("temperature==18..25", {1, 2, 5, 8, 9}),
    # an element outside [18, 25] or not a number: e2 (30), e3 (string), e6 (-3.25), e10 (1000)
    ("temperature!=18..25", {2, 3, 6, 10}),
    ("temperature==25,1000,-3.25", {5, 6, 10}),
    ("temperature>=1e3", {10}),
    ("temperature==18;temperature==30", {2}),
    ('temperature=="x"|temperature==19', {8}),
    ("temperature > 20 ; status == \"open\"", {1, 5}),
    ("temperature.accuracy", {1, 5, 9}),
    ("temperature.accuracy<1", {1, 9}),
    ("temperature.accuracy>=0.1;temperature.accuracy<=0.5", {1, 9}),
    ("temperature.accuracy.observedAt", {9}),
    ("temperature.observedAt>=2024-05-01T00:00:00Z", {1, 2}),
    # 01:59:59.999999+02:00 is 2024-04-30T23:59:59.999999Z, exactly e5's observedAt
    ("temperature.observedAt<=2024-05-01T01:59:59.999999+02:00", {5}),
    ("temperature.observedAt<2024-05-01T01:59:59.999999+02:00", set()),
    ('temperature.unitCode=="CEL"', {1}),
    ("temperature.unitCode", {1, 6}),
    ("temperature.datasetId==urn:ds:b", {2}),
    ("temperature.datasetId", {2, 5}),
    ("temperature.modifiedAt>2024-06-01T00:00:00Z", {10}),
    ("temperature[x]", set()),
    ("temperature[x]!=1", set()),
    ('status=="open"', {1, 4, 5, 8}),
    # e4 also holds "maintenance", which is not "open"
    ('status!="open"', {2, 3, 4, 6, 9, 10}),
    ('status=="open;closed"', {9}),
    ('status~="^[Oo]pen$"', {1, 3, 4, 5, 8}),
    ('status~="(?i)^OPEN$"', {1, 3, 4, 5, 8}),
    ("status~=op", {1, 4, 5, 8, 9}),
    ('status!~="^open"', {2, 3, 4, 6, 10}),
    ('status=="clôturé"', {6}),
    # code-point order: "open*" and "maintenance" sort after "m"; "Open", "closed", "clôturé" before
    ('status>"m"', {1, 4, 5, 8, 9, 10}),
    ("enabled==true", {1, 9}),
    ("enabled==false", {2}),
    ("enabled!=true", {2, 4}),
    ('enabled=="true"', {4}),
    ('address[city]=="Marseille"', {1, 5, 9}),
    ('address[zip]=="13100"', set()),
    ("address[zip]==13100", {3}),
    ('address[zip]>"13001"', {5, 9}),
    ("address[geo][lat]>43.295", {1}),
    ("address[geo]", {1, 9}),
    ("address[city]", {1, 3, 5, 9}),
    ('address=="Rue de Rome"', {8}),
    ('address!="Rue de Rome"', {1, 3, 5, 9}),
    ("owner==urn:ngsi-ld:Person:alice", {1, 6}),
    ("owner==urn:ngsi-ld:Person:carol,urn:ngsi-ld:Person:dave", {2, 10}),
    ("owner!=urn:ngsi-ld:Person:alice", {2, 10}),
    ('name=="Old Port"', {1}),
    ('name~="^Plage"', {4}),
    ('name[fr]=="Vieux-Port"', {1}),
    ('name=="Rue de Rome"', {8}),
    ("name[en]", {1}),
    ("name", {1, 4, 8}),
    ("category==https://ex.org/vocab/Park", {3, 5}),
    ('tags=="red"', {2, 10}),
    ('tags!="red"', {2, 5, 10}),
    ("friends==urn:ngsi-ld:Person:alice", {3}),
    ("readings", {2, 4, 6}),
    ("readings>4", {2, 6}),
    ("readings==true", {6}),
    ("readings!=1", {2, 6}),
    ('config[mode]=="eco"', {4}),
    ("config[level]>=3", {4}),
    ("config[mode]", {4, 9}),
    ("seen>2024-05-01T10:30:00Z", {1, 3}),
    ("seen==2024-05-01T11:00:00Z", {3}),
    ("seen<2024-05-01T10:00:00.500001Z", {5, 10}),
    ("seen==2024-05-01T10:00:00Z..2024-05-01T11:00:00Z", {3, 10}),
    ("seen!=2024-05-01T11:00:00+00:00", {1, 5, 6, 8, 10}),
    ('seen=="2024-05-01T12:00:00Z"', {1}),
    # text order: "2024-05-01T…" and "not a date" sort after "2024-05-01"
    ('seen>"2024-05-01"', {1, 3, 6, 10}),
    ("seen>=2024-05-01", {1, 3, 6, 10}),
    ('schema:description=="quai"', {1}),
    ('temperature>20;status=="open"', {1, 5}),
    ('temperature>20|status=="open"', {1, 2, 4, 5, 8, 9, 10}),
    # ';' binds tighter: closed | (temperature>24 ; enabled==true) = {2} | ({2,5,10} & {1,9})
    ('status=="closed"|temperature>24;enabled==true', {2}),
    ('(status=="closed"|temperature>24);!enabled', {5, 10}),
    ("!owner;!tags;!category", {4, 7, 8, 9}),
    ("nonexistent", set()),
    ("nonexistent!=1", set()),
]


def _ids(rows: Iterator[Any]) -> set[int]:
    return {int(row[0].removeprefix("urn:e")) for row in rows}


@pytest.fixture(scope="module")
def sqlite_conn() -> Iterator[sqlite3.Connection]:
    """An in-memory SQLite database holding the fixture entities."""
    conn = sqlite3.connect(":memory:")
    register_sqlite_functions(conn)
    conn.execute("CREATE TABLE entities(doc TEXT)")
    conn.executemany("INSERT INTO entities(doc) VALUES (?)", [(json.dumps(e),) for e in ENTITIES])
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def pg_conn() -> Iterator[psycopg.Connection]:
    """A throw-away PostgreSQL database holding the fixture entities."""
    name = f"calanque_test_qlang_{os.getpid()}"
    admin = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True)
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name}")
    conn = psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True)
    try:
        conn.execute("CREATE TABLE entities(doc JSONB)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO entities(doc) VALUES (%s)", [(Jsonb(e),) for e in ENTITIES])
        yield conn
    finally:
        conn.close()
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


def run_all(
    expr: QExpr, sqlite_conn: sqlite3.Connection, pg_conn: psycopg.Connection
) -> tuple[set[int], set[int], set[int]]:
    """The match sets of one expression by the Python evaluator, SQLite and PostgreSQL."""
    python = {int(e["id"].removeprefix("urn:e")) for e in ENTITIES if q_matches(expr, e)}
    sql, params = q_to_sql(expr, "sqlite", "doc")
    lite = _ids(sqlite_conn.execute(f"SELECT json_extract(doc, '$.id') FROM entities WHERE {sql}", params))
    sql, params = q_to_sql(expr, "postgres", "doc")
    pg = _ids(pg_conn.execute(f"SELECT doc->>'id' FROM entities WHERE {sql}", params))
    return python, lite, pg


@pytest.mark.parametrize(("q", "expected"), CASES, ids=[case[0] for case in CASES])
def test_q_three_ways(q: str, expected: set[int], sqlite_conn: sqlite3.Connection,
                      pg_conn: psycopg.Connection) -> None:
    """Python, SQLite and PostgreSQL all return exactly the hand-derived set."""
    python, lite, pg = run_all(parse_q(q, expand), sqlite_conn, pg_conn)
    assert python == expected
    assert lite == expected
    assert pg == expected


def test_names_are_expanded_and_keys_are_not() -> None:
    """Attribute and sub-attribute names go through expand; core members and keys do not."""
    seen: list[str] = []

    def recording(term: str) -> str:
        seen.append(term)
        return NS + term

    parse_q("a.b.observedAt>1;c[d][e]==1", recording)
    assert seen == ["a", "b", "c"]


def test_sql_never_inlines_literals_or_iris() -> None:
    """IRIs, keys and literals travel as parameters, never inside the SQL text."""
    expr = parse_q('temperature[k1]=="x\'y";owner==urn:ngsi-ld:P:1;seen>2024-01-01T00:00:00Z', expand)
    for dialect in ("sqlite", "postgres"):
        sql, params = q_to_sql(expr, dialect, "doc")
        for secret in (NS + "temperature", "k1", "x'y", "urn:ngsi-ld:P:1", "2024-01-01"):
            assert secret not in sql
            assert any(secret in str(p) for p in params)
        assert sql.count("?" if dialect == "sqlite" else "%s") == len(params)


def test_quoted_string_escapes() -> None:
    r"""\" and \\ are escapes inside quoted strings; other backslashes are kept for regexes."""
    noted = entity(1, note=prop('say "hi" \\ 7'))  # the text: say "hi" \ 7
    assert q_matches(parse_q(r'note=="say \"hi\" \\ 7"', expand), noted)
    # the pattern \\ \d$ : a literal backslash, a space, a digit at the end
    assert q_matches(parse_q(r'note~="\\\\ \d$"', expand), noted)
    assert not q_matches(parse_q(r'note~="\\\\ \d\d$"', expand), noted)


@pytest.mark.parametrize(
    ("q", "position", "fragment"),
    [
        ("temperature=20", 11, "expected"),
        ("temperature==", 13, "a number"),
        ("temperature>true", 12, "a number"),
        ('temperature=="open', 13, "closing quote"),
        ("(temperature", 12, "')'"),
        ("temperature)", 11, "the end of the query"),
        ("temperature==1;;status", 15, "an attribute name"),
        ("temperature[]", 12, "a compound-value key"),
        ("1temperature", 0, "an attribute name"),
        ("temperature==1..\"b\"", 13, "same kind"),
        ("temperature==1,2..3", 16, "expected"),
        ("seen>2024-13-01T00:00:00Z", 5, "not a valid date-time"),
        ("seen>2024-02-30", 5, "not a valid date"),
        ('status~="("', 8, "invalid regular expression"),
        ("temperature.observedAt.x", 12, "core member"),
        ("temperature.observedAt[k]", 12, "core member"),
        ("temperature==1e999", 13, "out of range"),
    ],
)
def test_syntax_errors_say_where_and_what(q: str, position: int, fragment: str) -> None:
    """Every syntax error is a BadRequestData naming the position and what was expected."""
    with pytest.raises(BadRequestData) as info:
        parse_q(q, expand)
    assert f"position {position}" in info.value.detail
    assert fragment in info.value.detail


def test_empty_too_long_and_too_deep_queries_are_rejected() -> None:
    """Empty q, q over MAX_Q_LENGTH characters and over-nested parentheses are refused clearly."""
    with pytest.raises(BadRequestData, match="empty"):
        parse_q("  ", expand)
    too_long = "|".join(["temperature"] * (MAX_Q_LENGTH // 12 + 1))
    with pytest.raises(BadRequestData, match=f"at most {MAX_Q_LENGTH}"):
        parse_q(too_long, expand)
    deep = "(" * (MAX_Q_DEPTH + 1) + "a" + ")" * (MAX_Q_DEPTH + 1)
    with pytest.raises(BadRequestData, match=f"more than {MAX_Q_DEPTH} levels"):
        parse_q(deep, expand)
    ok = "(" * MAX_Q_DEPTH + "temperature" + ")" * MAX_Q_DEPTH
    assert q_matches(parse_q(ok, expand), ENTITIES[0])
    # parentheses inside quoted strings do not count
    assert not q_matches(parse_q('status=="' + "(" * 40 + '"', expand), ENTITIES[0])


QUERY_CHARS = st.sampled_from(
    list('abt.[]()!=<>~;|,"\\ 0123456789-:TZ+e') + ["temperature", "true", "..", "\x00"]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(QUERY_CHARS, max_size=25).map("".join)))
def test_garbage_raises_only_bad_request_data(text: str) -> None:
    """Whatever the input, parse_q returns an expression or raises BadRequestData."""
    try:
        expr = parse_q(text, expand)
    except BadRequestData as exc:
        assert exc.detail
        return
    for one in ENTITIES:
        q_matches(expr, one)


PATHS = ["temperature", "temperature.accuracy", "temperature.observedAt", "status", "seen", "address[zip]",
         "readings", "name", "owner", "enabled", "tags"]
VALUES = ["21.5", "19", "-3.25", '"open"', '"13007"', "true", "false", "2024-05-01T11:00:00Z",
          "urn:ngsi-ld:Person:alice", '"a"', "0"]
TERMS = st.one_of(
    st.sampled_from(PATHS),
    st.sampled_from(PATHS).map(lambda p: "!" + p),
    st.tuples(st.sampled_from(PATHS), st.sampled_from(["==", "!="]),
              st.lists(st.sampled_from(VALUES), min_size=1, max_size=3)).map(
        lambda t: t[0] + t[1] + ",".join(t[2])),
    st.tuples(st.sampled_from(PATHS), st.sampled_from([">", ">=", "<", "<="]),
              st.sampled_from(["20", '"m"', "2024-05-01T10:30:00Z", "0.3"])).map("".join),
    st.tuples(st.sampled_from(PATHS), st.sampled_from(["==", "!="]),
              st.sampled_from(["18..25", '"a".."p"', "2024-04-01T00:00:00Z..2024-05-01T11:00:00Z"])).map(
        "".join),
    st.tuples(st.sampled_from(PATHS), st.sampled_from(["~=", "!~="]),
              st.sampled_from(['"^o"', '"e$"', "Port", '"[0-9]"'])).map("".join),
)
QUERIES = st.recursive(
    TERMS,
    lambda inner: st.tuples(inner, st.sampled_from([";", "|"]), inner).map(lambda t: f"({t[0]}{t[1]}{t[2]})"),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=QUERIES)
def test_random_queries_agree_across_engines(q: str, sqlite_conn: sqlite3.Connection,
                                             pg_conn: psycopg.Connection) -> None:
    """For generated valid queries, SQLite and PostgreSQL return what the Python evaluator returns."""
    python, lite, pg = run_all(parse_q(q, expand), sqlite_conn, pg_conn)
    assert lite == python
    assert pg == python

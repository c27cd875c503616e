"""Hostile and malformed input on every NGSI-LD route family, on both backends.

Every rejected request must get a 4xx (503 only for an unreachable @context) with a ProblemDetails body whose
`type` is an NGSI-LD error URI and whose `detail` says what is wrong, and must leave stored data unchanged.
A hypothesis fuzz test posts random JSON documents and random q/type/georel strings: never a 5xx.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"
REF_ID = "urn:ngsi-ld:NoiseLevelObserved:ref"
E = f"/entities/{REF_ID}"
JSON_CT = {"Content-Type": "application/json"}
REFERENCE = {
    "id": REF_ID,
    "type": "NoiseLevelObserved",
    "LAeq": {"type": "Property", "value": 57.5, "observedAt": "2024-05-01T08:00:00Z"},
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [5.3698, 43.2965]}},
}


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot(api: httpx.Client) -> dict[str, Any]:
    """Everything observable about stored data: the reference entity, all entities, its history."""
    return {
        "entity": api.get(E, params={"options": "sysAttrs"}).json(),
        "all": api.get("/entities", params={"type": "NoiseLevelObserved,T", "options": "sysAttrs"}).json(),
        "history": api.get(f"/temporal/entities/{REF_ID}").json(),
        "types": sorted(api.get("/types").json()["typeList"]),
    }


@pytest.fixture
def reference(api: httpx.Client) -> Iterator[dict[str, Any]]:
    """Store the reference entity; yield the snapshot to compare with after the hostile request."""
    assert api.post("/entities", json=REFERENCE).status_code == 201
    yield snapshot(api)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is `status` with a ProblemDetails body typed under the NGSI-LD error namespace."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    problem = response.json()
    assert problem["type"].startswith(ERRORS), problem
    assert isinstance(problem["detail"], str) and len(problem["detail"]) >= 10, problem
    return problem


def nested(depth: int) -> bytes:
    """An entity whose property value is `depth` nested arrays."""
    return b'{"id":"urn:a:n","type":"T","p":{"type":"Property","value":' + b"[" * depth + b"]" * depth + b"}}"


POLY_UNCLOSED = {"type": "Polygon", "coordinates": [[[5.0, 43.0], [5.1, 43.0], [5.1, 43.1], [5.0, 43.1]]]}
LAT_91 = {"type": "Point", "coordinates": [5.0, 91.0]}
STR_COORDS = {"type": "Point", "coordinates": ["5.0", "43.0"]}


def geo_entity(geometry: dict) -> bytes:
    """A new entity whose location is the given geometry."""
    return json.dumps({"id": "urn:a:geo", "type": "T",
                       "location": {"type": "GeoProperty", "value": geometry}}).encode()


def geo_attrs(geometry: dict) -> bytes:
    """An attribute fragment replacing the reference's location with the given geometry."""
    return json.dumps({"location": {"type": "GeoProperty", "value": geometry}}).encode()


# (case id, method, path, body bytes or None, extra headers, query params, expected status)
CASES: list[tuple[str, str, str, bytes | None, dict[str, str], dict[str, str], int]] = [
    # entities CRUD
    ("create-malformed", "POST", "/entities", b'{"id": ', JSON_CT, {}, 400),
    ("create-array", "POST", "/entities", b"[]", JSON_CT, {}, 400),
    ("create-empty", "POST", "/entities", b"", JSON_CT, {}, 400),
    ("create-bad-id", "POST", "/entities", b'{"id":"not a uri","type":"T"}', JSON_CT, {}, 400),
    ("create-id-number", "POST", "/entities", b'{"id":5,"type":"T"}', JSON_CT, {}, 400),
    ("create-type-array-of-numbers", "POST", "/entities", b'{"id":"urn:a:b","type":[1]}', JSON_CT, {}, 400),
    ("create-bad-attr-name", "POST", "/entities",
     b'{"id":"urn:a:b","type":"T","bad<>":{"type":"Property","value":1}}', JSON_CT, {}, 400),
    ("create-unknown-param", "POST", "/entities", b'{"id":"urn:a:b","type":"T"}', JSON_CT, {"bogus": "1"}, 400),
    ("create-nan", "POST", "/entities", b'{"id":"urn:a:b","type":"T","p":{"type":"Property","value":NaN}}',
     JSON_CT, {}, 400),
    ("create-1e999", "POST", "/entities", b'{"id":"urn:a:b","type":"T","p":{"type":"Property","value":1e999}}',
     JSON_CT, {}, 400),
    ("create-deep-json", "POST", "/entities", nested(5000), JSON_CT, {}, 400),
    ("create-unclosed-polygon", "POST", "/entities", geo_entity(POLY_UNCLOSED), JSON_CT, {}, 400),
    ("create-lat-91", "POST", "/entities", geo_entity(LAT_91), JSON_CT, {}, 400),
    ("create-string-coords", "POST", "/entities", geo_entity(STR_COORDS), JSON_CT, {}, 400),
    ("create-text-plain", "POST", "/entities", b'{"id":"urn:a:b","type":"T"}', {"Content-Type": "text/plain"},
     {}, 415),
    ("create-no-content-type", "POST", "/entities", b'{"id":"urn:a:b","type":"T"}', {}, {}, 415),
    ("create-ld-json-without-context", "POST", "/entities", b'{"id":"urn:a:b","type":"T"}',
     {"Content-Type": "application/ld+json"}, {}, 400),
    ("get-bad-id", "GET", "/entities/not-a-uri", None, {}, {}, 400),
    ("get-unknown-param", "GET", E, None, {}, {"bogus": "1"}, 400),
    ("get-unknown-option", "GET", E, None, {}, {"options": "bogus"}, 400),
    ("get-accept-html", "GET", E, None, {"Accept": "text/html"}, {}, 406),
    ("merge-array", "PATCH", E, b"[]", JSON_CT, {}, 400),
    ("merge-malformed", "PATCH", E, b"{,}", JSON_CT, {}, 400),
    ("merge-bad-attr-name", "PATCH", E, b'{"bad<>":{"type":"Property","value":1}}', JSON_CT, {}, 400),
    ("merge-xml", "PATCH", E, b"<a/>", {"Content-Type": "application/xml"}, {}, 415),
    ("replace-array", "PUT", E, b"[]", JSON_CT, {}, 400),
    ("delete-bad-id", "DELETE", "/entities/not a uri", None, {}, {}, 400),
    ("delete-unknown-param", "DELETE", E, None, {}, {"bogus": "1"}, 400),
    # attrs
    ("append-array", "POST", f"{E}/attrs", b"[1]", JSON_CT, {}, 400),
    ("append-lat-91", "POST", f"{E}/attrs", geo_attrs(LAT_91), JSON_CT, {}, 400),
    ("append-unclosed-polygon", "POST", f"{E}/attrs", geo_attrs(POLY_UNCLOSED), JSON_CT, {}, 400),
    ("append-string-coords", "POST", f"{E}/attrs", geo_attrs(STR_COORDS), JSON_CT, {}, 400),
    ("append-unknown-option", "POST", f"{E}/attrs", b"{}", JSON_CT, {"options": "bogus"}, 400),
    ("update-string", "PATCH", f"{E}/attrs", b'"x"', JSON_CT, {}, 400),
    ("partial-type-array", "PATCH", f"{E}/attrs/LAeq", b'{"type":[1]}', JSON_CT, {}, 400),
    ("replace-attr-type-array", "PUT", f"{E}/attrs/LAeq", b'{"type":[1],"value":2}', JSON_CT, {}, 400),
    ("replace-attr-malformed", "PUT", f"{E}/attrs/LAeq", b"{", JSON_CT, {}, 400),
    ("delete-attr-bad-flag", "DELETE", f"{E}/attrs/LAeq", None, {}, {"deleteAll": "perhaps"}, 400),
    # batch operations
    ("batch-create-object", "POST", "/entityOperations/create", b'{"id":"urn:a:b","type":"T"}', JSON_CT, {},
     400),
    ("batch-create-empty", "POST", "/entityOperations/create", b"[]", JSON_CT, {}, 400),
    ("batch-upsert-malformed", "POST", "/entityOperations/upsert", b"[{]", JSON_CT, {}, 400),
    ("batch-upsert-both-options", "POST", "/entityOperations/upsert", b"[]", JSON_CT,
     {"options": "update,replace"}, 400),
    ("batch-update-object", "POST", "/entityOperations/update", b"{}", JSON_CT, {}, 400),
    ("batch-merge-string", "POST", "/entityOperations/merge", b'"x"', JSON_CT, {}, 400),
    ("batch-delete-object", "POST", "/entityOperations/delete", b'{"id":"x"}', JSON_CT, {}, 400),
    ("batch-delete-unknown-param", "POST", "/entityOperations/delete", json.dumps([REF_ID]).encode(), JSON_CT,
     {"bogus": "1"}, 400),
    # query GET and POST
    ("query-q-unbalanced", "GET", "/entities", None, {}, {"type": "T", "q": "((("}, 400),
    ("query-q-dangling", "GET", "/entities", None, {}, {"type": "T", "q": "LAeq=="}, 400),
    ("query-q-bad-regex", "GET", "/entities", None, {}, {"type": "T", "q": 'name~="(?P<"'}, 400),
    ("query-q-huge-integer", "GET", "/entities", None, {}, {"type": "T", "q": "LAeq==" + "9" * 400}, 400),
    ("query-q-1e999", "GET", "/entities", None, {}, {"type": "T", "q": "LAeq>1e999"}, 400),
    ("query-type-unbalanced", "GET", "/entities", None, {}, {"type": "T;("}, 400),
    ("query-bad-id", "GET", "/entities", None, {}, {"id": "not a uri"}, 400),
    ("query-bad-idpattern", "GET", "/entities", None, {}, {"type": "T", "idPattern": "("}, 400),
    ("query-limit-text", "GET", "/entities", None, {}, {"type": "T", "limit": "ten"}, 400),
    ("query-unknown-param", "GET", "/entities", None, {}, {"type": "T", "bogus": "1"}, 400),
    ("query-unknown-option", "GET", "/entities", None, {}, {"type": "T", "options": "bogus"}, 400),
    ("query-georel-unknown", "GET", "/entities", None, {},
     {"type": "T", "geometry": "Point", "coordinates": "[5,43]", "georel": "nearby"}, 400),
    ("query-geo-lat-91", "GET", "/entities", None, {},
     {"type": "T", "geometry": "Point", "coordinates": "[5,91]", "georel": "near;maxDistance==10"}, 400),
    ("query-geo-string-coords", "GET", "/entities", None, {},
     {"type": "T", "geometry": "Point", "coordinates": '["a","b"]', "georel": "intersects"}, 400),
    ("query-geo-unclosed-polygon", "GET", "/entities", None, {},
     {"type": "T", "geometry": "Polygon", "coordinates": "[[[0,0],[1,0],[1,1]]]", "georel": "within"}, 400),
    ("query-geo-missing-georel", "GET", "/entities", None, {}, {"type": "T", "geometry": "Point"}, 400),
    ("query-accept-csv", "GET", "/entities", None, {"Accept": "text/csv"}, {"type": "T"}, 406),
    ("post-query-array", "POST", "/entityOperations/query", b"[]", JSON_CT, {}, 400),
    ("post-query-bad-q", "POST", "/entityOperations/query", b'{"type":"Query","q":"((("}', JSON_CT, {}, 400),
    ("post-query-attrs-string", "POST", "/entityOperations/query", b'{"type":"Query","attrs":"x"}', JSON_CT, {},
     400),
    ("post-query-bad-geo", "POST", "/entityOperations/query",
     b'{"type":"Query","geoQ":{"geometry":"Point","coordinates":"x","georel":"near"}}', JSON_CT, {}, 400),
    ("post-query-unknown-member", "POST", "/entityOperations/query", b'{"type":"Query","bogus":1}', JSON_CT, {},
     400),
    # temporal
    ("temporal-bad-timerel", "GET", "/temporal/entities", None, {}, {"type": "T", "timerel": "during"}, 400),
    ("temporal-bad-timeat", "GET", "/temporal/entities", None, {},
     {"type": "T", "timerel": "before", "timeAt": "yesterday"}, 400),
    ("temporal-reversed-window", "GET", "/temporal/entities", None, {},
     {"type": "T", "timerel": "between", "timeAt": "2024-01-02T00:00:00Z", "endTimeAt": "2024-01-01T00:00:00Z"},
     400),
    ("temporal-lastn-zero", "GET", f"/temporal/entities/{REF_ID}", None, {}, {"lastN": "0"}, 400),
    ("temporal-bad-aggr", "GET", "/temporal/entities", None, {},
     {"type": "T", "options": "aggregatedValues", "aggrMethods": "median"}, 400),
    ("temporal-unknown-param", "GET", f"/temporal/entities/{REF_ID}", None, {}, {"bogus": "1"}, 400),
    ("temporal-bad-q", "GET", "/temporal/entities", None, {}, {"type": "T", "q": "((("}, 400),
    ("temporal-accept-geojson", "GET", f"/temporal/entities/{REF_ID}", None,
     {"Accept": "application/geo+json"}, {}, 406),
    ("temporal-create-array", "POST", "/temporal/entities", b"[]", JSON_CT, {}, 400),
    ("temporal-create-bad-id", "POST", "/temporal/entities", b'{"id":"bad","type":"T"}', JSON_CT, {}, 400),
    ("temporal-append-malformed", "POST", f"/temporal/entities/{REF_ID}/attrs", b"{", JSON_CT, {}, 400),
    ("temporal-post-query-bad-time", "POST", "/temporal/entityOperations/query",
     b'{"type":"Query","temporalQ":{"timerel":"between","timeAt":5}}', JSON_CT, {}, 400),
    ("temporal-patch-instance-type-array", "PATCH", f"/temporal/entities/{REF_ID}/attrs/LAeq/urn:x:1",
     b'{"LAeq":{"type":[1]}}', JSON_CT, {}, 400),
    # discovery
    ("types-unknown-param", "GET", "/types", None, {}, {"bogus": "1"}, 400),
    ("types-bad-details", "GET", "/types", None, {}, {"details": "maybe"}, 400),
    ("types-accept-png", "GET", "/types", None, {"Accept": "image/png"}, {}, 406),
    ("type-unknown-param", "GET", "/types/NoiseLevelObserved", None, {}, {"bogus": "1"}, 400),
    ("attributes-bad-details", "GET", "/attributes", None, {}, {"details": "maybe"}, 400),
    ("attribute-unknown-param", "GET", "/attributes/LAeq", None, {}, {"bogus": "1"}, 400),
    # @contexts
    ("contexts-add-array", "POST", "/jsonldContexts", b"[]", JSON_CT, {}, 400),
    ("contexts-add-no-context", "POST", "/jsonldContexts", b'{"x":1}', JSON_CT, {}, 400),
    ("contexts-add-context-number", "POST", "/jsonldContexts", b'{"@context":5}', JSON_CT, {}, 400),
    ("contexts-list-unknown-param", "GET", "/jsonldContexts", None, {}, {"bogus": "1"}, 400),
    ("contexts-list-accept-html", "GET", "/jsonldContexts", None, {"Accept": "text/html"}, {}, 406),
    ("contexts-get-accept-html", "GET", "/jsonldContexts/urn:x:none", None, {"Accept": "text/html"}, {}, 406),
    ("contexts-delete-bad-flag", "DELETE", "/jsonldContexts/urn:x:none", None, {}, {"reload": "maybe"}, 400),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "params", "status"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_rejected_with_problem_details(api: httpx.Client, reference: dict, method: str, path: str,
                                       body: bytes | None, headers: dict, params: dict, status: int) -> None:
    """Each malformed request gets the expected 4xx ProblemDetails and changes nothing."""
    response = api.request(method, path, content=body, headers=headers, params=params)
    assert_problem(response, status)
    assert snapshot(api) == reference


@pytest.mark.parametrize("tenant", ["bad tenant", "a/b", "x" * 65, "'; DROP TABLE entities; --", "../etc"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/entities?type=T"), ("POST", "/entities"),
                                              ("GET", "/temporal/entities?type=T"), ("GET", "/types"),
                                              ("GET", "/attributes")])
def test_tenant_with_bad_characters(api: httpx.Client, reference: dict, tenant: str, method: str,
                                    path: str) -> None:
    """An NGSILD-Tenant with characters outside [A-Za-z0-9_.-] (or too long) is a 400 BadRequestData."""
    body = b'{"id":"urn:a:tenant","type":"T"}' if method == "POST" else None
    response = api.request(method, path, content=body, headers={"NGSILD-Tenant": tenant, **JSON_CT})
    problem = assert_problem(response, 400)
    assert problem["type"] == ERRORS + "BadRequestData"
    assert "NGSILD-Tenant" in problem["detail"]
    assert snapshot(api) == reference


@pytest.mark.parametrize(("method", "path"), [("POST", "/entities"), ("POST", "/entityOperations/upsert"),
                                              ("PATCH", E), ("POST", "/temporal/entities"),
                                              ("POST", "/jsonldContexts")])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_limit(api: httpx.Client, reference: dict, method: str, path: str, chunked: bool) -> None:
    """1.5 MB (limit 1 000 000 bytes) is refused with 413, whether announced or streamed in chunks."""
    big = b'{"id":"urn:a:big","type":"T","p":{"type":"Property","value":"' + b"x" * 1_500_000 + b'"}}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start:start + 65536]

    response = api.request(method, path, content=chunks() if chunked else big, headers=JSON_CT)
    if chunked:
        assert response.request.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in response.request.headers
    problem = assert_problem(response, 413)
    assert "1000000" in problem["detail"]
    assert snapshot(api) == reference


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/entities?type=T", None),
    ("GET", E, None),
    ("POST", "/entities", b'{"id":"urn:a:ctx","type":"T"}'),
    ("PATCH", E, b'{"LAeq":{"type":"Property","value":99}}'),
    ("POST", "/entityOperations/upsert", b'[{"id":"urn:a:ctx","type":"T"}]'),
    ("GET", "/temporal/entities?type=T", None),
    ("GET", "/types", None),
    ("GET", "/attributes", None),
])
def test_unreachable_link_context(api: httpx.Client, reference: dict, method: str, path: str,
                                  body: bytes | None) -> None:
    """A Link header naming a context on a closed port is a 503 LdContextNotAvailable, answered quickly."""
    url = f"http://127.0.0.1:{closed_port()}/ctx.jsonld"
    link = f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    started = time.monotonic()
    response = api.request(method, path, content=body, headers={"Link": link, **JSON_CT})
    assert time.monotonic() - started < 5
    problem = assert_problem(response, 503)
    assert problem["type"] == ERRORS + "LdContextNotAvailable"
    assert url in problem["detail"]
    assert snapshot(api) == reference


def test_unreachable_inline_context(api: httpx.Client, reference: dict) -> None:
    """An @context URL in an application/ld+json body that cannot be fetched is a 503 too."""
    url = f"http://127.0.0.1:{closed_port()}/ctx.jsonld"
    body = {"id": "urn:a:ctx", "type": "T", "@context": url}
    response = api.post("/entities", json=body, headers={"Content-Type": "application/ld+json"})
    assert assert_problem(response, 503)["type"] == ERRORS + "LdContextNotAvailable"
    assert snapshot(api) == reference


def test_huge_integer_is_stored_without_error(api: httpx.Client) -> None:
    """A 30-digit integer literal (beyond 64 bits) is either stored or refused with a 4xx, never a 5xx."""
    body = b'{"id":"urn:a:big-int","type":"T","p":{"type":"Property","value":123456789012345678901234567890}}'
    response = api.post("/entities", content=body, headers=JSON_CT)
    assert response.status_code in (201, 400), response.text
    if response.status_code == 400:
        assert_problem(response, 400)


# fuzzing --------------------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
ENTITY_LIKE = st.fixed_dictionaries(
    {"id": st.one_of(st.just(REF_ID), st.text(max_size=20), st.integers()),
     "type": st.one_of(st.just("T"), st.text(max_size=10), st.lists(st.text(max_size=5), max_size=2))},
    optional={"LAeq": JSON_VALUES, "location": JSON_VALUES, "@context": JSON_VALUES},
)
FUZZ_ROUTES = [("POST", "/entities"), ("PATCH", E), ("PUT", E), ("POST", f"{E}/attrs"), ("PATCH", f"{E}/attrs"),
               ("PATCH", f"{E}/attrs/LAeq"), ("PUT", f"{E}/attrs/LAeq"), ("POST", "/entityOperations/create"),
               ("POST", "/entityOperations/upsert"), ("POST", "/entityOperations/update"),
               ("POST", "/entityOperations/merge"), ("POST", "/entityOperations/delete"),
               ("POST", "/entityOperations/query"), ("POST", "/temporal/entities"),
               ("POST", f"/temporal/entities/{REF_ID}/attrs"), ("POST", "/temporal/entityOperations/query"),
               ("POST", "/jsonldContexts")]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_not_server_error(response: httpx.Response) -> None:
    """No 5xx; any 4xx carries NGSI-LD ProblemDetails."""
    assert response.status_code < 500, (response.request.method, response.request.url, response.text[:500])
    if response.status_code >= 400:
        assert response.json()["type"].startswith(ERRORS)


@FUZZ
@given(route=st.sampled_from(FUZZ_ROUTES),
       document=JSON_VALUES | ENTITY_LIKE | st.lists(ENTITY_LIKE, max_size=3) | st.fixed_dictionaries(
           {"type": st.just("Query")}, optional={"q": st.text(max_size=30), "attrs": JSON_VALUES,
                                                 "entities": JSON_VALUES, "geoQ": JSON_VALUES,
                                                 "temporalQ": JSON_VALUES}))
def test_fuzz_random_json_bodies(api: httpx.Client, reference: dict, route: tuple[str, str], document: Any) -> None:
    """Random JSON documents on every write and POST-query route never cause a server error."""
    method, path = route
    assert_not_server_error(api.request(method, path, content=json.dumps(document), headers=JSON_CT))


Q_ALPHABET = st.sampled_from(list("LAeq<>=!~;|()[]{}.,:\"'0123456789-+eE ^$*\\/") + ["..", "==", "!=", "urn:x"])
QUERY_TEXT = st.lists(Q_ALPHABET, max_size=25).map("".join) | st.text(max_size=25)


@FUZZ
@given(q=QUERY_TEXT, type_=QUERY_TEXT, georel=QUERY_TEXT, coordinates=QUERY_TEXT,
       geometry=st.sampled_from(["Point", "Polygon", "LineString", "MultiPolygon", "Box", ""]))
def test_fuzz_random_query_strings(api: httpx.Client, reference: dict, q: str, type_: str, georel: str,
                                   coordinates: str, geometry: str) -> None:
    """Random q, type, georel and coordinates strings never cause a server error."""
    assert_not_server_error(api.get("/entities", params={"type": type_ or "T", "q": q}))
    assert_not_server_error(api.get("/entities", params={
        "type": "T", "geometry": geometry, "georel": georel, "coordinates": coordinates}))
    assert_not_server_error(api.get("/temporal/entities", params={"type": type_ or "T", "q": q}))


def test_nul_in_a_query_parameter_is_a_bad_request(api: httpx.Client) -> None:
    """A NUL character (which PostgreSQL text cannot hold) is refused with 400 naming the parameter."""
    for params in ({"type": "\x00", "q": "A"}, {"type": "T", "idPattern": "a\x00"}, {"type": "T", "attrs": "x\x00"}):
        response = api.get("/entities", params=params)
        assert response.status_code == 400, (params, response.text)
        name = next(k for k, v in params.items() if "\x00" in v)
        assert f"'{name}'" in response.json()["detail"]

"""Public data: anonymous callers read what the tenant published and nothing else, through every output.

The fixture stores, in the default tenant, published noise sensors carrying private attributes (a
calibration secret, a battery voltage with history, a second GeoProperty, a device link, a site), an
entity that is also of an unpublished type, an entity of an unpublished type, and a bike counter. The
tests then read anonymously through every path (entity queries and retrieval in every format, q,
attrs, pick, counts, GeoJSON, geo-queries, POST queries, the temporal API with its aggregations,
discovery, the use cases' public endpoints and open-data exports) and check that nothing private
shows, comparing with what an admin sees (so that the private data demonstrably exists).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.auth.conftest import AuthServer

N1 = "urn:ngsi-ld:NoiseLevelObserved:vieux-port"
N2 = "urn:ngsi-ld:NoiseLevelObserved:cours-mirabeau"
DUAL = "urn:ngsi-ld:NoiseLevelObserved:dual"
CABINET = "urn:ngsi-ld:StreetlightControlCabinet:cab-s3cret"
BIKE = "urn:ngsi-ld:TrafficFlowObserved:prado"
PRIVATE = ("calibrationSecret", "batteryVoltage", "secretLocation", "refDevice", "site")
# Strings that only private data holds: none may appear in any anonymous answer.
MARKERS = ("secret", "s3cret", "batteryvoltage", "refdevice", "secrettype", "streetlight", "3.61", "3.58")
T0 = "2026-01-01T00:00:00Z"  # the battery voltage is older than any noise level: origins must not show it


def prop(value: Any, observed: str | None = None, **extra: Any) -> dict[str, Any]:
    """A Property."""
    out = {"type": "Property", "value": value, **extra}
    if observed:
        out["observedAt"] = observed
    return out


def point(lon: float, lat: float) -> dict[str, Any]:
    """A GeoProperty holding a point."""
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}


def noise_sensor(entity_id: str, laeq: float, commune: str, lon: float, lat: float) -> dict[str, Any]:
    """A noise sensor with its public attributes and private ones."""
    return {
        "id": entity_id,
        "type": "NoiseLevelObserved",
        "LAeq": prop(laeq, "2026-01-01T01:00:00Z", unitCode="2N"),
        "LAmax": prop(laeq + 9, "2026-01-01T01:00:00Z", unitCode="2N"),
        "location": point(lon, lat),
        "name": prop(f"Sonomètre {commune}"),
        "municipalityCode": prop(commune),
        "calibrationSecret": prop("S3CRET-CAL-42"),
        "batteryVoltage": prop(3.61, T0, unitCode="VLT"),
        "secretLocation": point(5.4, 43.3),
        "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:s3cret-dev-1"},
        "site": prop("s3cret-site"),
    }


@pytest.fixture(scope="module")
def data(auth_server: AuthServer) -> AuthServer:
    """The server with the entities and history described in the module docstring."""
    with auth_server.client("admin") as admin:
        created = [
            noise_sensor(N1, 61.5, "13055", 5.3698, 43.2965),
            noise_sensor(N2, 48.0, "13001", 5.4474, 43.5263),
            {**noise_sensor(DUAL, 70.0, "13055", 5.38, 43.30), "type": ["NoiseLevelObserved", "SecretType"]},
            {
                "id": CABINET,
                "type": "StreetlightControlCabinet",
                "energyConsumed": prop(12.5, unitCode="KWH"),
                "LAeq": prop(99.0),
                "location": point(5.37, 43.29),
            },
            {
                "id": BIKE,
                "type": "TrafficFlowObserved",
                "name": prop("Prado"),
                "location": point(5.383, 43.282),
                "measurementPeriod": prop(900, unitCode="SEC"),
                "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:s3cret-dev-2"},
                "intensity": [
                    prop(7, "2026-03-10T08:15:00Z", datasetId="urn:ngsi-ld:Dataset:in"),
                    prop(3, "2026-03-10T08:00:00Z", datasetId="urn:ngsi-ld:Dataset:out"),
                ],
            },
        ]
        for body in created:
            r = admin.post("/ngsi-ld/v1/entities", json=body)
            assert r.status_code == 201, r.text
        # more history: noise levels and battery voltages over the following hours
        for hour, (laeq, volts) in enumerate([(63.0, 3.58), (59.0, 3.55)], start=2):
            at = f"2026-01-01T0{hour}:00:00Z"
            r = admin.patch(
                f"/ngsi-ld/v1/entities/{N1}/attrs",
                json={"LAeq": prop(laeq, at, unitCode="2N"), "batteryVoltage": prop(volts, at)},
            )
            assert r.status_code == 204, r.text
        r = admin.post(
            f"/ngsi-ld/v1/temporal/entities/{BIKE}/attrs",
            json={"intensity": [prop(5, "2026-03-10T08:00:00Z", datasetId="urn:ngsi-ld:Dataset:in")]},
        )
        assert r.status_code == 204, r.text
        assert admin.post("/api/v1/publication/defaults").status_code == 200
    return auth_server


@pytest.fixture
def anon(data: AuthServer) -> Iterator[httpx.Client]:
    """An anonymous client of the server holding the data."""
    with data.client() as client:
        yield client


@pytest.fixture
def admin(data: AuthServer) -> Iterator[httpx.Client]:
    """An admin's client of the same server."""
    with data.client("admin") as client:
        yield client


def clean(response: httpx.Response) -> Any:
    """The JSON of a successful anonymous answer, after checking that no private marker is in it."""
    assert response.status_code == 200, (response.request.url, response.status_code, response.text)
    text = response.text.lower() + " ".join(f"{k}: {v}" for k, v in response.headers.items()).lower()
    for marker in MARKERS:
        assert marker not in text, (str(response.request.url), marker, response.text[:500])
    return response.json() if "json" in response.headers.get("content-type", "") else response.text


def without_private(doc: dict[str, Any]) -> dict[str, Any]:
    """An admin's rendering of an entity minus the private attributes (what anonymous callers must get)."""
    return {k: v for k, v in doc.items() if k not in PRIVATE}


def count(response: httpx.Response) -> int:
    """The NGSILD-Results-Count of an answer."""
    assert response.status_code == 200, response.text
    return int(response.headers["ngsild-results-count"])


# entities ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("options", ["normalized", "keyValues", "concise", "sysAttrs"])
def test_entity_representations_hold_published_attributes_only(
    anon: httpx.Client, admin: httpx.Client, options: str
) -> None:
    """Queries and retrievals, in every representation, equal the admin's minus the private attributes."""
    params = {"type": "NoiseLevelObserved", "options": options, "limit": 100}
    seen = {e["id"]: e for e in clean(anon.get("/ngsi-ld/v1/entities", params=params))}
    full = {e["id"]: e for e in admin.get("/ngsi-ld/v1/entities", params=params).json()}
    assert set(seen) == {N1, N2, DUAL} == set(full)
    assert all(set(PRIVATE) <= set(e) for e in full.values())  # the private data is there
    for entity_id, doc in seen.items():
        expected = without_private(full[entity_id])
        if entity_id == DUAL:
            assert full[DUAL]["type"] == ["NoiseLevelObserved", "SecretType"]
            expected["type"] = "NoiseLevelObserved"  # the unpublished type is not shown
        if options == "sysAttrs":  # the last change of the entity is that of its public attributes
            assert doc.pop("modifiedAt") <= expected.pop("modifiedAt")
        assert doc == expected
        one = clean(anon.get(f"/ngsi-ld/v1/entities/{entity_id}", params={"options": options}))
        if options == "sysAttrs":
            one.pop("modifiedAt")
        assert one == doc
        ld = clean(
            anon.get(
                f"/ngsi-ld/v1/entities/{entity_id}",
                params={"options": options},
                headers={"Accept": "application/ld+json"},
            )
        )
        assert {k for k in ld if k != "@context"} == set(doc) | (
            {"modifiedAt"} if options == "sysAttrs" else set()
        )


def test_unpublished_types_are_invisible(anon: httpx.Client, admin: httpx.Client) -> None:
    """An entity of an unpublished type: 404, absent from queries by type, id or pattern, counted 0."""
    assert admin.get(f"/ngsi-ld/v1/entities/{CABINET}").status_code == 200
    r = anon.get(f"/ngsi-ld/v1/entities/{CABINET}")
    assert r.status_code == 404 and "streetlight" not in r.text.lower().replace(CABINET.lower(), "")
    for params in (
        {"type": "StreetlightControlCabinet"},
        {"id": CABINET},
        {"idPattern": ".*"},
        {"type": "SecretType"},
        {"type": "NoiseLevelObserved;SecretType"},
        {"type": "StreetlightControlCabinet,TrafficFlowObserved"},
        {"q": "LAeq>90"},
    ):
        found = clean(anon.get("/ngsi-ld/v1/entities", params={**params, "count": "true", "limit": 100}))
        assert CABINET not in [e["id"] for e in found]
        assert all(e["type"] in ("NoiseLevelObserved", "TrafficFlowObserved") for e in found)
    assert (
        count(anon.get("/ngsi-ld/v1/entities", params={"type": "StreetlightControlCabinet", "count": "true"}))
        == 0
    )
    assert (
        count(
            admin.get("/ngsi-ld/v1/entities", params={"type": "StreetlightControlCabinet", "count": "true"})
        )
        == 1
    )
    assert count(anon.get("/ngsi-ld/v1/entities", params={"type": "SecretType", "count": "true"})) == 0
    assert count(admin.get("/ngsi-ld/v1/entities", params={"type": "SecretType", "count": "true"})) == 1
    # a plain list keeps its published alternatives; the cabinet's LAeq 99 is not counted
    assert (
        count(
            anon.get(
                "/ngsi-ld/v1/entities",
                params={"type": "NoiseLevelObserved,StreetlightControlCabinet", "count": "true"},
            )
        )
        == 3
    )
    assert count(anon.get("/ngsi-ld/v1/entities", params={"q": "LAeq>90", "count": "true"})) == 0
    assert count(admin.get("/ngsi-ld/v1/entities", params={"q": "LAeq>90", "count": "true"})) == 1


@pytest.mark.parametrize(
    "q",
    [
        "batteryVoltage>3",
        "batteryVoltage<4",
        "!batteryVoltage",
        "batteryVoltage",
        'calibrationSecret=="S3CRET-CAL-42"',
        "calibrationSecret~=S3C",
        'site=="s3cret-site"',
        "refDevice==urn:ngsi-ld:Device:s3cret-dev-1",
        "LAeq>50;batteryVoltage>3",
        "LAeq>50|batteryVoltage>3",
        'batteryVoltage.unitCode=="VLT"',
        "secretLocation",
    ],
)
def test_filters_on_private_attributes_match_nothing(anon: httpx.Client, admin: httpx.Client, q: str) -> None:
    """q on a private attribute (alone, in AND, in OR, negated, on its metadata) selects no entity and
    counts 0 anonymously, though it selects entities for an admin (or, negated, would for 'nonexistent')."""
    params = {"q": q, "count": "true", "limit": 100}
    assert clean(anon.get("/ngsi-ld/v1/entities", params=params)) == []
    assert count(anon.get("/ngsi-ld/v1/entities", params=params)) == 0
    posted = anon.post(
        "/ngsi-ld/v1/entityOperations/query",
        params={"count": "true"},
        json={"type": "Query", "entities": [{"type": "NoiseLevelObserved"}], "q": q},
    )
    assert clean(posted) == [] and count(posted) == 0
    temporal = anon.get(
        "/ngsi-ld/v1/temporal/entities", params={"type": "NoiseLevelObserved", "q": q, "count": "true"}
    )
    assert clean(temporal) == [] and count(temporal) == 0
    if not q.startswith("!"):
        assert count(admin.get("/ngsi-ld/v1/entities", params=params)) >= 1


def test_filters_on_public_attributes_work(anon: httpx.Client, admin: httpx.Client) -> None:
    """q, attrs and geo-queries on published attributes select what they select for an admin."""
    for q in ("LAeq>50", "LAeq<50", 'municipalityCode=="13055"', "LAmax>=70"):
        params = {"type": "NoiseLevelObserved", "q": q, "count": "true"}
        assert (
            count(anon.get("/ngsi-ld/v1/entities", params=params))
            == count(admin.get("/ngsi-ld/v1/entities", params=params))
            > 0
        )
    near = {
        "type": "NoiseLevelObserved",
        "geometry": "Point",
        "coordinates": "[5.3698,43.2965]",
        "georel": "near;maxDistance==100",
        "count": "true",
    }
    assert [e["id"] for e in clean(anon.get("/ngsi-ld/v1/entities", params=near))] == [N1]


def test_attrs_and_pick_never_reach_private_attributes(anon: httpx.Client) -> None:
    """attrs (a filter and a projection) and pick naming private attributes show and select nothing."""
    only_private = {
        "type": "NoiseLevelObserved",
        "attrs": "batteryVoltage,calibrationSecret",
        "count": "true",
    }
    r = anon.get("/ngsi-ld/v1/entities", params=only_private)
    assert clean(r) == [] and count(r) == 0
    mixed = clean(
        anon.get(
            "/ngsi-ld/v1/entities",
            params={"type": "NoiseLevelObserved", "attrs": "LAeq,batteryVoltage", "options": "keyValues"},
        )
    )
    assert {e["id"] for e in mixed} == {N1, N2, DUAL} and all(set(e) == {"id", "type", "LAeq"} for e in mixed)
    picked = clean(
        anon.get(f"/ngsi-ld/v1/entities/{N1}", params={"pick": "id,calibrationSecret,refDevice,LAeq"})
    )
    assert set(picked) == {"id", "LAeq"}
    picked = clean(anon.get(f"/ngsi-ld/v1/entities/{N1}", params={"attrs": "site,secretLocation"}))
    assert set(picked) == {"id", "type"}
    posted = clean(
        anon.post(
            "/ngsi-ld/v1/entityOperations/query",
            json={
                "type": "Query",
                "entities": [{"type": "NoiseLevelObserved"}],
                "attrs": ["LAeq", "batteryVoltage"],
                "pick": ["id", "LAeq", "site"],
            },
        )
    )
    assert all(set(e) == {"id", "LAeq"} for e in posted) and len(posted) == 3


def test_anonymous_queries_do_not_fill_the_audit_log(data: AuthServer, anon: httpx.Client) -> None:
    """POST queries are reads: an anonymous caller making many of them adds nothing to the audit log."""
    with data.client("admin") as admin:
        before = admin.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
        for _ in range(5):
            r = anon.post(
                "/ngsi-ld/v1/entityOperations/query",
                json={"type": "Query", "entities": [{"type": "NoiseLevelObserved"}]},
            )
            assert r.status_code == 200
        assert admin.get("/api/v1/audit", params={"limit": 1000}).json()["items"] == before


def test_geojson_and_geo_queries_use_published_geoproperties_only(
    anon: httpx.Client, admin: httpx.Client
) -> None:
    """GeoJSON features carry published properties; a private GeoProperty gives no geometry and no match."""
    geo = {"Accept": "application/geo+json"}
    collection = clean(anon.get("/ngsi-ld/v1/entities", params={"type": "NoiseLevelObserved"}, headers=geo))
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 3
    for feature in collection["features"]:
        assert not set(PRIVATE) & set(feature["properties"])
        assert feature["geometry"]["type"] == "Point"
    hidden = clean(
        anon.get(f"/ngsi-ld/v1/entities/{N1}", params={"geoproperty": "secretLocation"}, headers=geo)
    )
    assert hidden["geometry"] is None
    shown = admin.get(
        f"/ngsi-ld/v1/entities/{N1}", params={"geoproperty": "secretLocation"}, headers=geo
    ).json()
    assert shown["geometry"]["coordinates"] == [5.4, 43.3]
    near_secret = {
        "geometry": "Point",
        "coordinates": "[5.4,43.3]",
        "georel": "near;maxDistance==10",
        "geoproperty": "secretLocation",
        "type": "NoiseLevelObserved",
        "count": "true",
    }
    r = anon.get("/ngsi-ld/v1/entities", params=near_secret)
    assert clean(r) == [] and count(r) == 0
    assert count(admin.get("/ngsi-ld/v1/entities", params=near_secret)) == 3
    r = anon.get("/ngsi-ld/v1/entities", params=near_secret, headers=geo)
    assert clean(r)["features"] == []


# temporal -----------------------------------------------------------------------------------------
def test_temporal_history_and_aggregations_hold_published_attributes_only(
    anon: httpx.Client, admin: httpx.Client
) -> None:
    """History, temporalValues, lastN and aggregations show published attributes only; the aggregation
    origin is the earliest public instance, not the (earlier) private one."""
    full = admin.get(f"/ngsi-ld/v1/temporal/entities/{N1}").json()
    assert len(full["batteryVoltage"]) == 3 and len(full["LAeq"]) == 3
    for params in (
        {},
        {"options": "temporalValues"},
        {"lastN": "1"},
        {"attrs": "batteryVoltage,LAeq"},
        {"timerel": "after", "timeAt": T0},
        {"options": "sysAttrs"},
    ):
        one = clean(anon.get(f"/ngsi-ld/v1/temporal/entities/{N1}", params=params))
        assert "LAeq" in one and not set(PRIVATE) & set(one)
    only_private = clean(anon.get(f"/ngsi-ld/v1/temporal/entities/{N1}", params={"attrs": "batteryVoltage"}))
    assert set(only_private) == {"id", "type"}
    aggregated = {
        "options": "aggregatedValues",
        "aggrMethods": "min,max,avg,totalCount",
        "aggrPeriodDuration": "PT0S",
    }
    mine = clean(anon.get(f"/ngsi-ld/v1/temporal/entities/{N1}", params=aggregated))
    assert set(mine) >= {"LAeq", "LAmax"} and not set(PRIVATE) & set(mine)
    assert mine["LAeq"]["max"][0][0] == 63.0 and mine["LAeq"]["min"][0][0] == 59.0
    assert mine["LAeq"]["max"][0][1] == "2026-01-01T01:00:00.000000Z"  # the first public instance
    theirs = admin.get(f"/ngsi-ld/v1/temporal/entities/{N1}", params=aggregated).json()
    assert theirs["LAeq"]["max"][0][1] == "2026-01-01T00:00:00.000000Z"  # the battery voltage's time
    r = anon.get(
        "/ngsi-ld/v1/temporal/entities",
        params={**aggregated, "type": "NoiseLevelObserved", "attrs": "batteryVoltage", "count": "true"},
    )
    assert all(set(e) == {"id", "type"} for e in clean(r)) and count(r) == 3
    r = anon.get(
        "/ngsi-ld/v1/temporal/entities",
        params={"type": "StreetlightControlCabinet,SecretType", "count": "true"},
    )
    assert clean(r) == [] and count(r) == 0
    assert anon.get(f"/ngsi-ld/v1/temporal/entities/{CABINET}").status_code == 404
    dual = clean(anon.get(f"/ngsi-ld/v1/temporal/entities/{DUAL}"))
    assert dual["type"] == "NoiseLevelObserved"
    posted = anon.post(
        "/ngsi-ld/v1/temporal/entityOperations/query",
        json={
            "type": "Query",
            "entities": [{"type": "NoiseLevelObserved"}],
            "attrs": ["batteryVoltage", "LAeq"],
            "temporalQ": {"timerel": "after", "timeAt": T0},
        },
    )
    assert all(not set(PRIVATE) & set(e) for e in clean(posted))


# discovery ----------------------------------------------------------------------------------------
def test_discovery_lists_published_types_and_attributes_only(anon: httpx.Client, admin: httpx.Client) -> None:
    """/types and /attributes (with details, and one by one) show published types, attributes and counts."""
    types = clean(anon.get("/ngsi-ld/v1/types"))["typeList"]
    assert sorted(types) == ["NoiseLevelObserved", "TrafficFlowObserved"]
    assert "StreetlightControlCabinet" in admin.get("/ngsi-ld/v1/types").json()["typeList"]
    for detail in clean(anon.get("/ngsi-ld/v1/types", params={"details": "true"})):
        assert not set(PRIVATE) & set(detail["attributeNames"])
    info = clean(anon.get("/ngsi-ld/v1/types/NoiseLevelObserved"))
    assert info["entityCount"] == 3
    assert {a["attributeName"] for a in info["attributeDetails"]} == {
        "LAeq",
        "LAmax",
        "location",
        "name",
        "municipalityCode",
    }
    assert anon.get("/ngsi-ld/v1/types/StreetlightControlCabinet").status_code == 404
    assert anon.get("/ngsi-ld/v1/types/SecretType").status_code == 404
    names = clean(anon.get("/ngsi-ld/v1/attributes"))["attributeList"]
    assert not set(PRIVATE) & set(names) and "energyConsumed" not in names and "LAeq" in names
    laeq = clean(anon.get("/ngsi-ld/v1/attributes/LAeq"))
    assert laeq["attributeCount"] == 3 and laeq["typeNames"] == ["NoiseLevelObserved"]  # not the cabinet's
    assert admin.get("/ngsi-ld/v1/attributes/LAeq").json()["attributeCount"] == 4
    for detail in clean(anon.get("/ngsi-ld/v1/attributes", params={"details": "true"})):
        assert (
            detail["attributeName"] not in PRIVATE and "StreetlightControlCabinet" not in detail["typeNames"]
        )
    for name in ("batteryVoltage", "energyConsumed", "refDevice"):
        assert anon.get(f"/ngsi-ld/v1/attributes/{name}").status_code == 404


# use cases ----------------------------------------------------------------------------------------
def test_use_case_public_paths_compute_from_published_data(anon: httpx.Client, admin: httpx.Client) -> None:
    """The totem display and the open-data exports answer anonymously, from published data only; paths a
    use case does not declare public stay closed."""
    at = {"at": "2026-03-10T12:00:00Z"}
    shown = clean(anon.get(f"/api/v1/mobility/{BIKE}/display", params=at))
    # three whole 15-minute records of this (local) day: 5 + 7 in, 3 out
    assert (shown["today"], shown["year"]) == (15, 15)
    assert admin.get(f"/api/v1/mobility/{BIKE}/display", params=at).json()["today"] == 15
    counts = clean(
        anon.get(
            f"/api/v1/mobility/{BIKE}/counts",
            params={"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"},
        )
    )
    assert counts["total"] == 15
    sites = clean(anon.get("/api/v1/mobility/export/site.csv"))
    assert BIKE in sites
    measures = clean(
        anon.get(
            "/api/v1/mobility/export/measure.csv",
            params={"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"},
        )
    )
    assert measures.count("\n") >= 3  # a header and the three records, keyed by the counter, not its device
    observatory = clean(anon.get("/api/v1/noise/observatory", params={"date": "2026-01-01"}))
    assert {s["entityId"] for s in observatory["sensors"]} == {N1, N2, DUAL} and observatory["count"] == 3
    assert (
        clean(
            anon.get(
                f"/api/v1/noise/{N1}/indicators",
                params={"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
            )
        )["entityId"]
        == N1
    )
    for closed in (
        "/api/v1/waste/collection-plan",
        "/api/v1/lighting/faults",
        f"/api/v1/mobility/{BIKE}",
        "/api/v1/devices",
        "/api/v1/commands",
        "/api/v1/deadletters",
        "/api/v1/publication",
        "/api/v1/audit",
        "/api/v1/auth/keys",
        "/ngsi-ld/v1/jsonldContexts",
    ):
        assert anon.get(closed).status_code == 401, closed
    assert anon.get(f"/api/v1/noise/{CABINET}/indicators").status_code == 404


def test_publishing_and_unpublishing_take_effect_at_once(data: AuthServer, anon: httpx.Client) -> None:
    """An admin unpublishes an attribute, then the type, and publishes them again; anonymous answers,
    filters, counts and use-case endpoints follow at once (in this process); everything is audited."""
    with data.client("admin") as admin:
        r = admin.delete("/api/v1/publication/TrafficFlowObserved", params={"attrs": "intensity"})
        assert r.status_code == 204, r.text
        at = {"at": "2026-03-10T12:00:00Z"}
        assert (
            clean(anon.get(f"/api/v1/mobility/{BIKE}/display", params=at))["today"] == 0
        )  # no series to read
        assert "intensity" not in clean(anon.get(f"/ngsi-ld/v1/entities/{BIKE}"))
        r = anon.get(
            "/ngsi-ld/v1/entities",
            params={"type": "TrafficFlowObserved", "q": "intensity>0", "count": "true"},
        )
        assert clean(r) == [] and count(r) == 0
        assert admin.delete("/api/v1/publication/TrafficFlowObserved").status_code == 204
        assert admin.delete("/api/v1/publication/TrafficFlowObserved").status_code == 404
        assert anon.get(f"/ngsi-ld/v1/entities/{BIKE}").status_code == 404
        assert anon.get(f"/api/v1/mobility/{BIKE}/display", params=at).status_code == 404
        assert "TrafficFlowObserved" not in clean(anon.get("/ngsi-ld/v1/types"))["typeList"]
        r = admin.put("/api/v1/publication/TrafficFlowObserved", json={"attributes": ["intensity", "name"]})
        assert r.status_code == 200 and r.json()["attributes"] == ["intensity", "name"]
        assert clean(anon.get(f"/api/v1/mobility/{BIKE}/display", params=at))["today"] == 15
        assert set(clean(anon.get(f"/ngsi-ld/v1/entities/{BIKE}"))) == {"id", "type", "intensity", "name"}
        listed = admin.get("/api/v1/publication").json()
        mine = next(t for t in listed["types"] if t["entityType"] == "TrafficFlowObserved")
        assert mine["attributes"] == ["intensity", "name"] and mine["source"] == "admin"
        assert any(d["entityType"] == "TrafficFlowObserved" for d in listed["defaults"])
        bad = admin.put("/api/v1/publication/TrafficFlowObserved", json={"attributes": ["id"]})
        assert bad.status_code == 400 and "not an attribute" in bad.json()["detail"]
        assert admin.post("/api/v1/publication/defaults").status_code == 200  # back to the defaults
        entries = admin.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
        actions = [e["action"] for e in entries if "/api/v1/publication" in e["action"]]
        assert "DELETE /api/v1/publication/TrafficFlowObserved" in actions
        assert "PUT /api/v1/publication/TrafficFlowObserved" in actions
        put = next(
            e
            for e in entries
            if e["action"] == "PUT /api/v1/publication/TrafficFlowObserved" and e["status"] == 200
        )
        assert put["detail"]["attributes"] == ["intensity", "name"] and put["actor"].startswith("key:")
    shown = clean(anon.get(f"/ngsi-ld/v1/entities/{BIKE}"))
    assert {"intensity", "location", "measurementPeriod"} <= set(shown)


def test_publication_is_per_tenant(data: AuthServer) -> None:
    """siteA publishes nothing by default: its data is invisible anonymously until its admin publishes."""
    eid = "urn:ngsi-ld:NoiseLevelObserved:luminy"
    with data.client("admin-siteA", "siteA") as admin_a:
        assert (
            admin_a.post(
                "/ngsi-ld/v1/entities", json=noise_sensor(eid, 40.0, "13055", 5.43, 43.23)
            ).status_code
            == 201
        )
        with data.client(None, "siteA") as anon_a:
            r = anon_a.get("/ngsi-ld/v1/entities", params={"type": "NoiseLevelObserved", "count": "true"})
            assert clean(r) == [] and count(r) == 0
            assert (
                admin_a.put(
                    "/api/v1/publication/NoiseLevelObserved", json={"attributes": ["LAeq"]}
                ).status_code
                == 200
            )
            assert [
                set(e)
                for e in clean(anon_a.get("/ngsi-ld/v1/entities", params={"type": "NoiseLevelObserved"}))
            ] == [{"id", "type", "LAeq"}]
        # siteA's admin manages siteA only
        r = admin_a.put(
            "/api/v1/publication/NoiseLevelObserved",
            json={"attributes": ["LAeq"]},
            headers={"NGSILD-Tenant": ""},
        )
        assert r.status_code == 403
    with data.client() as anon_default:  # the default tenant's publication does not show siteA's sensor
        assert eid not in str(
            clean(anon_default.get("/ngsi-ld/v1/entities", params={"type": "NoiseLevelObserved"}))
        )

"""NGSI-LD entity API, end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"
LD = {"Content-Type": "application/ld+json"}
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def noise(i: int, laeq: float, **extra: object) -> dict:
    """A NoiseLevelObserved in normalized form, around the Vieux-Port."""
    body = {
        "id": f"urn:ngsi-ld:NoiseLevelObserved:n{i}",
        "type": "NoiseLevelObserved",
        "LAeq": {"type": "Property", "value": laeq, "unitCode": "2N", "observedAt": "2026-11-25T10:00:00Z"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [5.37 + i / 1000, 43.295]}},
        "name": {"type": "Property", "value": f"sensor {i}"},
    }
    body.update(extra)
    return body


def create(api: httpx.Client, body: dict) -> httpx.Response:
    """POST /entities with JSON and no context (core context + default prefix)."""
    return api.post("/entities", json=body)


def test_create_then_retrieve_normalized(api: httpx.Client) -> None:
    r = create(api, noise(1, 61.5))
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/ngsi-ld/v1/entities/urn:ngsi-ld:NoiseLevelObserved:n1"
    got = api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1")
    assert got.status_code == 200
    body = got.json()
    assert body["type"] == "NoiseLevelObserved"
    assert body["LAeq"] == {"type": "Property", "value": 61.5, "unitCode": "2N",
                            "observedAt": "2026-11-25T10:00:00.000000Z"}
    assert body["location"]["value"] == {"type": "Point", "coordinates": [5.371, 43.295]}
    assert "json-ld#context" in got.headers["link"]


def test_create_twice_is_conflict_and_keeps_first(api: httpx.Client) -> None:
    assert create(api, noise(1, 61.5)).status_code == 201
    r = create(api, noise(1, 99.0))
    assert r.status_code == 409
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists"
    assert api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1").json()["LAeq"]["value"] == 61.5


def test_keyvalues_concise_and_sysattrs(api: httpx.Client) -> None:
    create(api, noise(1, 61.5))
    kv = api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1", params={"options": "keyValues"}).json()
    assert kv["LAeq"] == 61.5 and kv["name"] == "sensor 1"
    simplified = api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1", params={"format": "simplified"}).json()
    assert simplified == kv
    concise = api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1", params={"format": "concise"}).json()
    assert concise["name"] == "sensor 1"
    assert concise["LAeq"] == {"value": 61.5, "unitCode": "2N", "observedAt": "2026-11-25T10:00:00.000000Z"}
    sys = api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1", params={"options": "sysAttrs"}).json()
    assert sys["createdAt"].endswith("Z") and sys["LAeq"]["modifiedAt"].endswith("Z")


def test_ld_json_context_in_body_expands_and_compacts(api: httpx.Client) -> None:
    ctx = {"noise": "https://example.org/noise#", "LAeq": "noise:LAeq", "Sensor": "noise:Sensor"}
    body = {"id": "urn:ngsi-ld:Sensor:s1", "type": "Sensor", "LAeq": {"type": "Property", "value": 50},
            "@context": [ctx, CORE]}
    assert api.post("/entities", json=body, headers=LD).status_code == 201
    # Without the user's context, the full IRIs come back (they do not compact to terms).
    plain = api.get("/entities/urn:ngsi-ld:Sensor:s1").json()
    assert plain["type"] == "https://example.org/noise#Sensor"
    assert plain["https://example.org/noise#LAeq"]["value"] == 50
    # With it, terms come back; with Accept ld+json the @context is in the body.
    withctx = api.get("/entities/urn:ngsi-ld:Sensor:s1", headers={"Accept": "application/ld+json"})
    # The caller's context reached us through the body at creation only: GET needs it again.
    assert withctx.json()["@context"] == CORE
    # A query by the expanded type finds it.
    found = api.get("/entities", params={"type": "https://example.org/noise#Sensor"}).json()
    assert [e["id"] for e in found] == ["urn:ngsi-ld:Sensor:s1"]


def test_ld_json_with_link_header_is_rejected(api: httpx.Client) -> None:
    body = {**noise(1, 50.0), "@context": CORE}
    r = api.post("/entities", json=body,
                 headers={**LD, "Link": f'<{CORE}>; rel="http://www.w3.org/ns/json-ld#context"'})
    assert r.status_code == 400
    assert api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1").status_code == 404


def test_query_type_q_paging_count(api: httpx.Client) -> None:
    for i, level in enumerate([40.0, 55.0, 60.0, 72.5, 80.0]):
        assert create(api, noise(i, level)).status_code == 201
    r = api.get("/entities", params={"type": "NoiseLevelObserved", "q": "LAeq>=55;LAeq<80", "count": "true"})
    assert r.status_code == 200, r.text
    assert sorted(e["LAeq"]["value"] for e in r.json()) == [55.0, 60.0, 72.5]
    assert r.headers["NGSILD-Results-Count"] == "3"
    page = api.get("/entities", params={"type": "NoiseLevelObserved", "limit": 2, "offset": 2, "count": "true"})
    assert [e["id"] for e in page.json()] == ["urn:ngsi-ld:NoiseLevelObserved:n2", "urn:ngsi-ld:NoiseLevelObserved:n3"]
    assert page.headers["NGSILD-Results-Count"] == "5"
    only_count = api.get("/entities", params={"type": "NoiseLevelObserved", "limit": 0, "count": "true"})
    assert only_count.json() == [] and only_count.headers["NGSILD-Results-Count"] == "5"
    ranged = api.get("/entities", params={"type": "NoiseLevelObserved", "q": "LAeq==50..65"}).json()
    assert sorted(e["LAeq"]["value"] for e in ranged) == [55.0, 60.0]
    either = api.get("/entities", params={"type": "NoiseLevelObserved", "q": "LAeq<41|LAeq>79"}).json()
    assert sorted(e["LAeq"]["value"] for e in either) == [40.0, 80.0]
    pattern = api.get("/entities", params={"type": "NoiseLevelObserved", "q": 'name~="sensor [34]"'}).json()
    assert sorted(e["id"] for e in pattern) == ["urn:ngsi-ld:NoiseLevelObserved:n3", "urn:ngsi-ld:NoiseLevelObserved:n4"]


def test_query_by_id_idpattern_attrs_pick_omit(api: httpx.Client) -> None:
    for i in range(3):
        create(api, noise(i, 50.0 + i))
    create(api, {"id": "urn:ngsi-ld:WasteContainer:w1", "type": "WasteContainer",
                 "fillingLevel": {"type": "Property", "value": 0.4}})
    by_id = api.get("/entities", params={"id": "urn:ngsi-ld:NoiseLevelObserved:n0,urn:ngsi-ld:WasteContainer:w1"})
    assert sorted(e["id"] for e in by_id.json()) == ["urn:ngsi-ld:NoiseLevelObserved:n0", "urn:ngsi-ld:WasteContainer:w1"]
    pat = api.get("/entities", params={"idPattern": "^urn:ngsi-ld:NoiseLevelObserved:n[12]$"}).json()
    assert sorted(e["id"] for e in pat) == ["urn:ngsi-ld:NoiseLevelObserved:n1", "urn:ngsi-ld:NoiseLevelObserved:n2"]
    attrs = api.get("/entities", params={"attrs": "fillingLevel"}).json()
    assert [e["id"] for e in attrs] == ["urn:ngsi-ld:WasteContainer:w1"]
    picked = api.get("/entities", params={"type": "NoiseLevelObserved", "pick": "id,LAeq", "limit": 1}).json()
    assert picked == [{"id": "urn:ngsi-ld:NoiseLevelObserved:n0",
                       "LAeq": {"type": "Property", "value": 50.0, "unitCode": "2N",
                                "observedAt": "2026-11-25T10:00:00.000000Z"}}]
    omitted = api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n0", params={"omit": "location,name,LAeq"}).json()
    assert omitted == {"id": "urn:ngsi-ld:NoiseLevelObserved:n0", "type": "NoiseLevelObserved"}


def test_type_selection_grammar(api: httpx.Client) -> None:
    create(api, {"id": "urn:a:1", "type": ["A", "B"], "x": {"type": "Property", "value": 1}})
    create(api, {"id": "urn:a:2", "type": "A", "x": {"type": "Property", "value": 2}})
    create(api, {"id": "urn:a:3", "type": "C", "x": {"type": "Property", "value": 3}})
    ids = lambda t: sorted(e["id"] for e in api.get("/entities", params={"type": t}).json())  # noqa: E731
    assert ids("A;B") == ["urn:a:1"]
    assert ids("B|C") == ["urn:a:1", "urn:a:3"]
    assert ids("A,C") == ["urn:a:1", "urn:a:2", "urn:a:3"]
    assert ids("(A;B)|C") == ["urn:a:1", "urn:a:3"]


def test_geo_near_within(api: httpx.Client) -> None:
    # n0 at lon 5.370, n1 at 5.371, n2 at 5.372, lat 43.295. 0.001° of longitude at 43.295° N is
    # about 111.32 km * cos(43.295°) / 1000 = 81.0 m.
    for i in range(3):
        create(api, noise(i, 50.0))
    near = api.get("/entities", params={"type": "NoiseLevelObserved", "geometry": "Point",
                                        "coordinates": "[5.370,43.295]", "georel": "near;maxDistance==100"}).json()
    assert sorted(e["id"] for e in near) == ["urn:ngsi-ld:NoiseLevelObserved:n0", "urn:ngsi-ld:NoiseLevelObserved:n1"]
    far = api.get("/entities", params={"type": "NoiseLevelObserved", "geometry": "Point",
                                       "coordinates": "[5.370,43.295]", "georel": "near;minDistance==100"}).json()
    assert [e["id"] for e in far] == ["urn:ngsi-ld:NoiseLevelObserved:n2"]
    box = "[[[5.3705,43.29],[5.3725,43.29],[5.3725,43.30],[5.3705,43.30],[5.3705,43.29]]]"
    within = api.get("/entities", params={"type": "NoiseLevelObserved", "geometry": "Polygon",
                                          "coordinates": box, "georel": "within", "count": "true"})
    assert sorted(e["id"] for e in within.json()) == ["urn:ngsi-ld:NoiseLevelObserved:n1", "urn:ngsi-ld:NoiseLevelObserved:n2"]
    assert within.headers["NGSILD-Results-Count"] == "2"


def test_geojson_output(api: httpx.Client) -> None:
    create(api, noise(1, 61.5))
    one = api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1", headers={"Accept": "application/geo+json"})
    assert one.headers["content-type"].startswith("application/geo+json")
    feature = one.json()
    assert feature["type"] == "Feature" and feature["geometry"] == {"type": "Point", "coordinates": [5.371, 43.295]}
    many = api.get("/entities", params={"type": "NoiseLevelObserved"}, headers={"Accept": "application/geo+json"})
    assert many.json()["type"] == "FeatureCollection" and len(many.json()["features"]) == 1


def test_append_update_partial_replace_merge(api: httpx.Client) -> None:
    eid = "urn:ngsi-ld:NoiseLevelObserved:n1"
    create(api, noise(1, 61.5))
    # append: new attribute + overwrite existing
    r = api.post(f"/entities/{eid}/attrs", json={"LAmax": {"type": "Property", "value": 80.1},
                                                 "LAeq": {"type": "Property", "value": 62.0}})
    assert r.status_code == 204, r.text
    # append with noOverwrite keeps LAeq and reports it
    r = api.post(f"/entities/{eid}/attrs", params={"options": "noOverwrite"},
                 json={"LAeq": {"type": "Property", "value": 1.0}})
    assert r.status_code == 207 and r.json()["notUpdated"][0]["attributeName"] == "LAeq"
    # update: existing only, unknown attribute reported
    r = api.patch(f"/entities/{eid}/attrs", json={"LAeq": {"type": "Property", "value": 63.0},
                                                  "nope": {"type": "Property", "value": 1}})
    assert r.status_code == 207 and [n["attributeName"] for n in r.json()["notUpdated"]] == ["nope"]
    # partial attribute update keeps other members
    assert api.patch(f"/entities/{eid}/attrs/LAmax", json={"value": 81.0}).status_code == 204
    # replace an attribute drops its old members
    assert api.put(f"/entities/{eid}/attrs/name", json={"type": "Property", "value": "Quai"}).status_code == 204
    # merge: change one, delete one with urn:ngsi-ld:null
    r = api.patch(f"/entities/{eid}", json={"LAeq": {"type": "Property", "value": 64.0},
                                            "LAmax": "urn:ngsi-ld:null"})
    assert r.status_code == 204, r.text
    got = api.get(f"/entities/{eid}", params={"options": "keyValues"}).json()
    assert got == {"id": eid, "type": "NoiseLevelObserved", "LAeq": 64.0, "name": "Quai",
                   "location": {"type": "Point", "coordinates": [5.371, 43.295]}}
    # replace the entity
    r = api.put(f"/entities/{eid}", json={"type": "NoiseLevelObserved", "LAeq": {"type": "Property", "value": 1}})
    assert r.status_code == 204, r.text
    assert api.get(f"/entities/{eid}", params={"options": "keyValues"}).json() == {
        "id": eid, "type": "NoiseLevelObserved", "LAeq": 1}


def test_datasetid_instances_and_delete(api: httpx.Client) -> None:
    eid = "urn:ngsi-ld:Streetlight:s1"
    body = {"id": eid, "type": "Streetlight", "powerState": [
        {"type": "Property", "value": "on"},
        {"type": "Property", "value": "off", "datasetId": "urn:ngsi-ld:Dataset:commanded"},
    ]}
    assert create(api, body).status_code == 201
    got = api.get(f"/entities/{eid}").json()["powerState"]
    assert isinstance(got, list) and len(got) == 2
    assert api.delete(f"/entities/{eid}/attrs/powerState",
                      params={"datasetId": "urn:ngsi-ld:Dataset:commanded"}).status_code == 204
    assert api.get(f"/entities/{eid}").json()["powerState"] == {"type": "Property", "value": "on"}
    assert api.delete(f"/entities/{eid}/attrs/powerState").status_code == 204
    assert "powerState" not in api.get(f"/entities/{eid}").json()
    assert api.delete(f"/entities/{eid}/attrs/powerState").status_code == 404
    assert api.delete(f"/entities/{eid}").status_code == 204
    assert api.get(f"/entities/{eid}").status_code == 404
    assert api.delete(f"/entities/{eid}").status_code == 404


def test_relationship_language_vocab_list_types(api: httpx.Client) -> None:
    eid = "urn:ngsi-ld:WasteContainer:w1"
    body = {
        "id": eid, "type": "WasteContainer",
        "refWasteContainerIsle": {"type": "Relationship", "object": "urn:ngsi-ld:WasteContainerIsle:i1"},
        "description": {"type": "LanguageProperty", "languageMap": {"fr": "Colonne à verre", "en": "Glass bank"}},
        "category": {"type": "VocabProperty", "vocab": "glass"},
        "readings": {"type": "ListProperty", "valueList": [0.1, 0.2]},
        "serves": {"type": "ListRelationship", "objectList": [{"object": "urn:a:1"}, {"object": "urn:a:2"}]},
    }
    assert create(api, body).status_code == 201, create(api, body).text
    got = api.get(f"/entities/{eid}").json()
    assert got["refWasteContainerIsle"]["object"] == "urn:ngsi-ld:WasteContainerIsle:i1"
    assert got["description"]["languageMap"]["fr"] == "Colonne à verre"
    assert got["category"]["vocab"] == "glass"
    assert got["readings"]["valueList"] == [0.1, 0.2]
    fr = api.get(f"/entities/{eid}", params={"lang": "fr"}).json()["description"]
    assert fr == {"type": "Property", "value": "Colonne à verre", "lang": "fr"}
    rel = api.get("/entities", params={"q": "refWasteContainerIsle==urn:ngsi-ld:WasteContainerIsle:i1"}).json()
    assert [e["id"] for e in rel] == [eid]


def test_subproperties_and_compound_paths(api: httpx.Client) -> None:
    body = {"id": "urn:x:1", "type": "T",
            "level": {"type": "Property", "value": 2.5, "quality": {"type": "Property", "value": "good"}},
            "address": {"type": "Property", "value": {"addressLocality": "Marseille", "postalCode": "13002"}}}
    assert create(api, body).status_code == 201
    assert len(api.get("/entities", params={"type": "T", "q": 'level.quality=="good"'}).json()) == 1
    assert len(api.get("/entities", params={"type": "T", "q": 'address[postalCode]=="13002"'}).json()) == 1
    assert api.get("/entities", params={"type": "T", "q": 'address[postalCode]=="13001"'}).json() == []


def test_batch_operations(api: httpx.Client) -> None:
    batch = [noise(i, 50.0 + i) for i in range(3)]
    r = api.post("/entityOperations/create", json=batch)
    assert r.status_code == 201 and len(r.json()) == 3
    # one duplicate, one invalid: 207 with successes and one error per failed entity
    r = api.post("/entityOperations/create", json=[noise(3, 1.0), noise(0, 1.0), {"id": "not a uri", "type": "X"}])
    assert r.status_code == 207
    body = r.json()
    assert body["success"] == ["urn:ngsi-ld:NoiseLevelObserved:n3"]
    assert len(body["errors"]) == 2
    assert {e["error"]["type"].rsplit("/", 1)[1] for e in body["errors"]} == {"AlreadyExists", "BadRequestData"}
    # upsert (replace): updates n0 wholly, creates n9
    r = api.post("/entityOperations/upsert", json=[
        {"id": "urn:ngsi-ld:NoiseLevelObserved:n0", "type": "NoiseLevelObserved", "LAeq": {"type": "Property", "value": 9}},
        noise(9, 70.0)])
    assert r.status_code == 201 and r.json() == ["urn:ngsi-ld:NoiseLevelObserved:n9"]
    assert "name" not in api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n0").json()
    # upsert update mode keeps other attributes
    r = api.post("/entityOperations/upsert", params={"options": "update"}, json=[
        {"id": "urn:ngsi-ld:NoiseLevelObserved:n1", "type": "NoiseLevelObserved", "LAeq": {"type": "Property", "value": 7}}])
    assert r.status_code == 204
    assert api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1").json()["name"]["value"] == "sensor 1"
    # update with noOverwrite
    r = api.post("/entityOperations/update", params={"options": "noOverwrite"}, json=[
        {"id": "urn:ngsi-ld:NoiseLevelObserved:n1", "LAeq": {"type": "Property", "value": 1000}}])
    assert r.status_code == 204
    assert api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1").json()["LAeq"]["value"] == 7
    # merge
    r = api.post("/entityOperations/merge", json=[{"id": "urn:ngsi-ld:NoiseLevelObserved:n2", "name": "urn:ngsi-ld:null"}])
    assert r.status_code == 204, r.text
    assert "name" not in api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n2").json()
    # delete with one unknown id
    r = api.post("/entityOperations/delete", json=["urn:ngsi-ld:NoiseLevelObserved:n1", "urn:x:missing"])
    assert r.status_code == 207
    assert r.json()["success"] == ["urn:ngsi-ld:NoiseLevelObserved:n1"]
    assert r.json()["errors"][0]["entityId"] == "urn:x:missing"


def test_post_query(api: httpx.Client) -> None:
    for i in range(3):
        create(api, noise(i, 50.0 + 10 * i))
    r = api.post("/entityOperations/query", params={"count": "true"},
                 json={"type": "Query", "entities": [{"type": "NoiseLevelObserved"}], "q": "LAeq>55",
                       "geoQ": {"geometry": "Point", "coordinates": [5.372, 43.295], "georel": "near;maxDistance==10"}})
    assert r.status_code == 200, r.text
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:NoiseLevelObserved:n2"]
    assert r.headers["NGSILD-Results-Count"] == "1"


def test_tenants_are_isolated(api: httpx.Client) -> None:
    assert api.post("/entities", json=noise(1, 50.0), headers={"NGSILD-Tenant": "site-a"}).status_code == 201
    assert api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1").status_code == 404
    assert api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1", headers={"NGSILD-Tenant": "site-a"}).status_code == 200
    missing = api.get("/entities", params={"type": "NoiseLevelObserved"}, headers={"NGSILD-Tenant": "nobody"})
    assert missing.status_code == 404
    assert missing.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant"
    assert api.get("/entities", params={"type": "NoiseLevelObserved"}).json() == []


def test_discovery(api: httpx.Client) -> None:
    create(api, noise(1, 50.0))
    create(api, noise(2, 50.0))
    create(api, {"id": "urn:ngsi-ld:WasteContainer:w1", "type": "WasteContainer",
                 "fillingLevel": {"type": "Property", "value": 0.4}})
    types = api.get("/types").json()
    assert types["type"] == "EntityTypeList" and sorted(types["typeList"]) == ["NoiseLevelObserved", "WasteContainer"]
    info = api.get("/types/NoiseLevelObserved").json()
    assert info["entityCount"] == 2
    assert sorted(a["attributeName"] for a in info["attributeDetails"]) == ["LAeq", "location", "name"]
    attrs = api.get("/attributes").json()
    assert sorted(attrs["attributeList"]) == ["LAeq", "fillingLevel", "location", "name"]
    laeq = api.get("/attributes/LAeq").json()
    assert laeq["attributeCount"] == 2 and laeq["typeNames"] == ["NoiseLevelObserved"]
    assert api.get("/types/Nothing").status_code == 404
    details = api.get("/types", params={"details": "true"}).json()
    assert {d["typeName"] for d in details} == {"NoiseLevelObserved", "WasteContainer"}


def test_batch_update_naming_one_entity_twice_applies_both_in_order(api: httpx.Client) -> None:
    create(api, noise(1, 50.0))
    eid = "urn:ngsi-ld:NoiseLevelObserved:n1"
    r = api.post("/entityOperations/update", json=[
        {"id": eid, "LAeq": {"type": "Property", "value": 60.0}},
        {"id": eid, "LAmax": {"type": "Property", "value": 70.0}}])
    assert r.status_code == 204, r.text
    got = api.get(f"/entities/{eid}", params={"options": "keyValues"}).json()
    assert got["LAeq"] == 60.0 and got["LAmax"] == 70.0
    assert api.get("/types/NoiseLevelObserved").json()["entityCount"] == 1

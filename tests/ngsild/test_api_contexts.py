"""JSON-LD @context handling over HTTP: hosted contexts, Link headers, compaction, /jsonldContexts."""

from __future__ import annotations

import httpx

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"
USER_CTX = {"@context": {"sdm": "https://smartdatamodels.org/dataModel.Environment/",
                         "NoiseLevelObserved": "sdm:NoiseLevelObserved", "LAeq": "sdm:LAeq"}}


def link(url: str) -> dict[str, str]:
    """A JSON-LD context Link header."""
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'}


def test_hosted_context_lifecycle_and_use(api: httpx.Client, servers: dict, backend: str) -> None:
    created = api.post("/jsonldContexts", json=USER_CTX)
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    assert url.startswith("http://127.0.0.1:") and "/ngsi-ld/v1/jsonldContexts/" in url
    local_id = url.rsplit("/", 1)[1]
    served = api.get(f"/jsonldContexts/{local_id}")
    assert served.status_code == 200 and served.json() == USER_CTX
    assert url in api.get("/jsonldContexts").json()
    details = api.get("/jsonldContexts", params={"details": "true", "kind": "Hosted"}).json()
    assert [d["kind"] for d in details] == ["Hosted"]

    # The hosted context is used through a Link header: terms expand to the Smart Data Models IRIs.
    body = {"id": "urn:ngsi-ld:NoiseLevelObserved:n1", "type": "NoiseLevelObserved",
            "LAeq": {"type": "Property", "value": 58.2}}
    assert api.post("/entities", json=body, headers=link(url)).status_code == 201
    plain = api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1").json()
    assert plain["type"] == "https://smartdatamodels.org/dataModel.Environment/NoiseLevelObserved"
    assert "https://smartdatamodels.org/dataModel.Environment/LAeq" in plain
    compact = api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1", headers=link(url))
    assert compact.json()["type"] == "NoiseLevelObserved" and compact.json()["LAeq"]["value"] == 58.2
    assert url in compact.headers["link"]
    ld = api.get("/entities/urn:ngsi-ld:NoiseLevelObserved:n1",
                 headers={**link(url), "Accept": "application/ld+json"})
    assert ld.headers["content-type"].startswith("application/ld+json") and ld.json()["@context"] == url
    found = api.get("/entities", params={"type": "NoiseLevelObserved", "q": "LAeq>58"}, headers=link(url)).json()
    assert [e["id"] for e in found] == ["urn:ngsi-ld:NoiseLevelObserved:n1"]
    # Without the context the short type names another (default-context) type: nothing matches.
    assert api.get("/entities", params={"type": "NoiseLevelObserved"}).json() == []

    assert api.delete(f"/jsonldContexts/{local_id}").status_code == 204
    assert api.get(f"/jsonldContexts/{local_id}").status_code == 404


def test_core_context_is_built_in_and_protected(api: httpx.Client) -> None:
    for version in ("", "-v1.3", "-v1.6", "-v1.8", "-v1.9"):
        url = f"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context{version}.jsonld"
        r = api.get("/types", headers=link(url))
        assert r.status_code == 200, (url, r.text)
    assert api.delete("/jsonldContexts/" + CORE).status_code == 400


def test_dataset_id_selection(api: httpx.Client) -> None:
    eid = "urn:ngsi-ld:Streetlight:s1"
    api.post("/entities", json={"id": eid, "type": "Streetlight", "powerState": [
        {"type": "Property", "value": "on"},
        {"type": "Property", "value": "off", "datasetId": "urn:ngsi-ld:Dataset:commanded"}]})
    one = api.get(f"/entities/{eid}", params={"datasetId": "urn:ngsi-ld:Dataset:commanded"}).json()
    assert one["powerState"] == {"type": "Property", "value": "off", "datasetId": "urn:ngsi-ld:Dataset:commanded"}
    default = api.get(f"/entities/{eid}", params={"datasetId": "@none"}).json()
    assert default["powerState"] == {"type": "Property", "value": "on"}
    assert api.get(f"/entities/{eid}", params={"datasetId": "not a uri"}).status_code == 400


def test_inline_context_gets_an_implicit_url_in_the_link_header(api: httpx.Client) -> None:
    inline = {"sdm": "https://smartdatamodels.org/dataModel.Environment/", "LAeq": "sdm:LAeq",
              "NoiseLevelObserved": "sdm:NoiseLevelObserved"}
    body = {"id": "urn:ngsi-ld:NoiseLevelObserved:n1", "type": "NoiseLevelObserved",
            "LAeq": {"type": "Property", "value": 58.2}, "@context": [inline, CORE]}
    assert api.post("/entities", json=body, headers={"Content-Type": "application/ld+json"}).status_code == 201
    query = {"type": "Query", "entities": [{"type": "NoiseLevelObserved"}], "@context": [inline, CORE]}
    r = api.post("/entityOperations/query", json=query, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 200, r.text
    assert r.json()[0]["type"] == "NoiseLevelObserved"
    url = r.headers["link"].split(">")[0].lstrip("<")
    assert "/ngsi-ld/v1/jsonldContexts/" in url
    # That URL serves the inline context back, so a client can dereference it.
    served = httpx.get(url, timeout=10)
    assert served.status_code == 200 and served.json() == {"@context": [inline, CORE]}

"""The OpenAPI document and the interactive docs are served by the live server."""

from __future__ import annotations

import httpx

NGSILD_PATHS = [
    "/ngsi-ld/v1/entities", "/ngsi-ld/v1/entities/{entity_id}", "/ngsi-ld/v1/entities/{entity_id}/attrs",
    "/ngsi-ld/v1/entityOperations/create", "/ngsi-ld/v1/entityOperations/upsert",
    "/ngsi-ld/v1/entityOperations/update", "/ngsi-ld/v1/entityOperations/delete",
    "/ngsi-ld/v1/entityOperations/query", "/ngsi-ld/v1/temporal/entities", "/ngsi-ld/v1/types",
    "/ngsi-ld/v1/attributes", "/ngsi-ld/v1/jsonldContexts",
]


def test_openapi_lists_ngsild_paths(backend: str, servers: dict) -> None:
    """/openapi.json is an OpenAPI 3 document listing the NGSI-LD operations with their methods."""
    response = httpx.get(servers[backend].url + "/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] == "Calanque"
    paths = doc["paths"]
    missing = [p for p in NGSILD_PATHS if p not in paths]
    assert not missing, f"missing from /openapi.json: {missing}"
    assert {"get", "post"} <= set(paths["/ngsi-ld/v1/entities"])
    assert {"get", "patch", "put", "delete"} <= set(paths["/ngsi-ld/v1/entities/{entity_id}"])
    # The trailing-slash aliases accepted for client compatibility are not documented twice.
    assert "/ngsi-ld/v1/entities/" not in paths


def test_docs_page_is_html(backend: str, servers: dict) -> None:
    """/docs answers 200 with an HTML page that loads the OpenAPI document."""
    response = httpx.get(servers[backend].url + "/docs", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()
    assert "/openapi.json" in response.text

"""The API documentation works offline: /docs references only local assets."""

from __future__ import annotations

import re

import httpx


def test_docs_use_no_cdn(servers: dict) -> None:
    root = servers["sqlite"].url
    page = httpx.get(root + "/docs", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert urls, "the docs page references no asset"
    for url in urls:
        assert url.startswith("/"), f"/docs loads {url} from outside this server"
        assert httpx.get(root + url, timeout=10).status_code == 200, url
    spec = httpx.get(root + "/openapi.json", timeout=10).json()
    assert "/ngsi-ld/v1/entities" in spec["paths"] and "/ngsi-ld/v1/temporal/entities" in spec["paths"]

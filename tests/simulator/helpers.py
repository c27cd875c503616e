"""Helpers of the simulator tests."""

from __future__ import annotations

import httpx


def integration_key(client: httpx.Client, kind: str, tenant: str = "") -> str:
    """Create an integration of ``kind`` in ``tenant`` and return its key."""
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    r = client.post("/api/v1/integrations", json={"name": f"sim-{kind}-{tenant or 'default'}", "kind": kind},
                    headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["key"]

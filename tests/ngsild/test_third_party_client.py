"""Interoperability: the unmodified third-party `ngsildclient` package drives the live broker.

ngsildclient pins httpx and rich versions that clash with Calanque's, so scripts/test installs it in
`.venv-ngsildclient`; the scenario (tests/ngsild/clients/ngsildclient_scenario.py) runs with that venv's
python as a subprocess against the live server. The test fails (never skips) when that venv is missing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
CLIENT_PYTHON = REPO / ".venv-ngsildclient" / "bin" / "python"
SCENARIO = Path(__file__).parent / "clients" / "ngsildclient_scenario.py"
PREFIX = "urn:ngsi-ld:NoiseLevelObserved:ngsildclient-"


def run_scenario(server_url: str) -> dict:
    """Run the ngsildclient scenario against a server root URL; return its JSON observations."""
    assert CLIENT_PYTHON.exists(), (
        f"{CLIENT_PYTHON} is missing: run ./scripts/test, which creates .venv-ngsildclient with ngsildclient"
    )
    done = subprocess.run([str(CLIENT_PYTHON), str(SCENARIO), server_url], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, f"the ngsildclient scenario failed:\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_ngsildclient_scenario(api: httpx.Client, backend: str, servers: dict) -> None:
    """Create, batch upsert, q query, temporal retrieval and query, delete — all through ngsildclient."""
    seen = run_scenario(servers[backend].url)

    # What the client itself observed.
    assert seen["created"] is True
    assert seen["upsert_ok"] is True
    # sensors 2 and 3 were new; sensor 1 already existed, so only 2 and 3 are reported as created.
    assert seen["upsert_success"] == [f"{PREFIX}2", f"{PREFIX}3"]
    # LAeq after the upsert: 61.5, 70.0, 48.0 → q=LAeq>60 matches sensors 1 and 2.
    assert seen["query_q_ids"] == [f"{PREFIX}1", f"{PREFIX}2"]
    assert seen["count_all"] == 3
    assert seen["get_laeq"] == 61.5
    troe = seen["temporal"]
    assert troe["id"] == f"{PREFIX}1"
    # History of sensor 1: 55.0 observed at 08:00 by the create, 61.5 at 09:00 by the upsert.
    assert [v[0] for v in troe["LAeq"]["values"]] == [55.0, 61.5]
    assert [v[1][:16] for v in troe["LAeq"]["values"]] == ["2024-05-01T08:00", "2024-05-01T09:00"]
    # Temporal query, between 08:30 and 10:00 with q=LAeq>60: only the 09:00 values of sensors 1 and 2.
    by_id = {t["id"]: [v[0] for v in t["LAeq"]["values"]] for t in seen["temporal_query"]}
    assert by_id == {f"{PREFIX}1": [61.5], f"{PREFIX}2": [70.0]}
    assert seen["deleted"] is True
    assert seen["exists_after_delete"] is False

    # What the server holds, read back independently over HTTP.
    listed = api.get("/entities", params={"type": "NoiseLevelObserved", "options": "keyValues"})
    assert listed.status_code == 200
    state = {e["id"]: e for e in listed.json()}
    assert sorted(state) == [f"{PREFIX}1", f"{PREFIX}2"]
    assert state[f"{PREFIX}1"]["LAeq"] == 61.5
    assert state[f"{PREFIX}2"]["LAeq"] == 70.0
    assert state[f"{PREFIX}2"]["name"] == "sensor 2"
    assert state[f"{PREFIX}2"]["location"]["type"] == "Point"
    one = api.get(f"/entities/{PREFIX}1").json()
    assert one["LAeq"]["unitCode"] == "2N"
    assert one["LAeq"]["observedAt"].startswith("2024-05-01T09:00:00")
    assert api.get(f"/entities/{PREFIX}3").status_code == 404

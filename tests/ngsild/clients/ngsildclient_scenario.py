"""Drive a live NGSI-LD broker with the third-party `ngsildclient` package and print what it saw as JSON.

Run with the python of the `.venv-ngsildclient` virtual environment (ngsildclient pins httpx and rich
versions that clash with Calanque's own): `python ngsildclient_scenario.py http://127.0.0.1:PORT`.
The script only uses ngsildclient's public API; every step's outcome goes into one JSON document on stdout.
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import datetime, timezone
from urllib.parse import urlsplit

from ngsildclient import Client, Entity
from ngsildclient.api.helper.temporal import TemporalQuery

PREFIX = "urn:ngsi-ld:NoiseLevelObserved:ngsildclient-"


def sensor(number: int, laeq: float, observed: datetime) -> Entity:
    """A NoiseLevelObserved entity as an ngsildclient model object."""
    entity = Entity("NoiseLevelObserved", f"{PREFIX}{number}")
    entity.prop("LAeq", laeq, unitcode="2N", observedat=observed)
    entity.prop("name", f"sensor {number}")
    entity.gprop("location", (43.2965 + number / 1000, 5.3698))
    return entity


def main(base_url: str) -> dict:
    """Run the scenario against base_url (the server root) and return the observations."""
    parts = urlsplit(base_url)
    client = Client(hostname=parts.hostname, port=parts.port, verbose=False)
    out: dict = {}
    first = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
    second = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)

    out["created"] = client.entities.create(sensor(1, 55.0, first))
    upsert = client.batch.upsert([sensor(1, 61.5, second), sensor(2, 70.0, second), sensor(3, 48.0, second)])
    out["upsert_ok"] = upsert.ok
    out["upsert_success"] = sorted(upsert.success)

    loud = client.query(type="NoiseLevelObserved", q="LAeq>60")
    out["query_q_ids"] = sorted(e.id for e in loud)
    out["count_all"] = client.entities.count(type="NoiseLevelObserved")
    fetched = client.get(f"{PREFIX}1")
    out["get_laeq"] = fetched["LAeq"]["value"]

    troe = client.temporal.get(f"{PREFIX}1", attrs=["LAeq"])
    out["temporal"] = troe
    window = TemporalQuery().between(datetime(2024, 5, 1, 8, 30, tzinfo=timezone.utc),
                                     datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc))
    out["temporal_query"] = client.temporal.query(type="NoiseLevelObserved", attrs=["LAeq"], q="LAeq>60", tq=window)

    out["deleted"] = client.entities.delete(f"{PREFIX}3")
    out["exists_after_delete"] = client.entities.exists(f"{PREFIX}3")
    client.close()
    return out


if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):  # ngsildclient prints progress lines on stdout
        observations = main(sys.argv[1])
    print(json.dumps(observations, default=str))

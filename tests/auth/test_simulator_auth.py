"""The fleet simulator provisions a platform that has authentication on, with an API key."""

from __future__ import annotations

import pytest

from calanque.simulator.engine import Simulator, SimulatorConfig
from calanque.simulator.fleet import FleetSpec
from calanque.simulator.provision import ProvisionError
from tests.auth.conftest import AuthServer

SMALL = FleetSpec(noise=2, containers=3, river=1, water=1, bikes=1, pedestrians=1, streetlights=2,
                  lights_per_group=2, seed=7, generic_networks=("http",))


def simulator(server: AuthServer, api_key: str | None) -> Simulator:
    """A simulator of a small fleet aimed at the server (HTTP ingestion key not needed to provision)."""
    return Simulator(SimulatorConfig(fleet=SMALL, target=server.url, transport="http", keys={"*": "clq_unused"},
                                     api_key=api_key))


def test_provisioning_needs_a_key_when_auth_is_on(auth_server: AuthServer) -> None:
    with pytest.raises(ProvisionError, match="401"):
        simulator(auth_server, None).provision()
    sim = simulator(auth_server, auth_server.keys["admin"])
    report = sim.provision()
    assert not report.errors
    assert report.devices_created + report.devices_updated == len(sim.fleet.devices)
    with auth_server.client("viewer") as viewer:
        found = viewer.get("/ngsi-ld/v1/entities", params={"type": "NoiseLevelObserved"})
    assert found.status_code == 200 and len(found.json()) == 2

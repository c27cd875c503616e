"""Fleet simulator: the Smart Métropole sensor fleet of Aix-Marseille-Provence, sending realistic uplinks.

* :mod:`.geo` — communes (INSEE code, centre, radius), river sites, gateways;
* :mod:`.fleet` — :class:`FleetSpec` → :func:`build_fleet` → :class:`Fleet` (deterministic for a seed);
* :mod:`.signals` — pure signal models (noise, fill levels, river levels and floods, counts, lighting);
* :mod:`.encoders` — uplink bytes through the reference codecs;
* :mod:`.messages` — ChirpStack v4, The Things Stack v3, generic MQTT/HTTP message builders;
* :mod:`.provision` — NGSI-LD entities and device records, and provisioning over HTTP;
* :mod:`.senders` — MQTT (QoS 1) and HTTP delivery;
* :mod:`.engine` — :class:`Simulator`: real-time, accelerated and backfill runs, rate cap, stats;
* :mod:`.cli` — :func:`simulate_command`, mounted as ``calanque simulate``.
"""

from __future__ import annotations

from calanque.simulator.cli import simulate_command
from calanque.simulator.engine import (
    SimStats,
    SimulationError,
    Simulator,
    SimulatorConfig,
    network_plan,
)
from calanque.simulator.fleet import Fleet, FleetSpec, build_fleet
from calanque.simulator.senders import IngestPaths
from calanque.simulator.signals import FloodEvent

__all__ = [
    "Fleet",
    "FleetSpec",
    "FloodEvent",
    "IngestPaths",
    "SimStats",
    "SimulationError",
    "Simulator",
    "SimulatorConfig",
    "build_fleet",
    "network_plan",
    "simulate_command",
]

"""Fleet definition: deterministic for a seed, placed inside the metropolis and the commune radii,
grouped the way the conventions say (isles of three streams, lighting groups with one cabinet)."""

from __future__ import annotations

import re

import pytest
from geographiclib.geodesic import Geodesic

from calanque.devices.models import check_insee
from calanque.simulator.fleet import (
    CONTAINER_MODELS,
    KINDS,
    FleetSpec,
    build_fleet,
)
from calanque.simulator.geo import COMMUNES, METROPOLIS_BBOX, RIVER_SITES, commune

# INSEE codes named in the programme brief (independent of the simulator's table).
BRIEF_COMMUNES = {
    "13055": "Marseille", "13001": "Aix-en-Provence", "13005": "Aubagne", "13056": "Martigues",
    "13028": "La Ciotat", "13117": "Vitrolles", "13054": "Marignane", "13047": "Istres",
    "13103": "Salon-de-Provence", "13041": "Gardanne",
}


def geodesic_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance on the WGS84 ellipsoid (geographiclib), an implementation independent of the simulator's."""
    return Geodesic.WGS84.Inverse(lat1, lon1, lat2, lon2)["s12"] / 1000


def test_commune_table_holds_the_brief_communes_and_valid_codes() -> None:
    names = {c.insee: c.name for c in COMMUNES}
    assert {code: names.get(code) for code in BRIEF_COMMUNES} == BRIEF_COMMUNES
    assert len(names) == len(COMMUNES) >= 40
    for c in COMMUNES:
        assert check_insee(c.insee) == c.insee and c.insee.startswith("13")
        west, south, east, north = METROPOLIS_BBOX
        assert west < c.lon < east and south < c.lat < north and 0 < c.radius_km <= 6


def test_same_seed_same_fleet_other_seed_other_placement() -> None:
    spec = FleetSpec(seed=42)
    a, b = build_fleet(spec), build_fleet(spec)
    assert a == b
    c = build_fleet(FleetSpec(seed=43))
    assert [(d.lat, d.lon) for d in a.of_kind("noise")] != [(d.lat, d.lon) for d in c.of_kind("noise")]
    assert {d.id for d in a.devices}.isdisjoint({d.id for d in c.devices})


@pytest.mark.parametrize("seed", [1, 2, 99])
def test_every_device_inside_the_metropolis_and_its_commune_radius(seed: int) -> None:
    fleet = build_fleet(FleetSpec(seed=seed, noise=40, containers=60, bikes=15, pedestrians=15, streetlights=300,
                                  lights_per_group=50))
    west, south, east, north = METROPOLIS_BBOX
    for d in fleet.devices:
        assert west <= d.lon <= east and south <= d.lat <= north, d
        c = commune(d.commune.insee)
        assert geodesic_km(d.lat, d.lon, c.lat, c.lon) <= c.radius_km, (d.id, d.commune.name)
    for isle in fleet.isles:
        assert geodesic_km(isle.lat, isle.lon, isle.commune.lat, isle.commune.lon) <= isle.commune.radius_km
    for group in fleet.groups:
        assert geodesic_km(group.lat, group.lon, group.commune.lat, group.commune.lon) <= group.commune.radius_km


def test_counts_ids_and_networks() -> None:
    spec = FleetSpec(noise=5, containers=7, river=6, water=3, bikes=2, pedestrians=2, streetlights=45,
                     lights_per_group=20, lorawan_networks=("chirpstack", "tts", "mqtt"), generic_networks=("http",))
    fleet = build_fleet(spec)
    counts = fleet.counts()
    assert counts == {"noise": 5, "waste": 7, "river": 6, "water": 3, "bike": 2, "pedestrian": 2,
                      "streetlight": 45, "cabinet": 3}
    ids = [d.id for d in fleet.devices]
    assert len(set(ids)) == len(ids) and len({d.entity_id for d in fleet.devices}) == len(ids)
    for d in fleet.devices:
        if d.kind == "water":
            assert d.dev_eui is None and d.network == "http" and d.codec == "json"
        else:
            assert re.fullmatch(r"0eca1a[0-9a-f]{10}", d.id) and d.dev_eui == d.id
            assert d.network in ("chirpstack", "tts", "mqtt")
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,34}[a-z0-9]", d.tts_id)  # a valid TTS end-device id
        assert d.entity_id == f"urn:ngsi-ld:{d.entity_type}:{d.tts_id}"
    # Round-robin over the networks within each kind.
    assert [d.network for d in fleet.of_kind("noise")] == ["chirpstack", "tts", "mqtt", "chirpstack", "tts"]


def test_isles_hold_one_container_per_stream() -> None:
    fleet = build_fleet(FleetSpec(containers=10))
    assert [len(i.container_ids) for i in fleet.isles] == [3, 3, 3, 1]
    containers = {d.entity_id: d for d in fleet.of_kind("waste")}
    for isle in fleet.isles:
        kinds = [containers[c].params.waste_kind for c in isle.container_ids]
        assert kinds == ["glass", "paper", "packaging"][: len(kinds)]
        for cid in isle.container_ids:
            d = containers[cid]
            assert d.params.isle_id == isle.id and d.params.model == CONTAINER_MODELS[d.params.waste_kind]
            assert geodesic_km(d.lat, d.lon, isle.lat, isle.lon) < 0.01  # a few metres apart


def test_lighting_groups_and_cabinets() -> None:
    fleet = build_fleet(FleetSpec(streetlights=50, lights_per_group=20))
    assert [len(g.light_ids) for g in fleet.groups] == [20, 20, 10]
    lights = {d.entity_id: d for d in fleet.of_kind("streetlight")}
    cabinets = {d.entity_id: d for d in fleet.of_kind("cabinet")}
    for g in fleet.groups:
        members = [lights[i] for i in g.light_ids]
        assert {m.params.group_id for m in members} == {g.id}
        assert {m.params.cabinet_id for m in members} == {g.cabinet_id}
        assert [m.entity_id for m in cabinets[g.cabinet_id].params.lights] == list(g.light_ids)
        # The group centre is the mean of its lights; lights are 30 m apart along the street.
        assert abs(g.lat - sum(m.lat for m in members) / len(members)) < 1e-6
        assert 0.028 < geodesic_km(members[0].lat, members[0].lon, members[1].lat, members[1].lon) < 0.032


def test_river_probes_sit_on_the_listed_rivers() -> None:
    fleet = build_fleet(FleetSpec(river=len(RIVER_SITES), water=4))
    sites = {(s.lat, s.lon): s for s in RIVER_SITES}
    rivers = [sites[(d.lat, d.lon)].river for d in fleet.of_kind("river")]
    assert sorted(set(rivers)) == ["Arc", "Huveaune", "Jarret", "Touloubre"] and len(rivers) == len(RIVER_SITES)
    # The first four probes go one per river.
    assert sorted(rivers[:4]) == ["Arc", "Huveaune", "Jarret", "Touloubre"]
    assert {sites[(d.lat, d.lon)].river for d in fleet.of_kind("water")} == {"Arc", "Huveaune", "Jarret", "Touloubre"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"noise": -1}, "noise must be a count"),
    ({"river": 99}, "at most 17"),
    ({"lights_per_group": 0}, "lights_per_group must be 1..100"),
    ({"lorawan_networks": ("lora",)}, "lorawan_networks must be"),
    ({"generic_networks": ("chirpstack",)}, "generic_networks must be"),
])
def test_bad_specs_are_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FleetSpec(**changes)


def test_scaled_spec() -> None:
    spec = FleetSpec().scaled(10)
    assert spec.noise == 120 and spec.river == len(RIVER_SITES) and spec.lights_per_group == 20
    assert set(build_fleet(FleetSpec(seed=3)).counts()) == set(KINDS)

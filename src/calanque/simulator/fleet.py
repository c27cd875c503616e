"""The simulated fleet: which devices exist, where, what they feed, and their fixed parameters.

:func:`build_fleet` turns a :class:`FleetSpec` (counts per kind, seed, networks) into a
:class:`Fleet`, deterministically: the same spec always gives the same devices, DevEUIs,
positions and parameters. Kinds and the devices that emulate them (docs/data-conventions.md):

========== ===================== ========================== ===========================
kind       device (codec)        entity type                grouping
========== ===================== ========================== ===========================
noise      Milesight WS302       NoiseLevelObserved
waste      Dragino LDDS75        WasteContainer             WasteContainerIsle (3 kinds)
river      Decentlab DL-CTD10    FloodMonitoring            river site
water      JSON probe (json)     WaterQualityObserved       river site
bike       Milesight VS350       TrafficFlowObserved
pedestrian Milesight VS350       CrowdFlowObserved
streetlight calanque-streetlight Streetlight                StreetlightGroup
cabinet    Milesight WS558       StreetlightControlCabinet  one per StreetlightGroup
========== ===================== ========================== ===========================

LoRaWAN DevEUIs are in a locally administered range (``0e ca 1a``, kind, seed, index) so they
never collide with real devices; entity ids are ``urn:ngsi-ld:<Type>:sim<seed>-<kind>-<n>``.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from calanque.simulator.geo import COMMUNES, RIVER_SITES, Commune, RiverSite, commune, offset

Kind = Literal["noise", "waste", "river", "water", "bike", "pedestrian", "streetlight", "cabinet"]
KINDS: tuple[Kind, ...] = ("noise", "waste", "river", "water", "bike", "pedestrian", "streetlight", "cabinet")
Network = Literal["chirpstack", "tts", "mqtt", "http"]
NETWORKS: tuple[Network, ...] = ("chirpstack", "tts", "mqtt", "http")
GENERIC_NETWORKS: tuple[Network, ...] = ("mqtt", "http")

WasteKind = Literal["glass", "paper", "packaging"]
WASTE_KINDS: tuple[WasteKind, ...] = ("glass", "paper", "packaging")
# Collection weekdays (Monday = 0) of each stream, in local time (Europe/Paris).
COLLECTION_WEEKDAYS: dict[WasteKind, tuple[int, ...]] = {"glass": (0,), "paper": (2,), "packaging": (1, 4)}

# Every device is installed (and starts counting frames and energy) in the first quarter of 2025.
INSTALL_FROM = datetime(2025, 1, 1, tzinfo=UTC)
INSTALL_SPAN_DAYS = 90
MAX_LIGHTS_PER_GROUP = 100

# Reporting period of each kind, seconds.
PERIODS: dict[Kind, int] = {
    "noise": 600, "waste": 3600, "river": 600, "water": 900,
    "bike": 900, "pedestrian": 900, "streetlight": 900, "cabinet": 900,
}
ENTITY_TYPES: dict[Kind, str] = {
    "noise": "NoiseLevelObserved", "waste": "WasteContainer", "river": "FloodMonitoring",
    "water": "WaterQualityObserved", "bike": "TrafficFlowObserved", "pedestrian": "CrowdFlowObserved",
    "streetlight": "Streetlight", "cabinet": "StreetlightControlCabinet",
}
CODECS: dict[Kind, str] = {
    "noise": "milesight-ws302", "waste": "dragino-ldds75", "river": "decentlab-dl-ctd10", "water": "json",
    "bike": "milesight-vs350", "pedestrian": "milesight-vs350", "streetlight": "calanque-streetlight",
    "cabinet": "milesight-ws558",
}
DEVICE_MODELS: dict[Kind, str] = {
    "noise": "Milesight WS302", "waste": "Dragino LDDS75", "river": "Decentlab DL-CTD10",
    "water": "Multi-parameter water-quality probe", "bike": "Milesight VS350",
    "pedestrian": "Milesight VS350", "streetlight": "Calanque streetlight controller",
    "cabinet": "Milesight WS558",
}
LABELS: dict[Kind, str] = {
    "noise": "Noise sensor", "waste": "Container", "river": "River level", "water": "Water quality",
    "bike": "Bike counter", "pedestrian": "Pedestrian counter", "streetlight": "Streetlight",
    "cabinet": "Lighting cabinet",
}
SLUGS: dict[Kind, str] = {
    "noise": "noise", "waste": "container", "river": "river", "water": "wq", "bike": "bike",
    "pedestrian": "ped", "streetlight": "light", "cabinet": "cabinet",
}
LORAWAN_KINDS: tuple[Kind, ...] = ("noise", "waste", "river", "bike", "pedestrian", "streetlight", "cabinet")
MAINS_POWERED: tuple[Kind, ...] = ("streetlight", "cabinet")
_KIND_CODE = {k: i + 1 for i, k in enumerate(KINDS)}
_NAMESPACE = uuid.UUID("3f0c8a52-6d0e-4a8b-9c41-6a7e2b1d5c90")


@lru_cache(maxsize=None)
def chirpstack_application_id(kind: Kind) -> str:
    """The ChirpStack application UUID of a kind (one application per kind)."""
    return str(uuid.uuid5(_NAMESPACE, f"chirpstack-application:{kind}"))


def tts_application_id(kind: Kind) -> str:
    """The The Things Stack application id of a kind."""
    return f"calanque-{SLUGS[kind]}"


@dataclass(frozen=True, slots=True)
class ContainerModel:
    """A WasteContainerModel: body dimensions (m), volume (L) and lid-sensor distances (m)."""

    id: str
    name: str
    waste_kind: WasteKind
    height: float
    width: float
    depth: float
    volume_l: float
    empty_distance: float
    full_distance: float


CONTAINER_MODELS: dict[WasteKind, ContainerModel] = {
    "glass": ContainerModel("urn:ngsi-ld:WasteContainerModel:sim-glass-igloo-3m3", "Glass igloo 3 m³",
                            "glass", 1.85, 1.55, 1.55, 3000, 1.75, 0.35),
    "paper": ContainerModel("urn:ngsi-ld:WasteContainerModel:sim-paper-column-4m3", "Paper column 4 m³",
                            "paper", 2.05, 1.40, 1.40, 4000, 1.95, 0.40),
    "packaging": ContainerModel("urn:ngsi-ld:WasteContainerModel:sim-packaging-column-4m3",
                                "Packaging column 4 m³", "packaging", 2.05, 1.40, 1.40, 4000, 1.95, 0.40),
}


@dataclass(frozen=True, slots=True)
class LightModel:
    """A StreetlightModel: its nominal power in W."""

    id: str
    name: str
    power_w: float


LIGHT_MODELS: tuple[LightModel, ...] = (
    LightModel("urn:ngsi-ld:StreetlightModel:sim-led-40w", "LED luminaire 40 W", 40.0),
    LightModel("urn:ngsi-ld:StreetlightModel:sim-led-60w", "LED luminaire 60 W", 60.0),
    LightModel("urn:ngsi-ld:StreetlightModel:sim-led-90w", "LED luminaire 90 W", 90.0),
)


@dataclass(frozen=True, slots=True)
class NoiseParams:
    """A noise sensor: ``exposure`` 0..1 says how close it is to heavy traffic."""

    exposure: float


@dataclass(frozen=True, slots=True)
class ContainerParams:
    """A container: its stream, model, isle, mean fill per day (ratio) and local collection time."""

    waste_kind: WasteKind
    model: ContainerModel
    isle_id: str
    fill_per_day: float
    collection_minute: int  # minutes after local midnight on collection days


@dataclass(frozen=True, slots=True)
class RiverParams:
    """A level probe: its site, base water level (m) and how strongly floods raise it."""

    site: RiverSite
    base_level: float
    flood_scale: float


@dataclass(frozen=True, slots=True)
class WaterParams:
    """A water-quality probe: its site and dry-weather conductivity (µS/cm), turbidity (FNU), pH."""

    site: RiverSite
    conductivity: float
    turbidity: float
    ph: float


@dataclass(frozen=True, slots=True)
class CounterParams:
    """A counting point: passages per hour at the busiest hour of a weekday (bikes) or weekend (walkers)."""

    peak_per_hour: float


@dataclass(frozen=True, slots=True)
class LightParams:
    """A streetlight: its group (switched at the group centre), cabinet, model and supply offset."""

    group_id: str
    group_lat: float
    group_lon: float
    cabinet_id: str
    model: LightModel
    voltage_offset: float


@dataclass(frozen=True, slots=True)
class CabinetParams:
    """A lighting cabinet: its group and the streetlights it feeds, spread over ``circuits`` circuits."""

    group_id: str
    group_lat: float
    group_lon: float
    lights: tuple[SimDevice, ...]
    circuits: int


@dataclass(frozen=True, slots=True)
class SimDevice:
    """One simulated device and the entity it feeds."""

    seed: int
    index: int
    kind: Kind
    number: int  # 1-based rank within its kind
    id: str  # registry id: the DevEUI (lower-case hex) or, for generic devices, a text id
    dev_eui: str | None
    tts_id: str
    name: str
    codec: str
    network: Network
    entity_id: str
    entity_type: str
    commune: Commune
    lat: float
    lon: float
    site: str
    period_s: int
    installed_at: datetime
    phase_s: float
    params: Any = field(repr=False)

    @property
    def device_model(self) -> str:
        """The vendor model name."""
        return DEVICE_MODELS[self.kind]

    @property
    def mains_powered(self) -> bool:
        """True for devices on the mains (no battery)."""
        return self.kind in MAINS_POWERED


@dataclass(frozen=True, slots=True)
class Isle:
    """A WasteContainerIsle: a drop-off point holding one container per stream."""

    id: str
    name: str
    commune: Commune
    lat: float
    lon: float
    container_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LightGroup:
    """A StreetlightGroup: lights switched together by one cabinet."""

    id: str
    name: str
    commune: Commune
    lat: float
    lon: float
    model: LightModel
    light_ids: tuple[str, ...]
    cabinet_id: str


@dataclass(frozen=True)
class FleetSpec:
    """How many devices of each kind, the seed, and the networks devices are spread over.

    ``lorawan_networks`` carry the LoRaWAN devices (chirpstack, tts, or mqtt/http for a
    gateway-side decoder pushing JSON); ``generic_networks`` (mqtt, http) carry the JSON probes.
    Devices are spread round-robin over the listed networks.
    """

    noise: int = 12
    containers: int = 30
    river: int = 8
    water: int = 4
    bikes: int = 6
    pedestrians: int = 4
    streetlights: int = 60
    lights_per_group: int = 20
    seed: int = 1
    lorawan_networks: tuple[Network, ...] = ("chirpstack",)
    generic_networks: tuple[Network, ...] = ("http",)

    def __post_init__(self) -> None:
        """Reject counts and networks the fleet cannot be built with."""
        for name in ("noise", "containers", "river", "water", "bikes", "pedestrians", "streetlights"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a count >= 0, got {value!r}")
        for name in ("river", "water"):
            if getattr(self, name) > len(RIVER_SITES):
                raise ValueError(f"{name} = {getattr(self, name)}: the simulator knows {len(RIVER_SITES)} river "
                                 f"sites, so at most {len(RIVER_SITES)} probes of that kind")
        if not 1 <= self.lights_per_group <= MAX_LIGHTS_PER_GROUP:
            raise ValueError(f"lights_per_group must be 1..{MAX_LIGHTS_PER_GROUP} (one cabinet feeds the group), "
                             f"got {self.lights_per_group}")
        if not self.lorawan_networks or any(n not in NETWORKS for n in self.lorawan_networks):
            raise ValueError(f"lorawan_networks must be a non-empty subset of {', '.join(NETWORKS)}, "
                             f"got {self.lorawan_networks!r}")
        if not self.generic_networks or any(n not in GENERIC_NETWORKS for n in self.generic_networks):
            raise ValueError(f"generic_networks must be a non-empty subset of mqtt, http, got {self.generic_networks!r}")

    def scaled(self, factor: float) -> FleetSpec:
        """The same spec with every count multiplied by ``factor`` (rounded; river/water capped)."""
        def n(value: int, cap: int | None = None) -> int:
            """One scaled count."""
            scaled = max(0, round(value * factor))
            return min(scaled, cap) if cap is not None else scaled
        return FleetSpec(
            noise=n(self.noise), containers=n(self.containers), river=n(self.river, len(RIVER_SITES)),
            water=n(self.water, len(RIVER_SITES)), bikes=n(self.bikes), pedestrians=n(self.pedestrians),
            streetlights=n(self.streetlights), lights_per_group=self.lights_per_group, seed=self.seed,
            lorawan_networks=self.lorawan_networks, generic_networks=self.generic_networks,
        )


@dataclass(frozen=True)
class Fleet:
    """A built fleet: devices (in a stable order) plus isles, lighting groups and models."""

    spec: FleetSpec
    devices: tuple[SimDevice, ...]
    isles: tuple[Isle, ...]
    groups: tuple[LightGroup, ...]

    def of_kind(self, kind: Kind) -> list[SimDevice]:
        """The devices of one kind, in order."""
        return [d for d in self.devices if d.kind == kind]

    def device(self, device_id: str) -> SimDevice:
        """The device with this registry id; KeyError otherwise."""
        for d in self.devices:
            if d.id == device_id:
                return d
        raise KeyError(f"no simulated device {device_id!r}")

    def container_models(self) -> list[ContainerModel]:
        """The container models the fleet uses."""
        used = {d.params.waste_kind for d in self.of_kind("waste")}
        return [CONTAINER_MODELS[k] for k in WASTE_KINDS if k in used]

    def light_models(self) -> list[LightModel]:
        """The streetlight models the fleet uses."""
        used = {g.model.id for g in self.groups}
        return [m for m in LIGHT_MODELS if m.id in used]

    def counts(self) -> dict[str, int]:
        """Number of devices per kind."""
        return {k: sum(1 for d in self.devices if d.kind == k) for k in KINDS}


class _Builder:
    """Accumulates devices with consistent indices, ids and install times."""

    def __init__(self, spec: FleetSpec) -> None:
        """Start an empty fleet for ``spec`` with its seeded random generator."""
        self.spec = spec
        self.seed = spec.seed
        self.devices: list[SimDevice] = []
        self.numbers: dict[Kind, int] = dict.fromkeys(KINDS, 0)
        self.rng = random.Random(f"calanque-simulator:{spec.seed}")

    def local_id(self, kind: Kind, number: int) -> str:
        """The local part of the ids of device ``number`` of ``kind``."""
        return f"sim{self.seed}-{SLUGS[kind]}-{number:04d}"

    def add(self, kind: Kind, place: Commune, lat: float, lon: float, site: str, params: Any,
            name: str | None = None) -> SimDevice:
        """Add the next device of ``kind`` at (lat, lon) and return it."""
        self.numbers[kind] += 1
        number = self.numbers[kind]
        index = len(self.devices)
        local = self.local_id(kind, number)
        if kind in LORAWAN_KINDS:
            nets = self.spec.lorawan_networks
            dev_eui = f"0eca1a{_KIND_CODE[kind]:02x}{self.seed % 256:02x}{number:06x}"
            device_id = dev_eui
        else:
            nets = self.spec.generic_networks
            dev_eui = None
            device_id = local
        period = PERIODS[kind]
        installed = INSTALL_FROM + timedelta(minutes=self.rng.randrange(INSTALL_SPAN_DAYS * 24 * 60))
        device = SimDevice(
            seed=self.seed, index=index, kind=kind, number=number, id=device_id, dev_eui=dev_eui, tts_id=local,
            name=name or f"{LABELS[kind]} {number:04d} – {place.name}", codec=CODECS[kind],
            network=nets[(number - 1) % len(nets)],
            entity_id=f"urn:ngsi-ld:{ENTITY_TYPES[kind]}:{local}", entity_type=ENTITY_TYPES[kind],
            commune=place, lat=round(lat, 6), lon=round(lon, 6), site=site, period_s=period,
            installed_at=installed, phase_s=round(self.rng.uniform(0, period), 3), params=params,
        )
        self.devices.append(device)
        return device

    def pick_commune(self, min_radius_km: float = 0.0) -> Commune:
        """A commune drawn by weight among those wide enough for ``min_radius_km``."""
        candidates = [c for c in COMMUNES if c.radius_km * 0.9 >= min_radius_km] or [COMMUNES[0]]
        return self.rng.choices(candidates, weights=[c.weight for c in candidates])[0]

    def point_in(self, place: Commune, margin_km: float = 0.0) -> tuple[float, float]:
        """A uniform random point at most 0.9 × radius − margin from the commune centre."""
        reach = max(0.0, place.radius_km * 0.9 - margin_km)
        d = reach * math.sqrt(self.rng.random())
        theta = self.rng.uniform(0, 2 * math.pi)
        return offset(place.lat, place.lon, d * math.cos(theta), d * math.sin(theta))


def build_fleet(spec: FleetSpec) -> Fleet:
    """Build the fleet a spec describes; deterministic for a given spec."""
    b = _Builder(spec)
    rng = b.rng
    for _ in range(spec.noise):
        place = b.pick_commune()
        lat, lon = b.point_in(place)
        b.add("noise", place, lat, lon, f"{place.name} – noise network", NoiseParams(round(rng.uniform(0.6, 1.0), 3)))
    isles = _build_isles(b, spec.containers)
    sites = _river_site_order()
    for i in range(spec.river):
        site = sites[i]
        b.add("river", commune(site.insee), site.lat, site.lon, site.name,
              RiverParams(site, round(rng.uniform(0.2, 0.8) * (0.5 if site.river == "Jarret" else 1.0), 3),
                          round(rng.uniform(0.7, 1.1) * (0.6 if site.river == "Jarret" else 1.0)
                                * (1 + 0.15 * site.order), 3)),
              name=f"{LABELS['river']} – {site.name}")
    for i in range(spec.water):
        site = sites[i]
        b.add("water", commune(site.insee), site.lat, site.lon, site.name,
              WaterParams(site, round(rng.uniform(650, 1100)), round(rng.uniform(2.5, 8.0), 1),
                          round(rng.uniform(7.7, 8.2), 2)),
              name=f"{LABELS['water']} – {site.name}")
    for kind, count, low, high in (("bike", spec.bikes, 60, 320), ("pedestrian", spec.pedestrians, 120, 900)):
        for _ in range(count):
            place = b.pick_commune()
            lat, lon = b.point_in(place)
            b.add(kind, place, lat, lon, f"{place.name} – counting point",  # type: ignore[arg-type]
                  CounterParams(round(rng.uniform(low, high))))
    groups = _build_lighting(b, spec.streetlights, spec.lights_per_group)
    return Fleet(spec, tuple(b.devices), tuple(isles), tuple(groups))


def _river_site_order() -> list[RiverSite]:
    """River sites interleaved across rivers (every river gets probes before any gets a second)."""
    by_river: dict[str, list[RiverSite]] = {}
    for s in RIVER_SITES:
        by_river.setdefault(s.river, []).append(s)
    order: list[RiverSite] = []
    depth = 0
    while len(order) < len(RIVER_SITES):
        for sites in by_river.values():
            # Downstream sites first: they see the largest floods.
            ranked = sorted(sites, key=lambda s: -s.order)
            if depth < len(ranked):
                order.append(ranked[depth])
        depth += 1
    return order


def _build_isles(b: _Builder, containers: int) -> list[Isle]:
    """Drop-off isles of up to three containers (glass, paper, packaging), a few metres apart."""
    isles: list[Isle] = []
    remaining = containers
    number = 0
    while remaining > 0:
        number += 1
        place = b.pick_commune()
        lat, lon = b.point_in(place, margin_km=0.02)
        isle_id = f"urn:ngsi-ld:WasteContainerIsle:sim{b.seed}-isle-{number:04d}"
        isle_name = f"Drop-off isle {number:04d} – {place.name}"
        collection_minute = 6 * 60 + b.rng.randrange(4 * 60)
        ids = []
        for slot, kind in enumerate(WASTE_KINDS[: min(3, remaining)]):
            clat, clon = offset(lat, lon, 0.0, 0.003 * (slot - 1))
            rate_low, rate_high = {"glass": (0.05, 0.14), "paper": (0.08, 0.22), "packaging": (0.15, 0.32)}[kind]
            params = ContainerParams(kind, CONTAINER_MODELS[kind], isle_id, round(b.rng.uniform(rate_low, rate_high), 4),
                                     collection_minute)
            dev = b.add("waste", place, clat, clon, isle_name, params,
                        name=f"{kind.capitalize()} container {b.numbers['waste'] + 1:04d} – {place.name}")
            ids.append(dev.entity_id)
        isles.append(Isle(isle_id, isle_name, place, round(lat, 6), round(lon, 6), tuple(ids)))
        remaining -= len(ids)
    return isles


def _build_lighting(b: _Builder, lights: int, per_group: int) -> list[LightGroup]:
    """Lighting groups laid out as streets of lights 30 m apart (rows 40 m apart), one cabinet each."""
    groups: list[LightGroup] = []
    remaining = lights
    number = 0
    while remaining > 0:
        number += 1
        size = min(per_group, remaining)
        per_row = min(size, 20)
        rows = math.ceil(size / per_row)
        half_diag = math.hypot((per_row - 1) * 0.030, (rows - 1) * 0.040) / 2
        place = b.pick_commune(min_radius_km=half_diag + 0.05)
        clat, clon = b.point_in(place, margin_km=half_diag + 0.03)
        angle = b.rng.uniform(0, math.pi)
        model = b.rng.choice(LIGHT_MODELS)
        group_id = f"urn:ngsi-ld:StreetlightGroup:sim{b.seed}-group-{number:04d}"
        group_name = f"Lighting group {number:04d} – {place.name}"
        positions = []
        for i in range(size):
            along = (i % per_row - (per_row - 1) / 2) * 0.030
            across = (i // per_row - (rows - 1) / 2) * 0.040
            north = along * math.cos(angle) - across * math.sin(angle)
            east = along * math.sin(angle) + across * math.cos(angle)
            positions.append(offset(clat, clon, north, east))
        glat = round(sum(p[0] for p in positions) / size, 6)
        glon = round(sum(p[1] for p in positions) / size, 6)
        cabinet_local = b.local_id("cabinet", b.numbers["cabinet"] + 1)
        cabinet_entity = f"urn:ngsi-ld:StreetlightControlCabinet:{cabinet_local}"
        light_devices = []
        for lat, lon in positions:
            params = LightParams(group_id, glat, glon, cabinet_entity, model, round(b.rng.uniform(-3.0, 3.0), 2))
            light_devices.append(b.add("streetlight", place, lat, lon, group_name, params))
        circuits = min(8, max(1, math.ceil(size / 12)))
        cab_lat, cab_lon = offset(positions[0][0], positions[0][1], 0.008, 0.0)
        cabinet = b.add("cabinet", place, cab_lat, cab_lon, group_name,
                        CabinetParams(group_id, glat, glon, tuple(light_devices), circuits),
                        name=f"{LABELS['cabinet']} {b.numbers['cabinet'] + 1:04d} – {place.name}")
        assert cabinet.entity_id == cabinet_entity
        groups.append(LightGroup(group_id, group_name, place, glat, glon, model,
                                 tuple(d.entity_id for d in light_devices), cabinet_entity))
        remaining -= size
    return groups

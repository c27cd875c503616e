"""Where the simulated fleet lives: communes of Aix-Marseille-Provence, river sites and gateways.

The communes are a hand-written subset of the 92 communes of the metropolis: INSEE code,
name, an approximate centre (WGS84 degrees) and a rough radius (km) chosen so that a disk of
that radius stays mostly on land and inside the commune; ``weight`` is roughly the population
in thousands and only spreads sensors the way people are spread. River sites are approximate
points on the Huveaune, the Jarret, the Arc and the Touloubre, listed from upstream to
downstream. None of this is survey data: it is plausible placement for a demonstration fleet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180
REGION = "Provence-Alpes-Côte d'Azur"
# (west, south, east, north) in degrees: the metropolis and a little margin.
METROPOLIS_BBOX = (4.73, 43.15, 5.83, 43.78)


@dataclass(frozen=True, slots=True)
class Commune:
    """A commune: INSEE code, name, approximate centre, rough radius (km), sampling weight."""

    insee: str
    name: str
    lat: float
    lon: float
    radius_km: float
    weight: float


COMMUNES: tuple[Commune, ...] = (
    Commune("13055", "Marseille", 43.3050, 5.4200, 5.5, 870),
    Commune("13001", "Aix-en-Provence", 43.5297, 5.4474, 4.0, 145),
    Commune("13056", "Martigues", 43.4000, 5.0450, 2.0, 49),
    Commune("13005", "Aubagne", 43.2927, 5.5708, 2.5, 47),
    Commune("13103", "Salon-de-Provence", 43.6403, 5.0972, 2.5, 45),
    Commune("13047", "Istres", 43.5150, 4.9894, 2.0, 44),
    Commune("13028", "La Ciotat", 43.1880, 5.5980, 1.4, 36),
    Commune("13117", "Vitrolles", 43.4600, 5.2486, 2.0, 34),
    Commune("13054", "Marignane", 43.4156, 5.2147, 1.6, 33),
    Commune("13063", "Miramas", 43.5822, 5.0019, 1.8, 26),
    Commune("13041", "Gardanne", 43.4547, 5.4692, 2.0, 21),
    Commune("13071", "Les Pennes-Mirabeau", 43.4100, 5.3100, 1.5, 21),
    Commune("13002", "Allauch", 43.3369, 5.4822, 1.5, 21),
    Commune("13077", "Port-de-Bouc", 43.4070, 4.9900, 1.0, 17),
    Commune("13039", "Fos-sur-Mer", 43.4378, 4.9447, 1.2, 16),
    Commune("13015", "Bouc-Bel-Air", 43.4522, 5.4136, 1.5, 15),
    Commune("13014", "Berre-l'Étang", 43.4800, 5.1750, 1.0, 13),
    Commune("13026", "Châteauneuf-les-Martigues", 43.3850, 5.1639, 1.2, 12),
    Commune("13007", "Auriol", 43.3697, 5.6350, 1.5, 12),
    Commune("13081", "Rognac", 43.4875, 5.2342, 1.2, 12),
    Commune("13075", "Plan-de-Cuques", 43.3469, 5.4636, 0.9, 11),
    Commune("13106", "Septèmes-les-Vallons", 43.3982, 5.3657, 1.0, 11),
    Commune("13110", "Trets", 43.4475, 5.6847, 1.2, 11),
    Commune("13019", "Cabriès", 43.4411, 5.3794, 1.5, 10),
    Commune("13040", "Fuveau", 43.4531, 5.5622, 1.2, 10),
    Commune("13050", "Lambesc", 43.6536, 5.2622, 1.0, 10),
    Commune("13069", "Pélissanne", 43.6319, 5.1514, 1.0, 10),
    Commune("13043", "Gignac-la-Nerthe", 43.3925, 5.2356, 1.0, 9),
    Commune("13086", "Roquevaire", 43.3500, 5.6044, 1.0, 9),
    Commune("13112", "Velaux", 43.5236, 5.2536, 1.2, 9),
    Commune("13032", "Éguilles", 43.5686, 5.3553, 1.2, 8),
    Commune("13092", "Saint-Chamas", 43.5503, 5.0347, 1.0, 8),
    Commune("13113", "Venelles", 43.5986, 5.4817, 1.2, 8),
    Commune("13022", "Cassis", 43.2230, 5.5420, 0.8, 7),
    Commune("13119", "Carnoux-en-Provence", 43.2571, 5.5619, 0.8, 7),
    Commune("13042", "Gémenos", 43.2956, 5.6281, 1.0, 6),
    Commune("13070", "La Penne-sur-Huveaune", 43.2814, 5.5158, 0.8, 6),
    Commune("13107", "Simiane-Collongue", 43.4228, 5.4357, 1.0, 6),
    Commune("13080", "Le Puy-Sainte-Réparade", 43.6631, 5.4353, 1.0, 6),
    Commune("13087", "Rousset", 43.4828, 5.6200, 1.0, 5),
    Commune("13044", "Grans", 43.6083, 5.0628, 0.8, 5),
)

_BY_INSEE = {c.insee: c for c in COMMUNES}


def commune(insee: str) -> Commune:
    """The commune with this INSEE code; KeyError naming the known codes otherwise."""
    try:
        return _BY_INSEE[insee]
    except KeyError:
        raise KeyError(f"no commune {insee!r} in the simulator's table; known: {', '.join(sorted(_BY_INSEE))}") from None


@dataclass(frozen=True, slots=True)
class RiverSite:
    """A measuring site on a river: ``order`` counts from upstream (0) to downstream."""

    river: str
    order: int
    name: str
    insee: str
    lat: float
    lon: float


RIVER_SITES: tuple[RiverSite, ...] = (
    RiverSite("Huveaune", 0, "Huveaune – Auriol", "13007", 43.3660, 5.6330),
    RiverSite("Huveaune", 1, "Huveaune – Roquevaire", "13086", 43.3470, 5.6030),
    RiverSite("Huveaune", 2, "Huveaune – Aubagne", "13005", 43.2900, 5.5600),
    RiverSite("Huveaune", 3, "Huveaune – La Penne-sur-Huveaune", "13070", 43.2820, 5.5150),
    RiverSite("Huveaune", 4, "Huveaune – Saint-Marcel", "13055", 43.2880, 5.4650),
    RiverSite("Huveaune", 5, "Huveaune – Sainte-Marguerite", "13055", 43.2700, 5.4030),
    RiverSite("Jarret", 0, "Jarret – Château-Gombert", "13055", 43.3450, 5.4350),
    RiverSite("Jarret", 1, "Jarret – Saint-Just", "13055", 43.3180, 5.4120),
    RiverSite("Jarret", 2, "Jarret – La Blancarde", "13055", 43.2970, 5.4050),
    RiverSite("Arc", 0, "Arc – Trets", "13110", 43.4420, 5.6800),
    RiverSite("Arc", 1, "Arc – Rousset", "13087", 43.4870, 5.6150),
    RiverSite("Arc", 2, "Arc – Pont de l'Arc", "13001", 43.5150, 5.4450),
    RiverSite("Arc", 3, "Arc – Velaux", "13112", 43.5320, 5.2580),
    RiverSite("Touloubre", 0, "Touloubre – Pélissanne", "13069", 43.6260, 5.1500),
    RiverSite("Touloubre", 1, "Touloubre – Salon-de-Provence", "13103", 43.6300, 5.0880),
    RiverSite("Touloubre", 2, "Touloubre – Grans", "13044", 43.6050, 5.0600),
    RiverSite("Touloubre", 3, "Touloubre – Saint-Chamas", "13092", 43.5520, 5.0420),
)
RIVERS = ("Huveaune", "Jarret", "Arc", "Touloubre")


@dataclass(frozen=True, slots=True)
class Gateway:
    """A LoRaWAN gateway of the simulated network: its EUI and position."""

    eui: str
    name: str
    lat: float
    lon: float


# Rooftop gateways: EUIs in a locally administered range (first byte 0x0E) so they never collide
# with a real gateway's EUI.
GATEWAYS: tuple[Gateway, ...] = tuple(
    Gateway(f"0eca1aff0000{i:04x}", name, lat, lon)
    for i, (name, lat, lon) in enumerate((
        ("marseille-nord", 43.3450, 5.3950),
        ("marseille-centre", 43.3000, 5.3850),
        ("marseille-est", 43.2950, 5.4600),
        ("marseille-sud", 43.2600, 5.4000),
        ("aix-en-provence", 43.5300, 5.4470),
        ("aubagne", 43.2930, 5.5700),
        ("la-ciotat", 43.1880, 5.6000),
        ("martigues", 43.4050, 5.0480),
        ("istres", 43.5150, 4.9890),
        ("miramas", 43.5820, 5.0020),
        ("salon-de-provence", 43.6400, 5.0970),
        ("vitrolles", 43.4600, 5.2490),
        ("marignane", 43.4160, 5.2150),
        ("gardanne", 43.4550, 5.4690),
        ("trets", 43.4480, 5.6850),
        ("lambesc", 43.6540, 5.2620),
    ), start=1)
)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in km between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def offset(lat: float, lon: float, north_km: float, east_km: float) -> tuple[float, float]:
    """The point ``north_km``/``east_km`` away from (lat, lon) on a local flat approximation."""
    return (lat + north_km / KM_PER_DEGREE,
            lon + east_km / (KM_PER_DEGREE * math.cos(math.radians(lat))))

"""Collection plan: which containers to empty on a collection day, and a short round to visit them.

Distances are great-circle (haversine) distances on a sphere of radius 6371.0088 km (the IUGG
mean Earth radius); over a metropolis they differ from WGS84 geodesics by well under 0.5 %.
The round starts and ends at the depot; it is built by nearest neighbour and then improved by
2-opt restricted to each point's nearest candidates, with don't-look bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from calanque.usecases.waste.forecast import Forecast

EARTH_RADIUS_KM = 6371.0088
PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class ContainerState:
    """A container to consider for collection: its id, position (WGS84 degrees), forecast and own threshold.

    ``threshold`` (a fill ratio) overrides the plan's threshold for this container, e.g. from its
    ``binFullnessThreshold``; None means the plan's.
    """

    id: str
    lat: float
    lon: float
    forecast: Forecast
    threshold: float | None = None


@dataclass(frozen=True)
class Stop:
    """One stop of the round, with the fill predicted for the collection date."""

    container_id: str
    lat: float
    lon: float
    predicted_fill: float


@dataclass(frozen=True)
class Plan:
    """A collection plan: the stops in visiting order (depot excluded) and the round length from the depot and back."""

    collection_at: datetime
    next_collection_at: datetime
    depot: tuple[float, float]
    stops: list[Stop]
    length_km: float
    nearest_neighbour_length_km: float


def haversine_matrix(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Matrix of great-circle distances (km) between all points given in degrees (haversine formula).

    The half-angle sines of the differences are expanded as outer products
    (sin(x/2 - y/2) = sin(x/2)cos(y/2) - cos(x/2)sin(y/2)) so no trigonometry runs on the n×n matrix
    except the final arcsine.
    """
    half_phi = np.radians(np.asarray(lats, dtype=float)) / 2
    half_lam = np.radians(np.asarray(lons, dtype=float)) / 2
    sp, cp = np.sin(half_phi), np.cos(half_phi)
    sl, cl = np.sin(half_lam), np.cos(half_lam)
    s_dphi = np.multiply.outer(sp, cp) - np.multiply.outer(cp, sp)
    s_dlam = np.multiply.outer(sl, cl) - np.multiply.outer(cl, sl)
    cos_phi = cp * cp - sp * sp
    a = s_dphi * s_dphi
    a += np.multiply.outer(cos_phi, cos_phi) * (s_dlam * s_dlam)
    np.clip(a, 0.0, 1.0, out=a)
    np.sqrt(a, out=a)
    np.arcsin(a, out=a)
    a *= 2 * EARTH_RADIUS_KM
    return a


def tour_length(dist: np.ndarray, tour: Sequence[int]) -> float:
    """Length of the closed tour (back to its first point) under the distance matrix."""
    idx = np.asarray(tour)
    return float(dist[idx, np.roll(idx, -1)].sum())


def nearest_neighbour_tour(dist: np.ndarray, start: int = 0) -> list[int]:
    """Closed tour built by always going to the nearest unvisited point, from ``start``."""
    n = dist.shape[0]
    visited = np.zeros(n, dtype=bool)
    tour = [start]
    visited[start] = True
    current = start
    for _ in range(n - 1):
        row = np.where(visited, np.inf, dist[current])
        current = int(row.argmin())
        visited[current] = True
        tour.append(current)
    return tour


def two_opt(dist: np.ndarray, tour: Sequence[int], neighbours: int = 10) -> list[int]:
    """Improve a closed tour by 2-opt moves until none of the candidate moves shortens it.

    Candidate moves only connect a point to one of its ``neighbours`` nearest points (all of
    them on small instances); don't-look bits skip points whose surroundings did not change.
    Every applied move strictly shortens the tour, so the result is never longer than the input.
    """
    n = len(tour)
    if n < 4:
        return list(tour)
    k = min(neighbours, n - 1)
    cand = np.argpartition(dist, k, axis=1)[:, : k + 1]
    cand = np.take_along_axis(cand, np.argsort(np.take_along_axis(dist, cand, axis=1), axis=1), axis=1)
    near = [[c for c in row if c != a][:k] for a, row in enumerate(cand.tolist())]
    flat = np.ascontiguousarray(dist, dtype=np.float64).ravel()
    d = memoryview(flat)  # fast scalar access as Python floats: d[a * n + b]
    t = list(tour)
    pos = [0] * n
    for i, c in enumerate(t):
        pos[c] = i
    active = [True] * n
    queue = list(t)
    eps = 1e-12

    def reverse(i: int, j: int) -> None:
        """Reverse the tour positions i..j (cyclically), or the complement when shorter."""
        length = (j - i) % n + 1
        if 2 * length > n:
            i, j = (j + 1) % n, (i - 1) % n
            length = n - length
        for _ in range(length // 2):
            ci, cj = t[i], t[j]
            t[i], t[j] = cj, ci
            pos[cj], pos[ci] = i, j
            i = (i + 1) % n
            j = (j - 1) % n

    while queue:
        a = queue.pop()
        if not active[a]:
            continue
        active[a] = False
        improved = True
        while improved:
            improved = False
            pa = pos[a]
            for direction in (1, -1):
                b = t[(pa + direction) % n]
                d_ab = d[a * n + b]
                for c in near[a]:
                    d_ac = d[a * n + c]
                    if d_ac >= d_ab:
                        break
                    pc = pos[c]
                    e = t[(pc + direction) % n]
                    if c == b or e == a:
                        continue
                    gain = d_ab + d[c * n + e] - d_ac - d[b * n + e]
                    if gain > eps:
                        # New edges (a, c) and (b, e): reverse the path from b to c.
                        if direction == 1:
                            reverse((pa + 1) % n, pc)
                        else:
                            reverse(pc, (pa - 1) % n)
                        for x in (a, b, c, e):
                            if not active[x]:
                                active[x] = True
                                queue.append(x)
                        improved = True
                        break
                if improved:
                    break
    return t


def _as_instant(day: date | datetime, tz: ZoneInfo) -> datetime:
    """A collection date as an aware instant: a plain date means its start (00:00) in ``tz``."""
    if isinstance(day, datetime):
        if day.tzinfo is None:
            raise ValueError(f"collection datetimes must be timezone-aware, got {day.isoformat()}")
        return day
    return datetime.combine(day, time(0, 0), tzinfo=tz)


def collection_plan(
    containers: Sequence[ContainerState],
    date: date | datetime,
    next_collection_date: date | datetime,
    threshold: float = 0.8,
    depot: tuple[float, float] = (43.2965, 5.3698),
    *,
    tz: ZoneInfo = PARIS,
    neighbours: int = 10,
) -> Plan:
    """Select the containers to collect on ``date`` and order them as a short round from ``depot`` (lat, lon) and back.

    A container is selected when its predicted fill (see :meth:`Forecast.fill_at`) reaches
    its threshold (its own :attr:`ContainerState.threshold`, else ``threshold``) before the next
    collection, i.e. at ``next_collection_date``; this includes the containers already above it.
    Each stop carries the fill predicted at ``date``. Plain dates mean 00:00 local time in ``tz``.
    """
    for value, whose in [(threshold, "the plan"), *((c.threshold, f"container {c.id}") for c in containers)]:
        if value is not None and not 0.0 < value <= 1.0:
            raise ValueError(f"threshold must be a fill ratio in (0, 1], got {value} for {whose}")
    at = _as_instant(date, tz)
    next_at = _as_instant(next_collection_date, tz)
    if next_at <= at:
        raise ValueError(
            f"next_collection_date ({next_at.isoformat()}) must be after the collection date ({at.isoformat()})"
        )
    selected = [
        c for c in containers
        if c.forecast.fill_at(next_at) >= (threshold if c.threshold is None else c.threshold)
    ]
    if not selected:
        return Plan(at, next_at, depot, [], 0.0, 0.0)
    lats = np.array([depot[0]] + [c.lat for c in selected], dtype=float)
    lons = np.array([depot[1]] + [c.lon for c in selected], dtype=float)
    dist = haversine_matrix(lats, lons)
    nn = nearest_neighbour_tour(dist, 0)
    improved = two_opt(dist, nn, neighbours)
    start = improved.index(0)
    ordered = improved[start:] + improved[:start]
    stops = [
        Stop(selected[i - 1].id, selected[i - 1].lat, selected[i - 1].lon, selected[i - 1].forecast.fill_at(at))
        for i in ordered[1:]
    ]
    return Plan(at, next_at, depot, stops, tour_length(dist, ordered), tour_length(dist, nn))

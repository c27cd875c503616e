"""Incidents on waste containers: overflows, and sensor faults (stuck, impossible jumps, tilt, displacement).

Every detector returns :class:`Incident` intervals: ``started_at`` is the first sample showing
the condition, ``ended_at`` the first sample where it no longer holds (None when it still holds
at the last sample).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from geographiclib.geodesic import Geodesic

from calanque.usecases.waste.fill import Series, sorted_series

OVERFLOW = "overflow"
PROLONGED_HIGH_FILL = "prolongedHighFill"
STUCK_SENSOR = "stuckSensor"
IMPOSSIBLE_JUMP = "impossibleJump"
TILTED = "tilted"
MOVED = "moved"

REPORTED_STATUS = {"moved": MOVED, "dropped": TILTED}
"""Values of the Smart Data Models ``status`` of a WasteContainer that are incidents, and their kind."""


@dataclass(frozen=True)
class Incident:
    """One incident interval on a container, with a human-readable detail."""

    kind: str
    started_at: datetime
    ended_at: datetime | None
    detail: str


@dataclass(frozen=True)
class IncidentRules:
    """Thresholds of the incident detectors (fill values are ratios in 0..1)."""

    overflow_epsilon: float = 0.02
    overflow_for: timedelta = timedelta(0)
    high_fill: float = 0.9
    high_fill_for: timedelta = timedelta(hours=24)
    stuck_for: timedelta = timedelta(hours=24)
    stuck_tolerance: float = 1e-9
    jump_rise: float = 0.5
    jump_within: timedelta = timedelta(hours=1)
    max_tilt_deg: float = 30.0
    max_displacement_m: float = 50.0


def _runs(
    points: list[tuple[datetime, float]], predicate: Callable[[float], bool]
) -> list[tuple[int, int | None]]:
    """Maximal runs of consecutive samples satisfying ``predicate``: (first index, index of the first sample after, or None)."""
    runs: list[tuple[int, int | None]] = []
    start: int | None = None
    for i, (_, v) in enumerate(points):
        if predicate(v):
            if start is None:
                start = i
        elif start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, None))
    return runs


def overflow_incidents(fills: Series, rules: IncidentRules = IncidentRules()) -> list[Incident]:
    """Overflow intervals (fill ≥ 1 − ε) and prolonged high fill (fill ≥ ``high_fill`` for longer than ``high_fill_for``).

    With a positive ``overflow_for``, an overflow counts only when the container stayed full for
    longer than that. Both durations run from the first sample of the interval to the first sample
    after it, or to the last sample when the interval is still open.
    """
    points = sorted_series(fills)
    incidents: list[Incident] = []
    for start, end in _runs(points, lambda v: v >= 1.0 - rules.overflow_epsilon):
        lasted = (points[end][0] if end is not None else points[-1][0]) - points[start][0]
        if rules.overflow_for > timedelta(0) and lasted <= rules.overflow_for:
            continue
        peak = max(v for _, v in points[start:end])
        incidents.append(
            Incident(OVERFLOW, points[start][0], points[end][0] if end is not None else None, f"fill reached {peak:.2f}")
        )
    for start, end in _runs(points, lambda v: v >= rules.high_fill):
        last = points[end][0] if end is not None else points[-1][0]
        lasted = last - points[start][0]
        if lasted > rules.high_fill_for:
            incidents.append(
                Incident(
                    PROLONGED_HIGH_FILL,
                    points[start][0],
                    points[end][0] if end is not None else None,
                    f"fill ≥ {rules.high_fill:.2f} for {lasted.total_seconds() / 3600:.1f} h",
                )
            )
    return sorted(incidents, key=lambda x: (x.started_at, x.kind))


def _changes_within(series: list[tuple[datetime, float]], start: datetime, end: datetime, tolerance: float) -> bool:
    """Whether the series takes values differing by more than ``tolerance`` within [start, end]."""
    values = [v for t, v in series if start <= t <= end]
    return bool(values) and max(values) - min(values) > tolerance


def stuck_sensor_incidents(
    readings: Series, peers: Sequence[Series] = (), rules: IncidentRules = IncidentRules()
) -> list[Incident]:
    """Stuck readings: the same value (within ``stuck_tolerance``) for longer than ``stuck_for``.

    Use the raw readings (distances) rather than clamped fill ratios. When ``peers`` (series of
    nearby containers) are given, a flat run counts only if at least one peer changed during it,
    which tells a dead sensor from a quiet period (nights, holidays).
    """
    points = sorted_series(readings)
    peer_points = [sorted_series(p) for p in peers]
    incidents: list[Incident] = []
    i = 0
    while i < len(points):
        j = i
        while j + 1 < len(points) and abs(points[j + 1][1] - points[i][1]) <= rules.stuck_tolerance:
            j += 1
        first, last = points[i][0], points[j][0]
        if last - first > rules.stuck_for and (
            not peer_points or any(_changes_within(p, first, last, rules.stuck_tolerance) for p in peer_points)
        ):
            ended = points[j + 1][0] if j + 1 < len(points) else None
            incidents.append(
                Incident(
                    STUCK_SENSOR,
                    first,
                    ended,
                    f"reading stuck at {points[i][1]:g} for {(last - first).total_seconds() / 3600:.1f} h",
                )
            )
        i = j + 1
    return incidents


def impossible_jump_incidents(fills: Series, rules: IncidentRules = IncidentRules()) -> list[Incident]:
    """Fill rises of more than ``jump_rise`` within ``jump_within``.

    Only a collection can change the fill fast, and it lowers it (see the emptying detection);
    such a rise is a sensor artefact (an object over the sensor, a reflection). The incident starts
    at the low sample and ends at the sample where the jump is seen.
    """
    points = sorted_series(fills)
    incidents: list[Incident] = []
    start = 0  # first sample that may serve as the low end of a jump
    for j, (t, v) in enumerate(points):
        while start < j and points[start][0] < t - rules.jump_within:
            start += 1
        low_i = min(range(start, j + 1), key=lambda i: points[i][1])
        rise = v - points[low_i][1]
        if rise > rules.jump_rise:
            low_t = points[low_i][0]
            incidents.append(
                Incident(
                    IMPOSSIBLE_JUMP,
                    low_t,
                    t,
                    f"fill rose by {rise:.2f} ({points[low_i][1]:.2f} → {v:.2f}) "
                    f"in {(t - low_t).total_seconds() / 60:.0f} min",
                )
            )
            start = j  # the next jump must start from this sample or later
    return incidents


def tilt_incidents(tilt_deg: Series, rules: IncidentRules = IncidentRules()) -> list[Incident]:
    """Intervals where the device reports a tilt angle above ``max_tilt_deg`` (container knocked over or lifted)."""
    points = sorted_series(tilt_deg)
    return [
        Incident(
            TILTED,
            points[s][0],
            points[e][0] if e is not None else None,
            f"tilt up to {max(v for _, v in points[s:e]):.0f}° (limit {rules.max_tilt_deg:.0f}°)",
        )
        for s, e in _runs(points, lambda v: v > rules.max_tilt_deg)
    ]


def moved_incidents(
    positions: Sequence[tuple[datetime, tuple[float, float]]],
    reference: tuple[float, float] | None = None,
    rules: IncidentRules = IncidentRules(),
) -> list[Incident]:
    """Intervals where the reported (lat, lon) is more than ``max_displacement_m`` (WGS84 geodesic) from ``reference``.

    ``reference`` is the container's registered location; by default its first reported position.
    """
    ordered = sorted(positions, key=lambda p: p[0])
    if not ordered:
        return []
    ref_lat, ref_lon = reference if reference is not None else ordered[0][1]
    distances = sorted_series(
        [(t, Geodesic.WGS84.Inverse(ref_lat, ref_lon, lat, lon)["s12"]) for t, (lat, lon) in ordered]
    )
    return [
        Incident(
            MOVED,
            distances[s][0],
            distances[e][0] if e is not None else None,
            f"up to {max(v for _, v in distances[s:e]):.0f} m from its location (limit {rules.max_displacement_m:.0f} m)",
        )
        for s, e in _runs(distances, lambda v: v > rules.max_displacement_m)
    ]


def reported_status_incidents(statuses: Sequence[tuple[datetime, str]]) -> list[Incident]:
    """Intervals where the container's reported ``status`` is "moved" (moved) or "dropped" (tilted, knocked over).

    ``statuses`` are (time, status) reports, a step series: each holds until the next report.
    """
    ordered = sorted(statuses, key=lambda p: p[0])
    incidents: list[Incident] = []
    open_kind: str | None = None
    open_at: datetime | None = None
    open_value = ""
    for t, value in ordered:
        kind = REPORTED_STATUS.get(value)
        if kind == open_kind:
            continue
        if open_kind is not None and open_at is not None:
            incidents.append(Incident(open_kind, open_at, t, f"reported status '{open_value}'"))
        open_kind, open_at, open_value = kind, t, value
    if open_kind is not None and open_at is not None:
        incidents.append(Incident(open_kind, open_at, None, f"reported status '{open_value}'"))
    return incidents

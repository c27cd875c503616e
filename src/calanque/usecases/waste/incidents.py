"""Incidents on waste containers: overflows, and sensor faults (stuck, impossible jumps, tilt, displacement).

Every detector returns :class:`Incident` intervals: ``started_at`` is the first sample showing
the condition, ``ended_at`` the first sample where it no longer holds (None when it still holds
at the last sample).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from geographiclib.geodesic import Geodesic

from calanque.usecases.waste.fill import Series, sorted_series, window_max

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


# --- the same detectors over arrays (epoch microseconds, values), the store's series form ---------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Arrays = tuple[np.ndarray, np.ndarray]


def _at(us: int) -> datetime:
    """Epoch microseconds as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=int(us))


def _us(span: timedelta) -> int:
    """A duration in whole microseconds."""
    return span // timedelta(microseconds=1)


def _sorted_arrays(times_us: np.ndarray, values: np.ndarray) -> Arrays:
    """The series in time order (samples sharing a time keep their order)."""
    t = np.asarray(times_us, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if t.size > 1 and not (np.diff(t) >= 0).all():
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
    return t, v


def _run_bounds(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximal runs of True: first indexes and indexes of the first sample after (len(flags) when open)."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def overflow_incidents_us(times_us: np.ndarray, fills: np.ndarray, rules: IncidentRules = IncidentRules()
                          ) -> list[Incident]:
    """:func:`overflow_incidents` over arrays: the same incidents."""
    t, v = _sorted_arrays(times_us, fills)
    n = t.size
    incidents: list[Incident] = []
    if n == 0 or v.max() < min(1.0 - rules.overflow_epsilon, rules.high_fill):
        return incidents
    starts, ends = _run_bounds(v >= 1.0 - rules.overflow_epsilon)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        lasted = int(t[e] if e < n else t[-1]) - int(t[s])
        if rules.overflow_for > timedelta(0) and lasted <= _us(rules.overflow_for):
            continue
        incidents.append(Incident(OVERFLOW, _at(t[s]), _at(t[e]) if e < n else None,
                                  f"fill reached {float(v[s:e].max()):.2f}"))
    starts, ends = _run_bounds(v >= rules.high_fill)
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        lasted = timedelta(microseconds=int(t[e] if e < n else t[-1]) - int(t[s]))
        if lasted > rules.high_fill_for:
            incidents.append(Incident(PROLONGED_HIGH_FILL, _at(t[s]), _at(t[e]) if e < n else None,
                                      f"fill ≥ {rules.high_fill:.2f} for {lasted.total_seconds() / 3600:.1f} h"))
    return sorted(incidents, key=lambda x: (x.started_at, x.kind))


def impossible_jump_incidents_us(times_us: np.ndarray, fills: np.ndarray, rules: IncidentRules = IncidentRules()
                                 ) -> list[Incident]:
    """:func:`impossible_jump_incidents` over arrays: the same incidents.

    Only the samples rising more than ``jump_rise`` above the lowest fill of their window (window minima
    from a sparse table) are examined one by one, with the restart after each jump.
    """
    t, v = _sorted_arrays(times_us, fills)
    incidents: list[Incident] = []
    if t.size < 2 or v.max() - v.min() <= rules.jump_rise:  # no rise can exceed the range
        return incidents
    index = np.arange(t.size)
    lo = np.searchsorted(t, t - _us(rules.jump_within), side="left")
    rise = v + window_max(-v, lo, index + 1)
    after = 0  # a jump's end is the earliest low end of the next one
    for j in np.flatnonzero(rise > rules.jump_rise).tolist():
        first = max(int(lo[j]), after)
        low = first + int(np.argmin(v[first : j + 1]))  # the first of equal minima, as the loop keeps
        up = float(v[j] - v[low])
        if up > rules.jump_rise:
            incidents.append(Incident(
                IMPOSSIBLE_JUMP, _at(t[low]), _at(t[j]),
                f"fill rose by {up:.2f} ({v[low]:.2f} → {v[j]:.2f}) in "
                f"{timedelta(microseconds=int(t[j]) - int(t[low])).total_seconds() / 60:.0f} min",
            ))
            after = j
    return incidents


def _flat_runs(v: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """The runs of :func:`stuck_sensor_incidents`: first and last index of each maximal run of samples within
    ``tolerance`` of the run's first one, cut one after the other from the start.

    A step of more than twice the tolerance always starts a run; between such steps, a stretch whose
    values span at most the tolerance is one run, and only the others (slow drifts) are cut one by one.
    """
    n = v.size
    if n == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    cuts = np.concatenate(([0], np.flatnonzero(np.abs(np.diff(v)) > 2 * tolerance) + 1))
    stops = np.concatenate((cuts[1:], [n]))
    span = np.maximum.reduceat(v, cuts) - np.minimum.reduceat(v, cuts)
    flat = span <= tolerance
    firsts, lasts = [cuts[flat]], [stops[flat] - 1]
    for a, b in zip(cuts[~flat].tolist(), stops[~flat].tolist(), strict=True):
        i = a
        while i < b:
            j = i
            while j + 1 < b and abs(v[j + 1] - v[i]) <= tolerance:
                j += 1
            firsts.append(np.array([i]))
            lasts.append(np.array([j]))
            i = j + 1
    first, last = np.concatenate(firsts), np.concatenate(lasts)
    order = np.argsort(first, kind="stable")
    return first[order], last[order]


def stuck_sensor_incidents_us(times_us: np.ndarray, readings: np.ndarray, peers: Sequence[Arrays] = (),
                              rules: IncidentRules = IncidentRules()) -> list[Incident]:
    """:func:`stuck_sensor_incidents` over arrays (peers too): the same incidents."""
    t, v = _sorted_arrays(times_us, readings)
    incidents: list[Incident] = []
    if t.size < 2 or int(t[-1]) - int(t[0]) <= _us(rules.stuck_for):
        return incidents
    peer_arrays = [_sorted_arrays(*p) for p in peers]
    firsts, lasts = _flat_runs(v, rules.stuck_tolerance)
    long = (t[lasts] - t[firsts]) > _us(rules.stuck_for) if firsts.size else np.zeros(0, dtype=bool)
    for i, j in zip(firsts[long].tolist(), lasts[long].tolist(), strict=True):
        first, last = int(t[i]), int(t[j])
        if peer_arrays and not any(_changes_within_us(pt, pv, first, last, rules.stuck_tolerance)
                                   for pt, pv in peer_arrays):
            continue
        incidents.append(Incident(
            STUCK_SENSOR, _at(first), _at(t[j + 1]) if j + 1 < t.size else None,
            f"reading stuck at {v[i]:g} for {timedelta(microseconds=last - first).total_seconds() / 3600:.1f} h",
        ))
    return incidents


def _changes_within_us(t: np.ndarray, v: np.ndarray, start: int, end: int, tolerance: float) -> bool:
    """Whether a series takes values differing by more than ``tolerance`` within [start, end] (µs)."""
    a, b = np.searchsorted(t, start, side="left"), np.searchsorted(t, end, side="right")
    return bool(b > a) and float(v[a:b].max() - v[a:b].min()) > tolerance

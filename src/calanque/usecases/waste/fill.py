"""Fill ratio of a container from its lid sensor, and detection of emptyings in a fill series.

An ultrasonic sensor on the lid measures the distance down to the waste: the distance is
largest when the container is empty and shrinks as it fills. Series are sequences of
``(aware datetime, value)`` pairs at any sampling interval, possibly with gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Series = Sequence[tuple[datetime, float]]


def fill_ratio(distance_m: float, empty_distance_m: float, full_distance_m: float) -> float:
    """Fill ratio in 0..1 from a lid-sensor distance, linear between the empty and full distances."""
    if not empty_distance_m > full_distance_m >= 0:
        raise ValueError(
            f"expected empty_distance_m > full_distance_m >= 0 (the sensor sees farther when empty), "
            f"got empty_distance_m={empty_distance_m}, full_distance_m={full_distance_m}"
        )
    ratio = (empty_distance_m - distance_m) / (empty_distance_m - full_distance_m)
    return min(1.0, max(0.0, ratio))


def fill_series(distances: Series, empty_distance_m: float, full_distance_m: float) -> list[tuple[datetime, float]]:
    """Convert a series of lid-sensor distances (m) to a series of fill ratios."""
    return [(t, fill_ratio(d, empty_distance_m, full_distance_m)) for t, d in distances]


@dataclass(frozen=True)
class EmptyingRule:
    """What counts as an emptying: a drop of at least ``min_drop`` within ``max_duration`` ending below ``end_below``."""

    min_drop: float = 0.3
    max_duration: timedelta = timedelta(hours=2)
    end_below: float = 0.2


@dataclass(frozen=True)
class Emptying:
    """One detected emptying: observed at ``at`` (first low sample), from ``fill_before`` (seen at ``before_at``)."""

    at: datetime
    fill_before: float
    fill_after: float
    before_at: datetime


def sorted_series(series: Series) -> list[tuple[datetime, float]]:
    """Return the series in UTC sorted by time, checking that every timestamp is timezone-aware.

    Converting to UTC matters: Python subtracts two datetimes sharing one tzinfo (e.g. both in
    Europe/Paris) by wall-clock time, which is an hour off across a DST change.
    """
    out: list[tuple[datetime, float]] = []
    for t, v in series:
        if t.tzinfo is not UTC:
            if t.tzinfo is None or t.utcoffset() is None:
                raise ValueError(f"series timestamps must be timezone-aware, got naive {t.isoformat()}")
            t = t.astimezone(UTC)
        out.append((t, float(v)))
    if any(a[0] > b[0] for a, b in zip(out, out[1:], strict=False)):
        out.sort(key=lambda p: p[0])
    return out


def detect_emptyings(fills: Series, rule: EmptyingRule = EmptyingRule()) -> list[Emptying]:
    """Find emptyings in a fill-ratio series: sharp drops that end nearly empty.

    A sample below ``rule.end_below`` marks an emptying when the highest fill seen in the
    preceding ``rule.max_duration`` (and after the previous emptying) exceeds it by at least
    ``rule.min_drop``. The emptying's ``at`` is that first low sample, so it is the value to
    publish as ``dateLastEmptying``; the container was emptied between ``before_at`` and ``at``.
    """
    points = sorted_series(fills)
    events: list[Emptying] = []
    last_event_at: datetime | None = None
    start = 0  # first index inside the look-back window
    for j, (t, value) in enumerate(points):
        while start < j and points[start][0] < t - rule.max_duration:
            start += 1
        if value >= rule.end_below:
            continue
        best_i = -1
        for i in range(start, j):
            ti, vi = points[i]
            if last_event_at is not None and ti < last_event_at:
                continue
            if best_i < 0 or vi > points[best_i][1]:
                best_i = i
        if best_i >= 0 and points[best_i][1] - value >= rule.min_drop:
            events.append(Emptying(at=t, fill_before=points[best_i][1], fill_after=value, before_at=points[best_i][0]))
            last_event_at = t
    return events

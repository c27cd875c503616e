"""Fill ratio of a container from its lid sensor, and detection of emptyings in a fill series.

An ultrasonic sensor on the lid measures the distance down to the waste: the distance is
largest when the container is empty and shrinks as it fills. Series are sequences of
``(aware datetime, value)`` pairs at any sampling interval, possibly with gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

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


def detect_emptyings_us(times_us: np.ndarray, values: np.ndarray, rule: EmptyingRule = EmptyingRule()
                        ) -> list[tuple[int, float, float, int]]:
    """:func:`detect_emptyings` over a time-ordered series of epoch microseconds and fill ratios.

    Returns (at µs, fill before, fill after, before_at µs) per emptying, the same events. Only the
    low samples whose preceding window holds a fill high enough (the window maxima come from a
    sparse table, O(n log n)) are then examined one by one, with the previous emptying's limit.
    """
    t = np.asarray(times_us, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    n = t.size
    if n < 2:
        return []
    span = rule.max_duration // timedelta(microseconds=1)
    low = np.flatnonzero(v < rule.end_below)
    lo = np.searchsorted(t, t[low] - span, side="left")
    high = window_max(v, lo, low)
    events: list[tuple[int, float, float, int]] = []
    last_at: int | None = None
    for j, first in zip(low[high - v[low] >= rule.min_drop].tolist(),
                        lo[high - v[low] >= rule.min_drop].tolist(), strict=True):
        if last_at is not None:
            first = max(first, int(np.searchsorted(t, last_at, side="left")))
        if first >= j:
            continue
        best = first + int(np.argmax(v[first:j]))  # the first of equal maxima, as the loop keeps
        if v[best] - v[j] >= rule.min_drop:
            events.append((int(t[j]), float(v[best]), float(v[j]), int(t[best])))
            last_at = int(t[j])
    return events


def window_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max(values[lo[k]:hi[k]]) for each k (-inf for an empty range), from a sparse table of maxima."""
    out = np.full(lo.size, -np.inf)
    length = hi - lo
    ok = length > 0
    if not ok.any():
        return out
    levels = [values]
    while (1 << len(levels)) <= int(length.max()):
        half = 1 << (len(levels) - 1)
        levels.append(np.maximum(levels[-1][:-half], levels[-1][half:]))
    level = np.zeros(lo.size, dtype=np.int64)
    level[ok] = np.frexp(length[ok].astype(np.float64))[1] - 1  # floor(log2(length)), exact
    for k in np.unique(level[ok]).tolist():
        pick = ok & (level == k)
        table = levels[k]
        out[pick] = np.maximum(table[lo[pick]], table[hi[pick] - (1 << k)])
    return out

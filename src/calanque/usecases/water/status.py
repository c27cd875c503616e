"""River-level vigilance: rate of rise and per-station colour from level thresholds.

Levels are in metres, rates of rise in centimetres per hour. Series are
``Sequence[tuple[datetime, float]]`` with aware datetimes, in any order.

* Rate of rise: ordinary least-squares slope of level against time over the samples whose
  timestamp lies in the trailing window ``[latest − window, latest]`` (both ends included),
  converted to cm/h. Fewer than two distinct timestamps in the window → ``None``.
* Colour: the highest of the level colour (highest level threshold with level ≥ threshold)
  and the rise colour (highest rise threshold with rate ≥ threshold), on the scale
  green < yellow < orange < red. A missing threshold never triggers.
* Predicted time: the next level threshold above the latest level is reached at
  ``t_latest + (threshold − level) / rate`` when the rate is positive (linear extrapolation
  from the latest sample at the current rate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from statistics import StatisticsError, linear_regression
from typing import Any, Literal

from calanque.ngsild.canonical import format_ts

Colour = Literal["green", "yellow", "orange", "red"]
COLOURS: tuple[Colour, ...] = ("green", "yellow", "orange", "red")
_ALERT_COLOURS: tuple[Colour, ...] = ("yellow", "orange", "red")


@dataclass(frozen=True)
class Thresholds:
    """Vigilance thresholds of one station: levels in m, rates of rise in cm/h; None = not set."""

    level_yellow: float | None = None
    level_orange: float | None = None
    level_red: float | None = None
    rise_yellow: float | None = None
    rise_orange: float | None = None
    rise_red: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"threshold {f.name} must be a finite number or None, got {value!r}")
        for kind, unit in (("level", "m"), ("rise", "cm/h")):
            set_values = [(c, getattr(self, f"{kind}_{c}")) for c in _ALERT_COLOURS]
            set_values = [(c, v) for c, v in set_values if v is not None]
            for (c1, v1), (c2, v2) in pairwise(set_values):
                if v2 < v1:
                    raise ValueError(f"{kind} thresholds must not decrease with severity: "
                                     f"{kind}_{c2} = {v2} {unit} is below {kind}_{c1} = {v1} {unit}")

    def levels(self) -> list[tuple[Colour, float]]:
        """Configured level thresholds as (colour, metres), from yellow to red."""
        return [(c, v) for c in _ALERT_COLOURS if (v := getattr(self, f"level_{c}")) is not None]

    def rises(self) -> list[tuple[Colour, float]]:
        """Configured rise thresholds as (colour, cm/h), from yellow to red."""
        return [(c, v) for c in _ALERT_COLOURS if (v := getattr(self, f"rise_{c}")) is not None]


def _points(series: Sequence[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """Validate and sort (aware datetime, finite level) samples by time."""
    points = []
    for index, (when, value) in enumerate(series):
        if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
            raise ValueError(f"sample #{index} timestamp {when!r} must be an aware datetime")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"sample #{index} at {when.isoformat()} has a non-finite level {value}")
        points.append((when, value))
    points.sort(key=lambda p: p[0])
    return points


def _slope_cm_per_h(points: list[tuple[datetime, float]], window: timedelta) -> float | None:
    """Least-squares slope (cm/h) over the trailing window of already sorted samples."""
    if window <= timedelta(0):
        raise ValueError(f"window must be a positive duration, got {window}")
    if len(points) < 2:
        return None
    latest = points[-1][0]
    recent = [(when, level) for when, level in points if when >= latest - window]
    hours = [(when - latest).total_seconds() / 3600.0 for when, _ in recent]
    try:
        slope = linear_regression(hours, [level for _, level in recent]).slope
    except StatisticsError:
        return None
    return slope * 100.0


def rate_of_rise(series: Sequence[tuple[datetime, float]],
                 window: timedelta = timedelta(hours=1)) -> float | None:
    """Rate of rise in cm/h: least-squares slope over samples in [latest − window, latest]; None if < 2."""
    return _slope_cm_per_h(_points(series), window)


def _level_colour(level: float, thresholds: Thresholds) -> tuple[Colour, float | None]:
    """Highest level colour reached and its threshold."""
    reached = [(c, v) for c, v in thresholds.levels() if level >= v]
    return reached[-1] if reached else ("green", None)


def _rise_colour(rate: float | None, thresholds: Thresholds) -> tuple[Colour, float | None]:
    """Highest rise colour reached and its threshold."""
    if rate is None:
        return "green", None
    reached = [(c, v) for c, v in thresholds.rises() if rate >= v]
    return reached[-1] if reached else ("green", None)


def _reason(level: float, rate: float | None, thresholds: Thresholds, level_hit: tuple[Colour, float | None],
            rise_hit: tuple[Colour, float | None], colour: Colour) -> str:
    """Human sentence explaining the colour."""
    parts = []
    if colour != "green":
        if level_hit[0] == colour:
            parts.append(f"level {level:.2f} m ≥ {colour} threshold {level_hit[1]:.2f} m")
        if rise_hit[0] == colour:
            parts.append(f"rising {rate:.1f} cm/h ≥ {colour} threshold {rise_hit[1]:.1f} cm/h")
        return "; ".join(parts)
    levels, rises = thresholds.levels(), thresholds.rises()
    if levels:
        parts.append(f"level {level:.2f} m < {levels[0][0]} threshold {levels[0][1]:.2f} m")
    if rises and rate is not None:
        parts.append(f"rate {rate:.1f} cm/h < {rises[0][0]} threshold {rises[0][1]:.1f} cm/h")
    elif rises:
        parts.append("rate of rise unknown (fewer than two samples in the window)")
    return "; ".join(parts) if parts else "no vigilance threshold configured for this station"


def station_status(series: Sequence[tuple[datetime, float]], thresholds: Thresholds,
                   window: timedelta = timedelta(hours=1), now: datetime | None = None) -> dict[str, Any]:
    """Vigilance status of a station from its level series (m).

    Only samples at or before ``now`` (default: the current time) are used. Returns the latest
    level and its time, the sample age, the rate of rise (cm/h, None when unknown), the level,
    rise and overall colours, a human ``reason`` and ``next_threshold`` (the next level
    threshold above the latest level with its predicted time at the current rate; its
    ``predicted_at`` is None when the level is not rising). Raises ValueError without samples.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} must be an aware datetime")
    points = [p for p in _points(series) if p[0] <= now]
    if not points:
        raise ValueError(f"no level sample at or before {now.isoformat()}: cannot assess the station")
    observed_at, level = points[-1]
    rate = _slope_cm_per_h(points, window)
    level_hit, rise_hit = _level_colour(level, thresholds), _rise_colour(rate, thresholds)
    colour = max(level_hit[0], rise_hit[0], key=COLOURS.index)

    next_threshold = None
    above = [(c, v) for c, v in thresholds.levels() if v > level]
    if above:
        next_colour, next_level = above[0]
        predicted = None
        if rate is not None and rate > 0:
            predicted = format_ts(observed_at + timedelta(hours=(next_level - level) * 100.0 / rate))
        next_threshold = {"colour": next_colour, "level_m": next_level, "predicted_at": predicted}

    return {
        "level_m": level,
        "observed_at": format_ts(observed_at),
        "age_s": (now - observed_at).total_seconds(),
        "rate_of_rise_cm_per_h": rate,
        "window_s": window.total_seconds(),
        "level_colour": level_hit[0],
        "rise_colour": rise_hit[0],
        "colour": colour,
        "reason": _reason(level, rate, thresholds, level_hit, rise_hit, colour),
        "next_threshold": next_threshold,
    }

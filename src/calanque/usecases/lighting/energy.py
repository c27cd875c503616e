"""Energy consumed by streetlights, the baseline without dimming, savings, and their aggregation.

Consumption comes from power samples (trapezoidal integration, skipping gaps longer than a
maximum) or from an energy counter (sum of positive deltas, surviving counter resets). The
baseline is the nominal power times the hours the light was on, from its state series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Series = Sequence[tuple[datetime, float]]


def _utc_sorted(series: Series) -> list[tuple[datetime, float]]:
    """The series in UTC, sorted; rejects naive timestamps (wall-clock arithmetic would be wrong across DST)."""
    for t, _ in series:
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"timestamps must be timezone-aware, got naive {t.isoformat()}")
    return sorted(((t.astimezone(UTC), float(v)) for t, v in series), key=lambda p: p[0])


def _arrays(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """A series as (epoch microseconds, values) arrays, in time order."""
    points = _utc_sorted(series)
    times = np.array([(t - EPOCH) // timedelta(microseconds=1) for t, _ in points], dtype=np.int64)
    return times, np.array([v for _, v in points], dtype=float)


def energy_from_power(power_w: Series, max_gap: timedelta = timedelta(minutes=30)) -> float:
    """kWh from power samples in W: trapezoids between consecutive samples at most ``max_gap`` apart (longer gaps count 0)."""
    return energy_from_power_us(*_arrays(power_w), max_gap)


def energy_from_power_us(times_us: np.ndarray, power_w: np.ndarray, max_gap: timedelta = timedelta(minutes=30)) -> float:
    """:func:`energy_from_power` over time-ordered arrays (epoch microseconds, W), the store's series form."""
    if len(times_us) < 2:
        return 0.0
    dt_s = np.diff(np.asarray(times_us, dtype=np.int64)) / 1e6
    power = np.asarray(power_w, dtype=float)
    counted = dt_s <= max_gap.total_seconds()
    return float(np.sum(((power[:-1] + power[1:]) / 2 * dt_s / 3600)[counted])) / 1000


def energy_from_counter(counter_kwh: Series) -> float:
    """kWh from a cumulative energy counter in kWh: the sum of its increases.

    A decrease is taken as a reset to zero (device replaced or rebooted): the energy counted
    since the reset is the new reading itself.
    """
    return energy_from_counter_values(_arrays(counter_kwh)[1])


def energy_from_counter_values(counter_kwh: np.ndarray) -> float:
    """:func:`energy_from_counter` over the time-ordered counter readings (kWh)."""
    readings = np.asarray(counter_kwh, dtype=float)
    if len(readings) < 2:
        return 0.0
    steps = np.diff(readings)
    return float(np.sum(np.where(steps >= 0, steps, readings[1:])))


def on_hours_from_power(power_w: Series, on_at_w: float, max_gap: timedelta = timedelta(minutes=30)) -> float:
    """Hours a light was lit according to its power samples: the intervals :func:`energy_from_power` integrates
    (consecutive samples at most ``max_gap`` apart) that start with a sample of at least ``on_at_w`` watts."""
    return on_hours_from_power_us(*_arrays(power_w), on_at_w, max_gap)


def on_hours_from_power_us(times_us: np.ndarray, power_w: np.ndarray, on_at_w: float,
                           max_gap: timedelta = timedelta(minutes=30)) -> float:
    """:func:`on_hours_from_power` over time-ordered arrays (epoch microseconds, W)."""
    if len(times_us) < 2:
        return 0.0
    dt_s = np.diff(np.asarray(times_us, dtype=np.int64)) / 1e6
    lit = (dt_s <= max_gap.total_seconds()) & (np.asarray(power_w, dtype=float)[:-1] >= on_at_w)
    return float(np.sum(dt_s[lit])) / 3600


def on_hours(state: Series, until: datetime | None = None) -> float:
    """Hours during which a step state series is on (> 0); the last value holds until ``until`` (default: its own time)."""
    points = _utc_sorted(state)
    if not points:
        return 0.0
    end = until.astimezone(UTC) if until is not None else points[-1][0]
    seconds = 0.0
    for i, (t, v) in enumerate(points):
        nxt = points[i + 1][0] if i + 1 < len(points) else max(end, t)
        if v > 0:
            seconds += (nxt - t).total_seconds()
    return seconds / 3600


@dataclass(frozen=True)
class LightEnergy:
    """Energy of one light (or an aggregate): consumed and baseline kWh, and the savings derived from them."""

    id: str
    consumed_kwh: float
    baseline_kwh: float

    @property
    def saved_kwh(self) -> float:
        """Baseline minus consumed (negative when the light drew more than nominal)."""
        return self.baseline_kwh - self.consumed_kwh

    @property
    def saved_pct(self) -> float | None:
        """Savings as a percentage of the baseline; None when the baseline is zero."""
        return 100 * self.saved_kwh / self.baseline_kwh if self.baseline_kwh > 0 else None


def light_energy(
    light_id: str,
    nominal_power_w: float,
    state: Series,
    *,
    power_w: Series = (),
    counter_kwh: Series = (),
    until: datetime | None = None,
    max_gap: timedelta = timedelta(minutes=30),
) -> LightEnergy:
    """Consumed kWh (from the counter if given, else from power samples) against the baseline nominal power × on-hours."""
    if nominal_power_w <= 0:
        raise ValueError(f"nominal power must be positive (W), got {nominal_power_w} for {light_id}")
    if counter_kwh:
        consumed = energy_from_counter(counter_kwh)
    elif power_w:
        consumed = energy_from_power(power_w, max_gap)
    else:
        raise ValueError(f"no power samples nor energy counter readings for {light_id}: give one of them")
    return LightEnergy(light_id, consumed, nominal_power_w * on_hours(state, until) / 1000)


def aggregate(lights: Iterable[LightEnergy], membership: Mapping[str, str]) -> dict[str, LightEnergy]:
    """Sum lights into their group or cabinet: ``membership`` maps a light id to the group (or cabinet) id."""
    totals: dict[str, tuple[float, float]] = {}
    missing: list[str] = []
    for light in lights:
        key = membership.get(light.id)
        if key is None:
            missing.append(light.id)
            continue
        consumed, baseline = totals.get(key, (0.0, 0.0))
        totals[key] = (consumed + light.consumed_kwh, baseline + light.baseline_kwh)
    if missing:
        raise ValueError(f"lights without a group/cabinet in the membership map: {', '.join(sorted(missing))}")
    return {key: LightEnergy(key, c, b) for key, (c, b) in totals.items()}


@dataclass(frozen=True)
class HourBlocks:
    """Whole hours of a series given as summaries (:mod:`calanque.store.rollup`): the first ``(t0, v0)`` and
    last ``(t1, v1)`` sample of each (epoch µs), how many samples ``n``, their min and max, and over the
    steps inside the hour the counter increase ``inc`` and the trapezoid integral ``trap`` (value·s)."""

    t0: np.ndarray
    v0: np.ndarray
    t1: np.ndarray
    v1: np.ndarray
    n: np.ndarray
    mn: np.ndarray
    mx: np.ndarray
    inc: np.ndarray
    trap: np.ndarray


def _pairs(times_us: np.ndarray, values: np.ndarray, hours: HourBlocks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The raw samples and every hour's first and last sample in time order, and which consecutive pairs
    are not the inside of one hour (first to last sample of that hour, summarised instead)."""
    several = np.asarray(hours.n) > 1
    t = np.concatenate((np.asarray(times_us, dtype=np.int64), hours.t0, hours.t1[several]))
    v = np.concatenate((np.asarray(values, dtype=float), hours.v0, hours.v1[several]))
    # 0 raw sample, 1 first sample of an hour followed by its last one, 2 last sample of an hour
    kind = np.concatenate((np.zeros(len(times_us), dtype=np.int8), np.where(several, 1, 0).astype(np.int8),
                           np.full(int(several.sum()), 2, dtype=np.int8)))
    order = np.argsort(t, kind="stable")
    t, v, kind = t[order], v[order], kind[order]
    outside = ~((kind[:-1] == 1) & (kind[1:] == 2)) if t.size else np.ones(0, dtype=bool)
    return t, v, outside


def energy_from_counter_hours(times_us: np.ndarray, counter_kwh: np.ndarray, hours: HourBlocks) -> float:
    """:func:`energy_from_counter_values` over raw readings and whole hours given as summaries."""
    t, v, outside = _pairs(times_us, counter_kwh, hours)
    if t.size < 2:
        return 0.0
    steps = np.diff(v)
    return float(np.sum(np.where(steps >= 0, steps, v[1:])[outside]) + np.sum(hours.inc))


def energy_from_power_hours(times_us: np.ndarray, power_w: np.ndarray, hours: HourBlocks,
                            max_gap: timedelta = timedelta(minutes=30)) -> float:
    """:func:`energy_from_power_us` over raw samples and whole hours given as summaries, none of which has a
    step longer than ``max_gap`` between its samples."""
    t, v, outside = _pairs(times_us, power_w, hours)
    if t.size < 2:
        return 0.0
    dt_s = np.diff(t) / 1e6
    counted = outside & (dt_s <= max_gap.total_seconds())
    return (float(np.sum(((v[:-1] + v[1:]) / 2 * dt_s / 3600)[counted])) + float(np.sum(hours.trap)) / 3600) / 1000


def on_hours_from_power_hours(times_us: np.ndarray, power_w: np.ndarray, hours: HourBlocks, on_at_w: float,
                              max_gap: timedelta = timedelta(minutes=30)) -> float:
    """:func:`on_hours_from_power_us` over raw samples and whole hours given as summaries, each of which is
    all at or above ``on_at_w`` or all below it, with no step longer than ``max_gap``."""
    t, v, outside = _pairs(times_us, power_w, hours)
    if t.size < 2:
        return 0.0
    dt_s = np.diff(t) / 1e6
    lit = outside & (dt_s <= max_gap.total_seconds()) & (v[:-1] >= on_at_w)
    inside = np.where(np.asarray(hours.mn) >= on_at_w, (hours.t1 - hours.t0) / 1e6, 0.0)
    return (float(np.sum(dt_s[lit])) + float(np.sum(inside))) / 3600

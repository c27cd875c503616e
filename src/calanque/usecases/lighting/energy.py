"""Energy consumed by streetlights, the baseline without dimming, savings, and their aggregation.

Consumption comes from power samples (trapezoidal integration, skipping gaps longer than a
maximum) or from an energy counter (sum of positive deltas, surviving counter resets). The
baseline is the nominal power times the hours the light was on, from its state series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Series = Sequence[tuple[datetime, float]]


def _utc_sorted(series: Series) -> list[tuple[datetime, float]]:
    """The series in UTC, sorted; rejects naive timestamps (wall-clock arithmetic would be wrong across DST)."""
    for t, _ in series:
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"timestamps must be timezone-aware, got naive {t.isoformat()}")
    return sorted(((t.astimezone(UTC), float(v)) for t, v in series), key=lambda p: p[0])


def energy_from_power(power_w: Series, max_gap: timedelta = timedelta(minutes=30)) -> float:
    """kWh from power samples in W: trapezoids between consecutive samples at most ``max_gap`` apart (longer gaps count 0)."""
    points = _utc_sorted(power_w)
    wh = 0.0
    for (t0, p0), (t1, p1) in zip(points, points[1:], strict=False):
        dt = t1 - t0
        if dt <= max_gap:
            wh += (p0 + p1) / 2 * dt.total_seconds() / 3600
    return wh / 1000


def energy_from_counter(counter_kwh: Series) -> float:
    """kWh from a cumulative energy counter in kWh: the sum of its increases.

    A decrease is taken as a reset to zero (device replaced or rebooted): the energy counted
    since the reset is the new reading itself.
    """
    points = _utc_sorted(counter_kwh)
    total = 0.0
    for (_, c0), (_, c1) in zip(points, points[1:], strict=False):
        total += c1 - c0 if c1 >= c0 else c1
    return total


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

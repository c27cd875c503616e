"""Fill-rate estimation since the last emptying and the forecast of when a container gets full."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from calanque.usecases.waste.fill import EmptyingRule, Series, detect_emptyings, sorted_series

DAY_S = 86400.0


@dataclass(frozen=True)
class Forecast:
    """Forecast for one container.

    ``current_fill`` is the last measured fill ratio at or before ``now`` (taken at
    ``observed_at``); ``rate_per_day`` is the robust least-squares slope of the fill since the
    last emptying (None with fewer than two distinct sample times); ``predicted_full_at`` is when
    the fill reaches the threshold (the first sample that reached it if already there; None when
    the rate is unknown or not positive).
    """

    current_fill: float
    rate_per_day: float | None
    predicted_full_at: datetime | None
    last_emptying: datetime | None
    observed_at: datetime

    def fill_at(self, when: datetime) -> float:
        """Predicted fill ratio at ``when``: the current fill extrapolated at the (non-negative) rate, capped to 0..1."""
        rate = max(self.rate_per_day or 0.0, 0.0)
        elapsed_days = max((when.astimezone(UTC) - self.observed_at.astimezone(UTC)).total_seconds(), 0.0) / DAY_S
        return min(1.0, max(0.0, self.current_fill + rate * elapsed_days))


def robust_slope(times_s: np.ndarray, values: np.ndarray, *, k: float = 3.0, floor: float = 0.02) -> float:
    """Least-squares slope (value per second) refitted without outliers until stable.

    Residuals beyond ``k`` robust standard deviations (1.4826 × median absolute residual, never
    below ``floor``) are dropped and the line refitted, so isolated spikes (a bag above the
    sensor, an echo) do not bias the rate while Gaussian noise is averaged out.
    """
    keep = np.ones(len(times_s), dtype=bool)
    slope = 0.0
    for _ in range(10):
        t = times_s[keep]
        v = values[keep]
        t_mean = t.mean()
        denom = float(((t - t_mean) ** 2).sum())
        if denom == 0.0:
            return 0.0
        slope = float(((t - t_mean) * (v - v.mean())).sum() / denom)
        intercept = float(v.mean() - slope * t_mean)
        residuals = np.abs(values - (intercept + slope * times_s))
        scale = max(1.4826 * float(np.median(residuals[keep])), floor)
        new_keep = residuals <= k * scale
        if new_keep.sum() < 2 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return slope


def forecast(
    fills: Series,
    threshold: float = 0.8,
    now: datetime | None = None,
    *,
    rule: EmptyingRule = EmptyingRule(),
) -> Forecast:
    """Forecast a container from its fill-ratio series (0..1): current fill, rate per day, when it reaches ``threshold``.

    Only samples at or before ``now`` (default: the last sample) are used. The rate is fitted
    over the samples from the last detected emptying on (over the whole series if none is seen).
    The predicted date extrapolates the current fill at that rate:
    ``observed_at + (threshold - current_fill) / rate_per_day`` days.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be a fill ratio in (0, 1], got {threshold}")
    points = sorted_series(fills)
    if now is not None:
        points = [p for p in points if p[0] <= now]
    if not points:
        raise ValueError("cannot forecast from an empty fill series (no sample at or before 'now')")
    emptyings = detect_emptyings(points, rule)
    last_emptying = emptyings[-1].at if emptyings else None
    since = [p for p in points if last_emptying is None or p[0] >= last_emptying]
    observed_at, current = since[-1]
    current = min(1.0, max(0.0, current))

    rate: float | None = None
    if len({t for t, _ in since}) >= 2:
        t0 = since[0][0]
        times_s = np.array([(t - t0).total_seconds() for t, _ in since])
        values = np.array([v for _, v in since], dtype=float)
        rate = robust_slope(times_s, values) * DAY_S

    predicted: datetime | None = None
    if current >= threshold:
        predicted = next(t for t, v in since if v >= threshold)
    elif rate is not None and rate > 0:
        predicted = observed_at + timedelta(days=(threshold - current) / rate)
    return Forecast(
        current_fill=current,
        rate_per_day=rate,
        predicted_full_at=predicted,
        last_emptying=last_emptying,
        observed_at=observed_at,
    )

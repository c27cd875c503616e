"""Fill-rate estimation since the last emptying and the forecast of when a container gets full."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from calanque.usecases.waste.fill import EmptyingRule, Series, detect_emptyings_us, sorted_series

DAY_S = 86400.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        n = len(t)
        t_mean = t.sum() / n  # what ndarray.mean computes, without its dispatch overhead
        v_mean = v.sum() / n
        dt = t - t_mean
        denom = float((dt * dt).sum())
        if denom == 0.0:
            return 0.0
        slope = float((dt * (v - v_mean)).sum() / denom)
        intercept = float(v_mean - slope * t_mean)
        residuals = np.abs(values - (intercept + slope * times_s))
        scale = max(1.4826 * _median(residuals[keep]), floor)
        new_keep = residuals <= k * scale
        if np.count_nonzero(new_keep) < 2 or bool((new_keep == keep).all()):
            break
        keep = new_keep
    return slope


def _median(x: np.ndarray) -> float:
    """The median of a non-empty 1-D array, as numpy.median computes it (mean of the middle two when even)."""
    n = len(x)
    half = n // 2
    if n % 2:
        return float(np.partition(x, half)[half])
    part = np.partition(x, (half - 1, half))
    return float((part[half - 1] + part[half]) / 2)


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
    points = sorted_series(fills)
    if now is not None:
        points = [p for p in points if p[0] <= now]
    times_us = np.array([(t - EPOCH) // timedelta(microseconds=1) for t, _ in points], dtype=np.int64)
    values = np.array([v for _, v in points], dtype=float)
    return forecast_arrays(times_us, values, threshold, rule=rule)


def may_hold_emptying(values: np.ndarray, rule: EmptyingRule = EmptyingRule()) -> bool:
    """Whether a time-ordered fill series can hold an emptying at all (a cheap necessary condition).

    An emptying needs a sample below ``rule.end_below`` lying at least ``rule.min_drop`` under an
    earlier sample, so a series where no sample is that far below the running maximum before it
    holds none, whatever the time limits of the rule.
    """
    if len(values) < 2:
        return False
    before_max = np.maximum.accumulate(values)[:-1]
    after = values[1:]
    return bool(np.any((after < rule.end_below) & (before_max - after >= rule.min_drop)))


def forecast_arrays(
    times_us: np.ndarray,
    values: np.ndarray,
    threshold: float = 0.8,
    *,
    rule: EmptyingRule = EmptyingRule(),
) -> Forecast:
    """:func:`forecast` over a fill series given as epoch microseconds and ratios (the store's series form)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be a fill ratio in (0, 1], got {threshold}")
    if len(times_us) != len(values):
        raise ValueError(f"got {len(times_us)} times for {len(values)} values")
    if len(times_us) == 0:
        raise ValueError("cannot forecast from an empty fill series (no sample at or before 'now')")
    order = np.argsort(times_us, kind="stable")
    times_us = np.asarray(times_us, dtype=np.int64)[order]
    values = np.asarray(values, dtype=float)[order]
    last_emptying: datetime | None = None
    first = 0
    if may_hold_emptying(values, rule):
        emptyings = detect_emptyings_us(times_us, values, rule)
        if emptyings:
            last_emptying = _at(emptyings[-1][0])
            first = int(np.searchsorted(times_us, emptyings[-1][0], "left"))
    return forecast_since(times_us[first:], values[first:], threshold, last_emptying)


def forecast_since(since_t: np.ndarray, since_v: np.ndarray, threshold: float, last_emptying: datetime | None
                   ) -> Forecast:
    """The forecast from the time-ordered fill series since the last emptying (``last_emptying``, None when
    none was seen: then the whole series): current fill, robust rate, when the threshold is reached."""
    observed_at = _at(since_t[-1])
    current = min(1.0, max(0.0, float(since_v[-1])))

    rate: float | None = None
    if since_t[-1] != since_t[0]:
        rate = robust_slope((since_t - since_t[0]) / 1e6, since_v) * DAY_S

    predicted: datetime | None = None
    if current >= threshold:
        predicted = _at(since_t[int(np.argmax(since_v >= threshold))])
    elif rate is not None and rate > 0:
        predicted = observed_at + timedelta(days=(threshold - current) / rate)
    return Forecast(
        current_fill=current,
        rate_per_day=rate,
        predicted_full_at=predicted,
        last_emptying=last_emptying,
        observed_at=observed_at,
    )


def _at(us: int | np.integer) -> datetime:
    """Epoch microseconds as an aware UTC datetime."""
    return EPOCH + timedelta(microseconds=int(us))

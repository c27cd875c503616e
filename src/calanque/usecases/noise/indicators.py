"""Environmental noise indicators computed from a series of LAeq samples.

Input series are ``Sequence[tuple[datetime, float]]``: aware datetimes (any zone, any order)
and A-weighted equivalent levels in dB(A), one per sample, at any sampling interval; or, faster,
a :class:`Samples` pair of arrays (POSIX seconds, levels), which is what the HTTP API passes
(one year of 1-min samples is computed with numpy, without one Python object per sample).

Sample-duration convention
--------------------------
Every sample stands for an interval of time that *starts* at its timestamp:

* Default (``sample_duration=None``): a sample lasts until the next sample, unless the step
  to the next sample is longer than ``max_gap``; that step is then a gap, and the sample lasts
  only one *nominal interval* (the median step between consecutive distinct timestamps,
  capped at ``max_gap``), as does the last sample of the series. ``max_gap`` defaults to three
  nominal intervals. A sensor that stops therefore leaves a hole in the data instead of having
  its last value stretched over the outage. A series whose sampling interval changes (say
  1 min then 15 min) should pass an explicit ``max_gap`` larger than the longest regular step.
* Explicit ``sample_duration``: each sample covers ``[t, t + sample_duration)``, truncated at
  the next sample's timestamp so that no time is counted twice; ``max_gap`` is then unused.
* Samples sharing one timestamp: only the last of them (in sorted, then input, order) has a
  non-zero duration. A series with fewer than two distinct timestamps and no
  ``sample_duration`` covers no time (its duration cannot be inferred).

Levels
------
* LAeq over a period is the duration-weighted energy average
  ``10·log10( Σ dᵢ·10^(Lᵢ/10) / Σ dᵢ )`` over the part of the period covered by samples
  (intervals are clipped at the period edges). Gaps lower the reported ``coverage`` and do not
  enter the average.
* L10 / L50 / L90 are the levels exceeded during 10 / 50 / 90 % of the covered time, read on
  the duration-weighted distribution of sample levels: ``L_N`` is the smallest sample level L
  such that the time spent at levels ≤ L is at least (100 − N) % of the covered time
  (inverse of the weighted empirical distribution function, no interpolation). A 15-min
  sample weighs fifteen times a 1-min sample.
* Lden follows Directive 2002/49/EC, Annex I:
  ``Lden = 10·log10( (12·10^(Lday/10) + 4·10^((Levening+5)/10) + 8·10^((Lnight+10)/10)) / 24 )``
  with the Directive's nominal 12/4/8 h weights. Lday, Levening and Lnight are the LAeq of the
  actual periods in local time, so a night spanning a daylight-saving change lasts 7 h (spring)
  or 9 h (autumn) and its Lnight is the energy average over those 7 or 9 hours.
* Periods, in local time of ``tz`` (default Europe/Paris): French practice ``"fr"`` day
  06–18, evening 18–22, night 22–06 (arrêté du 4 avril 2006 on noise maps); ``"eu"`` option
  day 07–19, evening 19–23, night 23–07 (the Directive's default). The Lden of local date D
  covers the 24-h cycle that starts with D's day period and ends with the night that begins on
  the evening of D (so the night of 28→29 March 2026 belongs to 2026-03-28).
* Over several days, Lden is the energy average of the daily Lden values (each defined day
  weighs the same). With complete data this equals the Directive's formula applied to the
  long-term Lday/Levening/Lnight. A day whose day, evening or night period has no data has no
  Lden; it is left out of the average and reported with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter, itemgetter
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from calanque.ngsild.canonical import format_ts

PeriodScheme = Literal["fr", "eu"]

# Start hour (local) of the day, evening and night periods for each scheme.
PERIOD_SCHEMES: Mapping[str, tuple[int, int, int]] = {"fr": (6, 18, 22), "eu": (7, 19, 23)}
PERIOD_NAMES = ("day", "evening", "night")
# Directive 2002/49/EC Annex I: nominal period lengths (hours) and penalties (dB).
NOMINAL_HOURS: Mapping[str, float] = {"day": 12.0, "evening": 4.0, "night": 8.0}
PENALTY_DB: Mapping[str, float] = {"day": 0.0, "evening": 5.0, "night": 10.0}
_LEVEL_KEYS = {"day": "Lday", "evening": "Levening", "night": "Lnight"}
_PERCENTILES = (("L10", 10.0), ("L50", 50.0), ("L90", 90.0))
_LN10_OVER_10 = math.log(10.0) / 10.0


@dataclass(frozen=True, eq=False)
class Samples:
    """A series as arrays: POSIX seconds and levels in dB(A), in any order; optionally durations.

    The fast input of every function here: no Python object is built per sample. With
    ``durations`` (seconds, one per sample) each sample covers ``[t, t + duration)``, truncated
    at the next sample so that no time is counted twice; ``max_gap`` and ``sample_duration``
    are then not accepted. ``counts`` (with durations) tells how many samples each element
    stands for, when some are the summarised parts of whole hours (:meth:`ending_at_hourly`).
    """

    times: np.ndarray
    levels: np.ndarray
    durations: np.ndarray | None = None
    counts: np.ndarray | None = None

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=np.float64).reshape(-1)
        levels = np.asarray(self.levels, dtype=np.float64).reshape(-1)
        checked = [("timestamp", times), ("level", levels)]
        durations = None
        if self.durations is not None:
            durations = np.asarray(self.durations, dtype=np.float64).reshape(-1)
            checked.append(("duration", durations))
        for name, values in checked[1:]:
            if values.shape != times.shape:
                raise ValueError(f"there are {times.size} timestamps but {values.size} {name}s")
        for name, values in checked:
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise ValueError(f"sample #{int(bad[0])} has a non-finite {name} {values[bad[0]]}")
        if durations is not None and (negative := np.flatnonzero(durations < 0)).size:
            raise ValueError(f"sample #{int(negative[0])} has a negative duration {durations[negative[0]]}")
        counts = None
        if self.counts is not None:
            if durations is None:
                raise ValueError("sample counts need durations")
            counts = np.asarray(self.counts, dtype=np.int64).reshape(-1)
            if counts.shape != times.shape:
                raise ValueError(f"there are {times.size} timestamps but {counts.size} counts")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "durations", durations)
        object.__setattr__(self, "counts", counts)

    @classmethod
    def ending_at(cls, epoch_us: Sequence[int] | np.ndarray, levels: Sequence[float] | np.ndarray,
                  period: float) -> Samples:
        """Samples stamped at the *end* of their integration period of ``period`` seconds.

        This is the platform's convention (docs/data-conventions.md): the sample observed at t
        covers ``[t − period, t)``, shortened to ``[previous t, t)`` when the previous sample is
        closer, so a device reporting more often than ``period`` is not counted twice and the
        first sample after an outage covers only its own period. Of samples sharing one time
        stamp, the last one given is kept.
        """
        if not (math.isfinite(period) and period > 0):
            raise ValueError(f"the integration period must be a positive number of seconds, got {period}")
        ends = np.asarray(epoch_us, dtype=np.int64)
        values = np.asarray(levels, dtype=np.float64)
        if ends.shape != values.shape:
            raise ValueError(f"there are {ends.size} timestamps but {values.size} levels")
        if ends.size > 1 and not (np.diff(ends) >= 0).all():
            order = np.argsort(ends, kind="stable")
            ends, values = ends[order], values[order]
        last_of_ties = np.append(ends[1:] != ends[:-1], True) if ends.size else np.ones(0, dtype=bool)
        ends, values = ends[last_of_ties] / 1e6, values[last_of_ties]
        durations = np.minimum(np.diff(ends, prepend=-math.inf), period)
        return cls(ends - durations, values, durations)

    @classmethod
    def ending_at_hourly(cls, epoch_us: np.ndarray, levels: np.ndarray, period: float, *, first_us: np.ndarray,
                         first_levels: np.ndarray, last_us: np.ndarray, n: np.ndarray, owner: np.ndarray,
                         hist_levels: np.ndarray, hist_us: np.ndarray) -> Samples:
        """:meth:`ending_at` over raw samples and whole hours given as summaries, with the same result.

        Hour j holds ``n[j]`` samples from ``first_us[j]`` to ``last_us[j]`` (no two at one time, no step
        between them longer than ``period``, no raw sample in that hour): its first sample is kept as
        is (its interval starts after the sample before it, in an earlier hour), the others are given
        by the time spent at each level, ``hist_us`` µs at ``hist_levels`` for the entries whose
        ``owner`` is j. Those entries are laid end to end from the first sample: the hour's energy,
        coverage and level distribution are exact, and no period or window boundary may fall inside
        such an hour (the caller reads those hours raw).
        """
        if not (math.isfinite(period) and period > 0):
            raise ValueError(f"the integration period must be a positive number of seconds, got {period}")
        ends = np.asarray(epoch_us, dtype=np.int64)
        values = np.asarray(levels, dtype=np.float64)
        if ends.size > 1 and not (np.diff(ends) >= 0).all():
            order = np.argsort(ends, kind="stable")
            ends, values = ends[order], values[order]
        last_of_ties = np.append(ends[1:] != ends[:-1], True) if ends.size else np.ones(0, dtype=bool)
        ends, values = ends[last_of_ties], values[last_of_ties]
        hours = np.asarray(first_us, dtype=np.int64).size
        # Elements in time order: raw samples and hours; an element's successor starts after its last sample.
        at = np.concatenate((ends, np.asarray(first_us, dtype=np.int64)))
        last = np.concatenate((ends, np.asarray(last_us, dtype=np.int64)))
        level = np.concatenate((values, np.asarray(first_levels, dtype=np.float64)))
        order = np.argsort(at, kind="stable")
        at_s, last_s = at[order] / 1e6, last[order] / 1e6
        durations = np.minimum(at_s - np.concatenate(([-math.inf], last_s[:-1])), period)
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        # The summarised samples of each hour, laid end to end from its first sample.
        owner = np.asarray(owner, dtype=np.int64)
        spent = np.asarray(hist_us, dtype=np.int64)
        offsets = np.cumsum(spent) - spent
        if spent.size:
            offsets -= offsets[np.searchsorted(owner, owner, side="left")]
        block = np.asarray(first_us, dtype=np.int64)[owner] + offsets
        starts_s, stops_s = block / 1e6, (block + spent) / 1e6
        lead = np.ones(owner.size, dtype=bool)
        lead[1:] = owner[1:] != owner[:-1]
        counts = np.where(lead, np.asarray(n, dtype=np.int64)[owner] - 1, 0)
        sort_rank = np.concatenate((rank, rank[ends.size:][owner] if hours else owner))
        sub = np.concatenate((np.zeros(order.size, dtype=np.int64), np.arange(1, owner.size + 1)))
        final = np.lexsort((sub, sort_rank))
        return cls(
            np.concatenate(((at / 1e6 - durations[rank]), starts_s))[final],
            np.concatenate((level, np.asarray(hist_levels, dtype=np.float64)))[final],
            np.concatenate((durations[rank], stops_s - starts_s))[final],
            np.concatenate((np.ones(order.size, dtype=np.int64), counts))[final],
        )


Series = Sequence[tuple[datetime, float]] | Samples


def _epoch(dt: datetime, what: str) -> float:
    """Return POSIX seconds of an aware datetime, refusing naive ones."""
    if not isinstance(dt, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{what} {dt.isoformat()} has no time zone; pass an aware datetime")
    return dt.timestamp()


def _seconds(value: timedelta | None, what: str) -> float | None:
    """Return a positive timedelta as seconds (None passes through)."""
    if value is None:
        return None
    seconds = value.total_seconds()
    if seconds <= 0:
        raise ValueError(f"{what} must be a positive duration, got {value}")
    return seconds


def time_zone(tz: str) -> ZoneInfo:
    """Resolve an IANA time-zone name."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{tz}'; expected an IANA name such as 'Europe/Paris'") from None


def _scheme(periods: str) -> tuple[int, int, int]:
    """Return the start hours of a period scheme."""
    try:
        return PERIOD_SCHEMES[periods]
    except KeyError:
        raise ValueError(f"unknown period scheme '{periods}'; "
                         f"expected one of {sorted(PERIOD_SCHEMES)}") from None


def _explain(items: Sequence[Any]) -> None:
    """Raise the error describing the first malformed (datetime, level) sample."""
    for index, item in enumerate(items):
        try:
            when, level = item
        except (TypeError, ValueError):
            raise ValueError(f"sample #{index} must be a (datetime, level) pair, got {item!r}") from None
        _epoch(when, f"sample #{index} timestamp")
        try:
            level = float(level)
        except (TypeError, ValueError):
            raise ValueError(f"sample #{index} at {when} has a non-numeric level {level!r}") from None
        if not math.isfinite(level):
            raise ValueError(f"sample #{index} at {when} has a non-finite level {level}")
    raise ValueError("the series is not a sequence of (aware datetime, finite level) pairs")


def _arrays(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """POSIX seconds and levels of a series, validated (aware datetimes, finite levels)."""
    if isinstance(series, Samples):
        return series.times, series.levels
    items = series if isinstance(series, Sequence) else list(series)
    n = len(items)
    try:
        whens = list(map(itemgetter(0), items))
        levels = np.fromiter(map(itemgetter(1), items), dtype=np.float64, count=n)
        well_formed = (
            set(map(len, items)) <= {2}
            and all(issubclass(kind, datetime) for kind in set(map(type, whens)))
            and None not in set(map(attrgetter("tzinfo"), whens))
            and bool(np.isfinite(levels).all())
        )
        times = (np.fromiter(map(datetime.timestamp, whens), dtype=np.float64, count=n)
                 if well_formed else None)
    except (TypeError, ValueError, IndexError, KeyError):
        well_formed, times = False, None
    if not well_formed or times is None:
        _explain(items)
    return times, levels


@dataclass(frozen=True, slots=True)
class _Window:
    """Clipped intervals of one time window: durations (s), levels (dB), 10^(L/10) and samples stood for."""

    durations: np.ndarray
    levels: np.ndarray
    energy: np.ndarray
    counts: np.ndarray

    def covered(self) -> float:
        """Seconds covered by samples."""
        return float(self.durations.sum())

    def dose(self) -> float:
        """Σ d·10^(L/10): the energy dose (seconds times relative intensity)."""
        return float(np.dot(self.durations, self.energy))

    def stats(self, span: float) -> dict[str, Any]:
        """LAeq, L10/L50/L90, sample count and coverage of this window over a span of seconds."""
        covered = self.covered()
        out: dict[str, Any] = {"LAeq": _level(self.dose(), covered)}
        out.update(zip((k for k, _ in _PERCENTILES), _exceeded(self.durations, self.levels,
                                                                [p for _, p in _PERCENTILES]), strict=True))
        out["samples"] = int(self.counts.sum())
        out["coverage"] = covered / span if span > 0 else 0.0
        return out


_EMPTY = np.empty(0)
_NO_WINDOW = _Window(_EMPTY, _EMPTY, _EMPTY, np.empty(0, dtype=np.int64))


class _Timeline:
    """Non-overlapping sample intervals sorted by time (POSIX seconds), as arrays."""

    def __init__(self, series: Series, max_gap: timedelta | None, sample_duration: timedelta | None) -> None:
        if max_gap is not None and sample_duration is not None:
            raise ValueError("pass either max_gap or sample_duration, not both: "
                             "with an explicit sample_duration no gap detection is needed")
        gap_s = _seconds(max_gap, "max_gap")
        fixed_s = _seconds(sample_duration, "sample_duration")
        given = series.durations if isinstance(series, Samples) else None
        counts = series.counts if isinstance(series, Samples) else None
        if given is not None and (gap_s is not None or fixed_s is not None):
            raise ValueError("these samples carry their own durations: "
                             "pass neither max_gap nor sample_duration")
        stamps, levels = _arrays(series)
        steps = np.diff(stamps)
        if steps.size and not (steps >= 0).all():
            order = np.argsort(stamps, kind="stable")  # ties keep their input order
            stamps, levels = stamps[order], levels[order]
            given = given[order] if given is not None else None
            counts = counts[order] if counts is not None else None
            steps = np.diff(stamps)
        if given is not None:
            fixed, nominal, cap = given[:-1], (given[-1] if given.size else 0.0), math.inf
        elif fixed_s is not None:
            fixed, nominal, cap = fixed_s, fixed_s, math.inf
        elif (positive := steps[steps > 0]).size:
            fixed, nominal = None, float(np.median(positive))
            cap = gap_s if gap_s is not None else 3.0 * nominal
            nominal = min(nominal, cap)
        else:
            fixed, nominal, cap = None, 0.0, 0.0
        durations = np.empty_like(stamps)
        if stamps.size:
            if fixed is not None:
                durations[:-1] = np.minimum(steps, fixed)
            else:
                durations[:-1] = np.where(steps <= cap, steps, nominal)
            durations[-1] = nominal
        if counts is None:
            counts = np.ones(stamps.size, dtype=np.int64)
        keep = durations > 0
        if not keep.all():
            stamps, durations, levels, counts = stamps[keep], durations[keep], levels[keep], counts[keep]
        self.starts = stamps
        self.counts = counts
        self.durations = durations
        self.ends = stamps + durations
        self.levels = levels
        self.energy = np.exp(levels * _LN10_OVER_10)

    def window(self, a: float, b: float) -> _Window:
        """The intervals overlapping [a, b), clipped to it."""
        i0 = int(np.searchsorted(self.ends, a, side="right"))
        i1 = int(np.searchsorted(self.starts, b, side="left"))
        if i1 <= i0:
            return _NO_WINDOW
        durations = self.durations[i0:i1].copy()
        durations[0] = min(self.ends[i0], b) - max(self.starts[i0], a)
        durations[-1] = min(self.ends[i1 - 1], b) - max(self.starts[i1 - 1], a)
        return _Window(durations, self.levels[i0:i1], self.energy[i0:i1], self.counts[i0:i1])

    def counts(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Number of intervals overlapping each window [starts[k], ends[k])."""
        first = np.searchsorted(self.ends, starts, side="right")
        stop = np.searchsorted(self.starts, ends, side="left")
        return np.maximum(stop - first, 0)

    def segment_sums(self, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Covered seconds and energy dose of each segment [cuts[k], cuts[k+1]) (cuts non-decreasing).

        Intervals are split at every cut falling inside them, so each piece lies in one segment
        and every segment is summed on its own (no difference of running totals, no cancellation).
        """
        segments = max(cuts.size - 1, 0)
        if segments == 0 or self.starts.size == 0:
            return np.zeros(segments), np.zeros(segments)
        host = np.searchsorted(self.starts, cuts, side="left") - 1
        inside = (host >= 0) & (self.ends[np.maximum(host, 0)] > cuts)
        hosts = host[inside]
        at = hosts + 1
        starts = np.insert(self.starts, at, cuts[inside])
        ends = np.insert(self.ends, at, self.ends[hosts])
        energy = np.insert(self.energy, at, self.energy[hosts])
        ends[:-1] = np.minimum(ends[:-1], starts[1:])
        durations = ends - starts
        bounds = np.searchsorted(starts, cuts, side="left")
        empty = bounds[:-1] == bounds[1:]
        covered = np.add.reduceat(np.append(durations, 0.0), bounds)[:-1]
        dose = np.add.reduceat(np.append(durations * energy, 0.0), bounds)[:-1]
        covered[empty] = 0.0
        dose[empty] = 0.0
        return covered, dose


def _level(dose: float, covered: float) -> float | None:
    """10·log10(dose / covered), None when nothing is covered."""
    if covered <= 0:
        return None
    return 10.0 * math.log10(dose / covered)


_BINS = 4096


def _exceeded(durations: np.ndarray, levels: np.ndarray, percents: Sequence[float]) -> list[float | None]:
    """Levels exceeded during `percents` % of the time: inverse of the weighted distribution function.

    ``L_N`` is the first level, in increasing order, at which the cumulated duration reaches
    (100 − N) % of the total (less 1e-9 of it, for rounding). Long series are not sorted as a
    whole: their durations are summed in level bins, the bin holding each target is found, and
    only that bin's samples are sorted; the bins follow the order of the levels, so the result
    is the same as sorting everything.
    """
    for percent in percents:
        if not 0 <= percent <= 100:
            raise ValueError(f"percent must be within 0..100, got {percent}")
    if durations.size == 0:
        return [None] * len(percents)
    total = float(durations.sum())
    if total <= 0:
        return [None] * len(percents)
    targets = [(1.0 - p / 100.0) * total - 1e-9 * total for p in percents]
    lo, hi = float(levels.min()), float(levels.max())
    if durations.size <= _BINS or hi == lo:
        order = np.argsort(levels)  # the order among equal levels does not change the level returned
        cumulated = np.cumsum(durations[order])
        index = np.minimum(np.searchsorted(cumulated, targets, side="left"), order.size - 1)
        return [float(v) for v in levels[order[index]]]
    bins = np.minimum(((levels - lo) * (_BINS / (hi - lo))).astype(np.int64), _BINS - 1)
    cumulated = np.cumsum(np.bincount(bins, weights=durations, minlength=_BINS))
    found: list[float | None] = []
    for target in targets:
        # The first bin reaching the target holds samples (the lowest and highest levels fill
        # the first and last bins).
        b = min(int(np.searchsorted(cumulated, target, side="left")), _BINS - 1)
        members = np.flatnonzero(bins == b)
        order = np.argsort(levels[members])
        running = (float(cumulated[b - 1]) if b else 0.0) + np.cumsum(durations[members][order])
        k = min(int(np.searchsorted(running, target, side="left")), order.size - 1)
        found.append(float(levels[members][order[k]]))
    return found


def energy_average(levels: Iterable[tuple[float, float]]) -> float | None:
    """Duration-weighted energy average 10·log10(Σ w·10^(L/10) / Σ w) of (weight, level) pairs."""
    pairs = list(levels)
    total = math.fsum(w for w, _ in pairs)
    if total <= 0:
        return None
    return 10.0 * math.log10(math.fsum(w * 10.0 ** (lvl / 10.0) for w, lvl in pairs) / total)


def exceeded_level(pairs: Sequence[tuple[float, float]], percent: float) -> float | None:
    """Level exceeded during `percent` % of the time, from (duration, level) pairs."""
    durations = np.array([d for d, _ in pairs], dtype=np.float64)
    levels = np.array([lvl for _, lvl in pairs], dtype=np.float64)
    return _exceeded(durations, levels, [percent])[0]


def lden_from_levels(lday: float, levening: float, lnight: float) -> float:
    """Lden from period levels, Directive 2002/49/EC Annex I (12/4/8 h, +5 dB evening, +10 dB night)."""
    energy = math.fsum(
        NOMINAL_HOURS[name] * 10.0 ** ((level + PENALTY_DB[name]) / 10.0)
        for name, level in (("day", lday), ("evening", levening), ("night", lnight))
    )
    return 10.0 * math.log10(energy / 24.0)


def period_bounds(day: date, periods: PeriodScheme = "fr",
                  tz: str = "Europe/Paris") -> dict[str, tuple[datetime, datetime]]:
    """UTC [start, end) of the day, evening and night periods of a local date (night ends next morning)."""
    zone = time_zone(tz)
    day_h, evening_h, night_h = _scheme(periods)
    nxt = day + timedelta(days=1)

    def at(d: date, hour: int) -> datetime:
        return datetime.combine(d, time(hour), tzinfo=zone).astimezone(UTC)

    return {
        "day": (at(day, day_h), at(day, evening_h)),
        "evening": (at(day, evening_h), at(day, night_h)),
        "night": (at(day, night_h), at(nxt, day_h)),
    }


def period_cuts(first: date, last: date, periods: PeriodScheme = "fr", tz: str = "Europe/Paris") -> np.ndarray:
    """Epoch µs of every day, evening and night start of the local dates first..last (inclusive)."""
    zone = time_zone(tz)
    hours = _scheme(periods)
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    return np.array([int(datetime.combine(day, time(hour), tzinfo=zone).timestamp()) * 1_000_000
                     for day in days for hour in hours], dtype=np.int64)


def laeq(series: Series, start: datetime, end: datetime, *, max_gap: timedelta | None = None,
         sample_duration: timedelta | None = None) -> float | None:
    """Duration-weighted LAeq (dB) over the covered part of [start, end); None when nothing is covered."""
    a, b = _epoch(start, "start"), _epoch(end, "end")
    if b <= a:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    covered, dose = _Timeline(series, max_gap, sample_duration).segment_sums(np.array([a, b]))
    return _level(float(dose[0]), float(covered[0]))


def hourly_levels(series: Series, start: datetime, end: datetime, *, step: timedelta = timedelta(hours=1),
                  max_gap: timedelta | None = None) -> list[dict[str, Any]]:
    """LAeq (dB) and coverage (0..1) of each ``step`` of [start, end) from ``start``: a sensor's profile.

    The last slice ends at ``end``; a slice without data has LAeq None and coverage 0.
    """
    a, b = _epoch(start, "start"), _epoch(end, "end")
    width = _seconds(step, "step")
    if b <= a:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    if width is None or width <= 0:
        raise ValueError("step must be a positive duration")
    cuts = np.append(np.arange(a, b, width), b)
    covered, dose = _Timeline(series, max_gap, None).segment_sums(cuts)
    return [
        {"start": format_ts(datetime.fromtimestamp(float(cuts[k]), UTC)),
         "end": format_ts(datetime.fromtimestamp(float(cuts[k + 1]), UTC)),
         "LAeq": _level(float(dose[k]), float(covered[k])),
         "coverage": float(covered[k]) / float(cuts[k + 1] - cuts[k])}
        for k in range(cuts.size - 1)
    ]


def _clock(periods: str) -> dict[str, str]:
    """Human labels of the periods, e.g. {'night': '22:00-06:00'}."""
    day_h, evening_h, night_h = _scheme(periods)
    bounds = {"day": (day_h, evening_h), "evening": (evening_h, night_h), "night": (night_h, day_h)}
    return {name: f"{s:02d}:00-{e:02d}:00" for name, (s, e) in bounds.items()}


class _PeriodTable:
    """Day, evening and night periods of consecutive local dates, with their covered time and dose.

    Row k is date ``first + k``; columns are day, evening, night. Periods are clipped to [a, b).
    """

    def __init__(self, timeline: _Timeline, first: date, last: date, periods: PeriodScheme, tz: str,
                 a: float = -math.inf, b: float = math.inf) -> None:
        zone = time_zone(tz)
        hours = _scheme(periods)
        self.days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
        n = len(self.days)
        # Period starts of every date, then the day start of the date after the last (the last night's end).
        cuts = np.empty(3 * n + 1)
        for k, day in enumerate([*self.days, last + timedelta(days=1)]):
            for j, hour in enumerate(hours if k < n else hours[:1]):
                cuts[3 * k + j] = datetime.combine(day, time(hour), tzinfo=zone).timestamp()
        self.cuts = cuts
        clipped = np.clip(cuts, a, b)
        covered, dose = timeline.segment_sums(clipped)
        self.covered = covered.reshape(n, 3)
        self.dose = dose.reshape(n, 3)
        self.span = np.diff(clipped).reshape(n, 3)
        self.hours = np.diff(cuts).reshape(n, 3) / 3600.0
        self.labels = _clock(periods)

    def levels(self, k: int) -> dict[str, Any]:
        """Lday, Levening, Lnight and Lden of row k, with the reason when Lden is undefined."""
        row: dict[str, Any] = {}
        missing = []
        for j, name in enumerate(PERIOD_NAMES):
            row[_LEVEL_KEYS[name]] = _level(float(self.dose[k, j]), float(self.covered[k, j]))
            if row[_LEVEL_KEYS[name]] is None:
                missing.append(f"{name} ({self.labels[name]})")
        if missing:
            row["Lden"] = None
            row["lden_reason"] = (f"Lden undefined for {self.days[k].isoformat()}: no data in the "
                                  + " and ".join(missing) + " period" + ("s" if len(missing) > 1 else ""))
        else:
            row["Lden"] = lden_from_levels(row["Lday"], row["Levening"], row["Lnight"])
            row["lden_reason"] = None
        return row

    def window(self, k: int) -> tuple[float, float]:
        """POSIX seconds of the start of row k's day period and the end of its night."""
        return float(self.cuts[3 * k]), float(self.cuts[3 * k + 3])


def daily_indicators(series: Series, start_day: date, end_day: date, periods: PeriodScheme = "fr",
                     tz: str = "Europe/Paris", *, max_gap: timedelta | None = None,
                     sample_duration: timedelta | None = None) -> list[dict[str, Any]]:
    """One row of indicators per local date from start_day to end_day inclusive.

    Each row covers the 24-h Lden cycle of its date (day period start to the end of the night
    that begins that evening): Lday, Levening, Lnight, Lden (None with ``lden_reason`` when a
    period has no data), LAeq, L10/L50/L90, samples, coverage overall and per period, and the
    actual period lengths in hours (the night is 7 or 9 h across a DST change).
    """
    if end_day < start_day:
        raise ValueError(f"end_day {end_day} is before start_day {start_day}")
    timeline = _Timeline(series, max_gap, sample_duration)
    table = _PeriodTable(timeline, start_day, end_day, periods, tz)
    rows = []
    for k, day in enumerate(table.days):
        ws, we = table.window(k)
        levels = table.levels(k)
        row: dict[str, Any] = {"day": day.isoformat(), "start": format_ts(datetime.fromtimestamp(ws, UTC)),
                               "end": format_ts(datetime.fromtimestamp(we, UTC))}
        row.update({key: levels[key] for key in ("Lday", "Levening", "Lnight", "Lden")})
        row.update(timeline.window(ws, we).stats(we - ws))
        for j, name in enumerate(PERIOD_NAMES):
            span = float(table.span[k, j])
            row[f"coverage_{name}"] = float(table.covered[k, j]) / span if span > 0 else 0.0
            row[f"hours_{name}"] = float(table.hours[k, j])
        row["lden_reason"] = levels["lden_reason"]
        rows.append(row)
    return rows


def lden_report(series: Series, start: datetime, end: datetime, periods: PeriodScheme = "fr",
                tz: str = "Europe/Paris", *, max_gap: timedelta | None = None,
                sample_duration: timedelta | None = None) -> dict[str, Any]:
    """Noise indicators over [start, end): LAeq, Lday/Levening/Lnight, Lden, L10/L50/L90, coverage.

    Lday/Levening/Lnight are energy averages over every slice of that period inside the range.
    Lden is the energy average of the daily Lden of each local date whose Lden cycle overlaps
    the range (periods clipped to the range); dates lacking data in a period are excluded and
    listed in ``lden_days_excluded``; ``lden_reason`` explains any exclusion or why Lden is None.
    ``daily`` lists, for each of those dates, its Lday, Levening, Lnight and Lden (periods clipped).
    """
    a, b = _epoch(start, "start"), _epoch(end, "end")
    if b <= a:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    zone = time_zone(tz)
    _scheme(periods)
    timeline = _Timeline(series, max_gap, sample_duration)
    report: dict[str, Any] = {"start": format_ts(start), "end": format_ts(end), "periods": periods, "tz": tz}
    report.update(timeline.window(a, b).stats(b - a))

    table = _PeriodTable(timeline, start.astimezone(zone).date() - timedelta(days=1),
                         end.astimezone(zone).date(), periods, tz, a, b)
    overlapping = [k for k in range(len(table.days)) if table.window(k)[0] < b and table.window(k)[1] > a]
    daily: list[dict[str, Any]] = []
    excluded: list[dict[str, str]] = []
    for k in overlapping:
        levels = table.levels(k)
        day = table.days[k].isoformat()
        daily.append({"day": day, **{key: levels[key] for key in ("Lday", "Levening", "Lnight", "Lden")}})
        if levels["Lden"] is None:
            excluded.append({"day": day, "reason": levels["lden_reason"]})
    for j, name in enumerate(PERIOD_NAMES):
        covered = float(table.covered[overlapping, j].sum())
        span = float(table.span[overlapping, j].sum())
        report[_LEVEL_KEYS[name]] = _level(float(table.dose[overlapping, j].sum()), covered)
        report[f"coverage_{name}"] = covered / span if span > 0 else 0.0
    lden_values = [row["Lden"] for row in daily if row["Lden"] is not None]
    report["Lden"] = energy_average((1.0, value) for value in lden_values)
    report["lden_days"] = len(lden_values)
    report["lden_days_excluded"] = excluded
    if not lden_values:
        report["lden_reason"] = ("Lden undefined: no local date in the range has data in all of its day, "
                                 "evening and night periods")
    elif excluded:
        report["lden_reason"] = (f"Lden is the energy average of {len(lden_values)} daily value(s); "
                                 f"{len(excluded)} date(s) excluded for missing periods")
    else:
        report["lden_reason"] = None
    report["daily"] = daily
    return report


def exceedances(daily_rows: Sequence[Mapping[str, Any]], lden_threshold: float = 53.0,
                lnight_threshold: float = 45.0) -> dict[str, Any]:
    """Days (and the long-term average) above the Lden / Lnight thresholds.

    Defaults are the WHO Environmental Noise Guidelines for the European Region (2018)
    road-traffic values: 53 dB Lden and 45 dB Lnight. A value exceeds when strictly above the
    threshold. The long-term values are energy averages of the daily values (each day weighs
    the same), which is what the WHO annual-average guideline values compare against.
    """
    lden_days = [(r["day"], r["Lden"]) for r in daily_rows if r.get("Lden") is not None]
    lnight_days = [(r["day"], r["Lnight"]) for r in daily_rows if r.get("Lnight") is not None]
    lden_mean = energy_average((1.0, v) for _, v in lden_days)
    lnight_mean = energy_average((1.0, v) for _, v in lnight_days)
    return {
        "lden_threshold": lden_threshold,
        "lnight_threshold": lnight_threshold,
        "days": len(daily_rows),
        "days_with_lden": len(lden_days),
        "days_with_lnight": len(lnight_days),
        "lden_exceedance_days": [d for d, v in lden_days if v > lden_threshold],
        "lnight_exceedance_days": [d for d, v in lnight_days if v > lnight_threshold],
        "lden_mean": lden_mean,
        "lnight_mean": lnight_mean,
        "lden_mean_exceeds": None if lden_mean is None else lden_mean > lden_threshold,
        "lnight_mean_exceeds": None if lnight_mean is None else lnight_mean > lnight_threshold,
    }

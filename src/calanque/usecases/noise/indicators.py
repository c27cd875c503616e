"""Environmental noise indicators computed from a series of LAeq samples.

Input series are ``Sequence[tuple[datetime, float]]``: aware datetimes (any zone, any order)
and A-weighted equivalent levels in dB(A), one per sample, at any sampling interval.

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
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from statistics import median
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calanque.ngsild.canonical import format_ts

PeriodScheme = Literal["fr", "eu"]

# Start hour (local) of the day, evening and night periods for each scheme.
PERIOD_SCHEMES: Mapping[str, tuple[int, int, int]] = {"fr": (6, 18, 22), "eu": (7, 19, 23)}
PERIOD_NAMES = ("day", "evening", "night")
# Directive 2002/49/EC Annex I: nominal period lengths (hours) and penalties (dB).
NOMINAL_HOURS: Mapping[str, float] = {"day": 12.0, "evening": 4.0, "night": 8.0}
PENALTY_DB: Mapping[str, float] = {"day": 0.0, "evening": 5.0, "night": 10.0}
_LEVEL_KEYS = {"day": "Lday", "evening": "Levening", "night": "Lnight"}

Series = Sequence[tuple[datetime, float]]


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


def _zone(tz: str) -> ZoneInfo:
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


class _Timeline:
    """Non-overlapping sample intervals sorted by time (POSIX seconds)."""

    def __init__(self, series: Iterable[tuple[datetime, float]], max_gap: timedelta | None,
                 sample_duration: timedelta | None) -> None:
        if max_gap is not None and sample_duration is not None:
            raise ValueError("pass either max_gap or sample_duration, not both: "
                             "with an explicit sample_duration no gap detection is needed")
        gap_s = _seconds(max_gap, "max_gap")
        fixed_s = _seconds(sample_duration, "sample_duration")
        points: list[tuple[float, float]] = []
        for index, item in enumerate(series):
            try:
                when, level = item
            except (TypeError, ValueError):
                raise ValueError(f"sample #{index} must be a (datetime, level) pair, got {item!r}") from None
            level = float(level)
            if not math.isfinite(level):
                raise ValueError(f"sample #{index} at {when} has a non-finite level {level}")
            points.append((_epoch(when, f"sample #{index} timestamp"), level))
        points.sort(key=lambda p: p[0])
        stamps = [p[0] for p in points]
        steps = [b - a for a, b in pairwise(stamps) if b > a]
        if fixed_s is not None:
            nominal, cap = fixed_s, math.inf
        elif steps:
            nominal = median(steps)
            cap = gap_s if gap_s is not None else 3.0 * nominal
            nominal = min(nominal, cap)
        else:
            nominal, cap = 0.0, 0.0
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.levels: list[float] = []
        for i, (start, level) in enumerate(points):
            if i + 1 < len(points):
                step = stamps[i + 1] - start
                if fixed_s is not None:
                    duration = min(step, fixed_s)
                else:
                    duration = step if step <= cap else nominal
            else:
                duration = nominal
            if duration > 0:
                self.starts.append(start)
                self.ends.append(start + duration)
                self.levels.append(level)

    def clip(self, a: float, b: float) -> list[tuple[float, float]]:
        """Return (duration, level) of every interval overlapping [a, b), clipped to it."""
        out: list[tuple[float, float]] = []
        i = bisect_right(self.ends, a)
        while i < len(self.starts) and self.starts[i] < b:
            d = min(self.ends[i], b) - max(self.starts[i], a)
            if d > 0:
                out.append((d, self.levels[i]))
            i += 1
        return out


def energy_average(levels: Iterable[tuple[float, float]]) -> float | None:
    """Duration-weighted energy average 10·log10(Σ w·10^(L/10) / Σ w) of (weight, level) pairs."""
    pairs = list(levels)
    total = math.fsum(w for w, _ in pairs)
    if total <= 0:
        return None
    return 10.0 * math.log10(math.fsum(w * 10.0 ** (lvl / 10.0) for w, lvl in pairs) / total)


def exceeded_level(pairs: Sequence[tuple[float, float]], percent: float) -> float | None:
    """Level exceeded during `percent` % of the time, from (duration, level) pairs."""
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be within 0..100, got {percent}")
    total = math.fsum(d for d, _ in pairs)
    if total <= 0:
        return None
    target = (1.0 - percent / 100.0) * total - 1e-9 * total
    cumulated = 0.0
    ordered = sorted(pairs, key=lambda p: p[1])
    for duration, level in ordered:
        cumulated += duration
        if cumulated >= target:
            return level
    return ordered[-1][1]


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
    zone = _zone(tz)
    day_h, evening_h, night_h = _scheme(periods)
    nxt = day + timedelta(days=1)

    def at(d: date, hour: int) -> datetime:
        return datetime.combine(d, time(hour), tzinfo=zone).astimezone(UTC)

    return {
        "day": (at(day, day_h), at(day, evening_h)),
        "evening": (at(day, evening_h), at(day, night_h)),
        "night": (at(day, night_h), at(nxt, day_h)),
    }


def laeq(series: Series, start: datetime, end: datetime, *, max_gap: timedelta | None = None,
         sample_duration: timedelta | None = None) -> float | None:
    """Duration-weighted LAeq (dB) over the covered part of [start, end); None when nothing is covered."""
    a, b = _epoch(start, "start"), _epoch(end, "end")
    if b <= a:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    return energy_average(_Timeline(series, max_gap, sample_duration).clip(a, b))


def _window_stats(pairs: Sequence[tuple[float, float]], span: float) -> dict[str, Any]:
    """LAeq, percentile levels, sample count and coverage of clipped (duration, level) pairs."""
    covered = math.fsum(d for d, _ in pairs)
    return {
        "LAeq": energy_average(pairs),
        "L10": exceeded_level(pairs, 10),
        "L50": exceeded_level(pairs, 50),
        "L90": exceeded_level(pairs, 90),
        "samples": len(pairs),
        "coverage": covered / span if span > 0 else 0.0,
    }


def _clock(periods: str) -> dict[str, str]:
    """Human labels of the periods, e.g. {'night': '22:00-06:00'}."""
    day_h, evening_h, night_h = _scheme(periods)
    bounds = {"day": (day_h, evening_h), "evening": (evening_h, night_h), "night": (night_h, day_h)}
    return {name: f"{s:02d}:00-{e:02d}:00" for name, (s, e) in bounds.items()}


def _day_levels(timeline: _Timeline, day: date, periods: PeriodScheme, tz: str, a: float, b: float
                ) -> dict[str, Any]:
    """Per-period levels and Lden of one local date, with periods clipped to [a, b)."""
    bounds = period_bounds(day, periods, tz)
    labels = _clock(periods)
    row: dict[str, Any] = {"pairs": {}, "span": {}, "covered": {}}
    missing = []
    for name in PERIOD_NAMES:
        ps, pe = bounds[name][0].timestamp(), bounds[name][1].timestamp()
        lo, hi = max(ps, a), min(pe, b)
        pairs = timeline.clip(lo, hi) if hi > lo else []
        row["pairs"][name] = pairs
        row["span"][name] = max(hi - lo, 0.0)
        row["covered"][name] = math.fsum(d for d, _ in pairs)
        row[_LEVEL_KEYS[name]] = energy_average(pairs)
        row[f"hours_{name}"] = (pe - ps) / 3600.0
        if row[_LEVEL_KEYS[name]] is None:
            missing.append(f"{name} ({labels[name]})")
    if missing:
        row["Lden"] = None
        row["lden_reason"] = (f"Lden undefined for {day.isoformat()}: no data in the "
                              + " and ".join(missing) + " period" + ("s" if len(missing) > 1 else ""))
    else:
        row["Lden"] = lden_from_levels(row["Lday"], row["Levening"], row["Lnight"])
        row["lden_reason"] = None
    row["window"] = (bounds["day"][0], bounds["night"][1])
    return row


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
    rows = []
    day = start_day
    while day <= end_day:
        levels = _day_levels(timeline, day, periods, tz, -math.inf, math.inf)
        ws, we = levels["window"]
        stats = _window_stats(timeline.clip(ws.timestamp(), we.timestamp()), (we - ws).total_seconds())
        row: dict[str, Any] = {"day": day.isoformat(), "start": format_ts(ws), "end": format_ts(we)}
        row.update({key: levels[key] for key in ("Lday", "Levening", "Lnight", "Lden")})
        row.update(stats)
        for name in PERIOD_NAMES:
            span = levels["span"][name]
            row[f"coverage_{name}"] = levels["covered"][name] / span if span > 0 else 0.0
            row[f"hours_{name}"] = levels[f"hours_{name}"]
        row["lden_reason"] = levels["lden_reason"]
        rows.append(row)
        day += timedelta(days=1)
    return rows


def lden_report(series: Series, start: datetime, end: datetime, periods: PeriodScheme = "fr",
                tz: str = "Europe/Paris", *, max_gap: timedelta | None = None,
                sample_duration: timedelta | None = None) -> dict[str, Any]:
    """Noise indicators over [start, end): LAeq, Lday/Levening/Lnight, Lden, L10/L50/L90, coverage.

    Lday/Levening/Lnight are energy averages over every slice of that period inside the range.
    Lden is the energy average of the daily Lden of each local date whose Lden cycle overlaps
    the range (periods clipped to the range); dates lacking data in a period are excluded and
    listed in ``lden_days_excluded``; ``lden_reason`` explains any exclusion or why Lden is None.
    """
    a, b = _epoch(start, "start"), _epoch(end, "end")
    if b <= a:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")
    zone = _zone(tz)
    _scheme(periods)
    timeline = _Timeline(series, max_gap, sample_duration)
    report: dict[str, Any] = {"start": format_ts(start), "end": format_ts(end), "periods": periods, "tz": tz}
    report.update(_window_stats(timeline.clip(a, b), b - a))

    pooled: dict[str, list[tuple[float, float]]] = {name: [] for name in PERIOD_NAMES}
    spans = dict.fromkeys(PERIOD_NAMES, 0.0)
    covered = dict.fromkeys(PERIOD_NAMES, 0.0)
    daily: list[float] = []
    excluded: list[dict[str, str]] = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        levels = _day_levels(timeline, day, periods, tz, a, b)
        ws, we = levels["window"]
        if ws.timestamp() < b and we.timestamp() > a:
            for name in PERIOD_NAMES:
                pooled[name].extend(levels["pairs"][name])
                spans[name] += levels["span"][name]
                covered[name] += levels["covered"][name]
            if levels["Lden"] is None:
                excluded.append({"day": day.isoformat(), "reason": levels["lden_reason"]})
            else:
                daily.append(levels["Lden"])
        day += timedelta(days=1)

    for name in PERIOD_NAMES:
        report[_LEVEL_KEYS[name]] = energy_average(pooled[name])
        report[f"coverage_{name}"] = covered[name] / spans[name] if spans[name] > 0 else 0.0
    report["Lden"] = energy_average((1.0, value) for value in daily)
    report["lden_days"] = len(daily)
    report["lden_days_excluded"] = excluded
    if not daily:
        report["lden_reason"] = ("Lden undefined: no local date in the range has data in all of its day, "
                                 "evening and night periods")
    elif excluded:
        report["lden_reason"] = (f"Lden is the energy average of {len(daily)} daily value(s); "
                                 f"{len(excluded)} date(s) excluded for missing periods")
    else:
        report["lden_reason"] = None
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

"""Bike and pedestrian counts: calendar totals, weekly profiles, year comparisons, totem display.

The input is a sequence of :class:`CountRecord`: the number of passages counted in one
direction during a half-open interval ``[start, end)``, as read from the temporal history of
``TrafficFlowObserved`` (bikes, ``intensity``) or ``CrowdFlowObserved`` (pedestrians,
``peopleCount``) entities. Counters count passages; nothing here identifies anyone.

Conventions shared by every function:

* **Local calendar.** Buckets follow the local calendar of ``tz`` (default ``Europe/Paris``):
  a day runs from local midnight to the next local midnight, so the spring-forward day
  (e.g. 2026-03-29) lasts 23 h and the fall-back day (2026-10-25) 25 h. Weeks are ISO weeks
  starting on Monday; months are calendar months. Hour buckets are consecutive elapsed hours
  aligned on local hour boundaries: on the fall-back day the local hour 02:00 appears twice
  (once at +02:00, once at +01:00), and on the spring-forward day there is no 02:00 bucket.
  This assumes the zone's offsets are whole hours, as in France.
* **Straddling records are split proportionally to time.** A record overlapping several
  buckets (or the edge of the requested window) contributes ``count * overlap / duration``
  to each, where durations are elapsed (UTC) seconds. A 1 h record 23:30-00:30 holding 10
  passages gives 5 to each day. Totals can therefore be fractional.
* **Gaps are not zeros.** A bucket that no record overlaps has no data: its ``total`` is
  ``None`` and its ``counts`` are empty. A record holding 0 passages *is* data.
* **Directions.** A bucket lists only the directions that have a record overlapping it.
* **Windows** are half-open ``[start, end)`` of timezone-aware datetimes. Records are assumed
  not to overlap each other within one direction (one counter channel); duplicates would be
  counted twice.
* Returned datetimes are expressed in ``tz``.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_TZ",
    "STEPS",
    "CountRecord",
    "Step",
    "aggregate",
    "busiest",
    "display",
    "weekday_hour_profile",
    "year_on_year",
    "year_to_date",
]

Step = Literal["hour", "day", "week", "month"]
STEPS: tuple[Step, ...] = ("hour", "day", "week", "month")
DEFAULT_TZ = "Europe/Paris"


@dataclass(frozen=True, slots=True)
class CountRecord:
    """Passages counted in one direction during the half-open interval [start, end).

    ``count`` is an integer from a counter; a decimal is accepted because the national
    open-data schema allows interpolated values.
    """

    start: datetime
    end: datetime
    direction: str
    count: float

    def __post_init__(self) -> None:
        """Reject naive datetimes, empty intervals and negative or non-finite counts."""
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise ValueError(
                    f"CountRecord.{name} must be a timezone-aware datetime, got {value!r}; "
                    "attach a zone (e.g. datetime(..., tzinfo=UTC))"
                )
        if self.end <= self.start:
            raise ValueError(
                f"CountRecord end {self.end.isoformat()} must be after start {self.start.isoformat()}"
            )
        if isinstance(self.count, bool) or not isinstance(self.count, int | float):
            raise ValueError(f"CountRecord.count must be a number, got {self.count!r}")
        if not math.isfinite(self.count) or self.count < 0:
            raise ValueError(f"CountRecord.count must be a finite number >= 0, got {self.count!r}")


def _zone(tz: str) -> ZoneInfo:
    """Return the IANA zone named ``tz`` or raise a ValueError naming the expected form."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}; expected an IANA name such as 'Europe/Paris'") from None


def _check_aware(value: datetime, name: str) -> None:
    """Raise a ValueError when ``value`` is not a timezone-aware datetime."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


def _check_window(start: datetime, end: datetime) -> None:
    """Raise a ValueError unless [start, end) is a non-empty window of aware datetimes."""
    _check_aware(start, "start")
    _check_aware(end, "end")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} must be after start {start.isoformat()}")


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Return the local start of ``day`` in ``zone``."""
    return datetime.combine(day, time(0), tzinfo=zone)


def _first_of_next_month(day: date) -> date:
    """Return the first day of the month after the month of ``day``."""
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _edges(start: datetime, end: datetime, step: Step, zone: ZoneInfo) -> list[datetime]:
    """Return the local bucket boundaries covering [start, end): b0 <= start < ... < bn >= end."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; expected one of {', '.join(STEPS)}")
    local_start = start.astimezone(zone)
    if step == "hour":
        first = local_start.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        edges = [first]
        while edges[-1] < end:
            edges.append(edges[-1] + timedelta(hours=1))
        return [edge.astimezone(zone) for edge in edges]
    day = local_start.date()
    if step == "week":
        day -= timedelta(days=day.weekday())
    elif step == "month":
        day = day.replace(day=1)
    edges = [_local_midnight(day, zone)]
    while edges[-1] < end:
        if step == "day":
            day += timedelta(days=1)
        elif step == "week":
            day += timedelta(days=7)
        else:
            day = _first_of_next_month(day)
        edges.append(_local_midnight(day, zone))
    return edges


def _distribute(
    records: Iterable[CountRecord], edges: Sequence[datetime], start: datetime, end: datetime
) -> list[dict[str, float] | None]:
    """Split each record over the buckets between consecutive ``edges``, within [start, end).

    Returns, per bucket, the count per direction, or None when no record overlaps the bucket.
    """
    bounds = [edge.timestamp() for edge in edges]
    window_start, window_end = start.timestamp(), end.timestamp()
    buckets: list[dict[str, float] | None] = [None] * (len(bounds) - 1)
    for record in records:
        rec_start, rec_end = record.start.timestamp(), record.end.timestamp()
        lo, hi = max(rec_start, window_start), min(rec_end, window_end)
        if hi <= lo:
            continue
        per_second = record.count / (rec_end - rec_start)
        index = max(bisect_right(bounds, lo) - 1, 0)
        while index < len(buckets) and bounds[index] < hi:
            overlap = min(hi, bounds[index + 1]) - max(lo, bounds[index])
            if overlap > 0:
                bucket = buckets[index]
                if bucket is None:
                    bucket = buckets[index] = {}
                bucket[record.direction] = bucket.get(record.direction, 0.0) + per_second * overlap
            index += 1
    return buckets


def _total(records: Iterable[CountRecord], start: datetime, end: datetime) -> float | None:
    """Return the total count within [start, end), or None when no record overlaps it."""
    (bucket,) = _distribute(records, [start, end], start, end)
    return None if bucket is None else sum(bucket.values())


def aggregate(
    records: Iterable[CountRecord],
    start: datetime,
    end: datetime,
    step: Step,
    tz: str = DEFAULT_TZ,
) -> list[dict[str, Any]]:
    """Return counts per direction and in total for each local calendar bucket of [start, end).

    Each item is ``{"start", "end", "counts": {direction: count}, "total"}`` where ``start``
    and ``end`` are the bucket's full local calendar bounds; only the part of a bucket inside
    [start, end) is counted. ``total`` is None (and ``counts`` empty) when no record overlaps
    the bucket. Records straddling a boundary are split proportionally to time.
    """
    _check_window(start, end)
    zone = _zone(tz)
    edges = _edges(start, end, step, zone)
    buckets = _distribute(records, edges, start, end)
    result: list[dict[str, Any]] = []
    for index, bucket in enumerate(buckets):
        counts = {} if bucket is None else {key: bucket[key] for key in sorted(bucket)}
        result.append(
            {
                "start": edges[index],
                "end": edges[index + 1],
                "counts": counts,
                "total": None if bucket is None else sum(counts.values()),
            }
        )
    return result


def weekday_hour_profile(
    records: Iterable[CountRecord], start: datetime, end: datetime, tz: str = DEFAULT_TZ
) -> list[dict[str, Any]]:
    """Return the average hourly count (all directions) per local (weekday, hour) over [start, end).

    Convention: each cell averages the local hour buckets of that weekday and hour that have
    data (at least one record overlapping them); hours without any record are left out
    rather than counted as zero, so a counter outage does not drag the average down. The
    fall-back day's repeated 02:00 hour contributes two samples. Returns 168 items
    ``{"weekday": 0-6 (Monday=0), "hour": 0-23, "average": float | None, "samples": int}``
    ordered by weekday then hour; ``average`` is None when a cell has no sample.
    """
    hours = aggregate(records, start, end, "hour", tz)
    sums: dict[tuple[int, int], float] = {}
    samples: dict[tuple[int, int], int] = {}
    for bucket in hours:
        if bucket["total"] is None:
            continue
        key = (bucket["start"].weekday(), bucket["start"].hour)
        sums[key] = sums.get(key, 0.0) + bucket["total"]
        samples[key] = samples.get(key, 0) + 1
    profile: list[dict[str, Any]] = []
    for weekday in range(7):
        for hour in range(24):
            n = samples.get((weekday, hour), 0)
            average = sums[(weekday, hour)] / n if n else None
            profile.append({"weekday": weekday, "hour": hour, "average": average, "samples": n})
    return profile


def _start_of_year(moment: datetime, zone: ZoneInfo) -> datetime:
    """Return local midnight on 1 January of the local year of ``moment``."""
    return _local_midnight(date(moment.astimezone(zone).year, 1, 1), zone)


def _same_moment_last_year(moment: datetime, zone: ZoneInfo) -> datetime:
    """Return the same local date and wall-clock time one year earlier; 29 February maps to 28."""
    local = moment.astimezone(zone)
    try:
        return local.replace(year=local.year - 1)
    except ValueError:
        return local.replace(year=local.year - 1, day=28)


def year_to_date(records: Iterable[CountRecord], now: datetime, tz: str = DEFAULT_TZ) -> float:
    """Return the total count (all directions) from local 1 January of ``now``'s year up to ``now``.

    Returns 0.0 when no record falls in that period.
    """
    _check_aware(now, "now")
    zone = _zone(tz)
    total = _total(records, _start_of_year(now, zone), now)
    return 0.0 if total is None else total


def year_on_year(records: Iterable[CountRecord], now: datetime, tz: str = DEFAULT_TZ) -> dict[str, Any]:
    """Compare the year-to-date total with the same period of the previous year.

    The previous period runs from local 1 January of the previous year to the same local
    date and time one year before ``now``. Convention for 29 February: the same calendar
    dates are compared, so a leap year's period contains one more day than the previous
    year's, and ``now`` on 29 February maps to 28 February at the same time. Returns
    ``{"current", "previous", "change_percent", "current_start", "current_end",
    "previous_start", "previous_end"}``; ``previous`` is None when no record overlaps the
    previous period, and ``change_percent`` is None when ``previous`` is None or zero.
    """
    _check_aware(now, "now")
    zone = _zone(tz)
    records = list(records)
    current_start = _start_of_year(now, zone)
    previous_end = _same_moment_last_year(now, zone)
    previous_start = _start_of_year(previous_end, zone)
    current = _total(records, current_start, now) or 0.0
    previous = _total(records, previous_start, previous_end)
    change = None if not previous else (current - previous) / previous * 100.0
    return {
        "current": current,
        "previous": previous,
        "change_percent": change,
        "current_start": current_start,
        "current_end": now.astimezone(zone),
        "previous_start": previous_start,
        "previous_end": previous_end,
    }


def busiest(
    records: Iterable[CountRecord], start: datetime, end: datetime, tz: str = DEFAULT_TZ
) -> dict[str, dict[str, Any] | None]:
    """Return the busiest local hour and busiest local day of [start, end) with their totals.

    Returns ``{"hour": {"start", "end", "count"} | None, "day": {...} | None}`` (None when no
    data). Ties go to the earliest bucket.
    """
    records = list(records)
    result: dict[str, dict[str, Any] | None] = {}
    for name, step in (("hour", "hour"), ("day", "day")):
        with_data = [b for b in aggregate(records, start, end, step, tz) if b["total"] is not None]
        if not with_data:
            result[name] = None
            continue
        top = max(with_data, key=lambda b: b["total"])
        result[name] = {"start": top["start"], "end": top["end"], "count": top["total"]}
    return result


def display(records: Iterable[CountRecord], now: datetime, tz: str = DEFAULT_TZ) -> dict[str, Any]:
    """Return what a street totem shows: today's count, this year's count, last update time.

    ``today`` counts from local midnight to ``now`` and ``year`` from local 1 January to
    ``now`` (both 0.0 without data, all directions). ``last_update`` is the end of the latest
    record that ended at or before ``now``, in ``tz``, or None when there is none.
    """
    _check_aware(now, "now")
    zone = _zone(tz)
    records = list(records)
    midnight = _local_midnight(now.astimezone(zone).date(), zone)
    ended = [record.end for record in records if record.end <= now]
    return {
        "today": _total(records, midnight, now) or 0.0,
        "year": year_to_date(records, now, tz),
        "last_update": max(ended).astimezone(zone) if ended else None,
    }

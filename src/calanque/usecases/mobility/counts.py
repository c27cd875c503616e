"""Bike and pedestrian counts: calendar totals, weekly profiles, year comparisons, totem display.

The input is a sequence of :class:`CountRecord`: the number of passages counted in one
direction during a half-open interval ``[start, end)``, as read from the temporal history of
``TrafficFlowObserved`` (bikes, ``intensity``) or ``CrowdFlowObserved`` (pedestrians,
``peopleCount``) entities, or the same records held column-wise in a :class:`CountArrays`
(what the HTTP API builds from the store: one year of 1-minute counts is 525 600 records per
direction, so every computation is vectorised with numpy). Counters count passages; nothing
here identifies anyone.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

__all__ = [
    "DEFAULT_TZ",
    "STEPS",
    "CountArrays",
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


@dataclass(frozen=True, slots=True, eq=False)
class CountArrays:
    """Count records held column-wise, sorted by direction then start time.

    Record i counted ``count[i]`` passages in direction ``directions[direction[i]]`` during
    [``start[i]``, ``end[i]``) (epoch seconds, float64). The records of direction d are
    ``offsets[d]:offsets[d + 1]``; ``disjoint`` tells whether, in every direction, each record
    ends before the next one starts (a counter channel's normal history), which lets every
    computation work on cumulative sums instead of splitting each record.

    Build it with :meth:`from_records` or :meth:`from_samples`; both check what
    :class:`CountRecord` checks (non-empty intervals, finite counts >= 0).
    """

    start: np.ndarray
    end: np.ndarray
    count: np.ndarray
    direction: np.ndarray
    directions: tuple[str, ...]
    offsets: np.ndarray
    disjoint: bool

    def __len__(self) -> int:
        """The number of records."""
        return int(self.start.shape[0])

    @classmethod
    def _sorted(
        cls, start: np.ndarray, end: np.ndarray, count: np.ndarray, direction: np.ndarray, names: tuple[str, ...]
    ) -> CountArrays:
        """Sort the columns by (direction, start) and work out the direction offsets and disjointness."""
        new_direction = direction[1:] != direction[:-1]
        if not np.all((direction[1:] > direction[:-1]) | (~new_direction & (start[1:] >= start[:-1]))):
            order = np.lexsort((start, direction))
            start, end, count, direction = start[order], end[order], count[order], direction[order]
            new_direction = direction[1:] != direction[:-1]
        offsets = np.searchsorted(direction, np.arange(len(names) + 1), side="left")
        disjoint = bool(np.all(new_direction | (end[:-1] <= start[1:])))
        return cls(start, end, count, direction, names, offsets, disjoint)

    @classmethod
    def from_records(cls, records: Iterable[CountRecord]) -> CountArrays:
        """Column-wise copy of :class:`CountRecord` objects (already validated)."""
        records = list(records)
        names = tuple(sorted({r.direction for r in records}))
        index = {name: i for i, name in enumerate(names)}
        return cls._sorted(
            np.fromiter((r.start.timestamp() for r in records), np.float64, len(records)),
            np.fromiter((r.end.timestamp() for r in records), np.float64, len(records)),
            np.fromiter((float(r.count) for r in records), np.float64, len(records)),
            np.fromiter((index[r.direction] for r in records), np.int64, len(records)),
            names,
        )

    @classmethod
    def from_samples(cls, samples: Mapping[str, tuple[Any, Any]], period_s: float,
                     summaries: Mapping[str, tuple[Any, Any, Any, Any, Any]] | None = None) -> CountArrays:
        """Records from timestamped samples: ``{direction: (end times in epoch µs, counts)}``.

        Each sample covers the ``period_s`` seconds ending at its time (the NGSI-LD convention
        for counts: ``observedAt`` is the end of the counting interval). ``summaries`` gives more
        samples of a direction as whole hours, ``(first µs, first count, last µs, sum of the others,
        number of samples)`` arrays: the first sample is a record as above, the others, which lie
        between the first and the last sample, one record from the first to the last sample (so
        every bucket made of whole hours gets the same counts). Raises ValueError naming the first
        negative or non-finite count.
        """
        if not (math.isfinite(period_s) and period_s > 0):
            raise ValueError(f"the counting period must be a positive number of seconds, got {period_s!r}")
        summaries = summaries or {}
        names = tuple(sorted(set(samples) | set(summaries)))
        starts, ends, counts, dirs = [], [], [], []
        for i, name in enumerate(names):
            times, values = samples.get(name, ((), ()))
            end = np.asarray(times, dtype=np.float64) / 1e6
            value = np.asarray(values, dtype=np.float64)
            if end.shape != value.shape:
                raise ValueError(f"direction '{name}': {end.size} times but {value.size} counts")
            pieces = [(end - period_s, end, value)]
            if name in summaries:
                first, first_count, last, rest, n = (np.asarray(a) for a in summaries[name])
                first_s, last_s = first.astype(np.float64) / 1e6, last.astype(np.float64) / 1e6
                pieces.append((first_s - period_s, first_s, first_count.astype(np.float64)))
                inner = n > 1
                pieces.append((first_s[inner], last_s[inner], rest[inner].astype(np.float64)))
            start = np.concatenate([p[0] for p in pieces])
            end = np.concatenate([p[1] for p in pieces])
            value = np.concatenate([p[2] for p in pieces])
            bad = ~np.isfinite(value) | (value < 0)
            if bad.any():
                at = int(np.argmax(bad))
                moment = datetime.fromtimestamp(end[at], UTC).isoformat()
                raise ValueError(
                    f"direction '{name}': the count at {moment} is {float(value[at])!r}; counts must be finite and >= 0"
                )
            starts.append(start)
            ends.append(end)
            counts.append(value)
            dirs.append(np.full(end.size, i, dtype=np.int64))
        if not names:
            empty = np.empty(0, dtype=np.float64)
            return cls._sorted(empty, empty, empty, np.empty(0, dtype=np.int64), ())
        return cls._sorted(np.concatenate(starts), np.concatenate(ends), np.concatenate(counts),
                           np.concatenate(dirs), names)


Records = Iterable[CountRecord] | CountArrays


def _arrays(records: Records) -> CountArrays:
    """The records as a :class:`CountArrays` (returned as is when they already are one)."""
    return records if isinstance(records, CountArrays) else CountArrays.from_records(records)


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


def _edges(start: datetime, end: datetime, step: Step, zone: ZoneInfo) -> np.ndarray:
    """Return the bucket boundaries covering [start, end) as epoch seconds: b0 <= start < ... < bn >= end."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}; expected one of {', '.join(STEPS)}")
    if step == "hour":
        # Whole-hour offsets: local hour boundaries are UTC hour boundaries.
        local_hour = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        first = local_hour.timestamp()
        count = max(math.ceil((end.timestamp() - first) / 3600.0), 1)
        return first + 3600.0 * np.arange(count + 1, dtype=np.float64)
    day = start.astimezone(zone).date()
    if step == "week":
        day -= timedelta(days=day.weekday())
    elif step == "month":
        day = day.replace(day=1)
    edges = [_local_midnight(day, zone).timestamp()]
    end_ts = end.timestamp()
    while edges[-1] < end_ts:
        if step == "day":
            day += timedelta(days=1)
        elif step == "week":
            day += timedelta(days=7)
        else:
            day = _first_of_next_month(day)
        edges.append(_local_midnight(day, zone).timestamp())
    return np.asarray(edges, dtype=np.float64)


def _local(moments: np.ndarray, zone: ZoneInfo) -> list[datetime]:
    """Epoch seconds as aware datetimes in ``zone``."""
    return [datetime.fromtimestamp(float(t), zone) for t in moments]


def _distribute(
    arrays: CountArrays, bounds: np.ndarray, start: float, end: float
) -> tuple[np.ndarray, np.ndarray]:
    """Split each record over the buckets between consecutive ``bounds``, within [start, end).

    Returns ``(mass, present)``, two arrays of shape (directions, buckets): the count of each
    direction in each bucket, and whether any record of that direction overlaps the bucket.
    """
    if arrays.disjoint:
        return _cumulative(arrays, bounds, start, end)
    return _split(arrays, bounds, start, end)


def _cumulative(
    arrays: CountArrays, bounds: np.ndarray, start: float, end: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_distribute` for disjoint records: differences of the cumulative count at the bounds.

    Within one direction, records sorted by start and not overlapping each other, the count
    up to moment x is the sum of the records ended by x plus the elapsed fraction of the one
    record that may be running at x; a bucket's count is the difference at its two (window-
    clipped) bounds. Whole records add exactly, so integer counts give integer totals.
    """
    n_dirs, n_buckets = len(arrays.directions), bounds.size - 1
    mass = np.zeros((n_dirs, n_buckets), dtype=np.float64)
    present = np.zeros((n_dirs, n_buckets), dtype=bool)
    if n_buckets <= 0:
        return mass, present
    x = np.clip(bounds, start, end)
    for d in range(n_dirs):
        lo, hi = int(arrays.offsets[d]), int(arrays.offsets[d + 1])
        if hi == lo:
            continue
        rec_start, rec_end, count = arrays.start[lo:hi], arrays.end[lo:hi], arrays.count[lo:hi]
        before = np.concatenate(([0.0], np.cumsum(count)))
        running = np.searchsorted(rec_start, x, side="right") - 1  # last record started at or before x
        at = np.clip(running, 0, None)
        elapsed = np.clip((x - rec_start[at]) / (rec_end[at] - rec_start[at]), 0.0, 1.0)
        upto = np.where(running >= 0, before[at] + np.where(elapsed == 1.0, count[at], count[at] * elapsed), 0.0)
        mass[d] = np.diff(upto)
        # Records overlapping (x_k, x_k+1): those started before x_k+1 minus those ended by x_k.
        overlapping = np.searchsorted(rec_start, x[1:], side="left") - np.searchsorted(rec_end, x[:-1], side="right")
        present[d] = (overlapping > 0) & (x[1:] > x[:-1])
    return mass, present


def _split(arrays: CountArrays, bounds: np.ndarray, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_distribute` for records that may overlap: each record is split over its buckets."""
    n_dirs, n_buckets = len(arrays.directions), bounds.size - 1
    mass = np.zeros((n_dirs, n_buckets), dtype=np.float64)
    present = np.zeros((n_dirs, n_buckets), dtype=bool)
    if len(arrays) == 0 or n_buckets <= 0:
        return mass, present
    lo = np.maximum(arrays.start, max(start, bounds[0]))
    hi = np.minimum(arrays.end, min(end, bounds[-1]))
    keep = hi > lo
    rec_start, rec_end, count, direction = arrays.start, arrays.end, arrays.count, arrays.direction
    if not keep.all():
        lo, hi, rec_start, rec_end = lo[keep], hi[keep], rec_start[keep], rec_end[keep]
        count, direction = count[keep], direction[keep]
    if lo.size == 0:
        return mass, present
    first, last = _bucket_range(bounds, lo, hi)
    duration = rec_end - rec_start
    size = n_dirs * n_buckets
    flat = mass.reshape(-1)
    # The part of each record in its first bucket: all of it when it lies wholly inside one bucket.
    head_end = np.minimum(hi, bounds[first + 1])
    part = count.copy()
    partial = np.nonzero((lo != rec_start) | (head_end != rec_end))[0]
    part[partial] = count[partial] * ((head_end[partial] - lo[partial]) / duration[partial])
    flat += np.bincount(direction * n_buckets + first, weights=part, minlength=size)
    multi = np.nonzero(last > first)[0]
    if multi.size:
        f, la, row = first[multi], last[multi], direction[multi]
        rate = count[multi] / duration[multi]
        flat += np.bincount(row * n_buckets + la, weights=rate * (hi[multi] - bounds[la]), minlength=size)
        # Whole buckets strictly between first and last: rate * bucket width, via a difference array.
        inner = np.nonzero(la - f > 1)[0]
        if inner.size:
            stride = n_buckets + 1
            deltas = np.bincount(row[inner] * stride + f[inner] + 1, weights=rate[inner], minlength=n_dirs * stride)
            deltas -= np.bincount(row[inner] * stride + la[inner], weights=rate[inner], minlength=n_dirs * stride)
            mass += np.cumsum(deltas.reshape(n_dirs, stride), axis=1)[:, :n_buckets] * np.diff(bounds)
    # Presence: +1 from the first to the last bucket of each record.
    stride = n_buckets + 1
    marks = np.bincount(direction * stride + first, minlength=n_dirs * stride)
    marks -= np.bincount(direction * stride + last + 1, minlength=n_dirs * stride)
    present = np.cumsum(marks.reshape(n_dirs, stride), axis=1)[:, :n_buckets] > 0
    return mass, present


def _bucket_range(bounds: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each [lo, hi) inside the bounds: the bucket holding lo and the last bucket starting before hi.

    Uniform bounds (hours) are found by arithmetic. Calendar bounds (local midnights) fall on
    whole UTC hours (quarter hours in a few zones): the record's hour is found by arithmetic,
    then its bucket in a table of hours, instead of a binary search per record.
    """
    widths = np.diff(bounds)
    n_buckets = widths.size
    if np.all(widths == widths[0]):
        first = np.floor((lo - bounds[0]) / widths[0]).astype(np.int64)
        last = np.ceil((hi - bounds[0]) / widths[0]).astype(np.int64) - 1
        return np.clip(first, 0, n_buckets - 1), np.clip(last, 0, n_buckets - 1)
    grid = next((g for g in (3600.0, 900.0) if np.all(np.fmod(bounds, g) == 0)), None)
    if grid is None:
        return np.searchsorted(bounds, lo, side="right") - 1, np.searchsorted(bounds, hi, side="left") - 1
    bucket_of = np.repeat(np.arange(n_buckets), np.rint(widths / grid).astype(np.int64))
    top = bucket_of.size - 1
    first = np.clip(np.floor((lo - bounds[0]) / grid).astype(np.int64), 0, top)
    last = np.clip(np.ceil((hi - bounds[0]) / grid).astype(np.int64) - 1, 0, top)
    return bucket_of[first], bucket_of[last]


def _total(arrays: CountArrays, start: datetime, end: datetime) -> float | None:
    """Return the total count within [start, end), or None when no record overlaps it."""
    if end <= start:
        return None
    bounds = np.asarray([start.timestamp(), end.timestamp()], dtype=np.float64)
    mass, present = _distribute(arrays, bounds, bounds[0], bounds[1])
    return float(mass.sum()) if present.any() else None


def _bucket_totals(
    arrays: CountArrays, start: datetime, end: datetime, step: Step, zone: ZoneInfo
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bounds, per-direction mass and presence, and the total of each bucket (NaN without data)."""
    bounds = _edges(start, end, step, zone)
    mass, present = _distribute(arrays, bounds, start.timestamp(), end.timestamp())
    totals = np.where(present.any(axis=0), mass.sum(axis=0), np.nan)
    return bounds, mass, present, totals


def aggregate(
    records: Records,
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
    arrays = _arrays(records)
    bounds, mass, present, totals = _bucket_totals(arrays, start, end, step, zone)
    edges = _local(bounds, zone)
    names = arrays.directions  # sorted
    mass_rows, present_rows = mass.T.tolist(), present.T.tolist()
    result: list[dict[str, Any]] = []
    for index, total in enumerate(totals.tolist()):
        has = present_rows[index]
        values = mass_rows[index]
        counts = {names[d]: values[d] for d in range(len(names)) if has[d]}
        result.append(
            {
                "start": edges[index],
                "end": edges[index + 1],
                "counts": counts,
                "total": None if math.isnan(total) else total,
            }
        )
    return result


def weekday_hour_profile(
    records: Records, start: datetime, end: datetime, tz: str = DEFAULT_TZ
) -> list[dict[str, Any]]:
    """Return the average hourly count (all directions) per local (weekday, hour) over [start, end).

    Convention: each cell averages the local hour buckets of that weekday and hour that have
    data (at least one record overlapping them); hours without any record are left out
    rather than counted as zero, so a counter outage does not drag the average down. The
    fall-back day's repeated 02:00 hour contributes two samples. Returns 168 items
    ``{"weekday": 0-6 (Monday=0), "hour": 0-23, "average": float | None, "samples": int}``
    ordered by weekday then hour; ``average`` is None when a cell has no sample.
    """
    _check_window(start, end)
    zone = _zone(tz)
    bounds, _, _, totals = _bucket_totals(_arrays(records), start, end, "hour", zone)
    cells = _weekday_hour_cells(bounds[:-1], zone)
    has = ~np.isnan(totals)
    sums = np.bincount(cells[has], weights=totals[has], minlength=168)
    samples = np.bincount(cells[has], minlength=168)
    profile: list[dict[str, Any]] = []
    for cell in range(168):
        n = int(samples[cell])
        profile.append(
            {"weekday": cell // 24, "hour": cell % 24, "average": float(sums[cell]) / n if n else None, "samples": n}
        )
    return profile


def _weekday_hour_cells(moments: np.ndarray, zone: ZoneInfo) -> np.ndarray:
    """Local ``weekday * 24 + hour`` of each epoch-second moment (whole-hour offsets)."""
    if moments.size == 0:
        return np.empty(0, dtype=np.int64)

    def offset(moment: float) -> float:
        """The zone's UTC offset at ``moment``, in seconds."""
        delta = datetime.fromtimestamp(moment, zone).utcoffset()
        return delta.total_seconds() if delta is not None else 0.0

    # The offset changes at most twice a year: look it up once per UTC day, and per moment
    # only on the days where it changes.
    days, position = np.unique(np.floor(moments / 86400.0), return_inverse=True)
    at_start = np.array([offset(day * 86400.0) for day in days.tolist()])
    at_end = np.array([offset(day * 86400.0 + 86399.0) for day in days.tolist()])
    offsets = at_start[position]
    for changing in np.nonzero(at_start != at_end)[0].tolist():
        members = np.nonzero(position == changing)[0]
        offsets[members] = [offset(float(moments[j])) for j in members.tolist()]
    local = moments + offsets
    hour = np.floor(local / 3600.0).astype(np.int64) % 24
    weekday = (np.floor(local / 86400.0).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    return weekday * 24 + hour


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


def year_to_date(records: Records, now: datetime, tz: str = DEFAULT_TZ) -> float:
    """Return the total count (all directions) from local 1 January of ``now``'s year up to ``now``.

    Returns 0.0 when no record falls in that period.
    """
    _check_aware(now, "now")
    zone = _zone(tz)
    total = _total(_arrays(records), _start_of_year(now, zone), now)
    return 0.0 if total is None else total


def year_on_year(records: Records, now: datetime, tz: str = DEFAULT_TZ) -> dict[str, Any]:
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
    arrays = _arrays(records)
    current_start = _start_of_year(now, zone)
    previous_end = _same_moment_last_year(now, zone)
    previous_start = _start_of_year(previous_end, zone)
    current = _total(arrays, current_start, now) or 0.0
    previous = _total(arrays, previous_start, previous_end)
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
    records: Records, start: datetime, end: datetime, tz: str = DEFAULT_TZ
) -> dict[str, dict[str, Any] | None]:
    """Return the busiest local hour and busiest local day of [start, end) with their totals.

    Returns ``{"hour": {"start", "end", "count"} | None, "day": {...} | None}`` (None when no
    data). Ties go to the earliest bucket.
    """
    _check_window(start, end)
    zone = _zone(tz)
    arrays = _arrays(records)
    result: dict[str, dict[str, Any] | None] = {}
    for step in ("hour", "day"):
        bounds, _, _, totals = _bucket_totals(arrays, start, end, step, zone)  # type: ignore[arg-type]
        if np.isnan(totals).all():
            result[step] = None
            continue
        top = int(np.nanargmax(totals))  # the first maximum: ties go to the earliest bucket
        result[step] = {
            "start": datetime.fromtimestamp(float(bounds[top]), zone),
            "end": datetime.fromtimestamp(float(bounds[top + 1]), zone),
            "count": float(totals[top]),
        }
    return result


def display(records: Records, now: datetime, tz: str = DEFAULT_TZ) -> dict[str, Any]:
    """Return what a street totem shows: today's count, this year's count, last update time.

    ``today`` counts from local midnight to ``now`` and ``year`` from local 1 January to
    ``now`` (both 0.0 without data, all directions). ``last_update`` is the end of the latest
    record that ended at or before ``now``, in ``tz``, or None when there is none.
    """
    _check_aware(now, "now")
    zone = _zone(tz)
    arrays = _arrays(records)
    midnight = _local_midnight(now.astimezone(zone).date(), zone)
    last = _last_end(arrays, now.timestamp())
    return {
        "today": _total(arrays, midnight, now) or 0.0,
        "year": year_to_date(arrays, now, tz),
        "last_update": None if last is None else datetime.fromtimestamp(last, zone),
    }


def _last_end(arrays: CountArrays, moment: float) -> float | None:
    """The latest record end at or before ``moment`` (epoch seconds), or None."""
    latest: float | None = None
    for d in range(len(arrays.directions)):
        lo, hi = int(arrays.offsets[d]), int(arrays.offsets[d + 1])
        ends = arrays.end[lo:hi]
        if not arrays.disjoint:
            ends = ends[ends <= moment]
            candidate = float(ends.max()) if ends.size else None
        else:  # sorted: the last end not after the moment
            at = int(np.searchsorted(ends, moment, side="right")) - 1
            candidate = float(ends[at]) if at >= 0 else None
        if candidate is not None and (latest is None or candidate > latest):
            latest = candidate
    return latest

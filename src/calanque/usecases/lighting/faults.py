"""Fault detection on a streetlight from its command, power, state and message series.

Faults detected: lamp failure (commanded on, power below 10 % of nominal), day burner (on while
the sun is up), cycling (too many on/off transitions in an hour while commanded on) and
communication loss (silence longer than K reporting intervals). Command and state series are
step functions: a value holds until the next sample. Every fault is an interval; ``ended_at`` is
None while it is still going on at the end of the observations.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from calanque.usecases.lighting.schedule import PARIS, sun_times

Series = Sequence[tuple[datetime, float]]

LAMP_FAILURE = "lampFailure"
DAY_BURNER = "dayBurner"
CYCLING = "cycling"
COMMUNICATION_LOSS = "communicationLoss"


@dataclass(frozen=True)
class Fault:
    """One fault of a light: its kind, when it started, a human-readable detail, and when it ended (None if open)."""

    kind: str
    started_at: datetime
    detail: str
    ended_at: datetime | None = None


@dataclass(frozen=True)
class FaultRules:
    """Thresholds of the fault detectors."""

    failure_power_ratio: float = 0.10
    command_settle: timedelta = timedelta(minutes=5)
    on_offset: timedelta = timedelta(0)
    off_offset: timedelta = timedelta(0)
    day_burner_tolerance: timedelta = timedelta(minutes=15)
    cycling_max_transitions: int = 4
    cycling_window: timedelta = timedelta(hours=1)
    comm_loss_intervals: float = 3.0


@dataclass(frozen=True)
class LightObservations:
    """What is known about one light over a period.

    ``commanded``: commanded level 0..1 (0 = off); ``power``: measured active power (W);
    ``state``: measured on/off reports (> 0 = on, e.g. powerState mapped to 1/0);
    ``messages``: reception times of every message; ``reporting_interval``: the device's nominal
    period (estimated as the median gap between messages when None).
    """

    lat: float
    lon: float
    nominal_power_w: float
    commanded: Series = ()
    power: Series = ()
    state: Series = ()
    messages: Sequence[datetime] = ()
    reporting_interval: timedelta | None = None


def _utc_sorted(series: Series) -> list[tuple[datetime, float]]:
    """The series in UTC, sorted; rejects naive timestamps (wall-clock arithmetic would be wrong across DST)."""
    out: list[tuple[datetime, float]] = []
    for t, v in series:
        if t.tzinfo is not UTC:
            if t.tzinfo is None or t.utcoffset() is None:
                raise ValueError(f"timestamps must be timezone-aware, got naive {t.isoformat()}")
            t = t.astimezone(UTC)
        out.append((t, float(v)))
    if any(a[0] > b[0] for a, b in zip(out, out[1:], strict=False)):
        out.sort(key=lambda p: p[0])
    return out


def _value_at(steps: list[tuple[datetime, float]], t: datetime) -> float | None:
    """Value of a step series at ``t`` (the last sample at or before it), None before its first sample."""
    i = bisect_right(steps, t, key=lambda p: p[0])
    return steps[i - 1][1] if i else None


def _interval_containing(intervals: list[tuple[datetime, datetime]], t: datetime) -> tuple[datetime, datetime] | None:
    """The interval [start, end) of a sorted disjoint list that contains ``t``, if any."""
    i = bisect_right(intervals, t, key=lambda iv: iv[0])
    if i and intervals[i - 1][1] > t:
        return intervals[i - 1]
    return None


def lamp_failures(commanded: Series, power: Series, nominal_power_w: float, rules: FaultRules = FaultRules()) -> list[Fault]:
    """Lamp failure: commanded on (for at least ``command_settle``) yet measured power below the ratio of nominal."""
    if nominal_power_w <= 0:
        raise ValueError(f"nominal power must be positive (W), got {nominal_power_w}")
    samples = _utc_sorted(power)
    if not samples:
        return []
    commanded_on = _on_intervals(_utc_sorted(commanded), samples[-1][0] + timedelta(seconds=1))
    limit = rules.failure_power_ratio * nominal_power_w
    faults: list[Fault] = []
    start: tuple[datetime, float] | None = None
    for t, p in samples:
        period = _interval_containing(commanded_on, t)
        failing = period is not None and t - period[0] >= rules.command_settle and p < limit
        if failing and start is None:
            start = (t, p)
        elif not failing and start is not None:
            faults.append(_failure(start, limit, t))
            start = None
    if start is not None:
        faults.append(_failure(start, limit, None))
    return faults


def _failure(start: tuple[datetime, float], limit: float, ended: datetime | None) -> Fault:
    """A lamp-failure fault starting at a low-power sample."""
    return Fault(LAMP_FAILURE, start[0], f"commanded on but drawing {start[1]:g} W (< {limit:g} W)", ended)


def _on_intervals(steps: list[tuple[datetime, float]], until: datetime) -> list[tuple[datetime, datetime]]:
    """Intervals during which a step series is > 0, the last value holding until ``until``."""
    intervals: list[tuple[datetime, datetime]] = []
    for i, (t, v) in enumerate(steps):
        end = steps[i + 1][0] if i + 1 < len(steps) else max(until, t)
        if v > 0 and end > t:
            if intervals and intervals[-1][1] == t:
                intervals[-1] = (intervals[-1][0], end)
            else:
                intervals.append((t, end))
    return intervals


def _measured_on(obs: LightObservations, rules: FaultRules) -> list[tuple[datetime, float]]:
    """Measured on (1) / off (0) step series: the state reports, or the power compared with the failure ratio."""
    if obs.state:
        return [(t, 1.0 if v > 0 else 0.0) for t, v in _utc_sorted(obs.state)]
    limit = rules.failure_power_ratio * obs.nominal_power_w
    return [(t, 1.0 if p >= limit else 0.0) for t, p in _utc_sorted(obs.power)]


def day_burning(
    lat: float,
    lon: float,
    measured_on: Series,
    until: datetime,
    rules: FaultRules = FaultRules(),
    tz: ZoneInfo = PARIS,
) -> list[Fault]:
    """Day burner: the light is on while the sun is up.

    Daytime on a local date runs from sunrise + |off_offset| + tolerance to sunset − |on_offset|
    − tolerance, so a schedule's offsets and 15 min (default) of slack never raise a fault.
    ``measured_on`` is a step series (> 0 = on) whose last value holds until ``until``.
    """
    steps = _utc_sorted(measured_on)
    if not steps:
        return []
    until = until.astimezone(UTC)
    faults: list[Fault] = []
    for start, end in _on_intervals(steps, until):
        day: date = start.astimezone(tz).date()
        while datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC) < end:
            rise, set_ = sun_times(lat, lon, day, tz)
            day_from = rise.astimezone(UTC) + abs(rules.off_offset) + rules.day_burner_tolerance
            day_to = set_.astimezone(UTC) - abs(rules.on_offset) - rules.day_burner_tolerance
            s, e = max(start, day_from), min(end, day_to)
            if s < e:
                ongoing = e == until and end == until
                faults.append(
                    Fault(
                        DAY_BURNER,
                        s,
                        f"on in daylight for {(e - s).total_seconds() / 60:.0f} min "
                        f"(sunrise {rise:%H:%M}, sunset {set_:%H:%M} local)",
                        None if ongoing else e,
                    )
                )
            day += timedelta(days=1)
    return faults


def cycling(
    commanded: Series, measured_on: Series, now: datetime, rules: FaultRules = FaultRules()
) -> list[Fault]:
    """Cycling: more than ``cycling_max_transitions`` on/off transitions within ``cycling_window`` while commanded on.

    Overlapping busy windows merge into one fault, starting at its first transition and ending
    one window after its last transition (None if that is after ``now``).
    """
    cmd = _utc_sorted(commanded)
    steps = _utc_sorted(measured_on)
    now = now.astimezone(UTC)
    transitions = [
        t
        for (_, v0), (t, v1) in zip(steps, steps[1:], strict=False)
        if (v0 > 0) != (v1 > 0) and (_value_at(cmd, t) or 0.0) > 0
    ]
    limit = rules.cycling_max_transitions
    spans: list[tuple[datetime, datetime, int]] = []
    m = 0
    for k, t in enumerate(transitions):
        m = max(m, k)
        while m + 1 < len(transitions) and transitions[m + 1] - t <= rules.cycling_window:
            m += 1
        count = m - k + 1
        if count > limit:
            last = transitions[m]
            if spans and t <= spans[-1][1]:
                spans[-1] = (spans[-1][0], last, max(spans[-1][2], count))
            else:
                spans.append((t, last, count))
    window_h = rules.cycling_window.total_seconds() / 3600
    return [
        Fault(
            CYCLING,
            first,
            f"up to {count} on/off transitions within {window_h:g} h while commanded on (limit {limit})",
            None if last + rules.cycling_window > now else last + rules.cycling_window,
        )
        for first, last, count in spans
    ]


def communication_loss(
    messages: Sequence[datetime],
    now: datetime,
    reporting_interval: timedelta | None = None,
    rules: FaultRules = FaultRules(),
) -> list[Fault]:
    """Communication loss: no message for more than ``comm_loss_intervals`` × the reporting interval.

    The fault starts at the last message before the silence and ends at the next message (None
    if there is none by ``now``). Without a stated interval, the median gap between messages is used.
    """
    times = sorted(t for t, _ in _utc_sorted([(m, 0.0) for m in messages]))
    now = now.astimezone(UTC)
    if not times:
        return []
    if reporting_interval is None:
        if len(times) < 3:
            raise ValueError("give the reporting interval: at least 3 messages are needed to estimate it")
        reporting_interval = median(b - a for a, b in zip(times, times[1:], strict=False))
    if reporting_interval <= timedelta(0):
        raise ValueError(f"reporting interval must be positive, got {reporting_interval}")
    allowed = reporting_interval * rules.comm_loss_intervals
    faults: list[Fault] = []
    for a, b in [*zip(times, times[1:], strict=False), (times[-1], None)]:
        gap = (b or now) - a
        if gap > allowed:
            faults.append(
                Fault(
                    COMMUNICATION_LOSS,
                    a,
                    f"no message for {gap.total_seconds() / 60:.0f} min "
                    f"(limit {allowed.total_seconds() / 60:.0f} min = {rules.comm_loss_intervals:g} intervals)",
                    b,
                )
            )
    return faults


def detect_faults(
    obs: LightObservations, now: datetime | None = None, rules: FaultRules = FaultRules(), tz: ZoneInfo = PARIS,
) -> list[Fault]:
    """All faults of one light over its observations, sorted by start; ``now`` defaults to the latest timestamp seen.

    ``tz`` is the local time whose calendar days the day-burner check walks through.
    """
    stamps = [t for s in (obs.commanded, obs.power, obs.state) for t, _ in s] + list(obs.messages)
    if not stamps:
        return []
    now = (now or max(t.astimezone(UTC) for t in stamps)).astimezone(UTC)
    faults: list[Fault] = []
    if obs.power and obs.commanded:
        faults += lamp_failures(obs.commanded, obs.power, obs.nominal_power_w, rules)
    measured = _measured_on(obs, rules)
    if measured:
        faults += day_burning(obs.lat, obs.lon, measured, now, rules, tz)
        if obs.commanded:
            faults += cycling(obs.commanded, measured, now, rules)
    if obs.messages:
        faults += communication_loss(obs.messages, now, obs.reporting_interval, rules)
    return sorted(faults, key=lambda f: (f.started_at, f.kind))


def merge_open_faults(open_faults: Sequence[Fault], detected: Sequence[Fault]) -> list[Fault]:
    """Update a light's open faults (at most one per kind) with newly detected ones.

    A kind detected as still going on stays open, keeping the earliest start; a kind whose latest
    detection has ended (after the open fault started) is closed and dropped; kinds not seen in
    ``detected`` keep their open fault, for lack of new evidence.
    """
    current = {f.kind: f for f in open_faults}
    latest: dict[str, Fault] = {}
    for f in sorted(detected, key=lambda f: f.started_at):
        latest[f.kind] = f
    for kind, f in latest.items():
        before = current.get(kind)
        if f.ended_at is None:
            current[kind] = f if before is None or f.started_at < before.started_at else before
        elif before is not None and f.ended_at >= before.started_at:
            del current[kind]
    return sorted(current.values(), key=lambda f: (f.started_at, f.kind))

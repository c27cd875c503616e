"""Astronomical clock: nightly switching and dimming schedule of a streetlight or a group.

Lights switch on at sunset + ``on_offset`` and off at the next sunrise − ``off_offset``; sunrise
and sunset come from the ``astral`` package (upper limb at the horizon with 0.833° of standard
refraction, i.e. the usual almanac definition). Dimming profiles are given in local civil time
(Europe/Paris by default) so they follow the DST changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import sunrise, sunset

PARIS = ZoneInfo("Europe/Paris")

DimmingWindow = tuple[time, time, float]
"""(start local time, end local time, level in 0..1); a window whose end is before its start spans midnight."""


@dataclass(frozen=True)
class Switch:
    """A command of the schedule: from ``time`` on, the light runs at ``level`` (0 = off, 1 = full power)."""

    time: datetime
    level: float


@dataclass(frozen=True)
class GroupSchedule:
    """A group's schedule computed at the centroid, and how far its lights' own sun times deviate from it."""

    switches: list[Switch]
    centroid: tuple[float, float]
    max_sunset_deviation: timedelta
    max_sunrise_deviation: timedelta


def sun_times(lat: float, lon: float, day: date, tz: ZoneInfo = PARIS) -> tuple[datetime, datetime]:
    """Sunrise and sunset on the local date ``day`` at (lat, lon), as aware datetimes in ``tz``."""
    observer = Observer(latitude=lat, longitude=lon)
    try:
        return sunrise(observer, day, tzinfo=tz), sunset(observer, day, tzinfo=tz)
    except ValueError as exc:
        raise ValueError(
            f"no sunrise or sunset at ({lat}, {lon}) on {day.isoformat()} (polar day or night): {exc}"
        ) from exc


def _validate_profile(profile: Sequence[DimmingWindow]) -> None:
    """Check each window's level and that its start and end differ."""
    for start, end, level in profile:
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"dimming level must be in 0..1, got {level} for {start}–{end}")
        if start == end:
            raise ValueError(f"dimming window {start}–{end} is empty: start and end must differ")


def _window_instances(
    profile: Sequence[DimmingWindow], night: date, on: datetime, off: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime, float]]:
    """The profile windows falling in the night [on, off), as UTC intervals clipped to it."""
    result: list[tuple[datetime, datetime, float]] = []
    for start, end, level in profile:
        for base in (night - timedelta(days=1), night, night + timedelta(days=1)):
            end_day = base if end > start else base + timedelta(days=1)
            s = datetime.combine(base, start, tzinfo=tz).astimezone(UTC)
            e = datetime.combine(end_day, end, tzinfo=tz).astimezone(UTC)
            s, e = max(s, on), min(e, off)
            if s < e:
                result.append((s, e, level))
    result.sort()
    for (s1, e1, _), (s2, _, _) in zip(result, result[1:], strict=False):
        if s2 < e1:
            raise ValueError(
                f"dimming windows overlap on the night of {night.isoformat()} "
                f"({s2.astimezone(tz):%H:%M} starts before {e1.astimezone(tz):%H:%M}); give disjoint windows"
            )
    return result


def night_schedule(
    lat: float,
    lon: float,
    date: date,
    profile: Sequence[DimmingWindow] = (),
    on_offset: timedelta = timedelta(0),
    off_offset: timedelta = timedelta(0),
    *,
    tz: ZoneInfo = PARIS,
) -> list[Switch]:
    """Switching commands for the night starting on the local ``date``: on at sunset + on_offset, dimming, off at next sunrise − off_offset.

    The first switch turns the light on (at full power, or at the profile's level if a window
    covers that instant); each change of level follows; the last switch (level 0) turns it off.
    Times are returned in ``tz``. Outside the profile windows the level is 1.
    """
    _validate_profile(profile)
    on = (sun_times(lat, lon, date, tz)[1] + on_offset).astimezone(UTC)
    off = (sun_times(lat, lon, date + timedelta(days=1), tz)[0] - off_offset).astimezone(UTC)
    if on >= off:
        raise ValueError(
            f"offsets leave no night on {date.isoformat()}: on at {on.astimezone(tz):%H:%M} "
            f"is not before off at {off.astimezone(tz):%H:%M}"
        )
    windows = _window_instances(profile, date, on, off, tz)
    boundaries = sorted({on, *(s for s, _, _ in windows), *(e for _, e, _ in windows)} - {off})
    switches: list[Switch] = []
    for instant in boundaries:
        level = next((lv for s, e, lv in windows if s <= instant < e), 1.0)
        if not switches or switches[-1].level != level:
            switches.append(Switch(instant.astimezone(tz), level))
    switches.append(Switch(off.astimezone(tz), 0.0))
    return switches


def group_schedule(
    lights: Sequence[tuple[float, float]],
    date: date,
    profile: Sequence[DimmingWindow] = (),
    on_offset: timedelta = timedelta(0),
    off_offset: timedelta = timedelta(0),
    *,
    tz: ZoneInfo = PARIS,
) -> GroupSchedule:
    """One schedule for a group switched together (same cabinet/circuit), computed at the centroid of its lights' (lat, lon).

    Across a few kilometres sunrise and sunset shift by seconds (about 4 min per degree of
    longitude), so the centroid's times serve the whole group; the returned deviations give the
    largest gap between a light's own sunset/sunrise and the centroid's, to check that claim.
    """
    if not lights:
        raise ValueError("a group schedule needs at least one light position (lat, lon)")
    lat = sum(p[0] for p in lights) / len(lights)
    lon = sum(p[1] for p in lights) / len(lights)
    switches = night_schedule(lat, lon, date, profile, on_offset, off_offset, tz=tz)
    c_set = sun_times(lat, lon, date, tz)[1]
    c_rise = sun_times(lat, lon, date + timedelta(days=1), tz)[0]
    dev_set = max(abs(sun_times(la, lo, date, tz)[1] - c_set) for la, lo in lights)
    dev_rise = max(abs(sun_times(la, lo, date + timedelta(days=1), tz)[0] - c_rise) for la, lo in lights)
    return GroupSchedule(switches, (lat, lon), dev_set, dev_rise)

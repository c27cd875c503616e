"""Signal shapes checked against the programme's expectations and against astral, not against the
simulator's own formulas: quiet nights and loud days, commuter and weekend peaks, containers
emptied on their streams' collection days, a flood that rises then falls, lights on from sunset to
sunrise and dimmed from 23:00 to 05:00, failed lamps, cabinets that add up their lights."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from astral import Observer
from astral.sun import sunrise, sunset

from calanque.simulator.fleet import FleetSpec, build_fleet
from calanque.simulator.signals import (
    FloodEvent,
    Scenario,
    expected_count,
    fill_level,
    light_values,
    reading,
    river_level,
)

PARIS = ZoneInfo("Europe/Paris")
FLEET = build_fleet(FleetSpec(seed=11, noise=10, containers=18, river=12, water=4, bikes=4, pedestrians=4,
                              streetlights=60, lights_per_group=20))
# Collection days of docs/data-conventions.md's streams as the waste use case sets them (Monday = 0).
COLLECTION_DAYS = {"glass": {0}, "paper": {2}, "packaging": {1, 4}}


def local(t: datetime) -> datetime:
    return t.astimezone(PARIS)


def steps(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    out, t = [], start
    while t < end:
        out.append(t)
        t += every
    return out


# --- noise -------------------------------------------------------------------------------------
def test_nights_are_quiet_and_days_loud_near_roads() -> None:
    start = datetime(2026, 10, 5, tzinfo=UTC)  # two weeks from a Monday
    times = steps(start, start + timedelta(days=14), timedelta(minutes=10))
    rush, midday = [], []
    for dev in FLEET.of_kind("noise"):
        night, day = [], []
        for t in times:
            lt = local(t)
            laeq = reading(dev, t)["LAeq"]
            if 1 <= lt.hour < 4:
                night.append(laeq)
            elif lt.weekday() < 5 and 10 <= lt.hour < 16:
                day.append(laeq)
                if 13 <= lt.hour < 15:
                    midday.append(laeq)
            if lt.weekday() < 5 and (lt.hour, lt.minute // 30) == (8, 0):
                rush.append(laeq)
        # The programme's orders of magnitude: 45–50 dB at night, 65–72 dB by day near roads.
        assert 45 <= statistics.mean(night) <= 50, dev.id
        assert 65 <= statistics.mean(day) <= 72, dev.id
        assert statistics.mean(night) < statistics.mean(day) - 12
    assert statistics.mean(rush) > statistics.mean(midday) + 0.8  # the morning rush hour stands out


def test_lamax_is_above_laeq() -> None:
    dev = FLEET.of_kind("noise")[0]
    for t in steps(datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC), timedelta(minutes=10)):
        values = reading(dev, t)
        assert values["LAmax"] > values["LAeq"] + 8


# --- counting ----------------------------------------------------------------------------------
def hourly(dev, days: list[date], sampled: bool) -> dict[int, float]:
    """Passages per local hour of day (by interval midpoint), summed over ``days``, from a device's slots."""
    totals: dict[int, float] = defaultdict(float)
    for day in days:
        start = datetime.combine(day, datetime.min.time(), tzinfo=PARIS).astimezone(UTC)
        for t in steps(start, start + timedelta(days=1), timedelta(seconds=dev.period_s)):
            mid_hour = local(t - timedelta(seconds=dev.period_s / 2)).hour
            if sampled:
                v = reading(dev, t)
                totals[mid_hour] += v["intensityIn"] + v["intensityOut"]
            else:
                totals[mid_hour] += expected_count(dev, t)
    return totals


def argmax(totals: dict[int, float], hours: range) -> int:
    return max(hours, key=lambda h: totals[h])


WEEKDAYS = [date(2026, 9, 7) + timedelta(days=d) for d in range(28) if (date(2026, 9, 7) + timedelta(days=d)).weekday() < 5]
WEEKENDS = [date(2026, 9, 7) + timedelta(days=d) for d in range(28) if (date(2026, 9, 7) + timedelta(days=d)).weekday() >= 5]


@pytest.mark.parametrize("sampled", [False, True])
def test_bike_commuter_peaks_at_8_and_18_on_weekdays(sampled: bool) -> None:
    for dev in FLEET.of_kind("bike"):
        weekday = hourly(dev, WEEKDAYS, sampled)
        assert argmax(weekday, range(5, 12)) == 8
        assert argmax(weekday, range(14, 22)) == 18
        assert weekday[8] > 5 * weekday[3] and weekday[18] > 5 * weekday[3]
        weekend = hourly(dev, WEEKENDS, sampled)
        per_day = len(WEEKDAYS) / len(WEEKENDS)
        assert weekend[8] * per_day < 0.5 * weekday[8]  # no commuter rush at weekends
        assert 12 <= argmax(weekend, range(24)) <= 17


@pytest.mark.parametrize("sampled", [False, True])
def test_pedestrian_peaks_in_the_afternoon_at_weekends(sampled: bool) -> None:
    for dev in FLEET.of_kind("pedestrian"):
        weekend = hourly(dev, WEEKENDS, sampled)
        assert 13 <= argmax(weekend, range(24)) <= 17
        assert weekend[15] > 3 * weekend[9]
        weekday = hourly(dev, WEEKDAYS, sampled)
        assert weekday[3] < 0.1 * max(weekday.values())


def test_counting_directions_follow_the_commute() -> None:
    dev = FLEET.of_kind("bike")[0]
    ins = outs = 0
    for day in WEEKDAYS:
        start = datetime.combine(day, datetime.min.time(), tzinfo=PARIS).astimezone(UTC)
        for t in steps(start + timedelta(hours=7), start + timedelta(hours=10), timedelta(minutes=15)):
            v = reading(dev, t)
            ins, outs = ins + v["intensityIn"], outs + v["intensityOut"]
    assert ins > 1.3 * outs  # towards the centre in the morning


# --- waste -------------------------------------------------------------------------------------
def test_containers_fill_by_day_and_are_emptied_on_collection_days() -> None:
    start = datetime(2026, 2, 2, tzinfo=UTC)  # five weeks from a Monday
    end = start + timedelta(days=35)
    times = steps(start, end, timedelta(hours=1))
    for dev in FLEET.of_kind("waste"):
        kind = dev.params.waste_kind
        fills = [fill_level(dev, t) for t in times]
        drops = []
        for (t0, f0), (t1, f1) in zip(zip(times, fills), zip(times[1:], fills[1:])):
            if f1 < f0 - 0.01:
                drops.append(local(t1))
            else:
                assert f1 >= f0
                if f1 > f0:  # deposits happen while the drop-off point is used, 8:00–21:00 local
                    assert 9 <= local(t1).hour <= 21, (dev.id, local(t1))
        collection_days = {d for d in (start.date() + timedelta(days=n) for n in range(35))
                           if d.weekday() in COLLECTION_DAYS[kind]}
        assert {d.date() for d in drops} == collection_days, (dev.id, kind)
        assert all(6 <= d.hour <= 10 for d in drops)
        assert max(fills) > 0.3


def test_distance_reading_matches_the_fill_through_the_model_geometry() -> None:
    for dev in FLEET.of_kind("waste")[:6]:
        model = dev.params.model
        for t in steps(datetime(2026, 4, 6, tzinfo=UTC), datetime(2026, 4, 13, tzinfo=UTC), timedelta(hours=5)):
            d = reading(dev, t)["distance"]
            measured = (model.empty_distance - d) / (model.empty_distance - model.full_distance)
            assert abs(min(1.0, max(0.0, measured)) - fill_level(dev, t)) < 0.05


# --- rivers ------------------------------------------------------------------------------------
def test_flood_rises_then_falls_and_travels_downstream() -> None:
    onset = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
    flood = FloodEvent(onset, peak_m=2.0, rise_hours=3.0, fall_hours=18.0, travel_hours=0.75)
    scenario = Scenario((flood,))
    times = steps(onset - timedelta(hours=12), onset + timedelta(hours=60), timedelta(minutes=5))
    peaks: dict[str, list[tuple[int, datetime]]] = defaultdict(list)
    for dev in FLEET.of_kind("river"):
        site = dev.params.site
        base = [river_level(dev, Scenario(), t) for t in times]
        levels = [river_level(dev, scenario, t) for t in times]
        for t, lv, b in zip(times, levels, base):
            if t <= onset:
                assert lv == b  # nothing before the flood
        top = max(range(len(times)), key=lambda i: levels[i])
        expected_peak = onset + timedelta(hours=3.0 + 0.75 * site.order)
        assert abs((times[top] - expected_peak).total_seconds()) <= 300
        assert levels[top] - base[top] > 1.0
        # Rising before the peak, falling after it, nearly back to normal two days later.
        assert all(a <= b + 0.03 for a, b in zip(levels[:top], levels[1:top + 1]))
        later = [lv - b for t, lv, b in zip(times, levels, base) if t > times[top]]
        assert later[0] > later[len(later) // 2] > later[-1] >= 0 and later[-1] < 0.1
        peaks[site.river].append((site.order, times[top]))
    for river, found in peaks.items():
        ordered = [t for _, t in sorted(found)]
        assert ordered == sorted(ordered), river


def test_water_quality_reacts_to_the_flood() -> None:
    onset = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
    scenario = Scenario((FloodEvent(onset),))
    for dev in FLEET.of_kind("water"):
        site = dev.params.site
        dry = reading(dev, onset - timedelta(hours=6), scenario)
        peak = reading(dev, onset + timedelta(hours=3 + 0.75 * site.order), scenario)
        assert peak["turbidity"] > 10 * dry["turbidity"]
        assert peak["conductivity"] < 0.7 * dry["conductivity"]
        assert 6.5 < peak["pH"] < dry["pH"] < 8.8
        assert 0 < peak["O2"] < 15 and 0 < dry["O2"] < 15


def test_floods_can_be_limited_to_one_river() -> None:
    onset = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
    only_arc = Scenario((FloodEvent(onset, rivers=("Arc",)),))
    for dev in FLEET.of_kind("river"):
        t = onset + timedelta(hours=3 + 0.75 * dev.params.site.order)
        rise = river_level(dev, only_arc, t) - river_level(dev, Scenario(), t)
        assert (rise > 1.0) == (dev.params.site.river == "Arc")


# --- lighting ----------------------------------------------------------------------------------
def astral_night(lat: float, lon: float, t: datetime) -> tuple[bool, float]:
    """(is it between sunset and sunrise at (lat, lon), minutes to the nearest sunrise/sunset), from astral."""
    obs = Observer(latitude=lat, longitude=lon)
    day = local(t).date()
    events = []
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        events += [(sunrise(obs, d, tzinfo=PARIS), "rise"), (sunset(obs, d, tzinfo=PARIS), "set")]
    events.sort()
    before = [e for e in events if e[0] <= t][-1]
    margin = min(abs((e[0] - t).total_seconds()) for e in events) / 60
    return before[1] == "set", margin


@pytest.mark.parametrize("start", [datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 6, 20, tzinfo=UTC),
                                   datetime(2026, 10, 22, tzinfo=UTC)])  # winter, summer, across the DST change
def test_lights_on_from_sunset_to_sunrise_and_dimmed_from_23_to_5(start: datetime) -> None:
    lights = FLEET.of_kind("streetlight")[::7]
    seen_on = seen_dim = 0
    for t in steps(start, start + timedelta(days=5), timedelta(minutes=10)):
        for dev in lights:
            values = light_values(dev, t)
            night, margin = astral_night(dev.lat, dev.lon, t)
            if margin < 3:
                continue
            assert values["powerState"] == ("on" if night else "off"), (dev.id, t)
            if not night:
                assert values["activePower"] == 0 and values["dimmingLevel"] == 0
                continue
            seen_on += 1
            hour = local(t).hour
            assert values["dimmingLevel"] == (50 if hour >= 23 or hour < 5 else 100), (dev.id, local(t))
            seen_dim += values["dimmingLevel"] == 50
            nominal = dev.params.model.power_w
            if not values["lampFailure"]:
                low, high = (0.45, 0.65) if values["dimmingLevel"] == 50 else (0.95, 1.05)
                assert low * nominal <= values["activePower"] <= high * nominal
    assert seen_on and seen_dim


def test_failed_lamps_draw_almost_nothing_while_commanded_on() -> None:
    failures = 0
    for day in range(200):
        # 22:30 local: after the latest sunset of the year (about 21:25 in June), before the 23:00 dimming.
        t = datetime.combine(date(2026, 1, 1) + timedelta(days=day), datetime.min.time().replace(hour=22, minute=30),
                             tzinfo=PARIS).astimezone(UTC)
        for dev in FLEET.of_kind("streetlight"):
            values = light_values(dev, t)
            assert values["powerState"] == "on"
            if values["lampFailure"]:
                failures += 1
                assert values["activePower"] < 1.0
            else:
                assert values["activePower"] > 0.9 * dev.params.model.power_w
    # 60 lamps over 200 nights, a failure every ~200 nights each lasting 2–4 nights: "occasional".
    assert 20 <= failures <= 1000


def test_energy_counter_integrates_the_power() -> None:
    start = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    for dev in FLEET.of_kind("streetlight")[:5]:
        times = steps(start, start + timedelta(days=2), timedelta(minutes=1))
        powers = [light_values(dev, t)["activePower"] for t in times]
        integral_kwh = sum((a + b) / 2 for a, b in zip(powers, powers[1:])) / 60 / 1000
        counted = light_values(dev, times[-1])["energy"] - light_values(dev, times[0])["energy"]
        assert integral_kwh > 0.5
        assert abs(counted - integral_kwh) / integral_kwh < 0.02
        assert light_values(dev, times[0])["energy"] > 0  # it has been burning since its installation


def test_cabinets_add_up_their_lights() -> None:
    for cab in FLEET.of_kind("cabinet"):
        for t in (datetime(2026, 2, 3, 20, 0, tzinfo=UTC), datetime(2026, 2, 3, 23, 30, tzinfo=UTC),
                  datetime(2026, 2, 4, 12, 0, tzinfo=UTC)):
            lights = [light_values(d, t) for d in cab.params.lights]
            values = reading(cab, t)
            assert values["activePower"] == round(sum(v["activePower"] for v in lights))
            assert values["energy"] == pytest.approx(sum(v["energy"] for v in lights), abs=0.002)
            on = any(v["powerState"] == "on" for v in lights)
            assert values["powerState"] == ("on" if on else "off")
            if on:
                assert values["current"] == pytest.approx(values["activePower"] / (values["voltage"] * 0.93),
                                                          abs=0.005)


def test_readings_are_deterministic() -> None:
    t = datetime(2026, 5, 5, 17, 3, tzinfo=UTC)
    again = build_fleet(FLEET.spec)
    for a, b in zip(FLEET.devices, again.devices):
        assert reading(a, t) == reading(b, t)

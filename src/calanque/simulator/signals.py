"""Signal models: what each simulated device measures at a given time. Pure and deterministic.

Every function here depends only on its arguments (a device, an instant, the scenario): the
random parts are keyed draws (:mod:`._rand`), so a backfill and a live run produce the same
value for the same device and time. Daily patterns follow local civil time (Europe/Paris).

* Noise: LAeq moves between a night level (47–50 dB) and a day level (65–70 dB, the sensors
  stand near busy roads) along a traffic profile, 1.5 dB louder at the rush hours (8:15 and 18:00)
  on weekdays; weekends start later and are 2 dB quieter.
* Waste: a container fills during the day (8:00–21:00) at its own rate, faster after weekends
  for glass, and is emptied on its stream's collection days (:data:`fleet.COLLECTION_WEEKDAYS`)
  at its isle's collection time; the lid sensor reads the distance to the waste.
* Rivers: a base level with slow variations, and flood events (:class:`FloodEvent`): a smooth
  rise over ``rise_hours`` then an exponential recession, reaching sites downstream later.
  Water quality follows: turbidity soars, conductivity and pH drop, during a flood.
* Counting: bikes have commuter peaks (8:15 and 18:15 on weekdays, towards the centre in the
  morning), pedestrians a lunchtime and evening bump on weekdays and a strong afternoon peak at
  weekends; counts are Poisson draws around the expected rate.
* Lighting: a group switches on at sunset and off at sunrise (astral, at the group centre),
  dims to 50 % from 23:00 to 05:00; lamps fail now and then (power falls to ~0.5 W while the
  lamp is commanded on) until repaired 2–4 nights later; the energy counter integrates the
  power since installation (with sun times on a 0.1° grid, within ~15 s a night of the group's
  own); a cabinet reports the sums of its lights' power and energy.

Values are rounded to the resolution of the device that reports them, so the bytes an encoder
builds decode back to exactly these values.
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import sunrise, sunset

from calanque.simulator import _rand as rnd
from calanque.simulator.fleet import (
    COLLECTION_WEEKDAYS,
    CabinetParams,
    ContainerParams,
    CounterParams,
    LightParams,
    NoiseParams,
    RiverParams,
    SimDevice,
    WaterParams,
)

PARIS = ZoneInfo("Europe/Paris")
DIM_LEVEL = 0.5
DIM_FROM, DIM_TO = time(23, 0), time(5, 0)
FAILED_LAMP_W = 0.5
# Mean nights between two failures of one lamp, and how many nights a repair takes.
MEAN_NIGHTS_BETWEEN_FAILURES = 200
REPAIR_NIGHTS = (2, 4)
# Energy counters integrate from this local date (before it: no counting; devices are installed later).
ENERGY_EPOCH = date(2025, 1, 1)
# The energy integral uses sun times on a 0.1° grid (at most ~15 s off the group's own times per night).
_ENERGY_GRID = 0.1
DEPOSIT_HOURS = (8.0, 21.0)
BATTERY_LIFE_DAYS = (6 * 365, 10 * 365)


@dataclass(frozen=True)
class FloodEvent:
    """A flood: from ``start`` the level at the most upstream site rises by ``peak_m`` (times the
    site's scale) over ``rise_hours``, then recedes (5 % left after ``fall_hours``); each site
    downstream sees it ``travel_hours`` later. ``rivers`` limits it to some rivers (empty: all)."""

    start: datetime
    peak_m: float = 2.0
    rise_hours: float = 3.0
    fall_hours: float = 18.0
    travel_hours: float = 0.75
    rivers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check the event's shape."""
        if self.start.tzinfo is None:
            raise ValueError("FloodEvent.start must be timezone-aware")
        if not (self.peak_m > 0 and self.rise_hours > 0 and self.fall_hours > 0 and self.travel_hours >= 0):
            raise ValueError("a flood needs peak_m, rise_hours and fall_hours > 0 and travel_hours >= 0")


@dataclass(frozen=True)
class Scenario:
    """Events of a run that are not part of the fleet itself."""

    floods: tuple[FloodEvent, ...] = ()


# --- shared shapes ---------------------------------------------------------------------------------
def _gauss(h: float, centre: float, width: float) -> float:
    """A bell of height 1 at ``centre`` with standard deviation ``width`` (hours)."""
    return math.exp(-0.5 * ((h - centre) / width) ** 2)


def _smoothstep(x: float) -> float:
    """0 below 0, 1 above 1, smooth in between."""
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


def local_hour(t: datetime) -> tuple[float, bool, datetime]:
    """(local hour of day as a float, whether it is a weekend day, the local datetime)."""
    local = t.astimezone(PARIS)
    hour = local.hour + local.minute / 60 + local.second / 3600 + local.microsecond / 3.6e9
    return hour, local.weekday() >= 5, local


def ambient_temperature(t: datetime) -> float:
    """Air temperature (°C) on the Provence coast: seasonal and daily cycles."""
    hour, _, local = local_hour(t)
    doy = local.timetuple().tm_yday
    return 15.5 + 8.5 * math.cos(2 * math.pi * (doy - 205) / 365.25) + 4.5 * math.cos(2 * math.pi * (hour - 15) / 24)


def water_temperature(t: datetime) -> float:
    """River water temperature (°C): damped and delayed air temperature."""
    hour, _, local = local_hour(t)
    doy = local.timetuple().tm_yday
    return 14.0 + 7.0 * math.cos(2 * math.pi * (doy - 215) / 365.25) + 0.8 * math.cos(2 * math.pi * (hour - 17) / 24)


def battery_level(dev: SimDevice, t: datetime) -> float:
    """Battery level 0..1 falling linearly over the device's battery life (1 % resolution)."""
    life = BATTERY_LIFE_DAYS[0] + rnd.uniform(dev.seed, dev.index, "battery") * (
        BATTERY_LIFE_DAYS[1] - BATTERY_LIFE_DAYS[0])
    used = (t - dev.installed_at).total_seconds() / 86400 / life
    return round(min(1.0, max(0.05, 1.0 - used)), 2)


# --- noise -------------------------------------------------------------------------------------
def traffic_shape(t: datetime) -> tuple[float, float]:
    """(daytime plateau 0..1, rush-hour bump 0..1) of road traffic at ``t``, in local time."""
    h, weekend, _ = local_hour(t)
    if weekend:
        return _smoothstep((h - 8.0) / 3.0) * (1 - _smoothstep((h - 22.0) / 2.0)), 0.0
    plateau = _smoothstep((h - 5.5) / 2.0) * (1 - _smoothstep((h - 20.5) / 2.5))
    return plateau, min(1.0, _gauss(h, 8.25, 0.8) + _gauss(h, 18.0, 1.0))


def noise_levels(params: NoiseParams) -> tuple[float, float]:
    """(night, weekday daytime) LAeq in dB of a sensor with this traffic exposure."""
    return 44.5 + 5.0 * params.exposure, 57.5 + 13.0 * params.exposure


RUSH_HOUR_DB = 1.5
WEEKEND_DB = 2.0


def noise_values(dev: SimDevice, t: datetime) -> dict[str, Any]:
    """WS302 reading for the period ending at ``t``: LAeq, LAmax, instantaneous LAF, battery."""
    params: NoiseParams = dev.params
    night, day = noise_levels(params)
    _, weekend, _ = local_hour(t)
    plateau, rush = traffic_shape(t)
    if weekend:
        day -= WEEKEND_DB
    key = (dev.seed, dev.index, t.timestamp())
    laeq = night + (day - night) * plateau + RUSH_HOUR_DB * rush + 1.0 * rnd.normal(*key, "leq")
    lamax = laeq + 9.0 + 5.0 * (1 - plateau) + abs(2.0 * rnd.normal(*key, "lmax"))
    laf = max(30.0, laeq + 2.5 * rnd.normal(*key, "laf"))
    return {
        "batteryLevel": battery_level(dev, t),
        "frequencyWeighting": "A",
        "timeWeighting": "F",
        "LAF": round(laf, 1),
        "LAeq": round(laeq, 1),
        "LAmax": round(lamax, 1),
    }


# --- waste -------------------------------------------------------------------------------------
def last_collection(params: ContainerParams, t: datetime) -> datetime:
    """The most recent collection (emptying) at or before ``t``."""
    local_day = t.astimezone(PARIS).date()
    weekdays = COLLECTION_WEEKDAYS[params.waste_kind]
    for back in range(0, 15):
        day = local_day - timedelta(days=back)
        if day.weekday() in weekdays:
            at = datetime.combine(day, time(params.collection_minute // 60, params.collection_minute % 60),
                                  tzinfo=PARIS).astimezone(UTC)
            if at <= t:
                return at
    raise AssertionError("every stream is collected at least once a week")


def _deposit_factor(params: ContainerParams, day: date) -> float:
    """How busy a day is at the drop-off point for this stream."""
    weekday = day.weekday()
    if params.waste_kind == "glass":
        return 1.4 if weekday >= 5 else 1.2 if weekday == 0 else 0.9
    if params.waste_kind == "paper":
        return 0.7 if weekday >= 5 else 1.1
    return 1.0


def fill_level(dev: SimDevice, t: datetime) -> float:
    """Fill ratio 0..1 of a container at ``t`` (no measurement noise)."""
    params: ContainerParams = dev.params
    since = last_collection(params, t)
    total = 0.0
    day = since.astimezone(PARIS).date()
    end_day = t.astimezone(PARIS).date()
    while day <= end_day:
        open_at = datetime.combine(day, time(int(DEPOSIT_HOURS[0])), tzinfo=PARIS)
        close_at = datetime.combine(day, time(int(DEPOSIT_HOURS[1])), tzinfo=PARIS)
        lo, hi = max(open_at, since), min(close_at, t)
        if hi > lo:
            share = (hi - lo).total_seconds() / (close_at - open_at).total_seconds()
            volume = params.fill_per_day * _deposit_factor(params, day) * max(
                0.0, 1 + 0.25 * rnd.normal(dev.seed, dev.index, "deposit", day.toordinal()))
            total += volume * share
        day += timedelta(days=1)
    return min(1.0, total)


def container_values(dev: SimDevice, t: datetime) -> dict[str, Any]:
    """LDDS75 reading: distance from the lid sensor to the waste, probe temperature, battery."""
    params: ContainerParams = dev.params
    model = params.model
    distance = model.empty_distance - fill_level(dev, t) * (model.empty_distance - model.full_distance)
    distance += 0.006 * rnd.normal(dev.seed, dev.index, t.timestamp(), "distance")
    distance = min(model.empty_distance + 0.05, max(0.28, distance))
    return {
        "batteryVoltage": round(3.30 + 0.30 * battery_level(dev, t), 3),
        "distance": round(distance, 3),
        "interruptFlag": False,
        "temperature": round(ambient_temperature(t) + 2.0 + 0.5 * rnd.normal(dev.seed, dev.index, t.timestamp()), 1),
        "sensorDetected": True,
    }


# --- rivers ------------------------------------------------------------------------------------
def flood_shape(hours_since_arrival: float, flood: FloodEvent) -> float:
    """0..1 hydrograph of a flood ``hours_since_arrival`` after it reached a site."""
    tau = hours_since_arrival
    if tau <= 0:
        return 0.0
    if tau < flood.rise_hours:
        return (1 - math.cos(math.pi * tau / flood.rise_hours)) / 2
    return math.exp(-3.0 * (tau - flood.rise_hours) / flood.fall_hours)


def flood_fraction(site_river: str, site_order: int, scenario: Scenario, t: datetime) -> float:
    """Largest 0..1 flood shape of the scenario's floods at a site (0 without floods)."""
    fraction = 0.0
    for flood in scenario.floods:
        if flood.rivers and site_river not in flood.rivers:
            continue
        hours = (t - flood.start).total_seconds() / 3600 - flood.travel_hours * site_order
        fraction = max(fraction, flood_shape(hours, flood))
    return fraction


def flood_rise(dev: SimDevice, scenario: Scenario, t: datetime) -> float:
    """Metres the floods of the scenario add to a level probe's base level at ``t``."""
    params: RiverParams = dev.params
    rise = 0.0
    for flood in scenario.floods:
        if flood.rivers and params.site.river not in flood.rivers:
            continue
        hours = (t - flood.start).total_seconds() / 3600 - flood.travel_hours * params.site.order
        rise += flood.peak_m * params.flood_scale * flood_shape(hours, flood)
    return rise


def river_level(dev: SimDevice, scenario: Scenario, t: datetime) -> float:
    """Water level (m) at a level probe, without measurement noise."""
    params: RiverParams = dev.params
    days = t.timestamp() / 86400
    phase = 2 * math.pi * rnd.uniform(dev.seed, dev.index, "phase")
    slow = 0.02 * math.sin(2 * math.pi * days / 11.3 + phase) + 0.01 * math.sin(2 * math.pi * days / 2.7 + 2 * phase)
    return max(0.02, params.base_level + slow) + flood_rise(dev, scenario, t)


def river_values(dev: SimDevice, scenario: Scenario, t: datetime) -> dict[str, Any]:
    """DL-CTD10 reading: water depth above the probe, water temperature, conductivity, battery."""
    params: RiverParams = dev.params
    level = river_level(dev, scenario, t) + 0.004 * rnd.normal(dev.seed, dev.index, t.timestamp(), "level")
    fraction = flood_fraction(params.site.river, params.site.order, scenario, t)
    return {
        "deviceId": 1000 + dev.number,
        "waterDepth": round(max(0.0, level), 3),
        "temperature": round(water_temperature(t), 1),
        "conductivity": round(850 * (1 - 0.45 * fraction)),
        "freezingFlag": False,
        "batteryVoltage": round(3.0 + 0.6 * battery_level(dev, t), 3),
    }


def _oxygen_saturation(temp_c: float) -> float:
    """Dissolved-oxygen saturation in fresh water (mg/L) at ``temp_c`` (polynomial fit, 0–30 °C)."""
    return 14.62 - 0.3898 * temp_c + 0.006969 * temp_c ** 2 - 0.00005897 * temp_c ** 3


def water_values(dev: SimDevice, scenario: Scenario, t: datetime) -> dict[str, Any]:
    """Water-quality probe reading: temperature, pH, conductivity (µS/cm), turbidity (FNU), O2 (mg/L)."""
    params: WaterParams = dev.params
    hour, _, _ = local_hour(t)
    fraction = flood_fraction(params.site.river, params.site.order, scenario, t)
    key = (dev.seed, dev.index, t.timestamp())
    temp = water_temperature(t) + 0.1 * rnd.normal(*key, "t")
    daylight = math.cos(2 * math.pi * (hour - 15.5) / 24)  # photosynthesis: O2 and pH peak mid-afternoon
    ph = params.ph + 0.2 * daylight - 0.35 * fraction + 0.02 * rnd.normal(*key, "ph")
    oxygen = _oxygen_saturation(temp) * (0.92 + 0.1 * daylight) - 1.5 * fraction + 0.1 * rnd.normal(*key, "o2")
    turbidity = params.turbidity * (1 + 60 * fraction) * (1 + 0.08 * rnd.normal(*key, "turb"))
    conductivity = params.conductivity * (1 - 0.5 * fraction) * (1 + 0.01 * rnd.normal(*key, "cond"))
    return {
        "temperature": round(temp, 1),
        "pH": round(ph, 2),
        "conductivity": round(conductivity),
        "turbidity": round(max(0.1, turbidity), 1),
        "O2": round(max(0.5, oxygen), 2),
    }


# --- counting ----------------------------------------------------------------------------------
def counter_profile(kind: str, t: datetime) -> tuple[float, float]:
    """(share of the peak hourly rate 0..~1, share of passages in the "in" direction) at ``t``."""
    h, weekend, _ = local_hour(t)
    if kind == "bike":
        if weekend:
            rate = 0.03 + 0.35 * _gauss(h, 15.0, 2.5) + 0.12 * _gauss(h, 10.5, 1.5)
            return rate, 0.5
        rate = 0.03 + 1.0 * _gauss(h, 8.25, 0.8) + 0.85 * _gauss(h, 18.25, 1.0) + 0.22 * _gauss(h, 12.5, 1.3)
        return rate, 0.5 + 0.18 * _gauss(h, 8.25, 1.5) - 0.18 * _gauss(h, 18.25, 1.5)
    if weekend:
        return 0.03 + 0.97 * _gauss(h, 15.5, 2.2) + 0.25 * _gauss(h, 11.5, 1.5), 0.5
    return 0.03 + 0.3 * _gauss(h, 8.5, 1.0) + 0.55 * _gauss(h, 12.5, 1.2) + 0.5 * _gauss(h, 17.8, 1.5), 0.5


def expected_count(dev: SimDevice, t: datetime) -> float:
    """Expected passages (both directions) in the counting period ending at ``t``."""
    params: CounterParams = dev.params
    mid = t - timedelta(seconds=dev.period_s / 2)
    rate, _ = counter_profile(dev.kind, mid)
    return params.peak_per_hour * rate * dev.period_s / 3600


def counter_values(dev: SimDevice, t: datetime) -> dict[str, Any]:
    """VS350 reading: passages in and out during the period ending at ``t``, temperature, battery."""
    mid = t - timedelta(seconds=dev.period_s / 2)
    _, share_in = counter_profile(dev.kind, mid)
    mean = expected_count(dev, t)
    key = (dev.seed, dev.index, t.timestamp())
    return {
        "batteryLevel": battery_level(dev, t),
        "temperature": round(ambient_temperature(t) + 1.5 + 0.3 * rnd.normal(*key, "t"), 1),
        "intensityIn": rnd.poisson(mean * share_in, *key, "in"),
        "intensityOut": rnd.poisson(mean * (1 - share_in), *key, "out"),
    }


# --- lighting ----------------------------------------------------------------------------------
@lru_cache(maxsize=65536)
def sun_times(lat: float, lon: float, day: date) -> tuple[datetime, datetime]:
    """(sunrise, sunset) on the local date ``day`` at (lat, lon), from astral, as UTC datetimes."""
    observer = Observer(latitude=lat, longitude=lon)
    return (sunrise(observer, day, tzinfo=PARIS).astimezone(UTC),
            sunset(observer, day, tzinfo=PARIS).astimezone(UTC))


def commanded_level(lat: float, lon: float, t: datetime) -> float:
    """Level a group at (lat, lon) is commanded at: 0 by day, 1 at night, 0.5 from 23:00 to 05:00."""
    hour, _, local = local_hour(t)
    rise, set_ = sun_times(round(lat, 4), round(lon, 4), local.date())
    if rise <= t < set_:
        return 0.0
    return DIM_LEVEL if hour >= 23 or hour < 5 else 1.0


def relative_power(level: float) -> float:
    """Power drawn at a dimming level, as a share of nominal power (LED driver losses at low level)."""
    return 0.0 if level <= 0 else 0.1 + 0.9 * level


class _NightTable:
    """Per-night burn hours (full-power equivalent) and on hours from ENERGY_EPOCH, with prefix sums."""

    def __init__(self, lat: float, lon: float) -> None:
        """An empty table for the grid cell centred on (lat, lon)."""
        self.lat, self.lon = lat, lon
        self.burn = [0.0]
        self.on = [0.0]

    def night(self, day: date, until: datetime | None = None) -> tuple[float, float]:
        """(burn hours, on hours) of the night starting at sunset on ``day``, up to ``until``."""
        on_at = sun_times(self.lat, self.lon, day)[1]
        off_at = sun_times(self.lat, self.lon, day + timedelta(days=1))[0]
        end = off_at if until is None else min(off_at, until)
        if end <= on_at:
            return 0.0, 0.0
        dim_from = datetime.combine(day, DIM_FROM, tzinfo=PARIS).astimezone(UTC)
        dim_to = datetime.combine(day + timedelta(days=1), DIM_TO, tzinfo=PARIS).astimezone(UTC)
        dimmed = max(0.0, (min(end, dim_to) - max(on_at, dim_from)).total_seconds()) / 3600
        on_hours = (end - on_at).total_seconds() / 3600
        return (on_hours - dimmed) + dimmed * relative_power(DIM_LEVEL), on_hours

    def prefix(self, nights: int) -> tuple[float, float]:
        """Sums over the first ``nights`` nights from ENERGY_EPOCH."""
        while len(self.burn) <= nights:
            burn, on = self.night(ENERGY_EPOCH + timedelta(days=len(self.burn) - 1))
            self.burn.append(self.burn[-1] + burn)
            self.on.append(self.on[-1] + on)
        return self.burn[nights], self.on[nights]

    def integral(self, t: datetime) -> tuple[float, float]:
        """(burn hours, on hours) from ENERGY_EPOCH to ``t``."""
        local_day = t.astimezone(PARIS).date()
        index = (local_day - ENERGY_EPOCH).days
        if index < 0:
            return 0.0, 0.0
        rise, set_ = sun_times(self.lat, self.lon, local_day)
        if t < rise:
            burn, on = self.prefix(max(0, index - 1))
            if index >= 1:
                part = self.night(local_day - timedelta(days=1), t)
                burn, on = burn + part[0], on + part[1]
            return burn, on
        burn, on = self.prefix(index)
        if t >= set_:
            part = self.night(local_day, t)
            burn, on = burn + part[0], on + part[1]
        return burn, on


_tables: dict[tuple[float, float], _NightTable] = {}
_tables_lock = threading.Lock()
_failures: dict[tuple[str, int, datetime], list[tuple[datetime, datetime]]] = {}


def _table(lat: float, lon: float) -> _NightTable:
    """The night table of the grid cell holding (lat, lon)."""
    cell = (round(round(lat / _ENERGY_GRID) * _ENERGY_GRID, 4), round(round(lon / _ENERGY_GRID) * _ENERGY_GRID, 4))
    with _tables_lock:
        table = _tables.get(cell)
        if table is None:
            table = _tables[cell] = _NightTable(*cell)
        return table


def _integral(lat: float, lon: float, t: datetime) -> tuple[float, float]:
    """(burn hours, on hours) since ENERGY_EPOCH at (lat, lon); thread-safe."""
    table = _table(lat, lon)
    with _tables_lock:
        return table.integral(t)


def lamp_failures(dev: SimDevice, until: datetime) -> list[tuple[datetime, datetime]]:
    """Failure intervals of a lamp (local noon to local noon, covering whole nights) starting before ``until``."""
    with _tables_lock:
        events = _failures.setdefault((dev.id, dev.index, dev.installed_at), [])
        while not events or events[-1][0] < until:
            n = len(events)
            previous = events[-1][1] if events else dev.installed_at
            gap = -math.log(1 - rnd.uniform(dev.seed, dev.index, "failure-gap", n)) * MEAN_NIGHTS_BETWEEN_FAILURES
            nights = REPAIR_NIGHTS[0] + int(rnd.uniform(dev.seed, dev.index, "repair", n)
                                            * (REPAIR_NIGHTS[1] - REPAIR_NIGHTS[0] + 1))
            start_day = previous.astimezone(PARIS).date() + timedelta(days=max(1, round(gap)))
            start = datetime.combine(start_day, time(12), tzinfo=PARIS).astimezone(UTC)
            end = datetime.combine(start_day + timedelta(days=nights), time(12), tzinfo=PARIS).astimezone(UTC)
            events.append((start, end))
        stop = bisect.bisect_left([s for s, _ in events], until)
        return list(events[:stop])


def lamp_failed(dev: SimDevice, t: datetime) -> bool:
    """True when the lamp is out of order at ``t``."""
    return any(start <= t < end for start, end in lamp_failures(dev, t + timedelta(microseconds=1)))


def light_power(dev: SimDevice, t: datetime) -> tuple[float, float, bool]:
    """(commanded level 0..1, active power in W without noise, failed?) of a streetlight at ``t``."""
    params: LightParams = dev.params
    level = commanded_level(params.group_lat, params.group_lon, t) if t >= dev.installed_at else 0.0
    if level == 0:
        return 0.0, 0.0, False
    if lamp_failed(dev, t):
        return level, FAILED_LAMP_W, True
    return level, params.model.power_w * relative_power(level), False


def _burn_between(lat: float, lon: float, start: datetime, end: datetime) -> tuple[float, float]:
    """(burn hours, on hours) between two instants at (lat, lon)."""
    burn_a, on_a = _integral(lat, lon, start)
    burn_b, on_b = _integral(lat, lon, end)
    return burn_b - burn_a, on_b - on_a


_finished_failure = lru_cache(maxsize=65536)(_burn_between)


def light_energy(dev: SimDevice, t: datetime) -> float:
    """Energy (kWh) a streetlight consumed from its installation to ``t``."""
    if t <= dev.installed_at:
        return 0.0
    params: LightParams = dev.params
    lat, lon = params.group_lat, params.group_lon
    burn_t, _ = _integral(lat, lon, t)
    burn_0, _ = _integral(lat, lon, dev.installed_at)
    watt_hours = params.model.power_w * (burn_t - burn_0)
    for start, end in lamp_failures(dev, t):
        # A finished failure is a fixed interval (cached); only an ongoing one depends on t.
        burn, on = _finished_failure(lat, lon, start, end) if end <= t else _burn_between(lat, lon, start, t)
        watt_hours -= params.model.power_w * burn - FAILED_LAMP_W * on
    return watt_hours / 1000


def light_values(dev: SimDevice, t: datetime) -> dict[str, Any]:
    """Streetlight controller status: state, dimming, active power, energy, supply voltage, failure flag."""
    params: LightParams = dev.params
    level, power, failed = light_power(dev, t)
    key = (dev.seed, dev.index, t.timestamp())
    if power > 0 and not failed:
        power *= 1 + 0.01 * rnd.normal(*key, "p")
    return {
        "powerState": "on" if level > 0 else "off",
        "dimmingLevel": round(level * 100),
        "lampFailure": failed,
        "manualOverride": False,
        "activePower": round(power, 1),
        "energy": round(light_energy(dev, t), 3),
        "voltage": round(231.0 + params.voltage_offset + 1.2 * rnd.normal(*key, "v"), 1),
    }


def cabinet_values(dev: SimDevice, t: datetime) -> dict[str, Any]:
    """WS558 reading of a lighting cabinet: sums of its lights' power and energy, supply, circuits."""
    params: CabinetParams = dev.params
    power = 0.0
    energy = 0.0
    for light in params.lights:
        values = light_values(light, t)
        power += values["activePower"]
        energy += values["energy"]
    level = commanded_level(params.group_lat, params.group_lon, t)
    voltage = round(231.0 + 1.2 * rnd.normal(dev.seed, dev.index, t.timestamp(), "v"), 1)
    power_factor = 0.93 if power > 0 else 1.0
    values: dict[str, Any] = {
        "voltage": voltage,
        "activePower": round(power),
        "powerFactor": power_factor,
        "energy": round(energy, 3),
        "current": round(power / (voltage * power_factor), 3),
    }
    for n in range(1, 9):
        values[f"circuit{n}"] = "on" if level > 0 and n <= params.circuits else "off"
    values["powerState"] = "on" if level > 0 and params.circuits else "off"
    return values


def reading(dev: SimDevice, t: datetime, scenario: Scenario = Scenario()) -> dict[str, Any]:
    """What ``dev`` reports for the period ending at ``t``: its codec's measurement keys and values."""
    kind = dev.kind
    if kind == "noise":
        return noise_values(dev, t)
    if kind == "waste":
        return container_values(dev, t)
    if kind == "river":
        return river_values(dev, scenario, t)
    if kind == "water":
        return water_values(dev, scenario, t)
    if kind in ("bike", "pedestrian"):
        return counter_values(dev, t)
    if kind == "streetlight":
        return light_values(dev, t)
    if kind == "cabinet":
        return cabinet_values(dev, t)
    raise ValueError(f"unknown device kind {kind!r}")

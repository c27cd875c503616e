"""HTTP API of the lighting use case, mounted at /api/v1/lighting: schedules, faults, energy.

Assets come from the stored Streetlight, StreetlightGroup, StreetlightControlCabinet and
StreetlightModel entities; measurements from their temporal history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from pydantic import Field

from calanque.ngsild.api.http import tenant_of
from calanque.ngsild.canonical import format_ts, parse_ts
from calanque.ngsild.errors import BadRequestData, NonexistentTenant, ResourceNotFound
from calanque.store.base import HistoryQuery, HourlyRollup, Session
from calanque.usecases.common import CamelModel, from_us, max_period_of, parse_window, store_of, term_iri, to_us
from calanque.usecases.hourly import HybridSeries, Usable, read_hybrid
from calanque.usecases.lighting.assets import Fleet, Group, Light, load_fleet, number, of_type, value
from calanque.usecases.lighting.energy import (
    HourBlocks,
    LightEnergy,
    aggregate,
    energy_from_counter_hours,
    energy_from_power_hours,
    on_hours,
    on_hours_from_power_hours,
)
from calanque.usecases.lighting.faults import LAMP_FAILURE, Fault, LightObservations, detect_faults
from calanque.usecases.lighting.schedule import Switch, night_schedule, sun_times
from calanque.usecases.lighting.settings import LightingSettings

Series = list[tuple[datetime, float]]
# How far back before a period the history is searched for the state holding at its start and the last message
# (a light silent for longer is dated by its entity's latest observation instead).
CARRY_IN = timedelta(days=1)


class Point(CamelModel):
    """A WGS84 position."""

    lon: float
    lat: float


class SwitchOut(CamelModel):
    """From ``time`` on, the lights run at ``level`` (0 = off, 1 = full power)."""

    time: datetime
    level: float


class GroupScheduleOut(CamelModel):
    """One group's switching times and dimming levels for the night starting on ``date``."""

    id: str
    location: Point
    location_source: str
    sunset: datetime
    sunrise: datetime
    switch_on_offset_minutes: float
    switch_off_offset_minutes: float
    switch_on: datetime
    switch_off: datetime
    hours_on: float
    full_power_equivalent_hours: float
    switches: list[SwitchOut]


class ScheduleOut(CamelModel):
    """Schedules of the night starting on ``date`` (local time)."""

    date: date
    timezone: str
    groups: list[GroupScheduleOut]
    skipped: list[SkippedOut]


class FaultOut(CamelModel):
    """One fault of one light."""

    id: str
    group: str | None
    kind: str
    started_at: datetime
    ended_at: datetime | None
    detail: str
    source: str


class SkippedOut(CamelModel):
    """An asset left out of an answer, and why (its stored data cannot be used)."""

    id: str
    reason: str


class FaultsOut(CamelModel):
    """Faults of the lights over a period (open ones: still going on at ``to``)."""

    from_: datetime = Field(alias="from")
    to: datetime
    state: str
    lights: int
    commanded_state: str
    faults: list[FaultOut]
    skipped: list[SkippedOut]


class EnergyOut(CamelModel):
    """Energy of a light, a group, a cabinet or the whole set over the period."""

    id: str
    consumed_kwh: float
    baseline_kwh: float
    saved_kwh: float
    saved_pct: float | None


class LightEnergyOut(EnergyOut):
    """Energy of one light, with its on-time and where the consumption came from."""

    group: str | None
    cabinet: str | None
    hours_on: float
    hours_source: str
    nominal_power_w: float
    source: str


class CabinetEnergyOut(EnergyOut):
    """Energy of a cabinet's lights, and what the cabinet's own meter counted."""

    metered_kwh: float | None


class EnergyReportOut(CamelModel):
    """Energy per light, group and cabinet against the full-power baseline (nominal power × hours on)."""

    from_: datetime = Field(alias="from")
    to: datetime
    lights: list[LightEnergyOut]
    groups: list[EnergyOut]
    cabinets: list[CabinetEnergyOut]
    total: EnergyOut
    without_data: list[str]
    without_nominal_power: list[str]


def _energy_out(e: LightEnergy) -> dict[str, Any]:
    """The common energy fields of a LightEnergy."""
    return {"id": e.id, "consumed_kwh": e.consumed_kwh, "baseline_kwh": e.baseline_kwh,
            "saved_kwh": e.saved_kwh, "saved_pct": e.saved_pct}


class NetworkOut(CamelModel):
    """The state of the lighting network now, from each light's latest values."""

    at: datetime
    lights: int
    lit: int = Field(description="Drawing at least failure_power_ratio × nominal power (powerState 'on' without power)")
    dimmed: int = Field(description="Lit lights whose illuminanceLevel is below 1")
    off: int
    unknown: int = Field(description="Lights that reported neither power nor powerState")
    silent: int = Field(description="No message for comm_loss_intervals reporting intervals")
    reported_faulty: int = Field(description="Lights whose controller reports status defectiveLamp")
    power_w: float = Field(description="Sum of the latest powerConsumption of the lights")
    groups: int
    cabinets: int


def _fleet(session: Session, tenant: str, group: str | None) -> Fleet:
    """The tenant's lighting assets; 404 for an unknown tenant or group."""
    if not session.tenant_exists(tenant):
        raise NonexistentTenant(f"tenant '{tenant}' does not exist")
    fleet = load_fleet(session, tenant)
    if group is not None and group not in fleet.groups:
        raise ResourceNotFound(f"no StreetlightGroup '{group[:120]}' in this tenant")
    return fleet


def _night(g: Group, day: date, settings: LightingSettings) -> list[Switch]:
    """The group's switches for the night starting on ``day``; 400 naming the group when its data is unusable."""
    if g.location is None:
        raise BadRequestData(f"StreetlightGroup '{g.id}' has no location and none of its lights has one")
    try:
        return night_schedule(g.location[1], g.location[0], day, g.profile(), g.on_offset, g.off_offset,
                              tz=settings.tz())
    except ValueError as err:
        raise BadRequestData(f"StreetlightGroup '{g.id}': {err}") from None


def _commanded(g: Group, start: datetime, end: datetime, settings: LightingSettings) -> Series:
    """The commanded level (0..1) of a group over [start, end) as a step series, from its nightly schedules."""
    tz = settings.tz()
    day = start.astimezone(tz).date() - timedelta(days=1)
    steps: Series = []
    while day <= end.astimezone(tz).date():
        steps += [(s.time, s.level) for s in _night(g, day, settings)]
        day += timedelta(days=1)
    return steps


def _last_before(session: Session, tenant: str, ids: Sequence[str], attrs: Sequence[str],
                 start: datetime) -> dict[tuple[str, str], tuple[datetime, Any]]:
    """The last (time, value) of each (entity, attribute IRI) in the CARRY_IN period before ``start``."""
    if not ids:
        return {}
    rows = session.read_history(tenant, HistoryQuery(
        entity_ids=list(ids), attrs=[term_iri(a) for a in attrs], start=format_ts(start - CARRY_IN),
        end=format_ts(start), last_n=1,
    ))
    return {(r.entity_id, r.attr): (parse_ts(r.observed_at), r.instance.get("value"))
            for r in rows if not r.deleted and not r.dataset_id and r.observed_at is not None}


def _reports(session: Session, tenant: str, ids: Sequence[str], attr: str, start: datetime,
             end: datetime) -> dict[str, list[tuple[datetime, Any]]]:
    """The (time, value) reports of a (text) attribute per entity in [start, end), oldest first."""
    if not ids:
        return {}
    rows = session.read_history(tenant, HistoryQuery(
        entity_ids=list(ids), attrs=[term_iri(attr)], start=format_ts(start), end=format_ts(end)))
    out: dict[str, list[tuple[datetime, Any]]] = {}
    for r in rows:
        if not r.deleted and not r.dataset_id and r.observed_at is not None:
            out.setdefault(r.entity_id, []).append((parse_ts(r.observed_at), r.instance.get("value")))
    return out


def _state_reports(before: dict[tuple[str, str], tuple[datetime, Any]], during: dict[str, list[tuple[datetime, Any]]],
                   light: str, start: datetime) -> Series:
    """A light's powerState as a 1/0 step series over the period, the state holding at ``start`` included."""
    carried = before.get((light, term_iri("powerState")))
    return _on_off(([carried] if carried else []) + during.get(light, []), start)


def _on_off(reports: list[tuple[datetime, Any]], start: datetime) -> Series:
    """powerState reports as a 1/0 step series; the report holding at ``start`` is dated ``start``."""
    steps = [(max(t, start), 1.0 if v == "on" else 0.0) for t, v in reports if v in ("on", "off")]
    return [p for i, p in enumerate(steps) if i + 1 == len(steps) or steps[i + 1][0] > p[0]]


def _series(session: Session, tenant: str, light: str, attr: str, start: datetime, end: datetime) -> Series:
    """A numeric attribute's default-instance history in [start, end)."""
    rows = session.read_series(tenant, light, term_iri(attr), to_us(start), to_us(end), dataset_id="")
    return [(from_us(t), float(v)) for t, v in rows]


def _hourly(session: Session, tenant: str, entity: str, attr: str, start: datetime, end: datetime,
            usable: Usable | None = None) -> HybridSeries:
    """A numeric attribute's default-instance history in [start, end): whole hours as the store's hourly
    summaries (those ``usable`` accepts), raw samples elsewhere."""
    return read_hybrid(session, tenant, entity, term_iri(attr), to_us(start), to_us(end), dataset_id="",
                       usable=usable)


def _blocks(series: HybridSeries) -> HourBlocks:
    """The summarised hours of a series, as the energy computations take them."""
    h = series.hours
    return HourBlocks(h.t0, h.v0, h.t1, h.v1, h.n, h.mn, h.mx, h.inc, h.trap)


def _power_hours(light: Light, settings: LightingSettings, max_gap: timedelta) -> Usable:
    """Which hours of a light's power readings can be used summarised: no step longer than ``max_gap`` (the
    integration skips those), and all lit or all unlit (at least 10 % of nominal power, or below)."""
    gap_us = max_gap.total_seconds() * 1e6
    lit = settings.failure_power_ratio * light.nominal_w if light.nominal_w and light.nominal_w > 0 else None

    def usable(hours: HourlyRollup) -> np.ndarray:
        short = hours.dmax <= gap_us
        return short if lit is None else short & ((hours.mn >= lit) | (hours.mx < lit))

    return usable


def _reporting_interval(messages: list[datetime], settings: LightingSettings) -> timedelta:
    """The median gap between a light's messages, or the configured interval with fewer than 3 messages."""
    times = sorted(set(messages))
    if len(times) >= 3:
        gap = median(b - a for a, b in zip(times, times[1:], strict=False))
        if gap > timedelta(0):
            return gap
    return timedelta(minutes=settings.reporting_interval_minutes)


def _light_faults(light: Light, group: Group | None, commanded: Series, power: Series, states: Series,
                  messages: list[datetime], end: datetime, settings: LightingSettings) -> list[Fault]:
    """Detected faults of one light until ``end``; ``commanded`` is its group's schedule as a step series."""
    position = light.location or (group.location if group else None)
    if position is None:
        raise BadRequestData(f"Streetlight '{light.id}' has no location, nor a group with one")
    rules = settings.fault_rules(group.on_offset if group else timedelta(0), group.off_offset if group else timedelta(0))
    # Without a nominal power, neither lamp failure nor a power-based on/off state can be judged.
    nominal = light.nominal_w if light.nominal_w and light.nominal_w > 0 else None
    obs = LightObservations(
        lat=position[1], lon=position[0], nominal_power_w=nominal or 1.0,
        commanded=commanded if nominal else [], power=power if nominal else [], state=states,
        messages=messages, reporting_interval=_reporting_interval(messages, settings),
    )
    return detect_faults(obs, end, rules, settings.tz())


def _group_schedule(g: Group, day: date, settings: LightingSettings) -> GroupScheduleOut:
    """One group's schedule for the night starting on ``day``; 400 naming the group when its data is unusable."""
    switches = _night(g, day, settings)
    assert g.location is not None
    tz = settings.tz()
    sunset = sun_times(g.location[1], g.location[0], day, tz)[1]
    sunrise = sun_times(g.location[1], g.location[0], day + timedelta(days=1), tz)[0]
    spans = [(a.level, (b.time - a.time).total_seconds() / 3600) for a, b in zip(switches, switches[1:], strict=False)]
    return GroupScheduleOut(
        id=g.id, location=Point(lon=g.location[0], lat=g.location[1]), location_source=g.location_source,
        sunset=sunset, sunrise=sunrise,
        switch_on_offset_minutes=g.on_offset.total_seconds() / 60,
        switch_off_offset_minutes=g.off_offset.total_seconds() / 60,
        switch_on=switches[0].time, switch_off=switches[-1].time,
        hours_on=sum(h for level, h in spans if level > 0),
        full_power_equivalent_hours=sum(level * h for level, h in spans),
        switches=[SwitchOut(time=s.time, level=s.level) for s in switches],
    )


def build_router(settings: LightingSettings) -> APIRouter:
    """The lighting API with the given settings."""
    router = APIRouter()

    @router.get(
        "/schedule", response_model=ScheduleOut, summary="Switching times and dimming levels of a night",
        description="Per streetlight group: on at sunset + switchOnOffset, off at the next sunrise − "
        "switchOffOffset (minutes), sun times computed by astral at the group's location (else its lights' "
        "centroid), and the dimming levels of its dimmingProfile in local time (CALANQUE_LIGHTING_TIMEZONE).",
    )
    def schedule(
        request: Request,
        date_: str | None = Query(None, alias="date", description="the night's local date, YYYY-MM-DD (default: today)"),
        group: str | None = Query(None, description="one StreetlightGroup id (default: every group)"),
    ) -> ScheduleOut:
        tz = settings.tz()
        day = _parse_day(date_, "date") if date_ is not None else datetime.now(tz).date()
        tenant = tenant_of(request)
        with store_of(request).session() as session:
            fleet = _fleet(session, tenant, group)
        chosen = [fleet.groups[group]] if group is not None else list(fleet.groups.values())
        out: list[GroupScheduleOut] = []
        skipped: list[SkippedOut] = []
        for g in chosen:
            try:
                out.append(_group_schedule(g, day, settings))
            except BadRequestData as err:
                if group is not None:
                    raise
                skipped.append(SkippedOut(id=g.id, reason=err.detail))
        return ScheduleOut(date=day, timezone=settings.timezone, groups=out, skipped=skipped)

    @router.get(
        "/network", response_model=NetworkOut, summary="State of the lighting network now",
        description="Counts of lights lit (drawing at least CALANQUE_LIGHTING_FAILURE_POWER_RATIO of the model's "
        "nominal power; the powerState report for a light without power readings), dimmed (lit with an "
        "illuminanceLevel below 1), off, without data, silent (no message for COMM_LOSS_INTERVALS × "
        "REPORTING_INTERVAL_MINUTES) and reported faulty (status defectiveLamp); the power drawn now (sum of "
        "the latest powerConsumption) and the number of groups and cabinets.",
    )
    def network(request: Request) -> NetworkOut:
        now = datetime.now(settings.tz())
        silent_after = timedelta(minutes=settings.comm_loss_intervals * settings.reporting_interval_minutes)
        tenant = tenant_of(request)
        counts = dict.fromkeys(("lit", "dimmed", "off", "unknown", "silent", "faulty"), 0)
        power_w = 0.0
        with store_of(request).session() as session:
            fleet = _fleet(session, tenant, None)
            for entity in of_type(session, tenant, "Streetlight"):
                light = fleet.lights.get(entity["id"])
                if light is None:
                    continue
                power = number(entity, "powerConsumption")
                state = value(entity, "powerState")
                if power is not None:
                    power_w += power
                if power is not None and light.nominal_w:
                    lit: bool | None = power >= settings.failure_power_ratio * light.nominal_w
                else:
                    lit = state == "on" if state in ("on", "off") else None
                level = number(entity, "illuminanceLevel")
                counts["unknown" if lit is None else "lit" if lit else "off"] += 1
                counts["dimmed"] += bool(lit and level is not None and level < 1)
                counts["silent"] += light.last_seen is None or now - light.last_seen > silent_after
                counts["faulty"] += light.status == "defectiveLamp"
        return NetworkOut(
            at=now, lights=len(fleet.lights), lit=counts["lit"], dimmed=counts["dimmed"], off=counts["off"],
            unknown=counts["unknown"], silent=counts["silent"], reported_faulty=counts["faulty"],
            power_w=power_w, groups=len(fleet.groups), cabinets=len(fleet.cabinets),
        )

    @router.get(
        "/faults", response_model=FaultsOut, summary="Faults of the streetlights",
        description="Lamp failure (commanded on but drawing less than 10 % of the model's nominal power, or "
        "reported by the controller as status defectiveLamp), day burner (on in daylight), cycling (too many "
        "on/off transitions within an hour while commanded on) and communication loss (silent for more than 3 "
        "reporting intervals). The commanded state is the group's astronomical schedule; the measured on/off "
        "state is the power drawn (at least 10 % of nominal), or the powerState reports of a light without power "
        "readings. Default: the faults open at 'to' (default now) over the 24 hours before it. Lights whose "
        "data cannot be judged (no position, unusable group) are listed in 'skipped'.",
    )
    def faults(
        request: Request,
        from_: str | None = Query(None, alias="from", description="start (ISO 8601), default: 'to' minus 24 h"),
        to: str | None = Query(None, description="end, exclusive (ISO 8601), default: now"),
        group: str | None = Query(None, description="only the lights of this StreetlightGroup"),
        state: Literal["open", "all"] = Query("open", description="open: still going on at 'to'; all: every fault"),
    ) -> FaultsOut:
        start, end = parse_window(from_, to, default=timedelta(hours=24),
                                  max_period=timedelta(days=settings.max_fault_days))
        tenant = tenant_of(request)
        found: list[FaultOut] = []
        skipped: list[SkippedOut] = []
        with store_of(request).session() as session:
            fleet = _fleet(session, tenant, group)
            lights = [lt for lt in fleet.lights.values() if group is None or lt.group_id == group]
            ids = [lt.id for lt in lights]
            powers = {lid: _series(session, tenant, lid, "powerConsumption", start, end) for lid in ids}
            # Lit or not is read from the power (at least the lamp-failure share of nominal); the slower
            # text powerState reports only for lights without power readings.
            unpowered = [lid for lid in ids if not powers[lid]]
            before = _last_before(session, tenant, ids, ["powerState", "powerConsumption"], start)
            reports = _reports(session, tenant, unpowered, "powerState", start, end)
            commands: dict[str, Series] = {}  # each group's schedule, computed once
            for light in lights:
                g = fleet.groups.get(light.group_id) if light.group_id else None
                power = powers[light.id]
                earlier = [before[k][0] for k in ((light.id, term_iri(a)) for a in ("powerState", "powerConsumption"))
                           if k in before]
                if not earlier and light.last_seen is not None and light.last_seen < start:
                    earlier = [light.last_seen]  # silent since before the look-back
                messages = sorted({t for t, _ in power} | {t for t, _ in reports.get(light.id, [])}
                                  | ({max(earlier)} if earlier else set()))
                states = [] if power else _state_reports(before, reports, light.id, start)
                try:
                    if g is not None and g.id not in commands:
                        commands[g.id] = _commanded(g, start, end, settings)
                    commanded = commands[g.id] if g is not None else []
                    detected = _light_faults(light, g, commanded, power, states, messages, end, settings)
                except BadRequestData as err:
                    skipped.append(SkippedOut(id=light.id, reason=err.detail))
                    continue
                if light.status == "defectiveLamp" and not any(
                    f.kind == LAMP_FAILURE and f.ended_at is None for f in detected
                ):
                    found.append(FaultOut(
                        id=light.id, group=light.group_id, kind=LAMP_FAILURE,
                        started_at=light.status_at or end, ended_at=None,
                        detail="reported by the controller (status defectiveLamp)", source="device",
                    ))
                found += [
                    FaultOut(id=light.id, group=light.group_id, kind=f.kind, started_at=f.started_at,
                             ended_at=f.ended_at, detail=f.detail, source="detected")
                    for f in detected if state == "all" or f.ended_at is None
                ]
        found.sort(key=lambda f: (f.started_at, f.id, f.kind))
        return FaultsOut(from_=start, to=end, state=state, lights=len(lights), commanded_state="schedule",
                         faults=found, skipped=skipped)

    @router.get(
        "/energy", response_model=EnergyReportOut, summary="Energy consumed and saved per light, group and cabinet",
        description="kWh consumed per light (from its lifetimePowerConsumption counter, else by integrating "
        "powerConsumption over samples at most CALANQUE_LIGHTING_ENERGY_MAX_GAP_MINUTES apart), against the "
        "full-power baseline: the model's nominal power × the hours the light was on (over those same power "
        "intervals, when drawing at least 10 % of nominal; from its powerState reports when it has no power "
        "readings); savings in kWh and %. Groups and cabinets sum their lights; a cabinet's own meter "
        "(energyConsumed) is reported beside. Default period: the 7 days before 'to' (default now).",
    )
    def energy(
        request: Request,
        from_: str | None = Query(None, alias="from", description="start (ISO 8601), default: 'to' minus 7 days"),
        to: str | None = Query(None, description="end, exclusive (ISO 8601), default: now"),
        group: str | None = Query(None, description="only the lights of this StreetlightGroup"),
    ) -> EnergyReportOut:
        start, end = parse_window(from_, to, default=timedelta(days=7), max_period=max_period_of(request))
        tenant = tenant_of(request)
        max_gap = timedelta(minutes=settings.energy_max_gap_minutes)
        per_light: list[LightEnergyOut] = []
        energies: list[LightEnergy] = []
        without_data: list[str] = []
        without_nominal: list[str] = []
        metered: dict[str, float | None] = {}
        with store_of(request).session() as session:
            fleet = _fleet(session, tenant, group)
            lights = [lt for lt in fleet.lights.values() if group is None or lt.group_id == group]
            counters = {lt.id: _hourly(session, tenant, lt.id, "lifetimePowerConsumption", start, end)
                        for lt in lights}
            powers = {lt.id: _hourly(session, tenant, lt.id, "powerConsumption", start, end,
                                     _power_hours(lt, settings, max_gap)) for lt in lights}
            unpowered = [lid for lid, power in powers.items() if power.samples < 2]
            before = _last_before(session, tenant, unpowered, ["powerState"], start)
            reports = _reports(session, tenant, unpowered, "powerState", start, end)
            for light in lights:
                counter, power = counters[light.id], powers[light.id]
                if counter.samples >= 2:
                    consumed = energy_from_counter_hours(counter.times, counter.values, _blocks(counter))
                    source = "counter"
                elif power.samples >= 2:
                    consumed = energy_from_power_hours(power.times, power.values, _blocks(power), max_gap)
                    source = "powerConsumption"
                else:
                    without_data.append(light.id)
                    continue
                if not light.nominal_w or light.nominal_w <= 0:
                    without_nominal.append(light.id)
                    continue
                if power.samples >= 2:
                    hours = on_hours_from_power_hours(power.times, power.values, _blocks(power),
                                                      settings.failure_power_ratio * light.nominal_w, max_gap)
                    hours_source = "powerConsumption"
                else:
                    hours = on_hours(_state_reports(before, reports, light.id, start), until=end)
                    hours_source = "powerState"
                e = LightEnergy(light.id, consumed, light.nominal_w * hours / 1000)
                energies.append(e)
                per_light.append(LightEnergyOut(
                    **_energy_out(e), group=light.group_id, cabinet=light.cabinet_id, hours_on=hours,
                    hours_source=hours_source, nominal_power_w=light.nominal_w, source=source,
                ))
            cabinet_ids = sorted({lt.cabinet_id for lt in lights if lt.cabinet_id})
            for cid in cabinet_ids:
                meter = _hourly(session, tenant, cid, "energyConsumed", start, end)
                metered[cid] = (energy_from_counter_hours(meter.times, meter.values, _blocks(meter))
                                if meter.samples >= 2 else None)
        groups = aggregate([e for e in energies if fleet.lights[e.id].group_id],
                           {lt.id: lt.group_id for lt in lights if lt.group_id})
        cabinets = aggregate([e for e in energies if fleet.lights[e.id].cabinet_id],
                             {lt.id: lt.cabinet_id for lt in lights if lt.cabinet_id})
        total = LightEnergy("total", sum(e.consumed_kwh for e in energies), sum(e.baseline_kwh for e in energies))
        return EnergyReportOut(
            from_=start, to=end, lights=per_light,
            groups=[EnergyOut(**_energy_out(groups[k])) for k in sorted(groups)],
            cabinets=[CabinetEnergyOut(**_energy_out(cabinets[k]), metered_kwh=metered.get(k)) for k in sorted(cabinets)],
            total=EnergyOut(**_energy_out(total)), without_data=without_data, without_nominal_power=without_nominal,
        )

    return router


def _parse_day(value: str, name: str) -> date:
    """A YYYY-MM-DD parameter."""
    try:
        if len(value.strip()) != 10:
            raise ValueError
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadRequestData(f"parameter '{name}' must be a date YYYY-MM-DD (e.g. 2026-11-25), got '{value[:40]}'") from None

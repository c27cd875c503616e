"""Tests of the waste use case: fill ratio, emptyings, forecasts, collection rounds, incidents.

Expected values are worked out by hand in comments, or come from an independent reference
(brute force over all tours, the known optimum of a grid tour, the Beardwood–Halton–Hammersley
constant for random tours).
"""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from calanque.usecases.waste.fill import EmptyingRule, detect_emptyings, detect_emptyings_us, fill_ratio, fill_series
from calanque.usecases.waste.forecast import Forecast, forecast
from calanque.usecases.waste.incidents import (
    IMPOSSIBLE_JUMP,
    MOVED,
    OVERFLOW,
    PROLONGED_HIGH_FILL,
    STUCK_SENSOR,
    TILTED,
    IncidentRules,
    impossible_jump_incidents,
    impossible_jump_incidents_us,
    moved_incidents,
    overflow_incidents,
    overflow_incidents_us,
    stuck_sensor_incidents,
    stuck_sensor_incidents_us,
    tilt_incidents,
)
from calanque.usecases.waste.routing import (
    ContainerState,
    collection_plan,
    haversine_matrix,
    nearest_neighbour_tour,
    tour_length,
    two_opt,
)

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
R_KM = 6371.0088


def hav_km(p: tuple[float, float], q: tuple[float, float]) -> float:
    """Great-circle distance, written out independently of the module (textbook haversine)."""
    (la1, lo1), (la2, lo2) = p, q
    f1, f2 = math.radians(la1), math.radians(la2)
    h = math.sin((f2 - f1) / 2) ** 2 + math.cos(f1) * math.cos(f2) * math.sin(math.radians(lo2 - lo1) / 2) ** 2
    return 2 * R_KM * math.asin(math.sqrt(h))


def closed_length(points: list[tuple[float, float]]) -> float:
    """Length of the closed polygon through the points, in order."""
    return sum(hav_km(points[i], points[(i + 1) % len(points)]) for i in range(len(points)))


# ---------------------------------------------------------------- fill ratio


@pytest.mark.parametrize(
    ("distance", "expected"),
    [
        (1.2, 0.0),  # at the empty distance
        (0.2, 1.0),  # at the full distance
        (0.7, 0.5),  # (1.2 - 0.7) / (1.2 - 0.2) = 0.5 / 1.0
        (0.45, 0.75),  # (1.2 - 0.45) / 1.0 = 0.75
        (1.5, 0.0),  # beyond the bottom (echo off the floor): -0.3 clamped to 0
        (0.05, 1.0),  # heaped above the full line: 1.15 clamped to 1
    ],
)
def test_fill_ratio_examples(distance: float, expected: float) -> None:
    assert fill_ratio(distance, 1.2, 0.2) == pytest.approx(expected)


def test_fill_ratio_other_geometry() -> None:
    # Empty at 1.60 m, full at 0.40 m: span 1.20 m; 1.00 m -> (1.60 - 1.00) / 1.20 = 0.5.
    assert fill_ratio(1.0, 1.6, 0.4) == pytest.approx(0.5)
    assert [v for _, v in fill_series([(T0, 1.3)], 1.6, 0.4)] == [pytest.approx(0.25)]  # 0.30 / 1.20


def test_fill_ratio_rejects_inverted_calibration() -> None:
    with pytest.raises(ValueError, match="empty_distance_m > full_distance_m"):
        fill_ratio(0.5, 0.2, 1.2)


# ---------------------------------------------------------------- emptyings and forecast


def two_emptyings_series() -> tuple[list[tuple[datetime, float]], datetime, datetime]:
    """Fill grows 0.1/day, sampled every 6 h; emptied twice.

    - 2026-03-01 00:00 → 03-08 00:00: 0.15 + 0.1·d, reaching 0.85 on 03-08 00:00.
    - 03-08 01:00: 0.05 (drop 0.80 in 1 h, ends < 0.2): first emptying E1 = 03-08 01:00.
    - then 0.05 + 0.1·(t − E1) every 6 h up to 03-15 01:00 (0.75).
    - 03-15 02:00: 0.10 (drop 0.65 in 1 h): second emptying E2 = 03-15 02:00.
    - then 0.10 + 0.1·(t − E2) every 6 h for 3 days: 0.40 on 03-18 02:00.
    """
    series = [(T0 + timedelta(hours=6 * k), 0.15 + 0.1 * (6 * k / 24)) for k in range(0, 29)]
    e1 = datetime(2026, 3, 8, 1, tzinfo=UTC)
    series += [(e1 + timedelta(hours=6 * k), 0.05 + 0.1 * (6 * k / 24)) for k in range(0, 29)]
    e2 = datetime(2026, 3, 15, 2, tzinfo=UTC)
    series += [(e2 + timedelta(hours=6 * k), 0.10 + 0.1 * (6 * k / 24)) for k in range(0, 13)]
    return series, e1, e2


def test_detect_two_emptyings() -> None:
    series, e1, e2 = two_emptyings_series()
    events = detect_emptyings(series)
    assert [e.at for e in events] == [e1, e2]
    assert events[0].fill_before == pytest.approx(0.85)  # 0.15 + 0.1 × 7 days
    assert events[0].before_at == datetime(2026, 3, 8, 0, tzinfo=UTC)
    assert events[1].fill_before == pytest.approx(0.75)  # 0.05 + 0.1 × 7 days
    assert events[1].fill_after == pytest.approx(0.10)


def test_emptying_rule_limits() -> None:
    h = timedelta(hours=1)
    # Drop of 0.65 spread over 6 h, 0.1/h then 0.15: within any 2 h the drop is at most
    # 0.4 -> 0.15 = 0.25 < 0.3, so not an emptying.
    slow = [(T0 + k * h, v) for k, v in enumerate([0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.15])]
    assert detect_emptyings(slow) == []
    # Fast drop that stays above 0.2 (0.9 -> 0.3, compaction or partial pick-up): not an emptying.
    assert detect_emptyings([(T0, 0.9), (T0 + h, 0.3)]) == []
    # Fast drop of 0.25 < 0.3 ending at 0.15: not an emptying with the default, one with min_drop=0.2.
    small = [(T0, 0.4), (T0 + h, 0.15)]
    assert detect_emptyings(small) == []
    assert [e.at for e in detect_emptyings(small, EmptyingRule(min_drop=0.2))] == [T0 + h]
    # Several low samples after one drop: a single event.
    assert len(detect_emptyings([(T0, 0.9), (T0 + h, 0.05), (T0 + 2 * h, 0.05), (T0 + 3 * h, 0.06)])) == 1


def test_forecast_after_second_emptying() -> None:
    series, _, e2 = two_emptyings_series()
    result = forecast(series, threshold=0.8)
    # Samples since E2 = 03-15 02:00 rise 0.1/day exactly; last sample 03-18 02:00 at 0.40.
    # Days to 0.8: (0.8 - 0.4) / 0.1 = 4 -> predicted 03-22 02:00 UTC.
    assert result.last_emptying == e2
    assert result.rate_per_day == pytest.approx(0.1, abs=1e-9)
    assert result.current_fill == pytest.approx(0.40)
    assert result.predicted_full_at == datetime(2026, 3, 22, 2, tzinfo=UTC)


def test_forecast_with_now_between_emptyings() -> None:
    series, e1, _ = two_emptyings_series()
    now = datetime(2026, 3, 11, 1, tzinfo=UTC)
    result = forecast(series, threshold=0.8, now=now)
    # Since E1 = 03-08 01:00: 3 days later fill = 0.05 + 0.3 = 0.35; (0.8 - 0.35) / 0.1 = 4.5 days
    # -> 03-15 13:00 UTC.
    assert result.last_emptying == e1
    assert result.current_fill == pytest.approx(0.35)
    assert result.predicted_full_at == datetime(2026, 3, 15, 13, tzinfo=UTC)


def test_forecast_across_dst_change_uses_real_durations() -> None:
    # Hourly samples given in Europe/Paris local time across the spring-forward night
    # (2026-03-29 02:00 CET -> 03:00 CEST): fill rises 0.1/day = 0.1/24 per real hour from 0.2.
    # 2026-03-28 22:00 UTC + k h for k = 0..11, i.e. local 23:00 ... 11:00 (02:xx skipped).
    # Last sample k = 11: 0.2 + 11 × 0.1/24 = 0.245833; to 0.8 it needs (0.8 − 0.245833)/0.1
    # = 5.541667 days = 5 days 13 h -> 2026-03-29 09:00 UTC + 5 d 13 h = 2026-04-03 22:00 UTC.
    # A wall-clock difference would count 12 h between local 23:00 and 11:00 and get another rate.
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2026, 3, 28, 22, tzinfo=UTC)
    series = [((start + k * timedelta(hours=1)).astimezone(paris), 0.2 + k * 0.1 / 24) for k in range(12)]
    assert series[-1][0].hour == 11
    result = forecast(series, threshold=0.8)
    assert result.rate_per_day == pytest.approx(0.1, rel=1e-9)
    assert result.predicted_full_at == datetime(2026, 4, 3, 22, tzinfo=UTC)


def test_forecast_rate_robust_to_noise_and_spike() -> None:
    # 0.1/day from 0.05, every 6 h for 8 days (32 samples), uniform noise ±0.02 and one spike of
    # +0.5 (a bag under the sensor) near the end. OLS slope std = σ/√Σ(t−t̄)² with σ = 0.04/√12
    # ≈ 0.0115 and Σ(t−t̄)² ≈ 32 × 7.75² / 12 ≈ 160 day² -> ≈ 0.0009/day, so ±0.005 is > 5σ. A plain
    # least-squares fit would be biased by 0.5 × (7.5 − 3.875) / 160 ≈ +0.011/day by the spike.
    rng = random.Random(7)
    series = [(T0 + timedelta(hours=6 * k), 0.05 + 0.1 * k / 4 + rng.uniform(-0.02, 0.02)) for k in range(32)]
    t_spike, v_spike = series[30]
    series[30] = (t_spike, v_spike + 0.5)
    result = forecast(series, threshold=0.9)
    assert result.rate_per_day == pytest.approx(0.1, abs=0.005)


def test_forecast_already_full_and_flat() -> None:
    h = timedelta(hours=1)
    full = [(T0, 0.5), (T0 + h, 0.7), (T0 + 2 * h, 0.82), (T0 + 3 * h, 0.85)]
    result = forecast(full, threshold=0.8)
    assert result.predicted_full_at == T0 + 2 * h  # first sample at or above 0.8
    flat = [(T0, 0.3), (T0 + h, 0.3)]
    assert forecast(flat).predicted_full_at is None
    assert forecast([(T0, 0.3)]).rate_per_day is None
    with pytest.raises(ValueError, match="timezone-aware"):
        forecast([(datetime(2026, 3, 1), 0.3)])


# ---------------------------------------------------------------- collection plan and routing


def fc(current: float, rate: float | None, observed_at: datetime) -> Forecast:
    """A forecast built by hand for the plan tests."""
    return Forecast(current, rate, None, None, observed_at)


def test_collection_plan_selection_and_predicted_fill() -> None:
    # 2026-06-02 (plain date) = 00:00 Paris (CEST, UTC+2) = 2026-06-01 22:00 UTC; next collection
    # 2026-06-05 00:00 Paris = 3 days later. Forecasts observed at 2026-06-01 10:00 UTC (12 h earlier).
    obs = datetime(2026, 6, 1, 10, tzinfo=UTC)
    containers = [
        ContainerState("A", 43.30, 5.37, fc(0.85, 0.05, obs)),  # already above 0.8 -> selected
        ContainerState("B", 43.31, 5.38, fc(0.45, 0.10, obs)),  # at next: 0.45 + 0.1 × 3.5 = 0.80 -> selected
        ContainerState("C", 43.32, 5.39, fc(0.40, 0.10, obs)),  # 0.40 + 0.35 = 0.75 -> not
        ContainerState("D", 43.33, 5.40, fc(0.70, None, obs)),  # no rate, stays 0.70 -> not
        ContainerState("E", 43.34, 5.41, fc(0.70, -0.2, obs)),  # negative rate not extrapolated -> not
    ]
    plan = collection_plan(containers, date(2026, 6, 2), date(2026, 6, 5), 0.8, depot=(43.29, 5.36))
    assert plan.collection_at == datetime(2026, 6, 1, 22, tzinfo=UTC)
    fills = {s.container_id: s.predicted_fill for s in plan.stops}
    assert set(fills) == {"A", "B"}
    assert fills["A"] == pytest.approx(0.85 + 0.05 * 0.5)  # 12 h = 0.5 day -> 0.875
    assert fills["B"] == pytest.approx(0.45 + 0.10 * 0.5)  # 0.50
    # Round depot -> A -> B -> depot (two stops: both orders have the same length).
    expected = hav_km((43.29, 5.36), (43.30, 5.37)) + hav_km((43.30, 5.37), (43.31, 5.38)) + hav_km(
        (43.31, 5.38), (43.29, 5.36)
    )
    assert plan.length_km == pytest.approx(expected, rel=1e-9)


def test_collection_plan_rejects_inverted_dates() -> None:
    with pytest.raises(ValueError, match="must be after"):
        collection_plan([], date(2026, 6, 5), date(2026, 6, 2))


def test_two_opt_against_brute_force_optimum() -> None:
    # 40 random instances of a depot + 7 containers in Marseille; the optimum is found by trying
    # all 7! = 5040 orders (an independent reference). 2-opt is a local search, so it may stop
    # above the optimum: we require ≤ 3 % above on every instance and the exact optimum on most.
    rng = random.Random(2026)
    exact = 0
    for _ in range(40):
        depot = (43.29 + rng.random() * 0.05, 5.35 + rng.random() * 0.05)
        pts = [(43.25 + rng.random() * 0.1, 5.30 + rng.random() * 0.15) for _ in range(7)]
        optimum = min(closed_length([depot, *perm]) for perm in itertools.permutations(pts))
        obs = T0
        containers = [ContainerState(str(i), la, lo, fc(0.9, 0.0, obs)) for i, (la, lo) in enumerate(pts)]
        plan = collection_plan(containers, T0 + timedelta(days=1), T0 + timedelta(days=2), 0.8, depot=depot)
        route = [depot] + [(s.lat, s.lon) for s in plan.stops]
        assert sorted(s.container_id for s in plan.stops) == [str(i) for i in range(7)]
        assert plan.length_km == pytest.approx(closed_length(route), rel=1e-9)
        assert plan.length_km <= plan.nearest_neighbour_length_km + 1e-9
        assert plan.length_km <= optimum * 1.03
        exact += plan.length_km <= optimum + 1e-9
    assert exact >= 30


def test_two_opt_on_grid_reaches_known_optimum() -> None:
    # 4 × 4 grid with 0.01° spacing on the equator, depot at the corner (0, 0). A closed tour
    # through 16 grid points with unit steps exists (a "comb"), and no tour can be shorter than
    # 16 edges of length ≥ 1 step, so the optimum is 16 steps. One step = 0.01° × π/180 × 6371.0088
    # = 1.745329e-4 × 6371.0088 = 1.111951 km (east–west steps at latitude 0.03° are shorter by a factor cos(0.03°), i.e.
    # 1.4e-7, negligible) -> optimum 16 × 1.111951 = 17.7912 km.
    step = 0.01 * math.pi / 180 * R_KM
    assert step == pytest.approx(1.111951, abs=1e-6)
    grid = [(0.01 * i, 0.01 * j) for i in range(4) for j in range(4) if (i, j) != (0, 0)]
    containers = [ContainerState(f"g{i}", la, lo, fc(1.0, 0.0, T0)) for i, (la, lo) in enumerate(grid)]
    plan = collection_plan(containers, T0 + timedelta(days=1), T0 + timedelta(days=2), 0.8, depot=(0.0, 0.0))
    assert len(plan.stops) == 15
    assert plan.length_km == pytest.approx(17.7912, abs=1e-3)


def test_large_round_is_shorter_than_nearest_neighbour_and_close_to_bhh() -> None:
    # 2 000 containers uniformly spread over 0.2° × 0.3° around Marseille (≈ 22.24 km × 24.28 km
    # = 540 km²). Beardwood–Halton–Hammersley: an optimal tour through N uniform points in area A
    # is ≈ 0.7124 √(N·A) (Percus & Martin 1996) = 0.7124 × √(2001 × 540) ≈ 741 km, a little more
    # with the boundary. Nearest neighbour alone is ~25 % above the optimum, 2-opt ~5 %: we require
    # ≤ 15 % above the BHH estimate. (Its speed is measured in bench/usecases.py, not asserted here.)
    rng = random.Random(11)
    containers = [
        ContainerState(f"c{i}", 43.2 + rng.random() * 0.2, 5.3 + rng.random() * 0.3, fc(0.9, 0.1, T0))
        for i in range(2000)
    ]
    area = (0.2 * math.pi / 180 * R_KM) * (0.3 * math.pi / 180 * R_KM * math.cos(math.radians(43.3)))
    bhh = 0.7124 * math.sqrt(2001 * area)
    plan = collection_plan(containers, T0 + timedelta(days=1), T0 + timedelta(days=2), 0.8, depot=(43.3, 5.45))
    assert len({s.container_id for s in plan.stops}) == 2000
    assert plan.length_km < plan.nearest_neighbour_length_km
    assert plan.length_km <= 1.15 * bhh


def test_two_opt_never_lengthens_random_small_tours() -> None:
    # Any input tour (here random orders, not only NN tours) is never made longer.
    rng = random.Random(5)
    for n in (4, 5, 10, 30, 100):
        lats = np.array([43.2 + rng.random() * 0.1 for _ in range(n)])
        lons = np.array([5.3 + rng.random() * 0.1 for _ in range(n)])
        dist = haversine_matrix(lats, lons)
        start = list(range(n))
        rng.shuffle(start)
        improved = two_opt(dist, start)
        assert sorted(improved) == list(range(n))
        assert tour_length(dist, improved) <= tour_length(dist, start) + 1e-9
        nn = nearest_neighbour_tour(dist)
        assert tour_length(dist, two_opt(dist, nn)) <= tour_length(dist, nn) + 1e-9
        # The matrix agrees with the textbook haversine.
        assert dist[0, n - 1] == pytest.approx(hav_km((lats[0], lons[0]), (lats[-1], lons[-1])), rel=1e-9)


# ---------------------------------------------------------------- incidents

H = timedelta(hours=1)


def test_overflow_and_prolonged_high_fill() -> None:
    # Hourly: t0 0.50, t1 0.90, t2 0.985, t3 1.00, t4 0.97, t5..t27 0.92, t28 0.10 (emptied).
    # Overflow (≥ 1 − 0.02 = 0.98): samples t2, t3 -> interval [t2, t4).
    # High fill ≥ 0.9 from t1 to t28 (first sample below): 27 h > 24 h -> one incident [t1, t28).
    values = [0.5, 0.9, 0.985, 1.0, 0.97] + [0.92] * 23 + [0.1]
    series = [(T0 + k * H, v) for k, v in enumerate(values)]
    incidents = overflow_incidents(series)
    assert [(i.kind, i.started_at, i.ended_at) for i in incidents] == [
        (PROLONGED_HIGH_FILL, T0 + H, T0 + 28 * H),
        (OVERFLOW, T0 + 2 * H, T0 + 4 * H),
    ]
    assert "27.0 h" in incidents[0].detail
    # Same series emptied at t25 instead: high for exactly 24 h (t1 -> t25), not more -> no incident.
    short = [(T0 + k * H, v) for k, v in enumerate(values[:25] + [0.1])]
    assert [i.kind for i in overflow_incidents(short)] == [OVERFLOW]


def test_overflow_still_open() -> None:
    series = [(T0, 0.5), (T0 + H, 0.99), (T0 + 2 * H, 1.0)]
    [incident] = overflow_incidents(series)
    assert (incident.kind, incident.started_at, incident.ended_at) == (OVERFLOW, T0 + H, None)


def test_stuck_sensor_needs_peers_changing() -> None:
    # Distance stuck at 0.800 m from t0 to t30 (30 h > 24 h), then 0.75 at t31.
    stuck = [(T0 + k * H, 0.8) for k in range(31)] + [(T0 + 31 * H, 0.75)]
    moving_peer = [(T0 + k * H, 1.2 - 0.01 * k) for k in range(32)]
    quiet_peer = [(T0 + k * H, 1.0) for k in range(32)]
    [incident] = stuck_sensor_incidents(stuck, [moving_peer])
    assert (incident.kind, incident.started_at, incident.ended_at) == (STUCK_SENSOR, T0, T0 + 31 * H)
    assert stuck_sensor_incidents(stuck, [quiet_peer]) == []
    assert len(stuck_sensor_incidents(stuck)) == 1
    # 20 h flat is not enough.
    assert stuck_sensor_incidents(stuck[10:], [moving_peer]) == []


def test_impossible_jumps() -> None:
    half = timedelta(minutes=30)
    # 0.20 -> 0.80 in 30 min: rise 0.60 > 0.5 -> incident from the low sample to the high one.
    jump = [(T0, 0.2), (T0 + half, 0.8), (T0 + 2 * half, 0.8)]
    [incident] = impossible_jump_incidents(jump)
    assert (incident.kind, incident.started_at, incident.ended_at) == (IMPOSSIBLE_JUMP, T0, T0 + half)
    # 0.2 -> 0.6 over 3 h (rise 0.4 < 0.5 in any hour) then an emptying drop: no incident.
    slow = [(T0 + k * H, 0.2 + 0.4 * k / 3) for k in range(4)] + [(T0 + 4 * H, 0.05)]
    assert impossible_jump_incidents(slow) == []


def test_tilt_and_moved() -> None:
    # Tilt 5, 10, 45, 60, 20 degrees hourly: above 30° at t2, t3 -> [t2, t4), peak 60°.
    tilt = [(T0 + k * H, v) for k, v in enumerate([5.0, 10.0, 45.0, 60.0, 20.0])]
    [incident] = tilt_incidents(tilt)
    assert (incident.kind, incident.started_at, incident.ended_at) == (TILTED, T0 + 2 * H, T0 + 4 * H)
    assert "60°" in incident.detail
    # One degree of latitude near 43.3° N is ≈ 111.1 km, so +0.0003° ≈ 33 m (< 50 m, fine) and
    # +0.001° ≈ 111 m (moved).
    ref = (43.2965, 5.3698)
    positions = [
        (T0, ref),
        (T0 + H, (43.2968, 5.3698)),
        (T0 + 2 * H, (43.2975, 5.3698)),
        (T0 + 3 * H, (43.2975, 5.3698)),
    ]
    [moved] = moved_incidents(positions, ref)
    assert (moved.kind, moved.started_at, moved.ended_at) == (MOVED, T0 + 2 * H, None)
    assert "111 m" in moved.detail


@pytest.mark.parametrize("seed", range(6))
def test_array_emptying_detection_finds_the_events_of_the_reference_loop(seed: int) -> None:
    """detect_emptyings_us (window maxima from a sparse table) gives exactly the events of detect_emptyings
    (the plain loop) on irregular series with drops, equal maxima, repeated levels and gaps."""
    rng = random.Random(seed)
    t, fill, series = T0, 0.1, []
    for _ in range(3_000):
        t += timedelta(minutes=rng.choice([1, 5, 10, 30, 47, 180]))
        roll = rng.random()
        fill = rng.choice([0.05, 0.1, 0.15, 0.19]) if roll < 0.04 else min(1.0, round(fill + rng.choice([0, 0.01, 0.05]), 2))
        series.append((t, fill))
    for rule in (EmptyingRule(), EmptyingRule(min_drop=0.1, max_duration=timedelta(minutes=30), end_below=0.3)):
        expected = [(e.at, e.fill_before, e.fill_after, e.before_at) for e in detect_emptyings(series, rule)]
        assert expected, "the series must hold emptyings"
        times = np.array([(p - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) for p, _ in series])
        got = detect_emptyings_us(times, np.array([v for _, v in series]), rule)
        assert [(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=a), b, c,
                 datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=d)) for a, b, c, d in got] == expected


def _random_fills(rng: random.Random, n: int) -> list[tuple[datetime, float]]:
    """Irregular fill series with plateaus (stuck readings), full spells, jumps, drops and tiny drifts."""
    t, fill, out = T0, 0.3, []
    for _ in range(n):
        t += timedelta(minutes=rng.choice([1, 10, 30, 60, 61, 180, 600]))
        roll = rng.random()
        if roll < 0.05:
            fill = rng.choice([0.05, 0.15, 0.6, 0.7, 0.9, 0.95, 0.98, 0.99, 1.0])
        elif roll < 0.1:
            fill += rng.choice([1e-10, -1e-10, 2e-9])  # within or just beyond the stuck tolerance
        elif roll < 0.5:
            fill = min(1.0, max(0.0, round(fill + rng.choice([-0.01, 0.01, 0.02]), 2)))
        out.append((t, fill))
    return out


@pytest.mark.parametrize("seed", range(8))
def test_array_incident_detectors_equal_the_reference_loops(seed: int) -> None:
    """The array detectors (store series form) give exactly the incidents of the per-sample loops."""
    rng = random.Random(seed)
    series = _random_fills(rng, 2_500)
    peers = [_random_fills(rng, 2_500), [(T0 + timedelta(hours=k), 0.5) for k in range(2_000)]]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    arrays = lambda s: (np.array([(t - epoch) // timedelta(microseconds=1) for t, _ in s]),  # noqa: E731
                        np.array([v for _, v in s]))
    seen: set[str] = set()
    for rules in (IncidentRules(), IncidentRules(overflow_for=timedelta(hours=12), high_fill=0.9,
                                                 high_fill_for=timedelta(hours=5), stuck_for=timedelta(hours=3),
                                                 jump_rise=0.3, jump_within=timedelta(minutes=90))):
        found = {
            "overflow": (overflow_incidents(series, rules), overflow_incidents_us(*arrays(series), rules)),
            "jump": (impossible_jump_incidents(series, rules), impossible_jump_incidents_us(*arrays(series), rules)),
            "stuck": (stuck_sensor_incidents(series, peers, rules),
                      stuck_sensor_incidents_us(*arrays(series), [arrays(p) for p in peers], rules)),
            "stuck alone": (stuck_sensor_incidents(series, (), rules), stuck_sensor_incidents_us(*arrays(series), (), rules)),
        }
        for kind, (expected, got) in found.items():
            assert got == expected, kind
            seen |= {kind} if expected else set()
    assert seen == {"overflow", "jump", "stuck", "stuck alone"}, "the series must hold every kind of incident"

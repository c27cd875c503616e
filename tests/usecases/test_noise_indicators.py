"""Noise indicators checked against hand-computed values (arithmetic shown in comments)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calanque.usecases.noise.indicators import (
    daily_indicators,
    exceedances,
    exceeded_level,
    laeq,
    lden_from_levels,
    lden_report,
    period_bounds,
)

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 6, 10, 8, 0, tzinfo=UTC)


def regular(start: datetime, step: timedelta, levels: list[float]) -> list[tuple[datetime, float]]:
    """Samples at start, start+step, ... with the given levels."""
    return [(start + i * step, lvl) for i, lvl in enumerate(levels)]


def constant(start: datetime, end: datetime, step: timedelta, level: float) -> list[tuple[datetime, float]]:
    """Samples every step over [start, end) at a constant level."""
    out = []
    t = start
    while t < end:
        out.append((t, level))
        t += step
    return out


# --- LAeq -------------------------------------------------------------------------------------

def test_two_equal_samples_energy_average():
    # 10·log10((10^(60/10) + 10^(70/10)) / 2) = 10·log10((1e6 + 1e7) / 2) = 10·log10(5.5e6) = 67.4036
    series = regular(T0, timedelta(minutes=1), [60.0, 70.0])
    assert laeq(series, T0, T0 + timedelta(minutes=2)) == pytest.approx(67.4036, abs=1e-3)


def test_laeq_is_not_an_arithmetic_mean():
    series = regular(T0, timedelta(minutes=1), [60.0, 70.0])
    assert laeq(series, T0, T0 + timedelta(minutes=2)) != pytest.approx(65.0, abs=0.5)


def test_one_second_and_fifteen_minute_sampling_agree():
    # Signal constant by quarter hour: 55, 65, 45, 70 dB.
    # 10^5.5 + 10^6.5 + 10^4.5 + 10^7 = 316227.8 + 3162277.7 + 31622.8 + 10000000 = 13510128.2
    # LAeq = 10·log10(13510128.2 / 4) = 10·log10(3377532.05) = 65.2860
    quarters = [55.0, 65.0, 45.0, 70.0]
    coarse = regular(T0, timedelta(minutes=15), quarters)
    fine = [(T0 + timedelta(seconds=s), quarters[s // 900]) for s in range(3600)]
    minute = [(T0 + timedelta(minutes=m), quarters[m // 15]) for m in range(60)]
    end = T0 + timedelta(hours=1)
    for series in (coarse, fine, minute):
        assert laeq(series, T0, end) == pytest.approx(65.2860, abs=1e-3)


def test_unsorted_input_is_sorted():
    quarters = [55.0, 65.0, 45.0, 70.0]
    series = regular(T0, timedelta(minutes=15), quarters)
    shuffled = series[:]
    random.Random(4).shuffle(shuffled)
    assert shuffled != series
    assert laeq(shuffled, T0, T0 + timedelta(hours=1)) == pytest.approx(65.2860, abs=1e-3)


def test_intervals_are_clipped_at_the_period_edges():
    # 15-min steps: 80 dB at 09:50, 50 dB at 10:05 and 10:20. Range [10:00, 10:20):
    # 80 dB for 5 min (10:00–10:05), 50 dB for 15 min (10:05–10:20).
    # 10·log10((5·10^8 + 15·10^5) / 20) = 10·log10(25075000) = 73.9924
    base = datetime(2026, 6, 10, 9, 50, tzinfo=UTC)
    series = regular(base, timedelta(minutes=15), [80.0, 50.0, 50.0])
    start = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)
    assert laeq(series, start, start + timedelta(minutes=20)) == pytest.approx(73.9924, abs=1e-3)


def test_gaps_reduce_coverage_and_do_not_bias_laeq():
    # 60 dB every minute during [0, 60) min, nothing during [60, 120), 70 dB during [120, 180).
    # Covered: 120 of 180 min → coverage 2/3. LAeq = 10·log10((60·1e6 + 60·1e7)/120) = 67.4036,
    # the same as two equal halves; holding 60 dB through the gap would give
    # 10·log10((120·1e6 + 60·1e7)/180) = 66.0206 instead.
    series = constant(T0, T0 + timedelta(hours=1), timedelta(minutes=1), 60.0)
    series += constant(T0 + timedelta(hours=2), T0 + timedelta(hours=3), timedelta(minutes=1), 70.0)
    end = T0 + timedelta(hours=3)
    report = lden_report(series, T0, end)
    assert report["coverage"] == pytest.approx(2 / 3, abs=1e-9)
    assert report["LAeq"] == pytest.approx(67.4036, abs=1e-3)
    assert report["samples"] == 120
    assert laeq(series, T0, end) == pytest.approx(67.4036, abs=1e-3)


def test_explicit_sample_duration():
    # One 1-min LAeq reported every 15 min: 50, 60, 70, 80 dB, each lasting 1 min.
    # Covered 4 of 60 min; LAeq = 10·log10((1e5 + 1e6 + 1e7 + 1e8) / 4) = 74.4365
    series = regular(T0, timedelta(minutes=15), [50.0, 60.0, 70.0, 80.0])
    report = lden_report(series, T0, T0 + timedelta(hours=1), sample_duration=timedelta(minutes=1))
    assert report["coverage"] == pytest.approx(4 / 60, abs=1e-9)
    assert report["LAeq"] == pytest.approx(74.4365, abs=1e-3)


def test_no_data_gives_none():
    assert laeq([], T0, T0 + timedelta(hours=1)) is None
    series = regular(T0 + timedelta(days=1), timedelta(minutes=1), [60.0, 60.0])
    assert laeq(series, T0, T0 + timedelta(hours=1)) is None


def test_invalid_inputs_are_rejected_with_a_reason():
    naive = [(datetime(2026, 6, 10, 8, 0), 60.0), (datetime(2026, 6, 10, 8, 1), 61.0)]
    with pytest.raises(ValueError, match="no time zone"):
        laeq(naive, T0, T0 + timedelta(hours=1))
    series = regular(T0, timedelta(minutes=1), [60.0, 70.0])
    with pytest.raises(ValueError, match="either max_gap or sample_duration"):
        laeq(series, T0, T0 + timedelta(hours=1), max_gap=timedelta(minutes=5),
             sample_duration=timedelta(minutes=1))
    with pytest.raises(ValueError, match="must be after start"):
        laeq(series, T0, T0)
    with pytest.raises(ValueError, match="unknown period scheme"):
        lden_report(series, T0, T0 + timedelta(hours=1), periods="us")


# --- percentile levels ---------------------------------------------------------------------------

def test_percentiles_on_equal_durations():
    # Ten 1-min samples at 40, 41, …, 49 dB.
    # L10: 10 % of the time (1 min) is above 48 (only 49) → L10 = 48.
    # L50: levels ≤ 44 fill 5 of 10 min → L50 = 44. L90: 40 fills 1 min = 10 % → L90 = 40.
    series = regular(T0, timedelta(minutes=1), [float(x) for x in range(40, 50)])
    report = lden_report(series, T0, T0 + timedelta(minutes=10))
    assert (report["L10"], report["L50"], report["L90"]) == (48.0, 44.0, 40.0)


def test_percentiles_are_duration_weighted():
    # One 15-min sample at 60 dB then five 1-min samples at 40 dB: 15 of 20 min at 60 dB.
    # L50: 40 dB fills only 5/20 = 25 % < 50 % → L50 = 60 (unweighted counting would say 40).
    # L90: 40 dB fills 25 % ≥ 10 % → L90 = 40. L10 = 60.
    # LAeq = 10·log10((15·1e6 + 5·1e4)/20) = 10·log10(752500) = 58.7651
    series = [(T0, 60.0)] + regular(T0 + timedelta(minutes=15), timedelta(minutes=1), [40.0] * 5)
    report = lden_report(series, T0, T0 + timedelta(minutes=20), max_gap=timedelta(minutes=15))
    assert (report["L10"], report["L50"], report["L90"]) == (60.0, 60.0, 40.0)
    assert report["LAeq"] == pytest.approx(58.7651, abs=1e-3)
    assert report["coverage"] == pytest.approx(1.0)


def test_default_max_gap_treats_a_long_step_as_a_gap():
    # Same samples, default max_gap = 3 × median step (1 min): the 15-min step is a gap, so the
    # 60 dB sample lasts one nominal minute. Covered 6 of 20 min: 1 min at 60, 5 min at 40.
    # LAeq = 10·log10((1e6 + 5e4)/6) = 10·log10(175000) = 52.4304
    series = [(T0, 60.0)] + regular(T0 + timedelta(minutes=15), timedelta(minutes=1), [40.0] * 5)
    report = lden_report(series, T0, T0 + timedelta(minutes=20))
    assert report["coverage"] == pytest.approx(6 / 20)
    assert report["LAeq"] == pytest.approx(52.4304, abs=1e-3)


def test_exceeded_level_bounds():
    pairs = [(1.0, 30.0), (1.0, 35.0), (2.0, 50.0)]
    assert exceeded_level(pairs, 0) == 50.0
    assert exceeded_level(pairs, 100) == 30.0
    assert exceeded_level([], 50) is None
    with pytest.raises(ValueError, match=r"0\.\.100"):
        exceeded_level(pairs, 120)


# --- periods and Lden ---------------------------------------------------------------------------

def test_lden_of_constant_levels():
    # 10·log10((12·10^5 + 4·10^5.5 + 8·10^6)/24) = 10·log10((1.2e6 + 1.264911e6 + 8e6)/24)
    # = 10·log10(436038.0) = 56.3952
    assert lden_from_levels(50.0, 50.0, 50.0) == pytest.approx(56.3952, abs=1e-3)
    # 60/55/50: 12·1e6 + 4·10^6 + 8·10^6 = 24e6 → 10·log10(1e6) = 60.0
    assert lden_from_levels(60.0, 55.0, 50.0) == pytest.approx(60.0, abs=1e-9)


def test_french_and_eu_period_bounds_in_summer():
    # 2026-06-10 is in CEST (UTC+2): FR day starts 06:00 local = 04:00 UTC; EU at 07:00 = 05:00 UTC.
    fr = period_bounds(date(2026, 6, 10), "fr")
    eu = period_bounds(date(2026, 6, 10), "eu")
    assert fr["day"] == (datetime(2026, 6, 10, 4, tzinfo=UTC), datetime(2026, 6, 10, 16, tzinfo=UTC))
    assert fr["evening"] == (datetime(2026, 6, 10, 16, tzinfo=UTC), datetime(2026, 6, 10, 20, tzinfo=UTC))
    assert fr["night"] == (datetime(2026, 6, 10, 20, tzinfo=UTC), datetime(2026, 6, 11, 4, tzinfo=UTC))
    assert eu["day"] == (datetime(2026, 6, 10, 5, tzinfo=UTC), datetime(2026, 6, 10, 17, tzinfo=UTC))
    assert eu["night"] == (datetime(2026, 6, 10, 21, tzinfo=UTC), datetime(2026, 6, 11, 5, tzinfo=UTC))


def test_dst_nights_last_seven_and_nine_hours():
    # Spring: 2026-03-28 22:00 CET = 21:00 UTC → 2026-03-29 06:00 CEST = 04:00 UTC: 7 h.
    # Autumn: 2026-10-24 22:00 CEST = 20:00 UTC → 2026-10-25 06:00 CET = 05:00 UTC: 9 h.
    spring = period_bounds(date(2026, 3, 28))["night"]
    autumn = period_bounds(date(2026, 10, 24))["night"]
    assert spring == (datetime(2026, 3, 28, 21, tzinfo=UTC), datetime(2026, 3, 29, 4, tzinfo=UTC))
    assert autumn == (datetime(2026, 10, 24, 20, tzinfo=UTC), datetime(2026, 10, 25, 5, tzinfo=UTC))
    assert period_bounds(date(2026, 6, 10))["night"][1] - period_bounds(date(2026, 6, 10))["night"][0] \
        == timedelta(hours=8)


def test_lnight_over_the_spring_dst_night():
    # Night 21:00–04:00 UTC (7 h): 60 dB during the first hour, 50 dB for 6 h; 80 dB from 04:00 to
    # 05:00 UTC (06:00–07:00 CEST, already day) must stay out of Lnight.
    # Lnight = 10·log10((1·1e6 + 6·1e5)/7) = 10·log10(228571.4) = 53.5902
    start = datetime(2026, 3, 28, 21, tzinfo=UTC)
    series = constant(start, start + timedelta(hours=1), timedelta(minutes=1), 60.0)
    series += constant(start + timedelta(hours=1), start + timedelta(hours=7), timedelta(minutes=1), 50.0)
    series += constant(start + timedelta(hours=7), start + timedelta(hours=8), timedelta(minutes=1), 80.0)
    (row,) = daily_indicators(series, date(2026, 3, 28), date(2026, 3, 28))
    assert row["hours_night"] == 7.0
    assert row["Lnight"] == pytest.approx(53.5902, abs=1e-3)
    assert row["coverage_night"] == pytest.approx(1.0)
    assert row["Lday"] is None and row["Lden"] is None
    assert "day (06:00-18:00)" in row["lden_reason"] and "evening (18:00-22:00)" in row["lden_reason"]


def test_lnight_over_the_autumn_dst_night():
    # Night 20:00 UTC → 05:00 UTC (9 h): 60 dB the first hour, 50 dB for 8 h; 80 dB during the
    # evening hour before (19:00–20:00 UTC = 21:00–22:00 CEST) stays out.
    # Lnight = 10·log10((1·1e6 + 8·1e5)/9) = 10·log10(200000) = 53.0103
    start = datetime(2026, 10, 24, 20, tzinfo=UTC)
    series = constant(start - timedelta(hours=1), start, timedelta(minutes=1), 80.0)
    series += constant(start, start + timedelta(hours=1), timedelta(minutes=1), 60.0)
    series += constant(start + timedelta(hours=1), start + timedelta(hours=9), timedelta(minutes=1), 50.0)
    (row,) = daily_indicators(series, date(2026, 10, 24), date(2026, 10, 24))
    assert row["hours_night"] == 9.0
    assert row["Lnight"] == pytest.approx(53.0103, abs=1e-3)
    assert row["Levening"] == pytest.approx(80.0)
    assert row["coverage_evening"] == pytest.approx(0.25)


def local_day_series(day: date, levels: dict[str, float], step: timedelta) -> list[tuple[datetime, float]]:
    """Samples over the FR Lden cycle of a local date with one level per period."""
    out: list[tuple[datetime, float]] = []
    for name, (ps, pe) in period_bounds(day, "fr").items():
        out += constant(ps, pe, step, levels[name])
    return out


def test_daily_lden_and_missing_day():
    # Lday 60, Levening 55, Lnight 50 → Lden = 10·log10((12e6 + 4e6 + 8e6)/24) = 60.0 dB.
    # LAeq over the 24 h cycle = 10·log10((12·1e6 + 4·10^5.5 + 8·1e5)/24)
    # = 10·log10((12e6 + 1264911 + 800000)/24) = 10·log10(586038.0) = 57.6793
    series = local_day_series(date(2026, 6, 10), {"day": 60.0, "evening": 55.0, "night": 50.0},
                              timedelta(minutes=15))
    rows = daily_indicators(series, date(2026, 6, 10), date(2026, 6, 11))
    assert [r["day"] for r in rows] == ["2026-06-10", "2026-06-11"]
    first, second = rows
    assert first["Lden"] == pytest.approx(60.0, abs=1e-6)
    assert (first["Lday"], first["Levening"], first["Lnight"]) == pytest.approx((60.0, 55.0, 50.0))
    assert first["LAeq"] == pytest.approx(57.6793, abs=1e-3)
    assert first["coverage"] == pytest.approx(1.0)
    assert first["samples"] == 96
    assert first["lden_reason"] is None
    assert first["start"] == "2026-06-10T04:00:00.000000Z"
    assert second["Lden"] is None and second["coverage"] == 0.0
    assert "2026-06-11" in second["lden_reason"] and "night (22:00-06:00)" in second["lden_reason"]


def test_lden_report_over_two_days_is_the_energy_average_of_daily_values():
    # Day 1 constant 50 dB → Lden 56.3952; day 2 constant 60 dB → Lden 66.3952.
    # Energy average: 66.3952 + 10·log10((0.1 + 1)/2) = 66.3952 − 2.5964 = 63.7989
    # Lday pooled over both days: 10·log10((1e5 + 1e6)/2) = 57.4036
    step = timedelta(minutes=5)
    series = local_day_series(date(2026, 6, 10), dict.fromkeys(("day", "evening", "night"), 50.0), step)
    series += local_day_series(date(2026, 6, 11), dict.fromkeys(("day", "evening", "night"), 60.0), step)
    start = datetime(2026, 6, 10, 6, tzinfo=PARIS)
    end = datetime(2026, 6, 12, 6, tzinfo=PARIS)
    report = lden_report(series, start, end)
    assert report["Lden"] == pytest.approx(63.7989, abs=1e-3)
    assert report["Lday"] == pytest.approx(57.4036, abs=1e-3)
    assert report["lden_days"] == 2
    assert report["lden_days_excluded"] == [] and report["lden_reason"] is None
    assert report["coverage"] == pytest.approx(1.0)
    assert report["coverage_night"] == pytest.approx(1.0)


def test_lden_report_explains_missing_periods():
    # Data only during the day period of 2026-06-10: no evening or night → Lden undefined.
    ps, pe = period_bounds(date(2026, 6, 10))["day"]
    series = constant(ps, pe, timedelta(minutes=10), 55.0)
    report = lden_report(series, ps, pe + timedelta(hours=12))
    assert report["Lden"] is None
    assert report["lden_days"] == 0
    assert "no local date" in report["lden_reason"]
    assert report["lden_days_excluded"][0]["day"] == "2026-06-10"
    reason = report["lden_days_excluded"][0]["reason"]
    assert "evening (18:00-22:00) and night (22:00-06:00) periods" in reason
    assert report["Lday"] == pytest.approx(55.0)
    assert report["coverage_day"] == pytest.approx(1.0)
    assert report["coverage_evening"] == 0.0


def test_eu_periods_move_the_boundaries():
    # 60 dB during 06:00–07:00 local, 40 dB otherwise over 06:00–08:00 local (2026-06-10).
    # FR: both hours are day → Lday = 10·log10((1e6 + 1e4)/2) = 57.0329.
    # EU: 06:00–07:00 is night of 2026-06-09 → its Lday (07:00–08:00 here) is 40.0.
    start = datetime(2026, 6, 10, 6, tzinfo=PARIS)
    series = constant(start, start + timedelta(hours=1), timedelta(minutes=1), 60.0)
    series += constant(start + timedelta(hours=1), start + timedelta(hours=2), timedelta(minutes=1), 40.0)
    end = start + timedelta(hours=2)
    assert lden_report(series, start, end, "fr")["Lday"] == pytest.approx(57.0329, abs=1e-3)
    eu = lden_report(series, start, end, "eu")
    assert eu["Lday"] == pytest.approx(40.0)
    assert eu["Lnight"] == pytest.approx(60.0)


# --- exceedances --------------------------------------------------------------------------------

def test_exceedances_against_who_defaults():
    rows = [
        {"day": "2026-06-01", "Lden": 50.0, "Lnight": 40.0},
        {"day": "2026-06-02", "Lden": 55.0, "Lnight": 46.0},
        {"day": "2026-06-03", "Lden": None, "Lnight": 47.0},
        {"day": "2026-06-04", "Lden": 53.0, "Lnight": 45.0},
    ]
    result = exceedances(rows)
    assert result["lden_threshold"] == 53.0 and result["lnight_threshold"] == 45.0
    assert result["lden_exceedance_days"] == ["2026-06-02"]
    assert result["lnight_exceedance_days"] == ["2026-06-02", "2026-06-03"]
    assert result["days_with_lden"] == 3 and result["days_with_lnight"] == 4
    # Lden mean: 10·log10((1e5 + 10^5.5 + 10^5.3)/3) = 10·log10((100000 + 316227.8 + 199526.2)/3)
    # = 10·log10(205251.3) = 53.1229 > 53
    assert result["lden_mean"] == pytest.approx(53.1229, abs=1e-3)
    assert result["lden_mean_exceeds"] is True
    # Lnight mean: 10·log10((1e4 + 10^4.6 + 10^4.7 + 10^4.5)/4)
    # = 10·log10((10000 + 39810.7 + 50118.7 + 31622.8)/4) = 10·log10(32888.1) = 45.1704
    assert result["lnight_mean"] == pytest.approx(45.1704, abs=1e-3)


def test_exceedances_with_custom_thresholds_and_no_data():
    result = exceedances([{"day": "2026-06-01", "Lden": 58.0, "Lnight": 49.0}], 60.0, 50.0)
    assert result["lden_exceedance_days"] == [] and result["lden_mean_exceeds"] is False
    empty = exceedances([])
    assert empty["lden_mean"] is None and empty["lden_mean_exceeds"] is None

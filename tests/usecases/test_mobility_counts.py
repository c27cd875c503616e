"""Tests of the bike/pedestrian count computations against hand-computed values.

All expected values are worked out by hand in the comments. Europe/Paris is UTC+1 in
winter (CET) and UTC+2 in summer (CEST); in 2026 the clocks go forward on Sunday 29 March
(02:00 CET -> 03:00 CEST, a 23 h day) and back on Sunday 25 October (03:00 CEST -> 02:00
CET, a 25 h day).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from calanque.usecases.mobility.counts import (
    CountRecord,
    aggregate,
    busiest,
    display,
    weekday_hour_profile,
    year_on_year,
    year_to_date,
)

CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))


def hourly(first_utc: datetime, hours: int, direction: str, count: float) -> list[CountRecord]:
    """Consecutive 1 h records (elapsed time) starting at ``first_utc``, each holding ``count``."""
    return [
        CountRecord(first_utc + timedelta(hours=i), first_utc + timedelta(hours=i + 1), direction, count)
        for i in range(hours)
    ]


def daily(first_day: datetime, days: int, count: float, skip: tuple[int, ...] = ()) -> list[CountRecord]:
    """One record per local Paris day (midnight to midnight) for ``days`` days, except ``skip``."""
    paris = ZoneInfo("Europe/Paris")
    records = []
    for i in range(days):
        if i in skip:
            continue
        day = (first_day + timedelta(days=i)).date()
        start = datetime(day.year, day.month, day.day, tzinfo=paris)
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=paris)
        records.append(CountRecord(start, end, "in", count))
    return records


# --- CountRecord validation -------------------------------------------------------------


def test_count_record_rejects_naive_reversed_and_negative() -> None:
    start = datetime(2026, 6, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        CountRecord(datetime(2026, 6, 1, 8), start, "in", 1)
    with pytest.raises(ValueError, match="must be after start"):
        CountRecord(start, start, "in", 1)
    with pytest.raises(ValueError, match=">= 0"):
        CountRecord(start, start + timedelta(hours=1), "in", -1)
    with pytest.raises(ValueError, match=">= 0"):
        CountRecord(start, start + timedelta(hours=1), "in", float("nan"))


# --- aggregate: local days across DST ---------------------------------------------------


def test_daily_totals_across_spring_forward_day_have_23_hours() -> None:
    # Hourly records from 28 Mar 00:00 CET (= 27 Mar 23:00Z) to 31 Mar 00:00 CEST (= 30 Mar 22:00Z):
    # 28 Mar: 23:00Z(27) -> 23:00Z(28) = 24 h ; 29 Mar: 23:00Z(28) -> 22:00Z(29) = 23 h ;
    # 30 Mar: 22:00Z(29) -> 22:00Z(30) = 24 h ; 71 hours in all.
    first = datetime(2026, 3, 27, 23, tzinfo=UTC)
    records = hourly(first, 71, "in", 1) + hourly(first, 71, "out", 2)
    days = aggregate(
        records, datetime(2026, 3, 28, tzinfo=CET), datetime(2026, 3, 31, tzinfo=CEST), "day", "Europe/Paris"
    )
    assert [d["counts"] for d in days] == [
        {"in": 24, "out": 48},
        {"in": 23, "out": 46},
        {"in": 24, "out": 48},
    ]
    assert [d["total"] for d in days] == [72, 69, 72]
    # The 29 March bucket runs from 00:00+01:00 to 00:00+02:00 next day: 23 elapsed hours.
    assert days[1]["start"] == datetime(2026, 3, 29, tzinfo=CET)
    assert days[1]["end"] == datetime(2026, 3, 30, tzinfo=CEST)
    assert days[1]["start"].utcoffset() == timedelta(hours=1)
    assert days[1]["end"].utcoffset() == timedelta(hours=2)


def test_daily_totals_across_fall_back_day_have_25_hours() -> None:
    # 24 Oct 00:00 CEST = 23 Oct 22:00Z ; 25 Oct 00:00 CEST = 24 Oct 22:00Z ;
    # 26 Oct 00:00 CET = 25 Oct 23:00Z ; so 24 Oct = 24 h and 25 Oct = 25 h (49 hours).
    records = hourly(datetime(2026, 10, 23, 22, tzinfo=UTC), 49, "in", 3)
    days = aggregate(records, datetime(2026, 10, 24, tzinfo=CEST), datetime(2026, 10, 26, tzinfo=CET), "day")
    assert [d["total"] for d in days] == [24 * 3, 25 * 3]  # 72, 75


def test_hour_buckets_on_fall_back_day_repeat_two_oclock() -> None:
    # 25 Oct local: 00,01,02 (CEST) then 02 again (CET), 03..23: 25 buckets.
    records = hourly(datetime(2026, 10, 24, 22, tzinfo=UTC), 25, "in", 1)
    hours = aggregate(records, datetime(2026, 10, 25, tzinfo=CEST), datetime(2026, 10, 26, tzinfo=CET), "hour")
    assert len(hours) == 25
    assert [h["start"].hour for h in hours] == [0, 1, 2, 2] + list(range(3, 24))
    assert hours[2]["start"].utcoffset() == timedelta(hours=2)
    assert hours[3]["start"].utcoffset() == timedelta(hours=1)
    assert all(h["total"] == 1 for h in hours)


def test_hour_buckets_on_spring_forward_day_skip_two_oclock() -> None:
    records = hourly(datetime(2026, 3, 28, 23, tzinfo=UTC), 23, "in", 1)
    hours = aggregate(records, datetime(2026, 3, 29, tzinfo=CET), datetime(2026, 3, 30, tzinfo=CEST), "hour")
    assert [h["start"].hour for h in hours] == [0, 1] + list(range(3, 24))


# --- aggregate: straddling records and window edges ----------------------------------


def test_record_straddling_midnight_is_split_proportionally() -> None:
    records = [
        # 23:30 -> 00:30 local, 10 passages: 30 min each side -> 5 + 5.
        CountRecord(datetime(2026, 6, 10, 23, 30, tzinfo=CEST), datetime(2026, 6, 11, 0, 30, tzinfo=CEST), "in", 10),
        # 22:00 -> 01:00 local, 9 passages over 3 h: 2 h on the 10th (6), 1 h on the 11th (3).
        CountRecord(datetime(2026, 6, 10, 22, tzinfo=CEST), datetime(2026, 6, 11, 1, tzinfo=CEST), "out", 9),
    ]
    days = aggregate(records, datetime(2026, 6, 10, tzinfo=CEST), datetime(2026, 6, 12, tzinfo=CEST), "day")
    assert days[0]["counts"] == {"in": pytest.approx(5), "out": pytest.approx(6)}
    assert days[1]["counts"] == {"in": pytest.approx(5), "out": pytest.approx(3)}
    assert days[0]["total"] == pytest.approx(11)
    assert days[1]["total"] == pytest.approx(8)


def test_record_straddling_the_dst_jump_is_split_by_elapsed_time() -> None:
    # 01:30 CET (00:30Z) -> 03:30 CEST (01:30Z) is 1 elapsed hour although 2 wall-clock hours:
    # half (4 of 8) falls in the 01:00 CET bucket, half in the 03:00 CEST bucket.
    record = CountRecord(datetime(2026, 3, 29, 1, 30, tzinfo=CET), datetime(2026, 3, 29, 3, 30, tzinfo=CEST), "in", 8)
    hours = aggregate([record], datetime(2026, 3, 29, 1, tzinfo=CET), datetime(2026, 3, 29, 4, tzinfo=CEST), "hour")
    assert [(h["start"].hour, h["total"]) for h in hours] == [(1, 4), (3, 4)]


def test_window_edges_clip_records_and_buckets_keep_calendar_bounds() -> None:
    # Hourly records of 1 over 10 June 00:00 -> 12 June 00:00 CEST; window 10 June 12:00 -> 11 June 12:00:
    # 12 hours counted on each day.
    records = hourly(datetime(2026, 6, 9, 22, tzinfo=UTC), 48, "in", 1)
    days = aggregate(
        records, datetime(2026, 6, 10, 12, tzinfo=CEST), datetime(2026, 6, 11, 12, tzinfo=CEST), "day"
    )
    assert [(d["start"], d["total"]) for d in days] == [
        (datetime(2026, 6, 10, tzinfo=CEST), 12),
        (datetime(2026, 6, 11, tzinfo=CEST), 12),
    ]


def test_fifteen_minute_records_sum_into_hours() -> None:
    # Four quarter-hours 08:00-09:00 of 3, 5, 7, 9 -> 24 ; one quarter 09:15-09:30 of 2 -> 2.
    base = datetime(2026, 6, 1, 8, tzinfo=CEST)
    q = timedelta(minutes=15)
    records = [CountRecord(base + i * q, base + (i + 1) * q, "in", c) for i, c in enumerate([3, 5, 7, 9])]
    records.append(CountRecord(base + 5 * q, base + 6 * q, "in", 2))
    hours = aggregate(records, base, base + timedelta(hours=3), "hour")
    assert [h["total"] for h in hours] == [24, 2, None]


# --- aggregate: weeks and months with gaps -------------------------------------------


def test_iso_weeks_start_monday_and_gaps_are_not_zero() -> None:
    # Daily 100 from Mon 23 Mar to Sun 5 Apr 2026, Wed 1 Apr (index 9) missing.
    # Week of 23 Mar: 7 x 100 = 700 ; week of 30 Mar: 6 x 100 = 600 ; week of 6 Apr: no data.
    records = daily(datetime(2026, 3, 23), 14, 100, skip=(9,))
    weeks = aggregate(records, datetime(2026, 3, 23, tzinfo=CET), datetime(2026, 4, 13, tzinfo=CEST), "week")
    assert [w["total"] for w in weeks] == [700, 600, None]
    assert weeks[2]["counts"] == {}
    assert weeks[0]["start"] == datetime(2026, 3, 23, tzinfo=CET)
    assert weeks[0]["end"] == datetime(2026, 3, 30, tzinfo=CEST)  # 167 elapsed hours
    assert all(w["start"].weekday() == 0 for w in weeks)
    # A window starting mid-week still buckets by the ISO week containing it (Monday 23 Mar):
    # Thu 26 Mar -> Sun 29 Mar = 4 days counted.
    partial = aggregate(records, datetime(2026, 3, 26, tzinfo=CET), datetime(2026, 3, 30, tzinfo=CEST), "week")
    assert [(w["start"].day, w["total"]) for w in partial] == [(23, 400)]


def test_months_across_fall_back() -> None:
    # Daily 10 over 1 Oct -> 15 Nov 2026 (46 days): October 31 x 10 = 310, November 15 x 10 = 150,
    # December no data.
    records = daily(datetime(2026, 10, 1), 46, 10)
    months = aggregate(records, datetime(2026, 10, 1, tzinfo=CEST), datetime(2027, 1, 1, tzinfo=CET), "month")
    assert [(m["start"].month, m["total"]) for m in months] == [(10, 310), (11, 150), (12, None)]


def test_aggregate_rejects_bad_arguments() -> None:
    start = datetime(2026, 6, 1, tzinfo=CEST)
    with pytest.raises(ValueError, match="unknown step"):
        aggregate([], start, start + timedelta(days=1), "year")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown time zone"):
        aggregate([], start, start + timedelta(days=1), "day", "Europe/Marseille")
    with pytest.raises(ValueError, match="timezone-aware"):
        aggregate([], datetime(2026, 6, 1), start, "day")


# --- weekday x hour profile ------------------------------------------------------------


def test_profile_averages_over_hours_with_data_only() -> None:
    mon1, mon2 = datetime(2026, 6, 1, 8, tzinfo=CEST), datetime(2026, 6, 8, 8, tzinfo=CEST)
    h = timedelta(hours=1)
    q = timedelta(minutes=15)
    records = [
        # Monday 08h: week 1 in 10 + out 20 = 30 ; week 2 in 50 (out missing) = 50 -> (30 + 50) / 2 = 40.
        CountRecord(mon1, mon1 + h, "in", 10),
        CountRecord(mon1, mon1 + h, "out", 20),
        CountRecord(mon2, mon2 + h, "in", 50),
        # Monday 09h: week 1 only, 12 -> average 12 over 1 sample (not 12 / 2 = 6).
        CountRecord(mon1 + h, mon1 + 2 * h, "in", 12),
    ]
    # Tuesday 08h in quarter-hours: week 1 4 x 5 = 20 ; week 2 4 x 10 = 40 -> 30.
    for tue, c in ((datetime(2026, 6, 2, 8, tzinfo=CEST), 5), (datetime(2026, 6, 9, 8, tzinfo=CEST), 10)):
        records += [CountRecord(tue + i * q, tue + (i + 1) * q, "in", c) for i in range(4)]
    profile = weekday_hour_profile(records, datetime(2026, 6, 1, tzinfo=CEST), datetime(2026, 6, 15, tzinfo=CEST))
    assert len(profile) == 168
    cells = {(p["weekday"], p["hour"]): (p["average"], p["samples"]) for p in profile}
    assert cells[(0, 8)] == (40, 2)
    assert cells[(0, 9)] == (12, 1)
    assert cells[(1, 8)] == (30, 2)
    assert cells[(0, 10)] == (None, 0)
    assert sum(p["samples"] for p in profile) == 5


def test_profile_counts_the_repeated_fall_back_hour_twice() -> None:
    # Sunday 25 Oct: 02:00 CEST holds 4, 02:00 CET holds 6 -> average (4 + 6) / 2 = 5 over 2 samples.
    records = [
        CountRecord(datetime(2026, 10, 25, 0, tzinfo=UTC), datetime(2026, 10, 25, 1, tzinfo=UTC), "in", 4),
        CountRecord(datetime(2026, 10, 25, 1, tzinfo=UTC), datetime(2026, 10, 25, 2, tzinfo=UTC), "in", 6),
    ]
    profile = weekday_hour_profile(records, datetime(2026, 10, 25, tzinfo=CEST), datetime(2026, 10, 26, tzinfo=CET))
    cell = next(p for p in profile if (p["weekday"], p["hour"]) == (6, 2))
    assert (cell["average"], cell["samples"]) == (5, 2)


# --- year to date, year on year (leap year) ---------------------------------------------


def test_year_on_year_leap_year_uses_same_calendar_dates() -> None:
    # Daily 100 from 1 Jan 2027 to 31 Dec 2028 (365 + 366 days).
    records = daily(datetime(2027, 1, 1), 365 + 366, 100)
    # now = 1 Mar 2028 00:00: 2028 period = Jan 31 + Feb 29 = 60 days -> 6000 ;
    # 2027 period up to 1 Mar 2027 00:00 = 31 + 28 = 59 days -> 5900 ; change = 100 / 5900 = 1.6949 %.
    result = year_on_year(records, datetime(2028, 3, 1, tzinfo=CET))
    assert result["current"] == pytest.approx(6000)
    assert result["previous"] == pytest.approx(5900)
    assert result["change_percent"] == pytest.approx(100 / 5900 * 100)
    assert result["previous_end"] == datetime(2027, 3, 1, tzinfo=CET)
    # now = 29 Feb 2028 12:00 -> last year 28 Feb 2027 12:00.
    # 2028: 31 + 28 days + 12 h = 59.5 days -> 5950 ; 2027: 31 + 27 days + 12 h = 58.5 days -> 5850.
    leap_day = year_on_year(records, datetime(2028, 2, 29, 12, tzinfo=CET))
    assert leap_day["previous_end"] == datetime(2027, 2, 28, 12, tzinfo=CET)
    assert leap_day["current"] == pytest.approx(5950)
    assert leap_day["previous"] == pytest.approx(5850)
    assert leap_day["change_percent"] == pytest.approx(100 / 5850 * 100)
    assert year_to_date(records, datetime(2028, 2, 29, 12, tzinfo=CET)) == pytest.approx(5950)


def test_year_on_year_without_last_year_data_has_no_percentage() -> None:
    records = daily(datetime(2028, 1, 1), 10, 100)  # only 1-10 Jan 2028 -> 1000
    result = year_on_year(records, datetime(2028, 6, 1, tzinfo=CEST))
    assert result["current"] == pytest.approx(1000)
    assert result["previous"] is None
    assert result["change_percent"] is None


def test_year_to_date_counts_only_this_year_part_of_a_new_year_record() -> None:
    # 31 Dec 2025 23:00 -> 1 Jan 2026 01:00 local, 20 passages: 1 h of 2 falls in 2026 -> 10.
    # Plus 3 Jan 2026 08:00-09:00, 7 passages -> YTD 17.
    records = [
        CountRecord(datetime(2025, 12, 31, 23, tzinfo=CET), datetime(2026, 1, 1, 1, tzinfo=CET), "in", 20),
        CountRecord(datetime(2026, 1, 3, 8, tzinfo=CET), datetime(2026, 1, 3, 9, tzinfo=CET), "out", 7),
    ]
    assert year_to_date(records, datetime(2026, 2, 1, tzinfo=CET)) == pytest.approx(17)
    assert year_to_date([], datetime(2026, 2, 1, tzinfo=CET)) == 0.0


# --- busiest, display ------------------------------------------------------------------


def test_busiest_hour_and_day_with_tie_to_earliest() -> None:
    def rec(day: int, hour: int, direction: str, count: int) -> CountRecord:
        start = datetime(2026, 6, day, hour, tzinfo=CEST)
        return CountRecord(start, start + timedelta(hours=1), direction, count)

    records = [
        # 1 June: 07h 30 ; 08h 50 + 40 = 90 ; 17h 60 -> day 180.
        rec(1, 7, "in", 30), rec(1, 8, "in", 50), rec(1, 8, "out", 40), rec(1, 17, "in", 60),
        # 2 June: 07h 80 ; 12h 90 (ties 1 June 08h) ; 18h 20 -> day 190 (busiest day).
        rec(2, 7, "in", 80), rec(2, 12, "in", 90), rec(2, 18, "in", 20),
    ]
    result = busiest(records, datetime(2026, 6, 1, tzinfo=CEST), datetime(2026, 6, 3, tzinfo=CEST))
    assert result["hour"] == {
        "start": datetime(2026, 6, 1, 8, tzinfo=CEST),
        "end": datetime(2026, 6, 1, 9, tzinfo=CEST),
        "count": 90,
    }
    assert result["day"] is not None
    assert (result["day"]["start"], result["day"]["count"]) == (datetime(2026, 6, 2, tzinfo=CEST), 190)
    assert busiest([], datetime(2026, 6, 1, tzinfo=CEST), datetime(2026, 6, 3, tzinfo=CEST)) == {
        "hour": None,
        "day": None,
    }


def test_totem_display_on_fall_back_day() -> None:
    def utc(day: int, hour: int) -> datetime:
        return datetime(2026, 10, day, hour, tzinfo=UTC)

    records = [
        CountRecord(datetime(2026, 1, 5, 8, tzinfo=CET), datetime(2026, 1, 5, 9, tzinfo=CET), "in", 1000),
        CountRecord(utc(24, 21), utc(24, 22), "in", 100),  # 24 Oct 23:00-24:00 CEST: yesterday
        CountRecord(utc(24, 22), utc(24, 23), "in", 3),  # 25 Oct 00:00 CEST
        CountRecord(utc(24, 23), utc(25, 0), "out", 4),  # 01:00 CEST
        CountRecord(utc(25, 0), utc(25, 1), "in", 5),  # 02:00 CEST
        CountRecord(utc(25, 1), utc(25, 2), "in", 6),  # 02:00 CET, ends 03:00 CET
        CountRecord(utc(25, 10), utc(25, 11), "in", 50),  # 11:00 CET, after now: ignored
    ]
    shown = display(records, datetime(2026, 10, 25, 10, 30, tzinfo=CET))
    # today = 3 + 4 + 5 + 6 = 18 ; year = 1000 + 100 + 18 = 1118 ; last update = 03:00 CET.
    assert shown["today"] == pytest.approx(18)
    assert shown["year"] == pytest.approx(1118)
    assert shown["last_update"] == datetime(2026, 10, 25, 3, tzinfo=CET)
    assert shown["last_update"].utcoffset() == timedelta(hours=1)
    assert display([], datetime(2026, 10, 25, 10, tzinfo=CET)) == {"today": 0.0, "year": 0.0, "last_update": None}

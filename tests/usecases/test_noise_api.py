"""Noise use-case API over HTTP (SQLite and PostgreSQL): history written through NGSI-LD, values by hand.

Every expected level below is worked out in the comments from the formulas:
LAeq = 10·log10(Σ dᵢ·10^(Lᵢ/10) / Σ dᵢ) and, Directive 2002/49/EC Annex I,
Lden = 10·log10((12·10^(Lday/10) + 4·10^((Levening+5)/10) + 8·10^((Lnight+10)/10)) / 24).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest

from calanque.usecases.noise.indicators import Samples, laeq, lden_report

NOISE = "urn:ngsi-ld:NoiseLevelObserved:"
# 2026-06-10 is in CEST (UTC+2): the French periods of that date are, in UTC,
# day 04:00-16:00, evening 16:00-20:00, night 20:00-04:00 (next morning).
DAY_START = datetime(2026, 6, 10, 4, tzinfo=UTC)
EVENING_START = datetime(2026, 6, 10, 16, tzinfo=UTC)
NIGHT_START = datetime(2026, 6, 10, 20, tzinfo=UTC)
CYCLE_END = datetime(2026, 6, 11, 4, tzinfo=UTC)


def root(api: httpx.Client) -> str:
    """The server's root URL (the api fixture's base URL is the NGSI-LD prefix)."""
    return str(api.base_url).split("/ngsi-ld/")[0]


def stamp(moment: datetime) -> str:
    """ISO 8601 UTC with Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def create_sensor(api: httpx.Client, local_id: str, period_s: float | None = None, name: str | None = None,
                  headers: dict | None = None) -> str:
    """Create a NoiseLevelObserved entity (without LAeq) and return its id."""
    eid = NOISE + local_id
    point = {"type": "Point", "coordinates": [5.37, 43.30]}
    body: dict = {"id": eid, "type": "NoiseLevelObserved",
                  "location": {"type": "GeoProperty", "value": point}}
    if period_s is not None:
        body["measurementPeriod"] = {"type": "Property", "value": period_s, "unitCode": "SEC"}
    if name is not None:
        body["name"] = {"type": "Property", "value": name}
    r = api.post("/entities", json=body, headers=headers or {})
    assert r.status_code == 201, r.text
    return eid


def write_levels(api: httpx.Client, eid: str, samples: list[tuple[datetime, float]],
                 headers: dict | None = None) -> None:
    """Append LAeq instances (observedAt = end of each sample's period) through the temporal API."""
    for i in range(0, len(samples), 2000):
        chunk = samples[i:i + 2000]
        instances = [{"type": "Property", "value": level, "unitCode": "2N", "observedAt": stamp(t)}
                     for t, level in chunk]
        r = api.post(f"/temporal/entities/{eid}/attrs", headers=headers or {}, json={"LAeq": instances})
        assert r.status_code == 204, r.text


def ending(start: datetime, end: datetime, step: timedelta, level: float) -> list[tuple[datetime, float]]:
    """Samples covering [start, end) with one level, each stamped at the end of its step."""
    out, t = [], start + step
    while t <= end:
        out.append((t, level))
        t += step
    return out


def one_day(step: timedelta, day: float, evening: float, night: float) -> list[tuple[datetime, float]]:
    """The FR Lden cycle of 2026-06-10 sampled every `step`, one level per period."""
    return (ending(DAY_START, EVENING_START, step, day) + ending(EVENING_START, NIGHT_START, step, evening)
            + ending(NIGHT_START, CYCLE_END, step, night))


def lden_by_hand(lday: float, levening: float, lnight: float) -> float:
    """Directive 2002/49/EC Annex I, written out independently of Calanque."""
    return 10 * math.log10((12 * 10 ** (lday / 10) + 4 * 10 ** ((levening + 5) / 10)
                            + 8 * 10 ** ((lnight + 10) / 10)) / 24)


def test_constant_day_and_night_levels_give_the_directive_lden(api: httpx.Client) -> None:
    # 60 dB over the day and evening (16 h), 50 dB over the night (8 h), 15-min samples.
    # Lden = 10·log10((12·10^6 + 4·10^6.5 + 8·10^6)/24) = 10·log10((12e6 + 12649110.6 + 8e6)/24)
    #      = 10·log10(1360379.6) = 61.3366 dB.
    # LAeq(24 h) = 10·log10((16·1e6 + 8·1e5)/24) = 10·log10(700000) = 58.4510 dB.
    # Time at 50 dB is 8/24 = 33 %: L90 = 50 (≥ 10 % of the time at or below 50),
    # L50 = L10 = 60 (50 dB fills less than 50 %).
    eid = create_sensor(api, "constant", period_s=900)
    write_levels(api, eid, one_day(timedelta(minutes=15), 60.0, 60.0, 50.0))
    r = httpx.get(f"{root(api)}/api/v1/noise/{eid}/indicators",
                  params={"from": stamp(DAY_START), "to": stamp(CYCLE_END)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["Lden"] == pytest.approx(61.3366, abs=1e-3)
    assert body["Lden"] == pytest.approx(lden_by_hand(60, 60, 50), abs=1e-9)
    assert (body["Lday"], body["Levening"], body["Lnight"]) == pytest.approx((60.0, 60.0, 50.0))
    assert body["LAeq"] == pytest.approx(58.4510, abs=1e-3)
    assert (body["L10"], body["L50"], body["L90"]) == (60.0, 60.0, 50.0)
    assert body["samples"] == 96 and body["coverage"] == pytest.approx(1.0)
    assert body["coverage_night"] == pytest.approx(1.0) and body["measurementPeriod"] == 900
    assert body["unit"] == "dB(A)" and body["periods"] == "fr" and body["lden_days"] == 1
    # WHO 2018 defaults: 61.3 > 53 and 50 > 45.
    ex = body["exceedances"]
    assert body["thresholds"] == {"Lden": 53.0, "Lnight": 45.0}
    assert ex["lden_exceedance_days"] == ["2026-06-10"] and ex["lnight_exceedance_days"] == ["2026-06-10"]
    # Overridden thresholds: a value must be strictly above to exceed (50 is not above 50).
    r = httpx.get(f"{root(api)}/api/v1/noise/{eid}/indicators",
                  params={"from": stamp(DAY_START), "to": stamp(CYCLE_END), "lden": 62, "lnight": 50})
    ex = r.json()["exceedances"]
    assert r.json()["thresholds"] == {"Lden": 62.0, "Lnight": 50.0}
    assert ex["lden_exceedance_days"] == [] and ex["lnight_exceedance_days"] == []
    assert ex["lden_mean_exceeds"] is False


def test_eu_periods_shift_the_boundaries(api: httpx.Client) -> None:
    # Same samples with the EU scheme (day 07-19, evening 19-23, night 23-07 local = 05-17,
    # 17-21, 21-05 UTC). Over [04:00, 04:00+24 h) UTC: 20:00-21:00 UTC (50 dB) is now evening,
    # so Levening = 10·log10((3·1e6 + 1·1e5)/4) = 10·log10(775000) = 58.8930 dB;
    # Lday = 60 (05:00-16:00 at 60, 16:00-17:00 at 60); the night 21:00-04:00 UTC is 50 dB; the
    # 04:00-05:00 UTC hour at 60 dB belongs to the night of 2026-06-09 (clipped to the request):
    # the pooled Lnight = 10·log10((7·1e5 + 1·1e6)/8) = 10·log10(212500) = 53.2736 dB.
    eid = create_sensor(api, "eu", period_s=900)
    write_levels(api, eid, one_day(timedelta(minutes=15), 60.0, 60.0, 50.0))
    r = httpx.get(f"{root(api)}/api/v1/noise/{eid}/indicators",
                  params={"from": stamp(DAY_START), "to": stamp(CYCLE_END), "periods": "eu"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["periods"] == "eu"
    assert body["Levening"] == pytest.approx(58.8930, abs=1e-3)
    assert body["Lday"] == pytest.approx(60.0)
    assert body["Lnight"] == pytest.approx(53.2736, abs=1e-3)


@pytest.mark.parametrize(("step", "period"), [(timedelta(seconds=1), 1), (timedelta(minutes=1), 60),
                                               (timedelta(minutes=15), 900)])
def test_sampling_rate_does_not_change_the_levels(api: httpx.Client, step: timedelta, period: int) -> None:
    # One hour from 10:00 UTC: 70 dB for 30 min then 60 dB for 30 min, sampled every 1 s, 1 min or
    # 15 min. LAeq = 10·log10((30·1e7 + 30·1e6)/60) = 10·log10(5.5e6) = 67.4036 dB whatever the rate.
    start = datetime(2026, 6, 10, 10, tzinfo=UTC)
    half = start + timedelta(minutes=30)
    eid = create_sensor(api, f"rate-{period}", period_s=period)
    write_levels(api, eid, ending(start, half, step, 70.0)
                 + ending(half, start + timedelta(hours=1), step, 60.0))
    r = httpx.get(f"{root(api)}/api/v1/noise/{eid}/indicators",
                  params={"from": stamp(start), "to": stamp(start + timedelta(hours=1))})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["LAeq"] == pytest.approx(67.4036, abs=1e-3)
    assert body["Lday"] == pytest.approx(67.4036, abs=1e-3)
    assert body["coverage"] == pytest.approx(1.0)
    assert body["samples"] == 3600 // int(step.total_seconds())
    # Half the time at 70 and half at 60: L50 is 60 (the time at or below 60 reaches 50 %).
    assert (body["L10"], body["L50"], body["L90"]) == (70.0, 60.0, 60.0)
    # Only the day period has data: no Lden, and the answer says why.
    assert body["Lden"] is None and "no local date" in body["lden_reason"]
    (excluded,) = body["lden_days_excluded"]
    assert excluded["day"] == "2026-06-10"
    assert "evening (18:00-22:00) and night (22:00-06:00)" in excluded["reason"]


def test_gaps_lower_the_coverage_not_the_level(api: httpx.Client) -> None:
    # 1-min samples over 10:00-11:00 UTC with the ten samples stamped 10:21 … 10:30 missing:
    # covered 50 of 60 min → coverage 5/6. 60 dB before the gap, 70 dB after it:
    # 20 min at 60 dB (10:00-10:20), 30 min at 70 dB (10:30-11:00).
    # LAeq = 10·log10((20·1e6 + 30·1e7)/50) = 10·log10(6.4e6) = 68.0618 dB.
    # (Stretching 60 dB over the gap would give 10·log10((30·1e6 + 30·1e7)/60) = 67.4036 instead.)
    start = datetime(2026, 6, 10, 10, tzinfo=UTC)
    step = timedelta(minutes=1)
    eid = create_sensor(api, "gaps", period_s=60)
    samples = ending(start, start + timedelta(minutes=20), step, 60.0)
    samples += ending(start + timedelta(minutes=30), start + timedelta(hours=1), step, 70.0)
    write_levels(api, eid, samples)
    body = httpx.get(f"{root(api)}/api/v1/noise/{eid}/indicators",
                     params={"from": stamp(start), "to": stamp(start + timedelta(hours=1))}).json()
    assert body["coverage"] == pytest.approx(50 / 60)
    assert body["LAeq"] == pytest.approx(68.0618, abs=1e-3)
    assert body["samples"] == 50


def test_default_measurement_period_is_600_seconds(api: httpx.Client) -> None:
    # No measurementPeriod: a sample covers the 600 s before it. Samples every 15 min over one hour
    # at 65 dB therefore cover 4 × 10 min = 40 of 60 min: coverage 2/3, LAeq 65.
    start = datetime(2026, 6, 10, 10, tzinfo=UTC)
    eid = create_sensor(api, "default-period")
    write_levels(api, eid, ending(start, start + timedelta(hours=1), timedelta(minutes=15), 65.0))
    body = httpx.get(f"{root(api)}/api/v1/noise/{eid}/indicators",
                     params={"from": stamp(start), "to": stamp(start + timedelta(hours=1))}).json()
    assert body["measurementPeriod"] == 600
    assert body["coverage"] == pytest.approx(2 / 3)
    assert body["LAeq"] == pytest.approx(65.0)


def test_daily_series_with_a_missing_night(api: httpx.Client) -> None:
    # 2026-06-10: day 60, evening 55, night 50 → Lden = 10·log10((12e6 + 4·10^6 + 8·10^6)/24)
    # = 10·log10(1e6) = 60.0 dB, Lnight 50 > 45.
    # 2026-06-11: day and evening 50 dB, no night data → no Lden; its Lnight is absent too.
    eid = create_sensor(api, "daily", period_s=900)
    step = timedelta(minutes=15)
    samples = one_day(step, 60.0, 55.0, 50.0)
    samples += ending(CYCLE_END, CYCLE_END + timedelta(hours=16), step, 50.0)
    write_levels(api, eid, samples)
    r = httpx.get(f"{root(api)}/api/v1/noise/{eid}/daily", params={"from": "2026-06-10", "to": "2026-06-12"})
    assert r.status_code == 200, r.text
    body = r.json()
    first, second = body["days"]
    assert (first["day"], second["day"]) == ("2026-06-10", "2026-06-11")
    assert first["Lden"] == pytest.approx(60.0, abs=1e-9)
    assert (first["Lday"], first["Levening"], first["Lnight"]) == pytest.approx((60.0, 55.0, 50.0))
    assert first["lden_exceeds"] is True and first["lnight_exceeds"] is True
    assert first["coverage"] == pytest.approx(1.0) and first["samples"] == 96
    assert first["start"] == "2026-06-10T04:00:00.000000Z" and first["end"] == "2026-06-11T04:00:00.000000Z"
    assert second["Lden"] is None and second["lden_exceeds"] is None and second["lnight_exceeds"] is None
    assert second["Lday"] == pytest.approx(50.0)
    assert "night (22:00-06:00)" in second["lden_reason"]
    # Day and evening complete, night empty: 16 of 24 h covered.
    assert second["coverage"] == pytest.approx(16 / 24)
    assert body["exceedances"]["lden_exceedance_days"] == ["2026-06-10"]
    assert body["exceedances"]["days_with_lden"] == 1


def test_observatory_flags_each_sensor(api: httpx.Client) -> None:
    # Loud: constant 60 dB → Lden = 10·log10((12·1e6 + 4·10^6.5 + 8·10^7)/24)
    #   = 10·log10((12e6 + 12649110.6 + 80e6)/24) = 10·log10(4360379.6) = 66.3952; Lnight 60.
    # Quiet: constant 40 dB → Lden = 66.3952 − 20 = 46.3952; Lnight 40: no exceedance.
    step = timedelta(minutes=15)
    loud = create_sensor(api, "loud", period_s=900, name="Cours Belsunce")
    quiet = create_sensor(api, "quiet", period_s=900, name="Parc Borély")
    write_levels(api, loud, one_day(step, 60.0, 60.0, 60.0))
    write_levels(api, quiet, one_day(step, 40.0, 40.0, 40.0))
    other = api.post("/entities", json={"id": "urn:ngsi-ld:WaterObserved:x", "type": "WaterObserved",
                                        "height": {"type": "Property", "value": 1.0}})
    assert other.status_code == 201
    r = httpx.get(f"{root(api)}/api/v1/noise/observatory", params={"date": "2026-06-10"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 2 and body["date"] == "2026-06-10"
    by_id = {s["entityId"]: s for s in body["sensors"]}
    assert set(by_id) == {loud, quiet}
    assert by_id[loud]["Lden"] == pytest.approx(66.3952, abs=1e-3)
    assert by_id[loud]["Lnight"] == pytest.approx(60.0)
    assert by_id[loud]["lden_exceeds"] is True and by_id[loud]["lnight_exceeds"] is True
    assert by_id[loud]["name"] == "Cours Belsunce"
    assert by_id[loud]["location"] == {"type": "Point", "coordinates": [5.37, 43.30]}
    assert by_id[quiet]["Lden"] == pytest.approx(46.3952, abs=1e-3)
    assert by_id[quiet]["lden_exceeds"] is False and by_id[quiet]["lnight_exceeds"] is False
    assert body["summary"] == {"sensors": 2, "withLden": 2, "ldenExceedances": 1, "lnightExceedances": 1}
    # Raising the thresholds clears the loud sensor; paging returns one sensor with the total count.
    r = httpx.get(f"{root(api)}/api/v1/noise/observatory",
                  params={"date": "2026-06-10", "lden": 70, "lnight": 65, "limit": 1})
    body = r.json()
    assert body["count"] == 2 and len(body["sensors"]) == 1
    assert body["sensors"][0]["lden_exceeds"] is False and body["sensors"][0]["lnight_exceeds"] is False


def test_observatory_reports_a_misconfigured_sensor_without_failing(api: httpx.Client) -> None:
    good = create_sensor(api, "good", period_s=900)
    write_levels(api, good, one_day(timedelta(minutes=15), 50.0, 50.0, 50.0))
    bad = create_sensor(api, "bad", period_s=-5)
    body = httpx.get(f"{root(api)}/api/v1/noise/observatory", params={"date": "2026-06-10"}).json()
    by_id = {s["entityId"]: s for s in body["sensors"]}
    assert "measurementPeriod" in by_id[bad]["error"]
    # Constant 50 dB: Lden = 50 + 10·log10((12 + 4·10^0.5 + 8·10)/24) = 50 + 10·log10(4.3604) = 56.3952.
    assert by_id[good]["Lden"] == pytest.approx(56.3952, abs=1e-3)


def test_tenants_are_separate(api: httpx.Client) -> None:
    tenant = {"NGSILD-Tenant": "aubagne"}
    eid = create_sensor(api, "tenant", period_s=900, headers=tenant)
    write_levels(api, eid, one_day(timedelta(minutes=15), 60.0, 60.0, 50.0), headers=tenant)
    params = {"from": stamp(DAY_START), "to": stamp(CYCLE_END)}
    r = httpx.get(f"{root(api)}/api/v1/noise/{eid}/indicators", params=params, headers=tenant)
    assert r.status_code == 200 and r.json()["Lden"] == pytest.approx(61.3366, abs=1e-3)
    assert httpx.get(f"{root(api)}/api/v1/noise/{eid}/indicators", params=params).status_code == 404
    r = httpx.get(f"{root(api)}/api/v1/noise/observatory", headers={"NGSILD-Tenant": "nowhere"})
    assert r.status_code == 404 and "nowhere" in r.json()["detail"]


def test_bad_requests_are_4xx_problem_details(api: httpx.Client) -> None:
    eid = create_sensor(api, "bad-params", period_s=900)
    water = api.post("/entities", json={"id": "urn:ngsi-ld:WaterObserved:w", "type": "WaterObserved",
                                        "height": {"type": "Property", "value": 1.0}})
    assert water.status_code == 201
    misconfigured = create_sensor(api, "misconfigured", period_s=0)
    base = f"{root(api)}/api/v1/noise"
    cases = [
        (f"{base}/{NOISE}missing/indicators", {}, 404, "does not exist"),
        (f"{base}/{eid}/indicators", {"from": "2026-06-11T00:00:00Z", "to": "2026-06-10T00:00:00Z"}, 400,
         "must be before"),
        (f"{base}/{eid}/indicators", {"from": "2026-06-10T00:00:00Z", "to": "2026-06-10T00:00:00Z"}, 400,
         "must be before"),
        (f"{base}/{eid}/indicators", {"from": "2025-01-01T00:00:00Z", "to": "2026-06-10T00:00:00Z"}, 400,
         "400 days"),
        (f"{base}/{eid}/indicators", {"periods": "us"}, 400, "'periods'"),
        (f"{base}/{eid}/indicators", {"tz": "Mars/Olympus"}, 400, "'tz'"),
        (f"{base}/{eid}/indicators", {"from": "yesterday"}, 400, "'from'"),
        (f"{base}/{eid}/indicators", {"lden": "loud"}, 400, "lden"),
        (f"{base}/{eid}/indicators", {"lnight": "nan"}, 400, "lnight"),
        (f"{base}/urn:ngsi-ld:WaterObserved:w/indicators", {}, 400, "NoiseLevelObserved"),
        (f"{base}/not-an-id/indicators", {}, 400, "not an entity id"),
        (f"{base}/{misconfigured}/indicators", {}, 400, "measurementPeriod"),
        (f"{base}/{eid}/daily", {"from": "2026-06-12", "to": "2026-06-10"}, 400, "must be before"),
        (f"{base}/{eid}/daily", {"from": "2025-01-01", "to": "2026-06-10"}, 400, "400 days"),
        (f"{base}/{eid}/daily", {"from": "2026-13-01", "to": "2026-06-10"}, 400, "'from'"),
        (f"{base}/{eid}/daily", {"periods": "weekly"}, 400, "'periods'"),
        (f"{base}/{NOISE}missing/daily", {}, 404, "does not exist"),
        (f"{base}/observatory", {"date": "10/06/2026"}, 400, "'date'"),
        (f"{base}/observatory", {"periods": "xx"}, 400, "'periods'"),
        (f"{base}/observatory", {"limit": 0}, 400, "'limit'"),
    ]
    for url, params, status, words in cases:
        r = httpx.get(url, params=params)
        assert r.status_code == status, (url, params, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/"), r.headers
        assert words in r.json()["detail"], (url, params, r.json())


def test_endpoints_are_documented_and_listed(api: httpx.Client) -> None:
    spec = httpx.get(f"{root(api)}/openapi.json").json()
    for path in ("/api/v1/noise/{entityId}/indicators", "/api/v1/noise/{entityId}/daily",
                 "/api/v1/noise/observatory"):
        assert "get" in spec["paths"][path], path
    names = {p["name"] for p in spec["paths"]["/api/v1/noise/{entityId}/indicators"]["get"]["parameters"]}
    assert {"from", "to", "periods", "lden", "lnight"} <= names
    noise = next(u for u in httpx.get(f"{root(api)}/api/v1/usecases").json() if u["name"] == "noise")
    assert noise["entityTypes"] == ["NoiseLevelObserved"] and noise["deviceModels"] == ["milesight-ws302"]
    assert {(t["name"], t["value"]) for t in noise["thresholds"]} == {("Lden", 53.0), ("Lnight", 45.0)}
    assert "/api/v1/noise/{entityId}/indicators" in {i["endpoint"] for i in noise["indicators"]}


# --- samples stamped at the end of their period (no server) -------------------------------------

def test_samples_ending_at_cover_the_period_before_their_stamp() -> None:
    # Period 600 s; samples stamped 10:10 (70 dB), 10:15 (60 dB) and 10:40 (50 dB), epoch µs.
    # 10:10 covers 10:00-10:10; 10:15 only 10:10-10:15 (previous sample closer than 600 s);
    # 10:40 covers 10:30-10:40 (10:15-10:30 is a gap). Over [10:00, 10:40): covered 25 of 40 min,
    # LAeq = 10·log10((10·1e7 + 5·1e6 + 10·1e5)/25) = 10·log10(4240000) = 66.2737 dB.
    t0 = datetime(2026, 6, 10, 10, tzinfo=UTC)
    stamps = [int((t0 + timedelta(minutes=m)).timestamp() * 1e6) for m in (10, 15, 40)]
    samples = Samples.ending_at(stamps, [70.0, 60.0, 50.0], 600)
    assert samples.durations.tolist() == [600.0, 300.0, 600.0]
    assert laeq(samples, t0, t0 + timedelta(minutes=40)) == pytest.approx(66.2737, abs=1e-3)


def test_samples_ending_at_keep_the_last_of_equal_stamps_and_reject_bad_input() -> None:
    us = 1_781_085_600_000_000  # 2026-06-10T10:00:00Z
    samples = Samples.ending_at([us, us, us + 60_000_000], [40.0, 80.0, 50.0], 60)
    assert samples.levels.tolist() == [80.0, 50.0]
    with pytest.raises(ValueError, match="positive number of seconds"):
        Samples.ending_at([us], [40.0], 0)
    with pytest.raises(ValueError, match="non-finite level"):
        Samples(np.array([1.0, 2.0]), np.array([40.0, math.inf]))
    with pytest.raises(ValueError, match="neither max_gap nor sample_duration"):
        laeq(samples, datetime(2026, 6, 10, 9, tzinfo=UTC), datetime(2026, 6, 10, 11, tzinfo=UTC),
             sample_duration=timedelta(minutes=1))


def test_percentile_levels_of_a_long_series() -> None:
    # 100 000 one-second samples at 0, 1, …, 99 dB in turn: each level fills 1 % of the time.
    # L90 is the lowest level with at least 10 % of the time at or below it: 9 dB;
    # L50: 49 dB; L10: 89 dB. (Long series take the binned path of the percentile computation.)
    n = 100_000
    t0 = datetime(2026, 6, 10, tzinfo=UTC)
    samples = Samples(t0.timestamp() + np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64) % 100)
    report = lden_report(samples, t0, t0 + timedelta(seconds=n), sample_duration=timedelta(seconds=1))
    assert (report["L10"], report["L50"], report["L90"]) == (89.0, 49.0, 9.0)
    assert report["samples"] == n and report["coverage"] == pytest.approx(1.0)


def test_hourly_profile_is_an_energy_average_per_hour(api: httpx.Client) -> None:
    eid = create_sensor(api, "hourly", period_s=600)
    t0 = datetime(2026, 6, 10, 10, tzinfo=UTC)
    # 10:00-10:30 at 60 dB and 10:30-11:00 at 70 dB; 11:00-11:30 at 50 dB; nothing after 11:30
    write_levels(api, eid, ending(t0, t0 + timedelta(minutes=30), timedelta(minutes=10), 60.0)
                 + ending(t0 + timedelta(minutes=30), t0 + timedelta(hours=1), timedelta(minutes=10), 70.0)
                 + ending(t0 + timedelta(hours=1), t0 + timedelta(minutes=90), timedelta(minutes=10), 50.0))
    r = httpx.get(f"{root(api)}/api/v1/noise/{eid}/hourly",
                  params={"from": stamp(t0), "to": stamp(t0 + timedelta(hours=3))})
    assert r.status_code == 200, r.text
    body = r.json()
    hours = body["hours"]
    assert [h["start"] for h in hours] == [f"2026-06-10T{h}:00:00.000000Z" for h in (10, 11, 12)]
    # half an hour at 60 and half at 70: 10·log10((10^6 + 10^7) / 2) = 67.40 dB
    assert hours[0]["LAeq"] == pytest.approx(10 * math.log10((1e6 + 1e7) / 2), abs=1e-9)
    assert hours[0]["coverage"] == pytest.approx(1.0)
    assert (hours[1]["LAeq"], hours[1]["coverage"]) == (pytest.approx(50.0), pytest.approx(0.5))
    assert (hours[2]["LAeq"], hours[2]["coverage"]) == (None, 0.0)
    # the whole period: 30 min each at 60, 70 and 50 dB: 10·log10((10^6 + 10^7 + 10^5) / 3) = 65.68 dB
    assert body["LAeq"] == pytest.approx(10 * math.log10((1e6 + 1e7 + 1e5) / 3), abs=1e-9)

    default = httpx.get(f"{root(api)}/api/v1/noise/{eid}/hourly").json()
    assert len(default["hours"]) == 24 and default["hours"][-1]["end"].endswith(":00:00.000000Z")
    too_long = httpx.get(f"{root(api)}/api/v1/noise/{eid}/hourly",
                         params={"from": "2026-06-01T00:00:00Z", "to": "2026-06-09T00:00:00Z"})
    assert too_long.status_code == 400 and "longer than the configured limit of 7 days" in too_long.json()["detail"]
    reversed_ = httpx.get(f"{root(api)}/api/v1/noise/{eid}/hourly",
                          params={"from": "2026-06-09T00:00:00Z", "to": "2026-06-01T00:00:00Z"})
    assert reversed_.status_code == 400
    assert httpx.get(f"{root(api)}/api/v1/noise/{NOISE}nope/hourly").status_code == 404

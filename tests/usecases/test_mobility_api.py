"""The mobility use case over HTTP (live server, SQLite and PostgreSQL) and its CLI.

Counters are created through the NGSI-LD API (current value) and the temporal API (older
samples), exactly as a client or the ingestion would store them; every expected figure is
worked out by hand in the comments. Europe/Paris is UTC+1 in winter (CET) and UTC+2 in summer
(CEST); in 2026 the clocks go forward on 29 March (a 23 h day). The vectorised computations
behind the endpoints are also compared with a naive per-record, per-bucket loop written here.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from click.testing import CliRunner

from calanque.cli import main as calanque_cli
from calanque.usecases.mobility.counts import CountRecord, aggregate, busiest, weekday_hour_profile

from .test_mobility_frschema import frictionless_report

CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))
PARIS = ZoneInfo("Europe/Paris")
BIKE = "urn:ngsi-ld:TrafficFlowObserved:prado"
WALK = "urn:ngsi-ld:CrowdFlowObserved:vieux-port"
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def client(api: httpx.Client) -> Iterator[httpx.Client]:
    """An HTTP client at the root of the live server (store emptied by the ``api`` fixture)."""
    root = str(api.base_url).split("/ngsi-ld/")[0]
    with httpx.Client(base_url=root, timeout=60) as http:
        yield http


def iso(moment: datetime) -> str:
    """An ISO 8601 time for a query parameter."""
    return moment.isoformat()


def instance(value: float, observed: datetime, direction: str | None) -> dict[str, Any]:
    """A count instance of one direction observed at ``observed``."""
    inst: dict[str, Any] = {"type": "Property", "value": value, "unitCode": "C62",
                            "observedAt": observed.astimezone(UTC).isoformat().replace("+00:00", "Z")}
    if direction is not None:
        inst["datasetId"] = f"urn:ngsi-ld:Dataset:{direction}"
    return inst


def make_counter(
    http: httpx.Client, entity_id: str, samples: dict[str | None, list[tuple[datetime, float]]], *,
    period: float | None = 900, tenant: str | None = None, location: tuple[float, float] | None = (5.3832, 43.2821),
    extra: dict[str, Any] | None = None,
) -> None:
    """Create a counter: the latest sample of each direction as current value, the others in its history."""
    entity_type, attribute = (("TrafficFlowObserved", "intensity") if "TrafficFlowObserved" in entity_id
                              else ("CrowdFlowObserved", "peopleCount"))
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    body: dict[str, Any] = {"id": entity_id, "type": entity_type, "name": {"type": "Property", "value": "Compteur"},
                            **(extra or {})}
    if location is not None:
        body["location"] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": list(location)}}
    if period is not None:
        body["measurementPeriod"] = {"type": "Property", "value": period, "unitCode": "SEC"}
    ordered = {d: sorted(s) for d, s in samples.items()}
    body[attribute] = [instance(s[-1][1], s[-1][0], d) for d, s in ordered.items()]
    response = http.post("/ngsi-ld/v1/entities", json=body, headers=headers)
    assert response.status_code == 201, response.text
    older = [instance(v, t, d) for d, s in ordered.items() for t, v in s[:-1]]
    for start in range(0, len(older), 2000):
        response = http.post(f"/ngsi-ld/v1/temporal/entities/{entity_id}/attrs",
                             json={attribute: older[start:start + 2000]}, headers=headers)
        assert response.status_code == 204, response.text


def every(first_end: datetime, last_end: datetime, step: timedelta, value: float) -> list[tuple[datetime, float]]:
    """Samples ending at first_end, first_end + step, … up to last_end included, each holding ``value``."""
    out, t = [], first_end
    while t <= last_end:
        out.append((t, value))
        t += step
    return out


def local(text: str) -> datetime:
    """Parse a time of an answer."""
    return datetime.fromisoformat(text)


# --- counts ---------------------------------------------------------------------------------------------


def dst_counter(http: httpx.Client) -> None:
    """Quarter-hour counts from 28 March 00:00 CET (27 Mar 23:00Z) to 31 March 00:00 CEST (30 Mar 22:00Z):
    71 h = 284 quarters per direction, 1 passage "in" and 2 "out" per quarter."""
    quarter = timedelta(minutes=15)
    first = datetime(2026, 3, 27, 23, 15, tzinfo=UTC)
    last = datetime(2026, 3, 30, 22, 0, tzinfo=UTC)
    make_counter(http, BIKE, {"in": every(first, last, quarter, 1), "out": every(first, last, quarter, 2)},
                 extra={"refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:vs350-01"}})


def test_daily_counts_per_direction_across_the_spring_forward_day(client: httpx.Client) -> None:
    dst_counter(client)
    response = client.get(f"/api/v1/mobility/{BIKE}/counts", params={
        "from": iso(datetime(2026, 3, 28, tzinfo=CET)), "to": iso(datetime(2026, 3, 31, tzinfo=CEST)), "step": "day"})
    assert response.status_code == 200, response.text
    body = response.json()
    # 28 Mar: 96 quarters ; 29 Mar: 23 h = 92 quarters ; 30 Mar: 96 quarters.
    assert [(b["counts"], b["total"]) for b in body["buckets"]] == [
        ({"in": 96, "out": 192}, 288), ({"in": 92, "out": 184}, 276), ({"in": 96, "out": 192}, 288)]
    assert [local(b["start"]) for b in body["buckets"]] == [
        datetime(2026, 3, 28, tzinfo=CET), datetime(2026, 3, 29, tzinfo=CET), datetime(2026, 3, 30, tzinfo=CEST)]
    assert body["buckets"][1]["start"].endswith("+01:00") and body["buckets"][1]["end"].endswith("+02:00")
    assert body["total"] == 288 + 276 + 288
    assert body["directions"] == ["in", "out"]
    assert (body["type"], body["attribute"], body["measurementPeriod"]) == ("TrafficFlowObserved", "intensity", 900)


def test_hourly_weekly_monthly_and_partial_window_counts(client: httpx.Client) -> None:
    dst_counter(client)
    url = f"/api/v1/mobility/{BIKE}/counts"
    hours = client.get(url, params={"from": iso(datetime(2026, 3, 29, tzinfo=CET)),
                                    "to": iso(datetime(2026, 3, 30, tzinfo=CEST)), "step": "hour"}).json()["buckets"]
    # The 23 local hours of 29 March (no 02:00), 4 quarters each: 4 in, 8 out.
    assert [local(h["start"]).hour for h in hours] == [0, 1, *range(3, 24)]
    assert all(h["counts"] == {"in": 4, "out": 8} and h["total"] == 12 for h in hours)
    weeks = client.get(url, params={"from": iso(datetime(2026, 3, 28, tzinfo=CET)),
                                    "to": iso(datetime(2026, 4, 6, tzinfo=CEST)), "step": "week"}).json()["buckets"]
    # Week of Monday 23 March: 28 + 29 March = 96 + 92 quarters ; week of 30 March: 30 March only.
    assert [(local(w["start"]), w["counts"]) for w in weeks] == [
        (datetime(2026, 3, 23, tzinfo=CET), {"in": 188, "out": 376}),
        (datetime(2026, 3, 30, tzinfo=CEST), {"in": 96, "out": 192})]
    months = client.get(url, params={"from": iso(datetime(2026, 3, 1, tzinfo=CET)),
                                     "to": iso(datetime(2026, 5, 1, tzinfo=CEST)), "step": "month"}).json()
    assert [(m["total"]) for m in months["buckets"]] == [284 * 3, None]
    assert months["buckets"][1]["counts"] == {}
    # From 12:07:30: the 12:00-12:15 quarter counts for half (0.5 in, 1 out), then 3 full quarters.
    part = client.get(url, params={"from": iso(datetime(2026, 3, 28, 12, 7, 30, tzinfo=CET)),
                                   "to": iso(datetime(2026, 3, 28, 13, tzinfo=CET)), "step": "hour"}).json()
    assert [(b["counts"], b["total"]) for b in part["buckets"]] == [({"in": 3.5, "out": 7}, 10.5)]
    # Another time zone moves the day boundaries: 28 March in UTC holds 24 h of quarters.
    utc = client.get(url, params={"from": "2026-03-28T00:00:00Z", "to": "2026-03-29T00:00:00Z", "tz": "UTC"}).json()
    assert utc["buckets"][0]["total"] == 96 * 3 and utc["tz"] == "UTC"


def test_one_minute_counts_of_a_pedestrian_counter(client: httpx.Client) -> None:
    # 1 June 2026 (CEST): 1 passage "in" every minute (1 440) ; "out" 2 per minute from 08:00 to 09:00 only (120).
    minute = timedelta(minutes=1)
    day = datetime(2026, 6, 1, tzinfo=CEST)
    samples = {"in": every(day + minute, day + timedelta(days=1), minute, 1),
               "out": every(day + timedelta(hours=8, minutes=1), day + timedelta(hours=9), minute, 2)}
    make_counter(client, WALK, samples, period=60)
    url = f"/api/v1/mobility/{WALK}/counts"
    days = client.get(url, params={"from": iso(day), "to": iso(day + timedelta(days=1))}).json()
    assert days["attribute"] == "peopleCount"
    assert [(b["counts"], b["total"]) for b in days["buckets"]] == [({"in": 1440, "out": 120}, 1560)]
    hours = client.get(url, params={"from": iso(day), "to": iso(day + timedelta(days=1)), "step": "hour"}).json()
    assert [h["total"] for h in hours["buckets"]] == [60] * 8 + [180] + [60] * 15


def test_counts_refuse_bad_requests_with_clear_problems(client: httpx.Client) -> None:
    dst_counter(client)
    url = f"/api/v1/mobility/{BIKE}/counts"
    window = {"from": "2026-03-28T00:00:00Z", "to": "2026-03-29T00:00:00Z"}
    cases = [
        (url, {**window, "step": "year"}, 400, "parameter 'step' must be one of hour, day, week, month"),
        (url, {**window, "tz": "Europe/Marseille"}, 400, "parameter 'tz' must be an IANA time-zone name"),
        (url, {"from": "2026-03-29T00:00:00Z", "to": "2026-03-28T00:00:00Z"}, 400, "must be before 'to'"),
        (url, {"from": "yesterday"}, 400, "parameter 'from' is not an ISO 8601 date-time"),
        (url, {**window, "colour": "red"}, 400, "unknown query parameter(s): colour"),
        (url, {"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 400, "longer than the configured limit"),
        ("/api/v1/mobility/urn:ngsi-ld:TrafficFlowObserved:nowhere/counts", window, 404, "does not exist"),
        ("/api/v1/mobility/not-an-id/counts", window, 400, "is not an entity id"),
        (f"/api/v1/mobility/{BIKE}/summary", {"at": "noon"}, 400, "parameter 'at' is not an ISO 8601 date-time"),
    ]
    for path, params, status, detail in cases:
        response = client.get(path, params=params)
        assert response.status_code == status, (path, params, response.text)
        assert detail in response.json()["detail"], (path, params, response.json())
    noise = {"id": "urn:ngsi-ld:NoiseLevelObserved:n1", "type": "NoiseLevelObserved",
             "LAeq": {"type": "Property", "value": 61.5}}
    assert client.post("/ngsi-ld/v1/entities", json=noise).status_code == 201
    wrong = client.get("/api/v1/mobility/urn:ngsi-ld:NoiseLevelObserved:n1/counts", params=window)
    assert wrong.status_code == 400
    assert "is not of type TrafficFlowObserved or CrowdFlowObserved" in wrong.json()["detail"]
    tenant = client.get(url, params=window, headers={"NGSILD-Tenant": "nobody"})
    assert tenant.status_code == 404 and "tenant 'nobody' does not exist" in tenant.json()["detail"]


def test_a_counter_with_an_unusable_period_gets_a_400_naming_it(client: httpx.Client) -> None:
    make_counter(client, BIKE, {"in": [(datetime(2026, 6, 1, 8, tzinfo=UTC), 3)]}, period=-5)
    response = client.get(f"/api/v1/mobility/{BIKE}/display")
    assert response.status_code == 400
    assert "measurementPeriod -5" in response.json()["detail"]


def test_negative_counts_are_left_out_and_counted(client: httpx.Client) -> None:
    hour = timedelta(hours=1)
    start = datetime(2026, 6, 1, 8, tzinfo=CEST)
    make_counter(client, BIKE, {"in": [(start + hour, 5), (start + 2 * hour, -1), (start + 3 * hour, 7)]}, period=3600)
    body = client.get(f"/api/v1/mobility/{BIKE}/counts", params={
        "from": iso(start), "to": iso(start + 3 * hour), "step": "hour"}).json()
    # The -1 of 09:00-10:00 is a device fault: that hour has no data.
    assert [b["total"] for b in body["buckets"]] == [5, None, 7]
    assert body["ignoredSamples"] == 1


# --- profile, summary, display --------------------------------------------------------------------


def test_weekday_hour_profile_averages_hours_with_data(client: httpx.Client) -> None:
    hour = timedelta(hours=1)
    mon1, mon2 = datetime(2026, 6, 1, 8, tzinfo=CEST), datetime(2026, 6, 8, 8, tzinfo=CEST)
    tue1, tue2 = datetime(2026, 6, 2, 8, tzinfo=CEST), datetime(2026, 6, 9, 8, tzinfo=CEST)
    make_counter(client, BIKE, {
        "in": [(mon1 + hour, 10), (mon1 + 2 * hour, 12), (mon2 + hour, 50), (tue1 + hour, 20), (tue2 + hour, 40)],
        "out": [(mon1 + hour, 20)],
    }, period=3600)
    body = client.get(f"/api/v1/mobility/{BIKE}/profile", params={
        "from": iso(datetime(2026, 6, 1, tzinfo=CEST)), "to": iso(datetime(2026, 6, 15, tzinfo=CEST))}).json()
    cells = {(c["weekday"], c["hour"]): (c["average"], c["samples"]) for c in body["cells"]}
    assert len(cells) == 168
    # Monday 08h: (10 + 20) and 50 -> 40 over 2 hours ; Monday 09h: 12 ; Tuesday 08h: (20 + 40) / 2 = 30.
    assert cells[(0, 8)] == (40, 2)
    assert cells[(0, 9)] == (12, 1)
    assert cells[(1, 8)] == (30, 2)
    assert cells[(2, 8)] == (None, 0)
    assert sum(n for _, n in cells.values()) == 5


def summary_counter(http: httpx.Client) -> None:
    """Hourly counts: 2025: 10 Jan 08h 100, 1 Mar 12h 50 ; 2026: 5 Jan 08h 30 in + 20 out,
    2 Feb 17h 70, 2 Feb 18h 10, 20 Feb 08h 5 (all local CET times, 1 h records)."""
    hour = timedelta(hours=1)

    def at(y: int, m: int, d: int, h: int) -> datetime:
        return datetime(y, m, d, h, tzinfo=CET) + hour  # the end of the hour starting at h

    make_counter(http, BIKE, {
        "in": [(at(2025, 1, 10, 8), 100), (at(2025, 3, 1, 12), 50), (at(2026, 1, 5, 8), 30),
               (at(2026, 2, 2, 17), 70), (at(2026, 2, 2, 18), 10), (at(2026, 2, 20, 8), 5)],
        "out": [(at(2026, 1, 5, 8), 20)],
    }, period=3600)


def test_summary_year_to_date_year_on_year_and_busiest(client: httpx.Client) -> None:
    summary_counter(client)
    body = client.get(f"/api/v1/mobility/{BIKE}/summary",
                      params={"at": iso(datetime(2026, 2, 15, 12, tzinfo=CET))}).json()
    # 2026 up to 15 Feb 12:00: 30 + 20 + 70 + 10 = 130 ; 2025 up to 15 Feb 12:00: 100 -> +30 %.
    assert body["yearToDate"] == 130
    year = body["yearOnYear"]
    assert (year["current"], year["previous"], year["changePercent"]) == (130, 100, pytest.approx(30))
    assert local(year["previousStart"]) == datetime(2025, 1, 1, tzinfo=CET)
    assert local(year["previousEnd"]) == datetime(2025, 2, 15, 12, tzinfo=CET)
    # Busiest hour this year: 2 Feb 17-18h (70) ; busiest day: 2 Feb (80) ahead of 5 Jan (50).
    assert (local(body["busiestHour"]["start"]), body["busiestHour"]["count"]) == (
        datetime(2026, 2, 2, 17, tzinfo=CET), 70)
    assert (local(body["busiestDay"]["start"]), body["busiestDay"]["count"]) == (datetime(2026, 2, 2, tzinfo=CET), 80)
    # On 1 January at midnight nothing has been counted yet this year.
    new_year = client.get(f"/api/v1/mobility/{BIKE}/summary",
                          params={"at": iso(datetime(2026, 1, 1, tzinfo=CET))}).json()
    assert (new_year["yearToDate"], new_year["busiestHour"], new_year["busiestDay"]) == (0, None, None)


def test_public_display_rounds_for_the_totem_and_may_be_cached(client: httpx.Client) -> None:
    summary_counter(client)
    response = client.get(f"/api/v1/mobility/{BIKE}/display", params={"at": iso(datetime(2026, 2, 2, 17, 20,
                                                                                          tzinfo=CET))})
    assert response.status_code == 200
    shown = response.json()
    # Today: 20 minutes of the 17-18h record = 70 / 3 = 23.3 -> 23 ; this year: 30 + 20 + 23.3 = 73.3 -> 73 ;
    # last update: the end of the latest record ended by then, 5 Jan 09:00.
    assert (shown["today"], shown["year"]) == (23, 73)
    assert local(shown["lastUpdate"]) == datetime(2026, 1, 5, 9, tzinfo=CET)
    assert shown["name"] == "Compteur"
    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["access-control-allow-origin"] == "*"


# --- national schema: export and import ------------------------------------------------------------


def export_fixture(http: httpx.Client, tenant: str | None = None) -> None:
    """A bike counter (in: 3, 5 ; out: 4, 6 over 06:00-06:30Z), a pedestrian counter (default instance: 9
    over 07:00-08:00Z, code 13055) and a counter without location (not exportable)."""
    q = timedelta(minutes=15)
    t0 = datetime(2026, 6, 1, 6, tzinfo=UTC)
    make_counter(http, BIKE, {"in": [(t0 + q, 3), (t0 + 2 * q, 5)], "out": [(t0 + q, 4), (t0 + 2 * q, 6)]},
                 tenant=tenant, extra={"name": {"type": "Property", "value": "Avenue du Prado"},
                                       "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:vs350-01"}})
    make_counter(http, WALK, {None: [(t0 + timedelta(hours=2), 9)]}, period=3600, tenant=tenant,
                 location=(5.374, 43.295), extra={"municipalityCode": {"type": "Property", "value": "13055"}})
    make_counter(http, "urn:ngsi-ld:TrafficFlowObserved:nowhere", {"in": [(t0 + q, 1)]}, tenant=tenant,
                 location=None)


def rows(text: str) -> list[dict[str, str]]:
    """The rows of a CSV text."""
    return list(csv.DictReader(io.StringIO(text)))


def test_export_is_valid_for_frictionless_and_holds_the_counts(client: httpx.Client, tmp_path: Path) -> None:
    export_fixture(client)
    window = {"from": "2026-06-01T00:00:00Z", "to": "2026-06-02T00:00:00Z"}
    texts = {}
    for kind in ("site", "channel", "measure"):
        response = client.get(f"/api/v1/mobility/export/{kind}.csv", params=window if kind == "measure" else {})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["calanque-skipped-counters"] == "1"  # the counter without location
        texts[kind] = response.text
        (tmp_path / f"{kind}.csv").write_text(response.text, encoding="utf-8")
        report = frictionless_report(tmp_path / f"{kind}.csv", kind)
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    sites = {r["site_id"]: r for r in rows(texts["site"])}
    assert set(sites) == {BIKE, WALK}
    assert (sites[BIKE]["site_name"], sites[BIKE]["xlong"], sites[BIKE]["ylat"]) == ("Avenue du Prado", "5.3832",
                                                                                   "43.2821")
    assert sites[WALK]["fr_insee_code"] == "13055"
    channels = {r["channel_id"]: r for r in rows(texts["channel"])}
    assert set(channels) == {f"{BIKE}:in", f"{BIKE}:out", f"{WALK}:unspecified"}
    prado_in = channels[f"{BIKE}:in"]
    assert (prado_in["mobility_type"], prado_in["provider_direction_code"], prado_in["time_step"],
            prado_in["temporality"]) == ("BIKE", "in", "900", "PERMANENT")
    # The oldest "in" sample ends 06:15Z and lasts 900 s: the channel started at 06:00Z; last update 06:30Z.
    assert (prado_in["started_at"], prado_in["last_updated_at"]) == ("2026-06-01T06:00:00Z", "2026-06-01T06:30:00Z")
    assert channels[f"{WALK}:unspecified"]["mobility_type"] == "PEDESTRIAN"
    measures = sorted(tuple(r.values()) for r in rows(texts["measure"]))
    assert measures == sorted([
        (f"{BIKE}:in", "vs350-01", "2026-06-01T06:00:00Z", "2026-06-01T06:15:00Z", "3"),
        (f"{BIKE}:in", "vs350-01", "2026-06-01T06:15:00Z", "2026-06-01T06:30:00Z", "5"),
        (f"{BIKE}:out", "vs350-01", "2026-06-01T06:00:00Z", "2026-06-01T06:15:00Z", "4"),
        (f"{BIKE}:out", "vs350-01", "2026-06-01T06:15:00Z", "2026-06-01T06:30:00Z", "6"),
        (f"{WALK}:unspecified", WALK, "2026-06-01T07:00:00Z", "2026-06-01T08:00:00Z", "9"),
    ])
    # The period selects samples by their observedAt (the end of the counting interval).
    later = client.get("/api/v1/mobility/export/measure.csv",
                       params={"from": "2026-06-01T06:20:00Z", "to": "2026-06-01T07:00:00Z"})
    assert sorted(r["count"] for r in rows(later.text)) == ["5", "6"]
    assert client.get("/api/v1/mobility/export/site.csv", params={"from": "2026-06-01"}).status_code == 400
    assert client.get("/api/v1/mobility/export/site.csv", headers={"NGSILD-Tenant": "ghost"}).status_code == 404


SITE_CSV = """site_id,parent_site_id,site_name,fr_insee_code,xlong,ylat,external_ids,infrastructure_type
S-PRADO,,Avenue du Prado,13206,5.383210,43.282140,,CYCLE TRACK
S-PORT,,Quai du Port,13055,5.369780,43.295650,,
S-BAD,,Nulle part,13055,5.3,243.2,,
"""
CHANNEL_HEADER = ("channel_id,channel_provider_id,site_provider_id,site_id,mobility_type,comment,"
                  "counter_transmission_type,publication_transmission_type,counter_type,direction,"
                  "provider_direction_code,provider_direction_name,data_provider_name,temporality,started_at,"
                  "ended_at,last_updated_at,time_step,provider_portal_url")
CHANNEL_CSV = CHANNEL_HEADER + """
C-PRADO-IN,,,S-PRADO,BIKE,,,,,N,IN,,,PERMANENT,2026-01-01T00:00:00Z,,,900,
C-PRADO-OUT,,,S-PRADO,BIKE,,,,,S,OUT,,,PERMANENT,2026-01-01T00:00:00Z,,,900,
C-PORT,,,S-PORT,PEDESTRIAN,,,,,,,,,PERMANENT,2026-01-01T00:00:00Z,,,3600,
C-SCOOT,,,S-PRADO,E-SCOOTER,,,,,,,,,PERMANENT,2026-01-01T00:00:00Z,,,900,
C-PRADO-IN2,,,S-PRADO,BIKE,,,,,,in,,,PERMANENT,2026-01-01T00:00:00Z,,,900,
C-NOWHERE,,,S-BAD,BIKE,,,,,,,,,PERMANENT,2026-01-01T00:00:00Z,,,900,
C-PRADO-SLOW,,,S-PRADO,BIKE,,,,,,west,,,PERMANENT,2026-01-01T00:00:00Z,,,3600,
"""
MEASURE_CSV = """channel_id,counter_id,start_datetime,end_datetime,count
C-PRADO-IN,EC-101,2026-06-01T08:00:00+02:00,2026-06-01T08:15:00+02:00,3
C-PRADO-IN,EC-101,2026-06-01T08:15:00+02:00,2026-06-01T08:30:00+02:00,5
C-PRADO-IN,EC-101,2026-06-01T08:30:00+02:00,,7
C-PRADO-OUT,EC-101,2026-06-01T06:00:00Z,2026-06-01T06:15:00Z,2
C-PRADO-OUT,EC-101,2026-06-01T06:15:00Z,2026-06-01T06:30:00Z,
C-PRADO-OUT,EC-101,2026-06-01T06:30:00Z,2026-06-01T07:30:00Z,40
C-PRADO-IN,EC-101,2026-06-01T05:45:00Z,2026-06-01T06:00:00Z,1
C-PORT,EC-200,2026-06-01T07:00:00Z,2026-06-01T08:00:00Z,12
C-PORT,EC-200,2026-06-01T08:00:00Z,2026-06-01T09:00:00Z,-4
C-SCOOT,EC-101,2026-06-01T06:00:00Z,2026-06-01T06:15:00Z,1
C-PORT,EC-200,2026-06-01T09:00:00Z,2026-06-01T10:00:00Z,15
C-PORT,EC-200,2026-06-01T07:00:00Z,2026-06-01T08:00:00Z,13
"""


def test_import_reports_bad_rows_by_line_and_imports_the_good_ones(client: httpx.Client) -> None:
    files = {"site": SITE_CSV, "channel": CHANNEL_CSV, "measure": MEASURE_CSV}
    response = client.post("/api/v1/mobility/import", json=files)
    assert response.status_code == 200, response.text
    report = response.json()
    errors = {kind: {e["line"]: e["reason"] for e in report["files"][kind]["errors"]} for kind in files}
    # site line 4: latitude 243.2 out of range.
    assert set(errors["site"]) == {4} and "ylat" in errors["site"][4]
    # channel line 5: E-SCOOTER ; line 6: a second BIKE channel in direction "in" ; line 7: site S-BAD rejected ;
    # line 8: time_step 3600 against the 900 s of the Prado bike counter.
    assert set(errors["channel"]) == {5, 6, 7, 8}
    assert "mobility_type 'E-SCOOTER' cannot be imported" in errors["channel"][5]
    assert "channel 'C-PRADO-IN' already counts BIKE in direction 'in'" in errors["channel"][6]
    assert "site_id 'S-BAD' is not an accepted row" in errors["channel"][7]
    assert "time_step 3600 s differs from the 900 s" in errors["channel"][8]
    # measure line 7: lasts 3600 s on a 900 s counter ; line 10: negative count ; line 11: channel C-SCOOT
    # rejected ; line 13: a second measure of C-PORT ending at 08:00Z.
    assert set(errors["measure"]) == {7, 10, 11, 13}
    assert "the measure lasts 3600 s but counter 'urn:ngsi-ld:TrafficFlowObserved:S-PRADO' counts over 900 s" \
        in errors["measure"][7]
    assert "count -4 is negative" in errors["measure"][10]
    assert "channel_id 'C-SCOOT' is not in the channel file" in errors["measure"][11]
    assert "channel 'C-PORT' already has a measure ending at 2026-06-01T08:00:00+00:00" in errors["measure"][13]
    bike, walk = "urn:ngsi-ld:TrafficFlowObserved:S-PRADO", "urn:ngsi-ld:CrowdFlowObserved:S-PORT"
    assert sorted(report["created"]) == sorted([bike, walk])
    # Samples: Prado "in" 1, 3, 5, 7 and "out" 2 ; port 12 and 15: 7 in all ; the empty count of line 6 is a gap.
    assert (report["samples"], report["gaps"], report["alreadyStored"]) == (7, 1, 0)

    entity = client.get(f"/ngsi-ld/v1/entities/{bike}", params={"options": "keyValues"}).json()
    assert entity["name"] == "Avenue du Prado" and entity["vehicleType"] == "bicycle"
    assert entity["location"] == {"type": "Point", "coordinates": [5.38321, 43.28214]}
    assert (entity["measurementPeriod"], entity["municipalityCode"]) == (900, "13206")
    assert entity["refDevice"] == "urn:ngsi-ld:Device:EC-101"
    current = client.get(f"/ngsi-ld/v1/entities/{bike}").json()["intensity"]
    latest = {i["datasetId"]: (i["value"], i["observedAt"]) for i in current}
    # "in": the latest measure ends 08:45+02:00 = 06:45Z (end from start + time_step) ; "out": 06:15Z.
    assert latest == {"urn:ngsi-ld:Dataset:in": (7, "2026-06-01T06:45:00.000000Z"),
                      "urn:ngsi-ld:Dataset:out": (2, "2026-06-01T06:15:00.000000Z")}
    # The history lands at the measured times: "in" 05:45-06:00Z 1, then 06:00-06:45Z 3 + 5 + 7 = 15
    # (08:00-08:45+02:00) ; "out" 06:00-06:15Z 2.
    hours = client.get(f"/api/v1/mobility/{bike}/counts", params={
        "from": "2026-06-01T05:00:00Z", "to": "2026-06-01T07:00:00Z", "step": "hour", "tz": "UTC"}).json()
    assert [b["counts"] for b in hours["buckets"]] == [{"in": 1}, {"in": 15, "out": 2}]
    port = client.get(f"/api/v1/mobility/{walk}/counts", params={
        "from": "2026-06-01T07:00:00Z", "to": "2026-06-01T10:00:00Z", "step": "hour", "tz": "UTC"}).json()
    assert [b["total"] for b in port["buckets"]] == [12, None, 15]
    assert port["directions"] == ["unspecified"]

    again = client.post("/api/v1/mobility/import", json=files).json()
    assert (again["samples"], again["alreadyStored"], again["created"]) == (0, 7, [])
    same = client.get(f"/api/v1/mobility/{bike}/counts", params={
        "from": "2026-06-01T05:00:00Z", "to": "2026-06-01T07:00:00Z", "step": "hour", "tz": "UTC"}).json()
    assert same["buckets"] == hours["buckets"]


def test_import_refuses_bodies_it_cannot_read(client: httpx.Client) -> None:
    cases = [
        ({"site": SITE_CSV, "channel": CHANNEL_CSV}, "missing: measure"),
        ({"site": SITE_CSV, "channel": CHANNEL_CSV, "measure": MEASURE_CSV, "x": ""}, "unknown: x"),
        ({"site": SITE_CSV, "channel": CHANNEL_CSV, "measure": 3}, "member(s) measure must be the CSV file's text"),
        ([SITE_CSV], "the body must be a JSON object"),
        ({"site": "", "channel": "", "measure": ""}, "nothing was imported"),
    ]
    for body, detail in cases:
        response = client.post("/api/v1/mobility/import", json=body)
        assert response.status_code == 400, response.text
        assert detail in response.json()["detail"]
    empty = client.post("/api/v1/mobility/import", json={"site": "", "channel": "", "measure": ""}).json()
    assert empty["report"]["files"]["site"]["errors"][0]["line"] == 1
    # An over-long value is refused on its line; the other rows are read.
    huge = SITE_CSV + "S-HUGE,,\"" + "x" * 20_000 + "\",13055,5.3,43.2,,\n"
    response = client.post("/api/v1/mobility/import", json={"site": huge, "channel": CHANNEL_CSV,
                                                            "measure": MEASURE_CSV})
    assert response.status_code == 200, response.text
    site_errors = {e["line"]: e["reason"] for e in response.json()["files"]["site"]["errors"]}
    assert site_errors[5] == "value(s) of site_name longer than 10000 characters"
    assert response.json()["files"]["site"]["accepted"] == 2


def test_a_value_beyond_the_csv_field_limit_is_reported_not_raised(tmp_path: Path) -> None:
    # The csv module's field limit (131 072 characters by default) is process-wide and other libraries
    # raise it (frictionless does): check in a fresh interpreter that the importer reports the line.
    import subprocess
    import sys

    site = tmp_path / "site.csv"
    site.write_text(SITE_CSV + "S-HUGE,," + "x" * 140_000 + ",13055,5.3,43.2,,\n", encoding="utf-8")
    script = ("import sys; from calanque.usecases.mobility.frschema import import_sites; "
              "r = import_sites(sys.argv[1]); print(len(r.rows)); print(r.errors[-1])")
    out = subprocess.run([sys.executable, "-c", script, str(site)], capture_output=True, text=True, check=True)
    accepted, last_error = out.stdout.splitlines()
    assert accepted == "2"
    assert last_error == ("(5, 'cannot be read as CSV (field larger than field limit (131072)); "
                          "the rest of the file is ignored')")


def test_export_then_import_into_another_tenant_gives_the_same_counts(client: httpx.Client) -> None:
    dst_counter(client)
    texts = {kind: client.get(f"/api/v1/mobility/export/{kind}.csv",
                              params={"from": "2026-03-27T00:00:00Z", "to": "2026-04-01T00:00:00Z"}
                              if kind == "measure" else {}).text
             for kind in ("site", "channel", "measure")}
    copied = client.post("/api/v1/mobility/import", json=texts, headers={"NGSILD-Tenant": "copy"})
    assert copied.status_code == 200, copied.text
    assert copied.json()["created"] == [BIKE]  # site_id is already the counter's id
    assert copied.json()["samples"] == 2 * 284
    params = {"from": iso(datetime(2026, 3, 28, tzinfo=CET)), "to": iso(datetime(2026, 3, 31, tzinfo=CEST))}
    original = client.get(f"/api/v1/mobility/{BIKE}/counts", params=params).json()["buckets"]
    copy = client.get(f"/api/v1/mobility/{BIKE}/counts", params=params, headers={"NGSILD-Tenant": "copy"}).json()
    assert copy["buckets"] == original
    assert copy["measurementPeriod"] == 900


def test_cli_import_then_export_on_a_fresh_store(backend: str, tmp_path: Path) -> None:
    from tests.conftest import fresh_pg_database, worker_id

    store_args = (["--data-dir", str(tmp_path / "data")] if backend == "sqlite"
                  else ["--database-url", fresh_pg_database(f"calanque_mobility_cli_{worker_id()}")])
    source = tmp_path / "in"
    source.mkdir()
    for kind, text in (("site", SITE_CSV), ("channel", CHANNEL_CSV), ("measure", MEASURE_CSV)):
        (source / f"{kind}.csv").write_text(text, encoding="utf-8")
    runner = CliRunner()
    imported = runner.invoke(calanque_cli, ["mobility", "import", str(source), *store_args])
    assert imported.exit_code == 0, imported.output
    assert "channel.csv line 5: mobility_type 'E-SCOOTER' cannot be imported" in imported.output
    assert "2 counters written (2 new), 7 counts imported, 0 already stored, 1 gaps skipped, 9 rows rejected" \
        in imported.output
    out = tmp_path / "out"
    exported = runner.invoke(calanque_cli, ["mobility", "export", "--out", str(out), *store_args])
    assert exported.exit_code == 0, exported.output
    assert "2 sites, 3 channels, 7 measures written" in exported.output
    for kind in ("site", "channel", "measure"):
        report = frictionless_report(out / f"{kind}.csv", kind)
        assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    missing = runner.invoke(calanque_cli, ["mobility", "import", str(tmp_path), *store_args])
    assert missing.exit_code != 0 and "has no site.csv, channel.csv, measure.csv" in missing.output
    bad_time = runner.invoke(calanque_cli, ["mobility", "export", "--out", str(out), "--from", "soon", *store_args])
    assert bad_time.exit_code != 0 and "parameter 'from' is not an ISO 8601 date-time" in bad_time.output


# --- the use case as the platform lists it ---------------------------------------------------------


def test_mobility_is_listed_with_its_endpoints(client: httpx.Client) -> None:
    listed = {u["name"]: u for u in client.get("/api/v1/usecases").json()}
    mobility = listed["mobility"]
    assert mobility["entityTypes"] == ["TrafficFlowObserved", "CrowdFlowObserved"]
    endpoints = {i["endpoint"] for i in mobility["indicators"]}
    assert "/api/v1/mobility/{counterId}/display" in endpoints
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/mobility/{counterId}/counts", "/api/v1/mobility/{counterId}/profile",
                 "/api/v1/mobility/{counterId}/summary", "/api/v1/mobility/{counterId}/display",
                 "/api/v1/mobility/export/measure.csv", "/api/v1/mobility/import"):
        assert path in paths, path


# --- the vectorised computations against a naive loop ----------------------------------------------


def naive_bounds(start: datetime, end: datetime, step: str, zone: ZoneInfo) -> list[datetime]:
    """Local calendar bucket bounds covering [start, end), built one bucket at a time."""
    if step == "hour":
        t = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        out = [t]
        while out[-1] < end:
            out.append(out[-1] + timedelta(hours=1))
        return out
    day = start.astimezone(zone).date()
    if step == "week":
        day = day - timedelta(days=day.weekday())
    if step == "month":
        day = day.replace(day=1)
    out = [datetime.combine(day, time(0), tzinfo=zone)]
    while out[-1] < end:
        if step == "day":
            day = day + timedelta(days=1)
        elif step == "week":
            day = day + timedelta(days=7)
        else:
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        out.append(datetime.combine(day, time(0), tzinfo=zone))
    return out


def naive_aggregate(records: list[CountRecord], start: datetime, end: datetime, step: str) -> list[tuple]:
    """Per bucket: (bucket start, {direction: count}, total), splitting each record by elapsed time."""
    zone = PARIS
    bounds = naive_bounds(start, end, step, zone)
    out = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        # In UTC: Python subtracts two datetimes sharing one tzinfo as wall-clock times.
        lo_c, hi_c = max(lo, start).astimezone(UTC), min(hi, end).astimezone(UTC)
        counts: dict[str, float] = {}
        for r in records:
            overlap = (min(r.end, hi_c) - max(r.start, lo_c)).total_seconds()
            if overlap > 0:
                share = r.count * overlap / (r.end - r.start).total_seconds()
                counts[r.direction] = counts.get(r.direction, 0.0) + share
        out.append((lo, counts, sum(counts.values()) if counts else None))
    return out


def random_records(rng: random.Random, disjoint: bool) -> list[CountRecord]:
    """Records around the 2026 clock changes: back-to-back ones of random length, or random overlapping ones."""
    records = []
    for direction in ("in", "out"):
        t = datetime(2026, 3, 27, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 600))
        for _ in range(300):
            length = timedelta(minutes=rng.choice([1, 5, 15, 60, 90, 1440, 3000]))
            if disjoint:
                gap = timedelta(minutes=rng.choice([0, 0, 0, 7, 180]))
                records.append(CountRecord(t + gap, t + gap + length, direction, rng.randrange(0, 50)))
                t = t + gap + length
            else:
                s = datetime(2026, 3, 25, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 60 * 24 * 40))
                records.append(CountRecord(s, s + length, direction, rng.randrange(0, 50) + 0.5))
    return records


@pytest.mark.parametrize("disjoint", [True, False], ids=["disjoint", "overlapping"])
def test_vectorised_counts_agree_with_a_naive_loop(disjoint: bool) -> None:
    rng = random.Random(20261125 + disjoint)
    records = random_records(rng, disjoint)
    for _ in range(8):
        start = datetime(2026, 3, 26, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
        end = start + timedelta(minutes=rng.randrange(30, 60 * 24 * 10))
        for step in ("hour", "day", "week", "month"):
            got = aggregate(records, start, end, step)  # type: ignore[arg-type]
            want = naive_aggregate(records, start, end, step)
            assert [b["start"] for b in got] == [w[0] for w in want]
            for bucket, (_, counts, total) in zip(got, want, strict=True):
                assert set(bucket["counts"]) == set(counts)
                for direction, value in counts.items():
                    assert bucket["counts"][direction] == pytest.approx(value, rel=1e-9, abs=1e-6)
                assert (bucket["total"] is None) == (total is None)
                if total is not None:
                    assert bucket["total"] == pytest.approx(total, rel=1e-9, abs=1e-6)
        hours = naive_aggregate(records, start, end, "hour")
        sums: dict[tuple[int, int], list[float]] = {}
        for lo, _, total in hours:
            if total is not None:
                here = lo.astimezone(PARIS)
                sums.setdefault((here.weekday(), here.hour), []).append(total)
        for cell in weekday_hour_profile(records, start, end):
            values = sums.get((cell["weekday"], cell["hour"]), [])
            assert cell["samples"] == len(values)
            if values:
                assert cell["average"] == pytest.approx(sum(values) / len(values), rel=1e-9, abs=1e-6)
        top = busiest(records, start, end)
        with_data = [(total, lo) for lo, _, total in hours if total is not None]
        if with_data:
            best = max(total for total, _ in with_data)
            assert top["hour"] is not None and top["hour"]["count"] == pytest.approx(best, rel=1e-9, abs=1e-6)


def test_column_wise_measure_export_writes_what_the_row_exporter_writes(tmp_path: Path) -> None:
    import numpy as np

    from calanque.usecases.mobility.frschema import Measure, MeasureSeries, export_measure_series, export_measures

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    ends = [int(datetime(2026, 3, 29, 0, 15, tzinfo=UTC).timestamp() * 1e6) + 900_000_000 * i for i in range(200)]
    ends[3] += 123_456  # a time with microseconds
    counts = [float(i % 9) for i in range(200)]
    counts[5], counts[6] = 2.5, 1e-7  # interpolated values
    channels = [("urn:ngsi-ld:TrafficFlowObserved:prado:in", "vs350-01"), ('odd, "quoted" channel', "EC 1")]
    rows = [Measure(channel_id=ch, counter_id=dev, start_datetime=epoch + timedelta(microseconds=e - 900_000_000),
                    end_datetime=epoch + timedelta(microseconds=e), count=c)
            for ch, dev in channels for e, c in zip(ends, counts, strict=True)]
    assert export_measures(rows, tmp_path / "rows.csv") == 400
    series = [MeasureSeries(ch, dev, np.array(ends), np.array(counts), 900) for ch, dev in channels]
    assert export_measure_series(series, tmp_path / "measure.csv") == 400
    assert (tmp_path / "measure.csv").read_bytes() == (tmp_path / "rows.csv").read_bytes()
    assert frictionless_report(tmp_path / "measure.csv", "measure").valid
    negative = MeasureSeries("c", "d", np.array(ends[:2]), np.array([1.0, -2.0]), 900)
    with pytest.raises(ValueError, match="channel 'c': count -2.0 must be a finite number >= 0"):
        export_measure_series([negative], tmp_path / "bad.csv")
    empty_id = MeasureSeries("c", "", np.array(ends[:1]), np.array([1.0]), 900)
    with pytest.raises(ValueError, match="required field counter_id is empty"):
        export_measure_series([empty_id], tmp_path / "bad.csv")

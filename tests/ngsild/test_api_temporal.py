"""NGSI-LD temporal API over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import httpx

EID = "urn:ngsi-ld:WaterObserved:w1"


def temporal_body(levels: list[tuple[str, float]]) -> dict:
    """A temporal entity with one instance per (observedAt, value)."""
    return {
        "id": EID,
        "type": "WaterObserved",
        "height": [{"type": "Property", "value": v, "unitCode": "MTR", "observedAt": t} for t, v in levels],
    }


SERIES = [
    ("2026-11-25T10:00:00Z", 1.0),
    ("2026-11-25T10:20:00Z", 2.0),
    ("2026-11-25T10:40:00Z", 4.0),
    ("2026-11-25T11:00:00Z", 8.0),
    ("2026-11-25T11:30:00Z", 10.0),
]


def test_history_is_kept_for_every_change(api: httpx.Client) -> None:
    eid = "urn:ngsi-ld:NoiseLevelObserved:n1"
    api.post("/entities", json={"id": eid, "type": "NoiseLevelObserved",
                                "LAeq": {"type": "Property", "value": 50, "observedAt": "2026-11-25T10:00:00Z"}})
    api.patch(f"/entities/{eid}/attrs", json={"LAeq": {"type": "Property", "value": 55,
                                                       "observedAt": "2026-11-25T10:01:00Z"}})
    api.post(f"/entities/{eid}/attrs", json={"LAeq": {"type": "Property", "value": 60,
                                                      "observedAt": "2026-11-25T10:02:00Z"}})
    r = api.get(f"/temporal/entities/{eid}")
    assert r.status_code == 200, r.text
    values = [i["value"] for i in r.json()["LAeq"]]
    assert values == [50, 55, 60]
    assert all(i["instanceId"].startswith("urn:ngsi-ld:attribute:instance:") for i in r.json()["LAeq"])


def test_create_and_query_windows(api: httpx.Client) -> None:
    r = api.post("/temporal/entities", json=temporal_body(SERIES))
    assert r.status_code == 201, r.text
    assert api.post("/temporal/entities", json=temporal_body([("2026-11-25T12:00:00Z", 11.0)])).status_code == 204
    get = lambda **p: api.get(f"/temporal/entities/{EID}", params=p)  # noqa: E731
    between = get(timerel="between", timeAt="2026-11-25T10:10:00Z", endTimeAt="2026-11-25T11:00:00Z").json()
    assert [i["value"] for i in between["height"]] == [2.0, 4.0]  # end is exclusive
    before = get(timerel="before", timeAt="2026-11-25T10:20:00Z").json()
    assert [i["value"] for i in before["height"]] == [1.0]
    after = get(timerel="after", timeAt="2026-11-25T11:00:00Z").json()
    assert [i["value"] for i in after["height"]] == [8.0, 10.0, 11.0]
    last = get(lastN="2").json()
    assert [i["value"] for i in last["height"]] == [10.0, 11.0]
    simple = get(options="temporalValues", timerel="before", timeAt="2026-11-25T10:30:00Z").json()
    assert simple["height"]["values"] == [[1.0, "2026-11-25T10:00:00.000000Z"], [2.0, "2026-11-25T10:20:00.000000Z"]]


def test_aggregated_values_hourly(api: httpx.Client) -> None:
    api.post("/temporal/entities", json=temporal_body(SERIES))
    r = api.get(f"/temporal/entities/{EID}", params={
        "options": "aggregatedValues", "aggrMethods": "avg,min,max,sum,totalCount,stddev,sumsq,distinctCount",
        "aggrPeriodDuration": "PT1H", "timerel": "between", "timeAt": "2026-11-25T10:00:00Z",
        "endTimeAt": "2026-11-25T12:00:00Z"})
    assert r.status_code == 200, r.text
    h = r.json()["height"]
    # Hour 10: values 1, 2, 4 -> sum 7, avg 7/3, min 1, max 4, sumsq 1+4+16 = 21,
    # population stddev sqrt(21/3 - (7/3)^2) = sqrt(7 - 49/9) = sqrt(14/9) = 1.2472.
    # Hour 11: values 8, 10 -> sum 18, avg 9, sumsq 164, stddev sqrt(82 - 81) = 1.
    assert h["sum"] == [[7.0, "2026-11-25T10:00:00.000000Z", "2026-11-25T11:00:00.000000Z"],
                        [18.0, "2026-11-25T11:00:00.000000Z", "2026-11-25T12:00:00.000000Z"]]
    assert math.isclose(h["avg"][0][0], 7 / 3) and h["avg"][1][0] == 9.0
    assert [b[0] for b in h["min"]] == [1.0, 8.0] and [b[0] for b in h["max"]] == [4.0, 10.0]
    assert [b[0] for b in h["totalCount"]] == [3, 2] and [b[0] for b in h["distinctCount"]] == [3, 2]
    assert [b[0] for b in h["sumsq"]] == [21.0, 164.0]
    assert math.isclose(h["stddev"][0][0], math.sqrt(14 / 9)) and math.isclose(h["stddev"][1][0], 1.0)


def test_temporal_query_by_type_attrs_and_paging(api: httpx.Client) -> None:
    api.post("/temporal/entities", json=temporal_body(SERIES))
    api.post("/temporal/entities", json={"id": "urn:ngsi-ld:WaterObserved:w2", "type": "WaterObserved",
                                         "height": [{"type": "Property", "value": 3.0,
                                                     "observedAt": "2026-11-25T10:00:00Z"}],
                                         "temperature": [{"type": "Property", "value": 12.0,
                                                          "observedAt": "2026-11-25T10:00:00Z"}]})
    r = api.get("/temporal/entities", params={"type": "WaterObserved", "attrs": "temperature", "count": "true",
                                              "timerel": "after", "timeAt": "2026-11-25T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.headers["NGSILD-Results-Count"] == "2"
    by_id = {e["id"]: e for e in r.json()}
    assert "temperature" in by_id["urn:ngsi-ld:WaterObserved:w2"] and "height" not in by_id["urn:ngsi-ld:WaterObserved:w2"]
    page = api.get("/temporal/entities", params={"type": "WaterObserved", "limit": 1, "offset": 1})
    assert [e["id"] for e in page.json()] == ["urn:ngsi-ld:WaterObserved:w2"]


def test_append_modify_delete_instances(api: httpx.Client) -> None:
    api.post("/temporal/entities", json=temporal_body(SERIES[:2]))
    r = api.post(f"/temporal/entities/{EID}/attrs", json={"height": [
        {"type": "Property", "value": 5.0, "observedAt": "2026-11-25T09:00:00Z"}]})
    assert r.status_code == 204, r.text
    instances = api.get(f"/temporal/entities/{EID}").json()["height"]
    assert [i["value"] for i in instances] == [5.0, 1.0, 2.0]  # the late instance lands at its observed time
    target = instances[1]["instanceId"]
    r = api.patch(f"/temporal/entities/{EID}/attrs/height/{target}",
                  json={"height": [{"type": "Property", "value": 1.5, "observedAt": "2026-11-25T10:00:00Z"}]})
    assert r.status_code == 204, r.text
    assert [i["value"] for i in api.get(f"/temporal/entities/{EID}").json()["height"]] == [5.0, 1.5, 2.0]
    assert api.delete(f"/temporal/entities/{EID}/attrs/height/{target}").status_code == 204
    assert [i["value"] for i in api.get(f"/temporal/entities/{EID}").json()["height"]] == [5.0, 2.0]
    assert api.delete(f"/temporal/entities/{EID}/attrs/height/{target}").status_code == 404
    assert api.delete(f"/temporal/entities/{EID}/attrs/height").status_code == 204
    assert "height" not in api.get(f"/temporal/entities/{EID}").json()
    assert api.delete(f"/temporal/entities/{EID}").status_code == 204
    assert api.get(f"/temporal/entities/{EID}").status_code == 404


def test_bad_temporal_parameters_are_4xx(api: httpx.Client) -> None:
    api.post("/temporal/entities", json=temporal_body(SERIES))
    for params in [
        {"timerel": "between", "timeAt": "2026-11-25T10:00:00Z"},
        {"timerel": "sometime", "timeAt": "2026-11-25T10:00:00Z"},
        {"timerel": "after", "timeAt": "yesterday"},
        {"timeAt": "2026-11-25T10:00:00Z"},
        {"lastN": "-1"},
        {"options": "aggregatedValues"},
        {"options": "aggregatedValues", "aggrMethods": "median"},
        {"options": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "one hour"},
        {"timerel": "between", "timeAt": "2026-11-25T11:00:00Z", "endTimeAt": "2026-11-25T10:00:00Z"},
        {"bogus": "1"},
    ]:
        r = api.get(f"/temporal/entities/{EID}", params=params)
        assert r.status_code == 400, (params, r.status_code, r.text)
        assert r.json()["detail"]


def test_modifying_an_instances_observed_at_moves_it_in_time(api: httpx.Client) -> None:
    """The instance is found at its new time (order, timerel, hourly aggregation), no longer at the old."""
    api.post("/temporal/entities", json=temporal_body(SERIES))
    instances = api.get(f"/temporal/entities/{EID}").json()["height"]
    first = instances[0]["instanceId"]  # 1.0 at 10:00, moved to 12:15 (another hour, another order)
    r = api.patch(f"/temporal/entities/{EID}/attrs/height/{first}",
                  json={"height": [{"type": "Property", "value": 1.0, "observedAt": "2026-11-25T12:15:00Z"}]})
    assert r.status_code == 204, r.text
    values = [i["value"] for i in api.get(f"/temporal/entities/{EID}").json()["height"]]
    assert values == [2.0, 4.0, 8.0, 10.0, 1.0]
    after_noon = api.get(f"/temporal/entities/{EID}",
                         params={"timerel": "after", "timeAt": "2026-11-25T12:00:00Z"}).json()["height"]
    assert [i["value"] for i in after_noon] == [1.0]
    before_ten_ten = api.get(f"/temporal/entities/{EID}",
                             params={"timerel": "before", "timeAt": "2026-11-25T10:10:00Z"}).json()
    assert "height" not in before_ten_ten or before_ten_ten["height"] == []
    hourly = api.get(f"/temporal/entities/{EID}", params={
        "options": "aggregatedValues", "aggrMethods": "totalCount,sum", "aggrPeriodDuration": "PT1H",
        "timerel": "between", "timeAt": "2026-11-25T10:00:00Z", "endTimeAt": "2026-11-25T13:00:00Z"}).json()
    # by hand: 10:00-11:00 holds 2 + 4, 11:00-12:00 holds 8 + 10, 12:00-13:00 holds the moved 1
    assert [b[0] for b in hourly["height"]["totalCount"]] == [2, 2, 1]
    assert [b[0] for b in hourly["height"]["sum"]] == [6.0, 18.0, 1.0]

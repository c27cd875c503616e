"""q and geo-queries of GET /temporal/entities are resolved on the temporal evolution, on SQLite and PostgreSQL.

The temporal evolution is a succession of states: from each instance's time (observedAt by default) the
attribute holds that instance until the next one. An entity matches when q (or the geo-query) holds at some
moment of the requested interval, and its representation holds the instances of the moments it held — the
semantics of the FIWARE temporal service (Mintaka, whose tutorial "returns the heartRate registered when the
state of an animal is described as FORAGING"). The current state plays no part: an entity whose current
value does not match is found by its past, a deleted entity too. Expected answers are worked out by hand in
the comments.
"""

from __future__ import annotations

import httpx

W1, W2 = "urn:ngsi-ld:WaterObserved:w1", "urn:ngsi-ld:WaterObserved:w2"
DAY = "2026-11-25T"


def heights(eid: str, series: list[tuple[str, float]]) -> dict:
    """A temporal entity with one height instance per (time of day, value)."""
    return {"id": eid, "type": "WaterObserved",
            "height": [{"type": "Property", "value": v, "observedAt": DAY + t} for t, v in series]}


def query(api: httpx.Client, **params: str) -> list[dict]:
    """GET /temporal/entities; the entities by id."""
    r = api.get("/temporal/entities", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def values(entity: dict, attr: str = "height") -> list:
    """The values of an attribute in a normalized temporal representation."""
    return [i["value"] for i in entity.get(attr, [])]


WINDOW = {"timerel": "between", "timeAt": DAY + "10:00:00Z", "endTimeAt": DAY + "12:00:00Z"}


def test_q_holds_at_some_moment_of_the_interval(api: httpx.Client) -> None:
    # w1: 1 at 10:00, 2 at 10:20, 4 at 10:40, 8 at 11:00, 10 at 11:30 (current value 10)
    # w2: 3 at 10:00, 0.5 at 10:30 (current value 0.5)
    api.post("/temporal/entities", json=heights(W1, [("10:00:00Z", 1.0), ("10:20:00Z", 2.0), ("10:40:00Z", 4.0),
                                                     ("11:00:00Z", 8.0), ("11:30:00Z", 10.0)]))
    api.post("/temporal/entities", json=heights(W2, [("10:00:00Z", 3.0), ("10:30:00Z", 0.5)]))
    # height>=4 holds for w1 from 10:40 to the end of the interval; never for w2
    got = query(api, type="WaterObserved", q="height>=4", count="true", **WINDOW)
    assert [(e["id"], values(e)) for e in got] == [(W1, [4.0, 8.0, 10.0])]
    # height<3 holds for w1 from 10:00 to 10:40 (whose current value 10 does not match), for w2 from 10:30
    got = query(api, type="WaterObserved", q="height<3", **WINDOW)
    assert [(e["id"], values(e)) for e in got] == [(W1, [1.0, 2.0]), (W2, [0.5])]
    r = api.get("/temporal/entities", params={"type": "WaterObserved", "q": "height<3", "count": "true", **WINDOW})
    assert r.headers["NGSILD-Results-Count"] == "2"
    # a range: 2..8 holds for w1 from 10:20 to 11:30 (10 leaves it) and for w2 from 10:00 to 10:30
    got = query(api, type="WaterObserved", q="height==2..8", options="temporalValues", **WINDOW)
    assert [(e["id"], e["height"]["values"]) for e in got] == [
        (W1, [[2.0, DAY + "10:20:00.000000Z"], [4.0, DAY + "10:40:00.000000Z"], [8.0, DAY + "11:00:00.000000Z"]]),
        (W2, [[3.0, DAY + "10:00:00.000000Z"]])]
    # within a shorter interval, the state at its start counts: at 10:50 w1 holds 4 (since 10:40, until
    # 11:00), so it matches, with no instance of its own in [10:50, 11:00)
    got = query(api, type="WaterObserved", q="height==4", timerel="between", timeAt=DAY + "10:50:00Z",
                endTimeAt=DAY + "12:00:00Z")
    assert got == [{"id": W1, "type": "WaterObserved"}]
    # lastN keeps the last instances of the moments q held
    got = query(api, type="WaterObserved", q="height<3", lastN="1", **WINDOW)
    assert [(e["id"], values(e)) for e in got] == [(W1, [2.0]), (W2, [0.5])]


def test_q_on_one_attribute_selects_the_moments_of_another(api: httpx.Client) -> None:
    lamp = "urn:ngsi-ld:Streetlight:l1"
    body = {"id": lamp, "type": "Streetlight",
            "powerState": [{"type": "Property", "value": "on", "observedAt": DAY + "18:00:00Z"},
                           {"type": "Property", "value": "off", "observedAt": DAY + "23:00:00Z"}],
            "powerConsumption": [{"type": "Property", "value": v, "observedAt": DAY + t}
                                 for t, v in [("17:00:00Z", 0), ("18:30:00Z", 100), ("22:00:00Z", 80),
                                              ("23:30:00Z", 0)]]}
    assert api.post("/temporal/entities", json=body).status_code == 201
    evening = {"timerel": "between", "timeAt": DAY + "17:00:00Z", "endTimeAt": "2026-11-26T00:00:00Z"}
    # the light is on from 18:00 to 23:00: the consumption measured then is 100 (18:30) and 80 (22:00)
    got = query(api, type="Streetlight", q='powerState=="on"', attrs="powerConsumption", **evening)
    assert [(e["id"], values(e, "powerConsumption")) for e in got] == [(lamp, [100, 80])]
    # from 19:00 the light is already on (switched on at 18:00, before the interval): 80 at 22:00
    got = query(api, type="Streetlight", q='powerState=="on"', attrs="powerConsumption", timerel="after",
                timeAt=DAY + "19:00:00Z")
    assert [(e["id"], values(e, "powerConsumption")) for e in got] == [(lamp, [80])]
    # aggregated over the moments it held, hour by hour: 100 in 18:00-19:00, 80 in 22:00-23:00
    got = query(api, type="Streetlight", q='powerState=="on"', attrs="powerConsumption",
                options="aggregatedValues", aggrMethods="sum,totalCount", aggrPeriodDuration="PT1H", **evening)
    assert got[0]["powerConsumption"]["sum"] == [[100.0, DAY + "18:00:00.000000Z", DAY + "19:00:00.000000Z"],
                                                 [80.0, DAY + "22:00:00.000000Z", DAY + "23:00:00.000000Z"]]
    assert [b[0] for b in got[0]["powerConsumption"]["totalCount"]] == [1, 1]
    # off: before 18:00 powerState does not exist yet (no match), from 23:00 it is off: 0 at 23:30
    got = query(api, type="Streetlight", q='powerState=="off"', attrs="powerConsumption", **evening)
    assert [(e["id"], values(e, "powerConsumption")) for e in got] == [(lamp, [0])]
    # "no powerState" holds from 17:00 to 18:00: the 17:00 measurement
    got = query(api, type="Streetlight", q="!powerState", attrs="powerConsumption", **evening)
    assert [(e["id"], values(e, "powerConsumption")) for e in got] == [(lamp, [0])]


def test_geo_query_follows_the_location_history(api: httpx.Client) -> None:
    # a square around the Vieux-Port: lon 5.36..5.38, lat 43.29..43.30
    square = "[[[5.36,43.29],[5.38,43.29],[5.38,43.30],[5.36,43.30],[5.36,43.29]]]"

    def moving(eid: str, track: list[tuple[str, list[float]]]) -> dict:
        return {"id": eid, "type": "Vehicle", "location": [
            {"type": "GeoProperty", "value": {"type": "Point", "coordinates": c}, "observedAt": DAY + t}
            for t, c in track]}

    inside, outside = [5.37, 43.295], [5.45, 43.35]
    v1, v2 = "urn:ngsi-ld:Vehicle:v1", "urn:ngsi-ld:Vehicle:v2"
    api.post("/temporal/entities", json=moving(v1, [("10:00:00Z", inside), ("10:30:00Z", outside)]))
    api.post("/temporal/entities", json=moving(v2, [("10:00:00Z", outside), ("11:00:00Z", inside)]))
    # v1 is inside from 10:00 to 10:30 (and outside now), v2 from 11:00
    got = query(api, type="Vehicle", georel="within", geometry="Polygon", coordinates=square, **WINDOW)
    assert [(e["id"], [i["value"]["coordinates"] for i in e["location"]]) for e in got] == [
        (v1, [inside]), (v2, [inside])]
    # before 10:45 only v1 was ever inside
    got = query(api, type="Vehicle", georel="within", geometry="Polygon", coordinates=square, timerel="before",
                timeAt=DAY + "10:45:00Z")
    assert [e["id"] for e in got] == [v1]
    # near the Vieux-Port point within 1 km: the inside positions only (the outside one is about 9 km away)
    got = query(api, type="Vehicle", georel="near;maxDistance==1000", geometry="Point",
                coordinates="[5.37,43.295]", options="temporalValues", **WINDOW)
    assert [(e["id"], e["location"]["values"]) for e in got] == [
        (v1, [[{"type": "Point", "coordinates": inside}, DAY + "10:00:00.000000Z"]]),
        (v2, [[{"type": "Point", "coordinates": inside}, DAY + "11:00:00.000000Z"]])]


def test_deleted_entities_are_found_by_their_history(api: httpx.Client) -> None:
    eid = "urn:ngsi-ld:WaterObserved:gone"
    body = {"id": eid, "type": "WaterObserved",
            "height": {"type": "Property", "value": 5.0, "observedAt": DAY + "10:00:00Z"}}
    assert api.post("/entities", json=body).status_code == 201
    api.patch(f"/entities/{eid}/attrs", json={"height": {"type": "Property", "value": 1.0,
                                                         "observedAt": DAY + "11:00:00Z"}})
    assert api.delete(f"/entities/{eid}").status_code == 204
    # height>4 held from 10:00 to 11:00 although the entity no longer exists
    got = query(api, type="WaterObserved", q="height>4", **WINDOW)
    assert [(e["id"], values(e)) for e in got] == [(eid, [5.0])]
    assert query(api, type="WaterObserved", q="height>6", **WINDOW) == []

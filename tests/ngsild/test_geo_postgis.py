"""One geo-query suite, four stores, identical answers: SQLite, PostgreSQL without PostGIS, PostgreSQL with
PostGIS, and PostgreSQL with PostGIS installed but switched off (CALANQUE_POSTGIS=off).

The suite crosses every georel with reference geometries of the six types, over entities of every type
(collections, altitudes, several instances per entity, no location), with edge cases: points on a
polygon's edge and vertex, a France-sized polygon, and near thresholds 2 cm and 0.5 % on either side of
hand-worked distances (tests/ngsild/test_geo.py): in the band where PostGIS hands over to the exact
ellipsoidal computation, and outside it where PostGIS decides alone. Some answers are also checked by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from calanque.ngsild import geo as geo_module
from calanque.ngsild.canonical import now_ts
from calanque.ngsild.entity import parse_entity
from calanque.ngsild.query import build_query
from calanque.ngsild.service import Broker
from tests.conftest import drop_pg_database, fresh_pg_database, worker_id
from tests.ngsild.dict_context import DictContext

CTX = DictContext()
MERIDIAN = 1110.985  # (5.37, 43.29) -> (5.37, 43.30), by hand in test_geo.py
PARALLEL = 811.564  # (5.37, 43.29) -> (5.38, 43.29), by hand in test_geo.py


def box(lon1: float, lat1: float, lon2: float, lat2: float) -> list:
    """Polygon coordinates of a lon/lat rectangle."""
    return [[[lon1, lat1], [lon2, lat1], [lon2, lat2], [lon1, lat2], [lon1, lat1]]]


def pt(lon: float, lat: float, *alt: float) -> dict:
    """A GeoJSON Point."""
    return {"type": "Point", "coordinates": [lon, lat, *alt]}


Q = box(5.36, 43.29, 5.38, 43.30)  # the Vieux-Port rectangle
FRANCE = box(-4.8, 42.3, 8.2, 51.1)
GEOMETRIES: dict[str, dict | list[dict]] = {
    "p-origin": pt(5.37, 43.29),  # on Q's southern edge
    "p-north": pt(5.37, 43.30),  # on Q's northern edge, 1110.985 m from the origin
    "p-east": pt(5.38, 43.29),  # Q's south-east vertex, 811.564 m from the origin
    "p-inside": pt(5.37, 43.295, 12.0),  # with an altitude
    "p-far": pt(5.45, 43.35),
    "p-paris": pt(2.35, 48.85),
    # north of FRANCE's northern edge in lon/lat, south of that edge's geodesic, which bulges ~20 km north
    "p-channel": pt(1.7, 51.15),
    "line-inside": {"type": "LineString", "coordinates": [[5.365, 43.292], [5.375, 43.298]]},
    "line-crossing": {"type": "LineString", "coordinates": [[5.35, 43.295], [5.39, 43.295]]},
    "line-meridian-east": {"type": "LineString", "coordinates": [[5.38, 43.28], [5.38, 43.30]]},
    "line-long": {"type": "LineString", "coordinates": [[-6.0, 45.0], [7.0, 45.0]]},  # 1000 km along 45 N
    "poly-same": {"type": "Polygon", "coordinates": [[[5.38, 43.30], [5.36, 43.30], [5.36, 43.29],
                                                      [5.38, 43.29], [5.38, 43.30]]]},
    "poly-inside": {"type": "Polygon", "coordinates": box(5.365, 43.292, 5.375, 43.298)},
    "poly-around": {"type": "Polygon", "coordinates": box(5.35, 43.28, 5.39, 43.31)},
    "poly-straddling": {"type": "Polygon", "coordinates": box(5.37, 43.295, 5.39, 43.31)},
    "poly-east": {"type": "Polygon", "coordinates": box(5.38, 43.28, 5.39, 43.30)},
    "poly-holed": {"type": "Polygon", "coordinates": box(5.30, 43.20, 5.50, 43.40) + box(5.36, 43.28, 5.38, 43.30)},
    "poly-france": {"type": "Polygon", "coordinates": FRANCE},
    "mpoint": {"type": "MultiPoint", "coordinates": [[5.37, 43.295], [5.40, 43.295]]},
    "mline": {"type": "MultiLineString", "coordinates": [[[5.365, 43.292], [5.366, 43.293]],
                                                         [[5.37, 43.292], [5.371, 43.293]]]},
    "mpoly": {"type": "MultiPolygon", "coordinates": [box(5.38, 43.28, 5.39, 43.30), box(5.6, 43.6, 5.7, 43.7)]},
    "collection": {"type": "GeometryCollection", "geometries": [
        pt(5.37, 43.295), {"type": "LineString", "coordinates": [[5.365, 43.292], [5.375, 43.298]]}]},
    "collection-far": {"type": "GeometryCollection", "geometries": [
        pt(5.38, 43.30), {"type": "LineString", "coordinates": [[5.5, 43.5], [5.6, 43.5]]}]},
    "two-instances": [pt(5.37, 43.295), pt(5.45, 43.35)],  # one inside Q, one far away
}

REFERENCES = [
    ("Point", [5.37, 43.29]),
    ("Point", [5.37, 43.295]),
    ("Polygon", Q),
    ("Polygon", FRANCE),
    ("LineString", [[5.37, 43.285], [5.37, 43.305]]),
    ("MultiPoint", [[5.37, 43.295], [5.40, 43.295]]),
    ("MultiLineString", [[[5.365, 43.292], [5.367, 43.292]], [[5.37, 43.30], [5.37, 43.31]]]),
    ("MultiPolygon", [box(5.30, 43.20, 5.50, 43.40)]),
]
TOPOLOGY = ["within", "contains", "intersects", "equals", "disjoint", "overlaps"]
DISTANCES = sorted({d for base in (PARALLEL, MERIDIAN) for d in (base - 0.02, base + 0.02, base * 0.995, base * 1.005,
                                                                  base * 0.95, base * 1.05)} | {0, 1, 50, 5000, 400_000})


def near_georels() -> list[str]:
    """maxDistance, minDistance and both, around the hand-worked distances."""
    out = [f"near;maxDistance=={d}" for d in DISTANCES] + [f"near;minDistance=={d}" for d in DISTANCES]
    out += [f"near;minDistance=={PARALLEL - 0.02};maxDistance=={MERIDIAN + 0.02}",
            f"near;minDistance=={PARALLEL + 0.02};maxDistance=={MERIDIAN - 0.02}"]
    return out


def entity(name: str, geometry: dict | list[dict]) -> dict:
    """An entity whose location is the geometry (or several instances)."""
    if isinstance(geometry, list):
        location = [{"type": "GeoProperty", "value": g, "datasetId": f"urn:ngsi-ld:Dataset:{i}"}
                    for i, g in enumerate(geometry)]
    else:
        location = {"type": "GeoProperty", "value": geometry}
    return {"id": f"urn:ngsi-ld:Place:{name}", "type": "Place", "location": location}


def answer(store, geometry: str, coordinates: object, georel: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The ids (in creation order) a geo-query selects, with the count."""
    query, _ = build_query({"type": "Place", "geometry": geometry, "coordinates": coordinates, "georel": georel,
                            "count": "true", "limit": "1000"}, CTX, tenant="", dialect=store.dialect,
                           default_limit=20, max_limit=1000)
    with store.session() as s:
        page, count = s.query_entities("", query)
    ids = [e["id"].rsplit(":", 1)[1] for e in page]
    assert count == len(ids)
    return ids


def _postgis_database(name: str) -> str:
    """A fresh database with the postgis extension (installed by scripts/services.sh)."""
    url = fresh_pg_database(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


@pytest.fixture(scope="module")
def geo_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The four stores, each holding the same entities."""
    from calanque.store.postgres import PostgresStore
    from calanque.store.sqlite import SqliteStore

    tag = f"{worker_id()}_{os.getpid()}"
    plain_url = fresh_pg_database(f"calanque_geo_plain_{tag}")
    postgis_url = _postgis_database(f"calanque_geo_postgis_{tag}")
    opened = {
        "sqlite": SqliteStore(str(Path(tmp_path_factory.mktemp("geo")) / "geo.db")),
        "postgres": PostgresStore(plain_url, postgis="auto"),
        "postgis": PostgresStore(postgis_url, postgis="auto"),
    }
    assert not opened["postgres"].postgis and opened["postgis"].postgis and opened["postgis"].geom_column
    body = [entity(name, g) for name, g in GEOMETRIES.items()]
    body.append({"id": "urn:ngsi-ld:Place:nowhere", "type": "Place", "name": {"type": "Property", "value": "x"}})
    for store in opened.values():
        Broker(store).create_canonical("", [parse_entity(b, CTX, now=now_ts()) for b in body], fail_if_exists=True)
    # the same PostGIS database, switched off: geometries are kept, queries take the exact path
    opened["postgis-off"] = PostgresStore(postgis_url, postgis="off")
    assert opened["postgis-off"].geom_column and not opened["postgis-off"].postgis
    yield opened
    for store in opened.values():
        store.close()
    drop_pg_database(plain_url)
    drop_pg_database(postgis_url)


@pytest.fixture
def exact_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the calls of the exact (Python) evaluation of geo-queries."""
    calls: list[str] = []
    original = geo_module.GeoQuery.matches

    def counted(self, entity_geometry):  # type: ignore[no-untyped-def]
        calls.append(entity_geometry["type"])
        return original(self, entity_geometry)

    monkeypatch.setattr(geo_module.GeoQuery, "matches", counted)
    return calls


@pytest.mark.parametrize(("geometry", "coordinates"), REFERENCES, ids=[f"{g}{i}" for i, (g, _) in enumerate(REFERENCES)])
def test_every_store_gives_the_same_answers(geo_stores: dict, geometry: str, coordinates: object) -> None:
    for georel in TOPOLOGY + near_georels():
        answers = {name: answer(store, geometry, coordinates, georel) for name, store in geo_stores.items()}
        assert len({tuple(a) for a in answers.values()}) == 1, (geometry, coordinates, georel, answers)


def test_answers_worked_out_by_hand(geo_stores: dict) -> None:
    for store in geo_stores.values():
        # points on Q's edges and vertex are not within it (their boundary is not in its interior) but
        # intersect it; the altitude of p-inside plays no part
        assert answer(store, "Polygon", Q, "within") == ["p-inside", "line-inside", "poly-same", "poly-inside",
                                                         "mline", "collection", "two-instances"]
        touching = answer(store, "Polygon", Q, "intersects")
        assert {"p-origin", "p-north", "p-east", "two-instances"} <= set(touching)
        assert "p-far" not in touching and "nowhere" not in touching
        assert answer(store, "Polygon", Q, "equals") == ["poly-same"]
        assert answer(store, "Polygon", Q, "contains") == ["poly-same", "poly-around", "poly-france"]
        # two-instances has one instance far from Q: it is disjoint from Q through that one
        assert "two-instances" in answer(store, "Polygon", Q, "disjoint")
        # Paris is within the France-sized polygon; the line from 6 W to 7 E along 45 N leaves it
        within_france = answer(store, "Polygon", FRANCE, "within")
        assert "p-paris" in within_france and "line-long" not in within_france
        # 811.564 m east and 1110.985 m north of the origin (both also on Q, at 0 m from Q's edge point)
        near = lambda d: answer(store, "Point", [5.37, 43.29], f"near;maxDistance=={d}")  # noqa: E731
        assert "p-east" in near(PARALLEL + 0.02) and "p-east" not in near(PARALLEL - 0.02)
        assert "p-north" in near(MERIDIAN + 0.02) and "p-north" not in near(MERIDIAN - 0.02)
        ring = answer(store, "Point", [5.37, 43.29], f"near;minDistance=={PARALLEL - 0.02};maxDistance=={MERIDIAN + 0.02}")
        assert {"p-east", "p-north"} <= set(ring) and "p-origin" not in ring


def test_postgis_decides_without_the_exact_path(geo_stores: dict, exact_calls: list[str]) -> None:
    postgis = geo_stores["postgis"]
    answer(postgis, "Polygon", Q, "within")
    # only the two collections (left to shapely) reach the exact evaluation
    assert sorted(exact_calls) == ["GeometryCollection", "GeometryCollection"]
    exact_calls.clear()
    # point-to-point distances far from the threshold: PostGIS alone; the polygons, lines and collections
    # in the box reach the exact evaluation
    found = answer(postgis, "Point", [5.37, 43.29], "near;maxDistance==5000")
    assert {"p-origin", "p-north", "p-east", "p-inside"} <= set(found)
    assert "Point" not in exact_calls and "Polygon" in exact_calls
    exact_calls.clear()
    # 2 cm from p-east's distance: inside the safety band, decided exactly
    answer(postgis, "Point", [5.37, 43.29], f"near;maxDistance=={PARALLEL + 0.02}")
    assert "Point" in exact_calls
    exact_calls.clear()
    # without PostGIS every candidate goes through the exact evaluation
    answer(geo_stores["postgis-off"], "Polygon", Q, "within")
    assert "Point" in exact_calls and "Polygon" in exact_calls


def test_postgis_point_distances_agree_with_geographiclib(geo_stores: dict) -> None:
    """What the 1 cm band assumes: PostGIS's ellipsoidal point distance is GeographicLib's (to 1 mm here)."""
    pairs = [((5.37, 43.29), (5.38, 43.29)), ((5.37, 43.29), (5.37, 43.30)), ((2.35, 48.85), (5.37, 43.29)),
             ((174.81, -41.32), (-5.50, 40.96)), ((0.0, 0.0), (179.5, 0.5)), ((-70.0, -60.0), (100.0, 80.0))]
    with geo_stores["postgis"].session() as s:
        for (lon1, lat1), (lon2, lat2) in pairs:
            got = s.conn.execute("SELECT ST_Distance(ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, "
                                 "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, true)",
                                 (lon1, lat1, lon2, lat2)).fetchone()[0]
            assert got == pytest.approx(geo_module.point_distance(lon1, lat1, lon2, lat2), abs=1e-3)


def test_geometries_written_before_postgis_are_filled_in(tmp_path: Path) -> None:
    """A database that gets the extension later: the next start-up fills entity_geo.geom."""
    from calanque.store.postgres import PostgresStore

    url = fresh_pg_database(f"calanque_geo_late_{worker_id()}_{os.getpid()}")
    try:
        store = PostgresStore(url)
        Broker(store).create_canonical("", [parse_entity(entity("p-east", GEOMETRIES["p-east"]), CTX, now=now_ts())],
                                       fail_if_exists=True)
        store.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        store = PostgresStore(url, postgis="on")
        with store.session() as s:
            assert s.conn.execute("SELECT ST_AsText(geom) FROM entity_geo").fetchall() == [("POINT(5.38 43.29)",)]
        assert answer(store, "Polygon", Q, "intersects") == ["p-east"]
        store.close()
    finally:
        drop_pg_database(url)


def test_postgis_on_without_the_extension_is_a_clear_error() -> None:
    from calanque.store.postgres import PostgresStore

    url = fresh_pg_database(f"calanque_geo_none_{worker_id()}_{os.getpid()}")
    try:
        with pytest.raises(RuntimeError, match="CREATE EXTENSION postgis"):
            PostgresStore(url, postgis="on")
        with pytest.raises(ValueError, match="auto, on or off"):
            PostgresStore(url, postgis="sometimes")
    finally:
        drop_pg_database(url)

"""Tests for NGSI-LD geo-queries: validation, georel parsing, relations, geodesic distances, bboxes.

Hand-worked WGS84 values below use a = 6378137 m, f = 1/298.257223563, so
e^2 = f(2 - f) = 0.00669437999014, a(1 - e^2) = 6335439.327 m, and the radii of curvature
M(phi) = a(1 - e^2) / (1 - e^2 sin^2 phi)^1.5 (meridian), N(phi) = a / (1 - e^2 sin^2 phi)^0.5.
"""

from __future__ import annotations

import math

import pytest
from geographiclib.geodesic import Geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from calanque.ngsild.errors import BadRequestData
from calanque.ngsild.geo import (
    GeoError,
    geodesic_distance,
    geometry_bbox,
    parse_geoquery,
    point_distance,
    point_segment_distance,
    validate_geometry,
)

WGS84 = Geodesic.WGS84


def pt(lon: float, lat: float) -> dict:
    """A GeoJSON Point."""
    return {"type": "Point", "coordinates": [lon, lat]}


def box(lon1: float, lat1: float, lon2: float, lat2: float) -> list[list[list[float]]]:
    """Polygon coordinates of a lon/lat rectangle (counter-clockwise, closed)."""
    return [[[lon1, lat1], [lon2, lat1], [lon2, lat2], [lon1, lat2], [lon1, lat1]]]


def poly(lon1: float, lat1: float, lon2: float, lat2: float) -> dict:
    """A GeoJSON Polygon rectangle."""
    return {"type": "Polygon", "coordinates": box(lon1, lat1, lon2, lat2)}


def line(*positions: tuple[float, float]) -> dict:
    """A GeoJSON LineString."""
    return {"type": "LineString", "coordinates": [list(p) for p in positions]}


# ------------------------------------------------------------------ hand-worked reference distances

# Meridian arc 43.29 -> 43.30 deg N (Marseille, lon 5.37): M at the mid-latitude 43.295 deg,
# sin(43.295) = 0.685755, sin^2 = 0.470260, 1 - e^2 sin^2 = 0.996852, ^1.5 = 0.995282,
# M = 6335439.327 / 0.995282 = 6365474.4 m; dphi = 0.01 deg = 1.745329e-4 rad;
# arc = 6365474.4 * 1.745329e-4 = 1110.985 m (the midpoint rule error is ~1e-9 m here).
MERIDIAN_4329_4330 = 1110.985

# Parallel arc of 0.01 deg of longitude at 43.29 deg N: sin = 0.685691,
# N = 6378137 / sqrt(1 - e^2 * 0.470172) = 6388198.4 m, cos(43.29) = 0.727892,
# arc = N cos(phi) dlambda = 6388198.4 * 0.727892 * 1.745329e-4 = 811.564 m. The geodesic
# between (or perpendicular distance across) points 811 m apart differs from the parallel arc
# by ~ L^3 tan^2(phi) / (24 R^2) = 5e-7 m, well below the 1 mm tolerance.
PARALLEL_4329 = 811.564
# Same at 43.30 deg N: N = 6388202.1 m, cos(43.30) = 0.727773, arc = 811.431 m.
PARALLEL_4330 = 811.431


def test_published_wellington_salamanca() -> None:
    """GeographicLib documentation example: Wellington (41.32S, 174.81E) to Salamanca (40.96N, 5.50W)."""
    # "The distance is 19959679.267 m." (GeographicLib docs, JavaScript/Python examples, Karney)
    assert point_distance(174.81, -41.32, -5.50, 40.96) == pytest.approx(19959679.267, abs=1e-3)
    assert geodesic_distance(pt(174.81, -41.32), pt(-5.50, 40.96)) == pytest.approx(19959679.267, abs=1e-3)


def test_published_flinders_peak_buninyong() -> None:
    """Vincenty (1975) / Geoscience Australia worked example, ellipsoidal distance 54 972.271 m."""
    # Flinders Peak 37 57 03.72030 S, 144 25 29.52440 E; Buninyong 37 39 10.15610 S,
    # 143 55 35.38390 E; published on GRS80, which differs from WGS84 only in f by 1e-11
    # (sub-micrometre effect at this range).
    flinders = (144 + 25 / 60 + 29.52440 / 3600, -(37 + 57 / 60 + 3.72030 / 3600))
    buninyong = (143 + 55 / 60 + 35.38390 / 3600, -(37 + 39 / 60 + 10.15610 / 3600))
    assert point_distance(*flinders, *buninyong) == pytest.approx(54972.271, abs=1e-3)


def test_marseille_meridian_arc_by_hand() -> None:
    """Two points on the same meridian in Marseille, 0.01 deg of latitude apart."""
    assert point_distance(5.37, 43.29, 5.37, 43.30) == pytest.approx(MERIDIAN_4329_4330, abs=1e-3)


def test_point_to_meridian_segment_by_hand() -> None:
    """The foot of the perpendicular falls inside the segment: distance = parallel arc 0.01 deg."""
    assert point_segment_distance(5.37, 43.29, 5.38, 43.28, 5.38, 43.30) == pytest.approx(
        PARALLEL_4329, abs=1e-3)
    # Same segment reversed: the result does not depend on the edge direction.
    assert point_segment_distance(5.37, 43.29, 5.38, 43.30, 5.38, 43.28) == pytest.approx(
        PARALLEL_4329, abs=1e-3)


def test_point_beyond_segment_end_uses_the_endpoint() -> None:
    """A point north of a meridian segment is closest to its northern end: meridian arc."""
    assert point_segment_distance(5.37, 43.30, 5.37, 43.28, 5.37, 43.29) == pytest.approx(
        MERIDIAN_4329_4330, abs=1e-3)


def test_point_to_east_west_edge_sees_the_geodesic_bulge() -> None:
    """A geodesic edge between two points of one parallel bulges poleward; distance accounts for it.

    Edge (5.36, 43.30)-(5.38, 43.30), point (5.37, 43.31) above its middle. Meridian arc
    43.30 -> 43.31 at mid-latitude 43.305: sin = 0.685882, 1 - e^2 sin^2 = 0.996851,
    M = 6335439.327 / 0.995280 = 6365485.5 m, arc = 6365485.5 * 1.745329e-4 = 1110.987 m.
    Bulge (Clairaut on the sphere): tan(phi_v) = tan(phi) / cos(dlambda/2), dlambda/2 = 0.01 deg
    = 1.745329e-4 rad, so dphi = tan(phi) cos^2(phi) (dlambda/2)^2 / 2
    = 0.942352 * 0.529653 * 1.523087e-8 = 7.6020e-9 rad, times M(43.30) = 6365479.9 m -> 0.0484 m.
    Expected 1110.987 - 0.048 = 1110.938 m (ellipsoidal correction to the bulge ~ f * 5 cm).
    """
    assert point_segment_distance(5.37, 43.31, 5.36, 43.30, 5.38, 43.30) == pytest.approx(1110.938, abs=1e-3)


def _reference_point_segment(lon: float, lat: float, lon1: float, lat1: float,
                             lon2: float, lat2: float) -> float:
    """Brute force with GeographicLib: sample the geodesic edge, then golden-section refine."""
    geodesic_line = WGS84.InverseLine(lat1, lon1, lat2, lon2)
    length = geodesic_line.s13

    def dist(s: float) -> float:
        p = geodesic_line.Position(s)
        return WGS84.Inverse(lat, lon, p["lat2"], p["lon2"])["s12"]

    n = 200
    samples = [length * i / n for i in range(n + 1)]
    k = min(range(n + 1), key=lambda i: dist(samples[i]))
    lo, hi = samples[max(k - 1, 0)], samples[min(k + 1, n)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        m1, m2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if dist(m1) < dist(m2):
            hi = m2
        else:
            lo = m1
    return min(dist((lo + hi) / 2), dist(0.0), dist(length))


coordinate = st.tuples(st.floats(5.2, 5.6), st.floats(43.1, 43.5))


@settings(max_examples=25, deadline=None)
@given(p=coordinate, a=coordinate, bearing=st.floats(0, 360), length=st.floats(10, 5000))
def test_point_segment_matches_brute_force(p: tuple[float, float], a: tuple[float, float],
                                           bearing: float, length: float) -> None:
    """Interception result equals a brute-force minimisation along the edge within 1 mm."""
    end = WGS84.Direct(a[1], a[0], bearing, length)
    args = (p[0], p[1], a[0], a[1], end["lon2"], end["lat2"])
    assert point_segment_distance(*args) == pytest.approx(_reference_point_segment(*args), abs=1e-3)


# ------------------------------------------------------------------ distances between geometry types

DISTANCE_CASES = [
    # (reference, entity, expected metres) - built on meridians/parallels around the Vieux-Port.
    (pt(5.37, 43.29), line((5.38, 43.28), (5.38, 43.30)), PARALLEL_4329),
    (pt(5.37, 43.29), poly(5.38, 43.28, 5.39, 43.30), PARALLEL_4329),
    (pt(5.37, 43.29), {"type": "MultiPoint", "coordinates": [[5.38, 43.29], [5.5, 43.5]]}, PARALLEL_4329),
    (pt(5.37, 43.29), {"type": "MultiPolygon", "coordinates": [box(5.38, 43.28, 5.39, 43.30),
                                                              box(5.6, 43.6, 5.7, 43.7)]}, PARALLEL_4329),
    (pt(5.37, 43.29), pt(5.37, 43.30), MERIDIAN_4329_4330),
    # Two meridian segments 0.01 deg apart: closest at their northern ends (meridians converge).
    (line((5.37, 43.28), (5.37, 43.30)), {"type": "MultiLineString", "coordinates": [
        [[5.38, 43.28], [5.38, 43.30]], [[6.0, 44.0], [6.1, 44.0]]]}, PARALLEL_4330),
    (poly(5.36, 43.28, 5.37, 43.30), poly(5.38, 43.28, 5.39, 43.30), PARALLEL_4330),
    (poly(5.36, 43.28, 5.37, 43.30), pt(5.37, 43.31), MERIDIAN_4329_4330 + 0.002),
    ({"type": "MultiPoint", "coordinates": [[5.37, 43.29], [5.0, 43.0]]},
     line((5.38, 43.28), (5.38, 43.30)), PARALLEL_4329),
    ({"type": "MultiPolygon", "coordinates": [box(5.36, 43.28, 5.37, 43.30)]},
     {"type": "GeometryCollection", "geometries": [pt(5.38, 43.30), line((5.5, 43.5), (5.6, 43.5))]},
     PARALLEL_4330),
]


@pytest.mark.parametrize(("reference", "entity", "expected"), DISTANCE_CASES)
def test_distance_between_geometry_types(reference: dict, entity: dict, expected: float) -> None:
    """Minimum geodesic distance for Point/Line/Polygon/Multi*/collection combinations."""
    # Case "polygon to point north of its NE corner": meridian arc 43.30 -> 43.31 at
    # mid-latitude 43.305 is 1110.987 m (see the bulge test), i.e. 1110.985 + 0.002.
    assert geodesic_distance(reference, entity) == pytest.approx(expected, abs=1e-3)
    assert geodesic_distance(entity, reference) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(("reference", "entity", "expected"), DISTANCE_CASES)
def test_near_thresholds_on_every_type(reference: dict, entity: dict, expected: float) -> None:
    """maxDistance/minDistance decide on both sides of the hand-worked distance (+-5 cm)."""
    geometry, coordinates = reference["type"], reference["coordinates"]
    assert parse_geoquery(geometry, coordinates, f"near;maxDistance=={expected + 0.05}").matches(entity)
    assert not parse_geoquery(geometry, coordinates, f"near;maxDistance=={expected - 0.05}").matches(entity)
    assert parse_geoquery(geometry, coordinates, f"near;minDistance=={expected - 0.05}").matches(entity)
    assert not parse_geoquery(geometry, coordinates, f"near;minDistance=={expected + 0.05}").matches(entity)


def test_intersecting_geometries_are_at_distance_zero() -> None:
    """A point inside a polygon, and crossing lines, are 0 m apart."""
    assert geodesic_distance(pt(5.37, 43.29), poly(5.36, 43.28, 5.38, 43.30)) == 0.0
    assert geodesic_distance(line((5.36, 43.29), (5.38, 43.29)), line((5.37, 43.28), (5.37, 43.30))) == 0.0
    inside = parse_geoquery("Polygon", box(5.36, 43.28, 5.38, 43.30), "near;minDistance==1")
    assert not inside.matches(pt(5.37, 43.29))
    assert parse_geoquery("Polygon", box(5.36, 43.28, 5.38, 43.30), "near;minDistance==0").matches(
        pt(5.37, 43.29))


def test_near_ring_with_both_modifiers() -> None:
    """near;minDistance==800;maxDistance==1000 keeps points between 800 and 1000 m."""
    q = parse_geoquery("Point", "[5.37,43.29]", "near;minDistance==800;maxDistance==1000")
    assert q.matches(pt(5.38, 43.29))  # 811.564 m east
    assert not q.matches(pt(5.37, 43.30))  # 1110.985 m north
    assert not q.matches(pt(5.371, 43.29))  # ~81 m east


def test_hole_distance_to_inner_ring() -> None:
    """A point in a polygon's hole is at the distance of the hole's edge."""
    holed = {"type": "Polygon", "coordinates": box(5.30, 43.20, 5.50, 43.40) + box(5.36, 43.28, 5.38, 43.30)}
    # Point (5.37, 43.29) is 0.01 deg of longitude from the hole's east/west edges (811.564 m)
    # and 0.01 deg of latitude from its north/south edges (~1111 m).
    assert geodesic_distance(pt(5.37, 43.29), holed) == pytest.approx(PARALLEL_4329, abs=1e-3)


# ------------------------------------------------------------------ topological georels

Q = box(5.36, 43.29, 5.38, 43.30)  # reference rectangle on the Vieux-Port

TOPOLOGY_CASES = [
    # (entity, georel -> expected) for the reference polygon Q.
    ("point inside", pt(5.37, 43.295),
     {"within": True, "contains": False, "intersects": True, "disjoint": False, "overlaps": False,
      "equals": False}),
    ("point outside", pt(5.40, 43.295),
     {"within": False, "contains": False, "intersects": False, "disjoint": True, "overlaps": False,
      "equals": False}),
    ("point on the boundary", pt(5.36, 43.295),
     {"within": False, "intersects": True, "disjoint": False}),
    ("line inside", line((5.365, 43.292), (5.375, 43.298)),
     {"within": True, "contains": False, "intersects": True, "disjoint": False, "overlaps": False}),
    ("line crossing", line((5.35, 43.295), (5.39, 43.295)),
     {"within": False, "contains": False, "intersects": True, "disjoint": False, "overlaps": False}),
    ("polygon inside", poly(5.365, 43.292, 5.375, 43.298),
     {"within": True, "contains": False, "intersects": True, "overlaps": False, "equals": False}),
    ("polygon around", poly(5.35, 43.28, 5.39, 43.31),
     {"within": False, "contains": True, "intersects": True, "overlaps": False, "equals": False}),
    ("polygon straddling", poly(5.37, 43.295, 5.39, 43.31),
     {"within": False, "contains": False, "intersects": True, "disjoint": False, "overlaps": True}),
    ("same polygon, other start vertex",
     {"type": "Polygon", "coordinates": [[[5.38, 43.30], [5.36, 43.30], [5.36, 43.29], [5.38, 43.29],
                                          [5.38, 43.30]]]},
     {"equals": True, "within": True, "contains": True, "overlaps": False}),
    ("multipoint half inside", {"type": "MultiPoint", "coordinates": [[5.37, 43.295], [5.40, 43.295]]},
     {"within": False, "intersects": True, "disjoint": False}),
    ("multiline inside", {"type": "MultiLineString", "coordinates": [
        [[5.365, 43.292], [5.366, 43.293]], [[5.37, 43.292], [5.371, 43.293]]]},
     {"within": True, "intersects": True}),
    ("multipolygon far away", {"type": "MultiPolygon", "coordinates": [box(5.45, 43.50, 5.46, 43.51)]},
     {"within": False, "intersects": False, "disjoint": True, "overlaps": False}),
    ("collection inside", {"type": "GeometryCollection", "geometries": [
        pt(5.37, 43.295), line((5.365, 43.292), (5.375, 43.298))]},
     {"within": True, "disjoint": False}),
]


@pytest.mark.parametrize(("label", "entity", "expected"), TOPOLOGY_CASES, ids=[c[0] for c in TOPOLOGY_CASES])
def test_topological_georels_against_reference_polygon(label: str, entity: dict, expected: dict) -> None:
    """Each georel reads "entity <georel> reference" (within = entity inside the reference)."""
    for georel, result in expected.items():
        assert parse_geoquery("Polygon", Q, georel).matches(entity) is result, (label, georel)


def test_topological_georels_with_point_and_line_references() -> None:
    """Point and LineString reference geometries against polygon, line and point entities."""
    vieux_port = poly(5.36, 43.29, 5.38, 43.30)
    assert parse_geoquery("Point", "[5.37,43.295]", "contains").matches(vieux_port)
    assert not parse_geoquery("Point", "[5.37,43.295]", "within").matches(vieux_port)
    assert parse_geoquery("Point", "[5.37,43.295]", "equals").matches(pt(5.37, 43.295))
    assert parse_geoquery("Point", "[5.37,43.295]", "intersects").matches(vieux_port)
    canebiere = "[[5.37,43.285],[5.37,43.305]]"  # a north-south street through the box
    assert parse_geoquery("LineString", canebiere, "intersects").matches(vieux_port)
    assert not parse_geoquery("LineString", canebiere, "within").matches(vieux_port)
    assert parse_geoquery("LineString", canebiere, "overlaps").matches(line((5.37, 43.30), (5.37, 43.31)))
    assert parse_geoquery("LineString", canebiere, "disjoint").matches(line((5.38, 43.28), (5.38, 43.31)))
    assert parse_geoquery("MultiPoint", "[[5.37,43.295],[5.40,43.295]]", "overlaps").matches(
        {"type": "MultiPoint", "coordinates": [[5.37, 43.295], [5.50, 43.5]]})
    quai = [[[5.365, 43.292], [5.367, 43.292]], [[5.37, 43.30], [5.37, 43.31]]]  # along a parallel
    assert parse_geoquery("MultiLineString", quai, "within").matches(line((5.3655, 43.292), (5.366, 43.292)))
    assert not parse_geoquery("MultiLineString", quai, "within").matches(line((5.3655, 43.292), (5.368, 43.292)))
    assert parse_geoquery("MultiPolygon", [box(5.30, 43.20, 5.50, 43.40)], "within").matches(vieux_port)


def test_altitude_is_ignored_by_relations() -> None:
    """3D positions compare on longitude/latitude only."""
    q = parse_geoquery("Point", "[5.37,43.295,10]", "equals")
    assert q.matches({"type": "Point", "coordinates": [5.37, 43.295, 250.0]})


# ------------------------------------------------------------------ validation and parsing errors

INVALID_GEOMETRIES = [
    ("not an object", [5.37, 43.29], "expected a GeoJSON geometry object"),
    ("unknown type", {"type": "Circle", "coordinates": [5.37, 43.29]}, "geometry.type"),
    ("no coordinates", {"type": "Point"}, "needs a 'coordinates' member"),
    ("string coordinate", {"type": "Point", "coordinates": ["5.37", 43.29]}, "expected a number"),
    ("boolean coordinate", {"type": "Point", "coordinates": [True, 43.29]}, "expected a number"),
    ("one number", {"type": "Point", "coordinates": [5.37]}, "expected a position"),
    ("four numbers", {"type": "Point", "coordinates": [5.37, 43.29, 1, 2]}, "expected a position"),
    ("longitude out of range", {"type": "Point", "coordinates": [185.0, 43.29]}, "longitude 185.0"),
    ("latitude out of range (swapped)", {"type": "Point", "coordinates": [43.29, 95.0]}, "latitude 95.0"),
    ("NaN", {"type": "Point", "coordinates": [math.nan, 43.29]}, "finite number"),
    ("infinite", {"type": "Point", "coordinates": [5.37, math.inf]}, "finite number"),
    ("huge integer", {"type": "Point", "coordinates": [10**400, 43.29]}, "finite number"),
    ("one-point line", {"type": "LineString", "coordinates": [[5.37, 43.29]]}, "at least 2 positions"),
    ("zero-length line", {"type": "LineString", "coordinates": [[5.37, 43.29], [5.37, 43.29]]},
     "invalid LineString"),
    ("open ring", {"type": "Polygon", "coordinates": [[[5.36, 43.29], [5.38, 43.29], [5.38, 43.30],
                                                      [5.36, 43.30]]]}, "must be closed"),
    ("short ring", {"type": "Polygon", "coordinates": [[[5.36, 43.29], [5.38, 43.29], [5.36, 43.29]]]},
     "at least 4 positions"),
    ("bow-tie", {"type": "Polygon", "coordinates": [[[5.36, 43.29], [5.38, 43.30], [5.38, 43.29],
                                                     [5.36, 43.30], [5.36, 43.29]]]}, "Self-intersection"),
    ("empty multipoint", {"type": "MultiPoint", "coordinates": []}, "non-empty array"),
    ("bad polygon in multipolygon", {"type": "MultiPolygon", "coordinates": [box(5.3, 43.2, 5.4, 43.3),
                                                                             [[[5.3, 43.2]]]]},
     "geometry.coordinates[1][0]"),
    ("collection without geometries", {"type": "GeometryCollection"}, "'geometries' array"),
    ("empty collection", {"type": "GeometryCollection", "geometries": []}, "non-empty 'geometries'"),
    ("bad member of a collection", {"type": "GeometryCollection", "geometries": [{"type": "Point"}]},
     "geometry.geometries[0]"),
]


@pytest.mark.parametrize(("label", "obj", "fragment"), INVALID_GEOMETRIES, ids=[c[0] for c in INVALID_GEOMETRIES])
def test_invalid_geometries_raise_geoerror(label: str, obj: object, fragment: str) -> None:
    """Invalid GeoJSON raises GeoError (a BadRequestData) with an actionable detail."""
    with pytest.raises(GeoError) as info:
        validate_geometry(obj)
    assert fragment in info.value.detail
    assert isinstance(info.value, BadRequestData) and info.value.status == 400


def test_validate_returns_a_normalised_copy() -> None:
    """Integers become floats, tuples become lists, foreign members are dropped, input untouched."""
    source = {"type": "LineString", "coordinates": [(5, 43), (5.5, 43.5, 12)], "bbox": [5, 43, 5.5, 43.5]}
    out = validate_geometry(source)
    assert out == {"type": "LineString", "coordinates": [[5.0, 43.0], [5.5, 43.5, 12.0]]}
    assert all(isinstance(v, float) for p in out["coordinates"] for v in p)
    assert source["bbox"] == [5, 43, 5.5, 43.5] and isinstance(source["coordinates"][0], tuple)


BAD_QUERIES = [
    ((None, "[5.37,43.29]", "near;maxDistance==10"), "geometry: missing"),
    (("Point", "[5.37,43.29]", None), "georel: missing"),
    (("Point", None, "near;maxDistance==10"), "coordinates: missing"),
    (("Point", "[5.37,43.29]", "near"), "near needs a distance"),
    (("Point", "[5.37,43.29]", "near;maxDistance==-5"), "non-negative"),
    (("Point", "[5.37,43.29]", "near;maxDistance==abc"), "number of metres"),
    (("Point", "[5.37,43.29]", "near;maxDistance==inf"), "finite"),
    (("Point", "[5.37,43.29]", "near;maxDistance=10"), "maxDistance==<m>"),
    (("Point", "[5.37,43.29]", "near;maxDistance==1;maxDistance==2"), "given twice"),
    (("Point", "[5.37,43.29]", "nearby;maxDistance==10"), "unknown relation 'nearby'"),
    (("Point", "[5.37,43.29]", "within;maxDistance==10"), "within takes no modifiers"),
    (("Circle", "[5.37,43.29]", "within"), "geometry: expected one of"),
    (("GeometryCollection", "[]", "within"), "geometry: expected one of"),
    (("Point", "5.37,43.29", "intersects"), "is not a JSON array"),
    (("Point", '{"lon": 5.37}', "intersects"), "expected a JSON array"),
    (("Point", "[43.29]", "intersects"), "coordinates: expected a position"),
    (("Polygon", "[[[5.36,43.29],[5.38,43.29],[5.38,43.30]]]", "within"), "coordinates[0]: a linear ring"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_QUERIES, ids=[b[1] for b in BAD_QUERIES])
def test_bad_geoqueries_raise_geoerror(args: tuple, fragment: str) -> None:
    """Missing or malformed geo-query members raise GeoError naming the member."""
    with pytest.raises(GeoError) as info:
        parse_geoquery(*args)
    assert fragment in info.value.detail


def test_empty_geoproperty_is_rejected_and_default_is_location() -> None:
    """geoproperty defaults to location; an empty name is an error."""
    assert parse_geoquery("Point", "[5.37,43.29]", "intersects").geoproperty == "location"
    assert parse_geoquery("Point", [5.37, 43.29], "intersects", "observationSpace").geoproperty == (
        "observationSpace")
    with pytest.raises(GeoError, match="geoproperty"):
        parse_geoquery("Point", "[5.37,43.29]", "intersects", " ")


def test_coordinates_from_url_string_and_json_body_agree() -> None:
    """coordinates as URL text and as a decoded JSON array give the same query geometry."""
    text = parse_geoquery("Polygon", "[[[5.36,43.29],[5.38,43.29],[5.38,43.30],[5.36,43.29]]]", "within")
    body = parse_geoquery("Polygon", [[[5.36, 43.29], [5.38, 43.29], [5.38, 43.30], [5.36, 43.29]]], "within")
    assert text.geometry == body.geometry
    assert text.max_distance is None and text.georel == "within"


# ------------------------------------------------------------------ bounding boxes


def test_geometry_bbox_of_a_marseille_polygon() -> None:
    """A short-edged polygon's box is its vertex extent (bulges of 1 km edges are ~1e-7 deg)."""
    b = geometry_bbox(poly(5.36, 43.29, 5.38, 43.30))
    assert b[0] == 5.36 and b[2] == 5.38 and b[1] == 43.29
    assert 43.30 <= b[3] < 43.30 + 1e-6


def test_geometry_bbox_covers_a_long_geodesic_edge() -> None:
    """A 10-degree east-west edge at 43 N bulges north; the box covers densely sampled points."""
    edge = WGS84.InverseLine(43.0, 0.0, 43.0, 10.0)
    sampled_max = max(edge.Position(edge.s13 * i / 1000)["lat2"] for i in range(1001))
    b = geometry_bbox(line((0.0, 43.0), (10.0, 43.0)))
    assert sampled_max > 43.1  # the bulge is real (~0.109 deg)
    assert sampled_max <= b[3] <= sampled_max + 1e-6


def test_geometry_bbox_antimeridian_edge_widens_longitudes() -> None:
    """An edge from 179.9 E to 179.9 W crosses the antimeridian as a geodesic."""
    b = geometry_bbox(line((179.9, -17.0), (-179.9, -17.0)))
    assert (b[0], b[2]) == (-180.0, 180.0)


def test_search_bbox_by_georel() -> None:
    """Topological georels use the reference box; disjoint and minDistance have none."""
    for georel in ("within", "contains", "intersects", "equals", "overlaps"):
        b = parse_geoquery("Polygon", Q, georel).search_bbox()
        assert b is not None and b[0] == 5.36 and b[2] == 5.38
    assert parse_geoquery("Polygon", Q, "disjoint").search_bbox() is None
    assert parse_geoquery("Point", "[5.37,43.29]", "near;minDistance==10").search_bbox() is None
    assert parse_geoquery("Point", "[5.37,43.29]", "near;minDistance==10;maxDistance==50").search_bbox() is None


def test_near_bbox_is_reasonably_tight_in_marseille() -> None:
    """2 km around the Vieux-Port: 1 deg of latitude ~ 111.1 km, 1 deg of longitude ~ 81.2 km here."""
    b = parse_geoquery("Point", "[5.37,43.29]", "near;maxDistance==2000").search_bbox()
    assert b is not None
    # 2000 m / 111 100 m/deg = 0.0180 deg; 2000 / 81 156 = 0.0246 deg. Allow 2 % slack.
    assert 0.0180 <= 43.29 - b[1] <= 0.0180 * 1.02 and 0.0180 <= b[3] - 43.29 <= 0.0180 * 1.02
    assert 0.0246 <= 5.37 - b[0] <= 0.0247 * 1.02 and 0.0246 <= b[2] - 5.37 <= 0.0247 * 1.02


def _inside(b: tuple[float, float, float, float], lon: float, lat: float) -> bool:
    """Whether a point lies in a lon/lat box."""
    return b[0] <= lon <= b[2] and b[1] <= lat <= b[3]


@settings(max_examples=300, deadline=None)
@given(lon=st.floats(-180, 180), lat=st.floats(-89.9, 89.9), distance=st.floats(1, 200_000),
       fraction=st.floats(0, 1), bearing=st.floats(0, 360))
def test_near_bbox_contains_every_point_within_distance(lon: float, lat: float, distance: float,
                                                        fraction: float, bearing: float) -> None:
    """Any point at most maxDistance from a reference point lies in its search bbox (global, poles, 180)."""
    b = parse_geoquery("Point", [lon, lat], f"near;maxDistance=={distance}").search_bbox()
    assert b is not None
    target = WGS84.Direct(lat, lon, bearing, fraction * distance)
    assert _inside(b, target["lon2"], target["lat2"])


@settings(max_examples=150, deadline=None)
@given(start=st.tuples(st.floats(-179, 179), st.floats(-80, 80)), edge_bearing=st.floats(0, 360),
       edge_length=st.floats(100, 500_000), along=st.floats(0, 1), distance=st.floats(1, 50_000),
       fraction=st.floats(0, 1), bearing=st.floats(0, 360))
def test_near_bbox_of_a_line_contains_points_near_its_geodesic(
        start: tuple[float, float], edge_bearing: float, edge_length: float, along: float,
        distance: float, fraction: float, bearing: float) -> None:
    """Points within maxDistance of any point of a (long) geodesic edge lie in the search bbox."""
    end = WGS84.Direct(start[1], start[0], edge_bearing, edge_length)
    coordinates = [[start[0], start[1]], [end["lon2"], end["lat2"]]]
    b = parse_geoquery("LineString", coordinates, f"near;maxDistance=={distance}").search_bbox()
    assert b is not None
    on_edge = WGS84.Direct(start[1], start[0], edge_bearing, along * edge_length)
    target = WGS84.Direct(on_edge["lat2"], on_edge["lon2"], bearing, fraction * distance)
    assert _inside(b, target["lon2"], target["lat2"])


def test_near_bbox_at_the_pole_and_antimeridian() -> None:
    """Near a pole or across 180 deg the longitude range is the whole world."""
    polar = parse_geoquery("Point", "[10,89.99]", "near;maxDistance==5000").search_bbox()
    assert polar is not None and (polar[0], polar[2], polar[3]) == (-180.0, 180.0, 90.0)
    fiji = parse_geoquery("Point", "[179.99,-17]", "near;maxDistance==5000").search_bbox()
    assert fiji is not None and (fiji[0], fiji[2]) == (-180.0, 180.0)

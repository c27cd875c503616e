"""NGSI-LD geo-queries evaluated by PostGIS, on PostgreSQL databases where the extension is installed.

The store keeps each GeoProperty instance's geometry in ``entity_geo.geom`` (2D, SRID 4326, GiST index)
next to its bounding box. The results are those of :mod:`calanque.ngsild.geo` (the definition, also used
on SQLite and on PostgreSQL without PostGIS), by construction:

* ``within``, ``contains``, ``intersects``, ``equals``, ``disjoint``, ``overlaps`` are decided by PostGIS
  on ``geometry`` (planar lon/lat, OGC DE-9IM, computed by GEOS, as shapely does). Entity geometries that
  are GeometryCollections are left to shapely: GEOS versions before 3.13 (PostGIS's) and from 3.13
  (shapely's, "RelateNG") do not define relations on collections the same way.
* ``near``: the definition is the geodesic distance on the WGS84 ellipsoid with edges as ellipsoidal
  geodesics. PostGIS ``geography`` measures along the ellipsoid too (with GeographicLib's inverse), but
  finds the closest points of edges on a sphere, edges being great circles, and decides a point inside a
  polygon on the sphere: for lines and polygons its distance may differ from the definition by up to the
  gap between a great circle, a geodesic and a straight lon/lat edge (millimetres for 1 km edges, metres
  for 100 km ones). So PostGIS decides point-to-point distances, in the GiST-indexed box where a match can
  lie, except within a safety band of ±1 % (plus 1 cm) around the threshold (R_MIN/R_MAX, whatever sphere
  PostGIS uses internally), where the exact ellipsoidal computation decides; line and polygon distances
  are decided by the exact computation among the indexed candidates.
"""

from __future__ import annotations

from typing import Any

from calanque.ngsild.geo import R_MAX, R_MIN, expand_bbox, geometry_bbox

# The reference geometry (a GeoJSON text parameter) as a 2D WGS84 geometry.
REFERENCE = "ST_Force2D(ST_SetSRID(ST_GeomFromGeoJSON(?::text), 4326))"
_COLLECTION = "ST_GeometryType(g.geom) = 'ST_GeometryCollection'"
# "entity geometry <georel> reference" (clause 4.10: within = the entity lies within the reference)
_RELATION = {
    "within": "ST_Within(g.geom, {r})",
    "contains": "ST_Contains(g.geom, {r})",
    "intersects": "ST_Intersects(g.geom, {r})",
    "equals": "ST_Equals(g.geom, {r})",
    "disjoint": "ST_Disjoint(g.geom, {r})",
    "overlaps": "ST_Overlaps(g.geom, {r})",
}
# Point distances within this margin of a threshold (and the sphere/ellipsoid ratio) go to the exact check.
_MARGIN_M = 0.01


def _reference(geo: Any) -> str:
    """The GeoJSON text of the query's reference geometry."""
    import orjson

    return orjson.dumps(geo.geometry).decode()


def _box(box: tuple[float, float, float, float]) -> tuple[str, list[Any]]:
    return "g.geom && ST_MakeEnvelope(?, ?, ?, ?, 4326)", list(box)


def candidates(geo: Any) -> tuple[str, list[Any]]:
    """Condition on entity_geo rows ``g`` holding every row that may match (a superset for near and for
    collections, which the exact check then decides), with ``?`` placeholders."""
    if geo.georel == "near":
        if geo.max_distance is None:
            return "true", []
        return _box(expand_bbox(geometry_bbox(geo.geometry), geo.max_distance))
    relation = _RELATION[geo.georel].format(r=REFERENCE)
    decided = f"CASE WHEN {_COLLECTION} THEN true ELSE {relation} END"
    if geo.georel == "disjoint":
        return decided, [_reference(geo)]
    box, box_params = _box(geometry_bbox(geo.geometry))  # every other relation implies intersecting boxes
    return f"{box} AND {decided}", [*box_params, _reference(geo)]


def certain(geo: Any) -> tuple[str, list[Any]] | None:
    """Condition on rows ``g`` that certainly match (the exact check is skipped for their entity), or
    None when PostGIS decides nothing for sure (near between other geometries than points)."""
    if geo.georel != "near":
        relation = _RELATION[geo.georel].format(r=REFERENCE)
        return f"CASE WHEN {_COLLECTION} THEN false ELSE {relation} END", [_reference(geo)]
    if geo.geometry["type"] != "Point":
        return None
    tests: list[str] = []
    params: list[Any] = []
    distance = f"ST_DWithin(g.geom::geography, {REFERENCE}::geography, ?, true)"
    if geo.max_distance is not None:
        inner = (geo.max_distance - _MARGIN_M) * R_MIN / R_MAX
        if inner <= 0:
            return None
        tests.append(distance)
        params += [_reference(geo), inner]
    if geo.min_distance is not None:
        tests.append(f"NOT {distance}")
        params += [_reference(geo), (geo.min_distance + _MARGIN_M) * R_MAX / R_MIN]
    return f"CASE WHEN ST_GeometryType(g.geom) = 'ST_Point' THEN {' AND '.join(tests)} ELSE false END", params

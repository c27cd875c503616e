"""NGSI-LD geo-queries (ETSI GS CIM 009 clause 4.10, "NGSI-LD Geoquery Language").

A geo-query is ``geometry`` + ``coordinates`` (a GeoJSON geometry, the *reference*), a
``georel`` and an optional ``geoproperty`` (default ``location``). An entity matches when
"entity geometry <georel> reference geometry" holds:

* ``within``: the entity geometry is within the reference; ``contains``: the entity geometry
  contains the reference; ``intersects``, ``equals``, ``disjoint``, ``overlaps``: symmetric.
  These follow the OGC simple-features (DE-9IM) definitions, evaluated by shapely on raw
  lon/lat coordinates, exactly as PostGIS does for ``geometry`` columns.
* ``near;maxDistance==d`` (distance <= d metres) and ``near;minDistance==d`` (distance >= d);
  both modifiers may be combined. The distance is the minimum geodesic distance on the
  WGS84 ellipsoid between the two geometries (0 when they intersect), with edges taken as
  ellipsoidal geodesics (PostGIS ``geography`` takes them as great circles on a sphere: see
  :mod:`calanque.store.postgis` for how the PostGIS path keeps to this definition).

Distance method. Two geometries that do not intersect are closest at a vertex of one of
them facing an edge (or vertex) of the other. Every such vertex/edge pair gets rigorous
bounds from great-circle angles ``sigma`` on the unit sphere: the WGS84 metric
``ds^2 = M^2 dphi^2 + N^2 cos^2(phi) dlambda^2`` satisfies
``a(1-e^2) <= M, N <= a/sqrt(1-e^2)``, so a geodesic distance lies in
``[R_MIN * sigma, R_MAX * sigma]``; the distance from P to edge AB is at most
``min(PA, PB)`` and, by the triangle inequality along the edge, at least
``(PA + PB - AB) / 2``. Only pairs whose bounds do not settle the answer are computed
exactly, by geodesic interception (Baselga & Martinez-Llario 2018, "Intersection and
point-to-line solutions for geodesics on the ellipsoid"): move along the edge by the
spherical along-track offset until the geodesic to P is perpendicular to the edge. The
fixed point is the exact foot of the perpendicular (first-variation condition), and the
iteration stops when a step is below 1e-6 m, so the distance error is far below 1 mm
(the distance is stationary at the foot, its error is second order in the step).

Known approximations: topology is planar in lon/lat while distances use geodesic edges,
so for very long edges (hundreds of km) "intersects" and "distance 0" can disagree by the
edge's bulge; and the vertex/edge argument is exact in the plane and on the sphere but only
approximate on the ellipsoid for edges thousands of kilometres long.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from geographiclib.geodesic import Geodesic
from shapely.geometry import shape

from calanque.ngsild.errors import BadRequestData

_GEOD = Geodesic.WGS84
_A = _GEOD.a
_F = _GEOD.f
_E2 = _F * (2 - _F)
# Extreme radii of curvature of WGS84: meridional at the equator and polar (see module doc).
R_MIN = _A * (1 - _E2)
R_MAX = _A / math.sqrt(1 - _E2)
# Sphere radius used only for the along-track step of the interception iteration.
_R_STEP = 6371008.8
_STEP_TOLERANCE_M = 1e-6
# Reference geometries of near queries are split into geodesic pieces of this length (see _Parts).
DENSIFY_STEP_M = 200.0
DENSIFY_MAX_VERTICES = 5000
_MAX_ITERATIONS = 50

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
GEORELS = ("near", "within", "contains", "intersects", "equals", "disjoint", "overlaps")
DEFAULT_GEOPROPERTY = "location"

_DIST_MASK = Geodesic.DISTANCE | Geodesic.AZIMUTH
_POS_MASK = Geodesic.LATITUDE | Geodesic.LONGITUDE | Geodesic.AZIMUTH


class GeoError(BadRequestData):
    """An invalid geometry or geo-query; the detail names the member and what was expected."""


# --------------------------------------------------------------------------- validation


def _position(value: Any, where: str) -> list[float]:
    """Validate one GeoJSON position and return it as a list of floats."""
    if not isinstance(value, list | tuple) or len(value) not in (2, 3):
        raise GeoError(f"{where}: expected a position [longitude, latitude] or "
                       f"[longitude, latitude, altitude], got {json.dumps(value, default=str)[:80]}")
    out: list[float] = []
    for i, number in enumerate(value):
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise GeoError(f"{where}[{i}]: expected a number, got {type(number).__name__}")
        try:
            as_float = float(number)
        except OverflowError:
            as_float = math.inf
        if not math.isfinite(as_float):
            raise GeoError(f"{where}[{i}]: expected a finite number, got {number}")
        out.append(as_float)
    if not -180.0 <= out[0] <= 180.0:
        raise GeoError(f"{where}: longitude {out[0]} is outside [-180, 180] "
                       "(GeoJSON positions are [longitude, latitude])")
    if not -90.0 <= out[1] <= 90.0:
        raise GeoError(f"{where}: latitude {out[1]} is outside [-90, 90] "
                       "(GeoJSON positions are [longitude, latitude])")
    return out


def _array(value: Any, where: str, what: str) -> list[Any]:
    """Check that ``value`` is a non-empty JSON array."""
    if not isinstance(value, list | tuple) or not value:
        raise GeoError(f"{where}: expected a non-empty array of {what}")
    return list(value)


def _line(value: Any, where: str) -> list[list[float]]:
    """Validate LineString coordinates (at least 2 positions)."""
    items = _array(value, where, "positions")
    if len(items) < 2:
        raise GeoError(f"{where}: a LineString needs at least 2 positions, got {len(items)}")
    return [_position(p, f"{where}[{i}]") for i, p in enumerate(items)]


def _polygon(value: Any, where: str) -> list[list[list[float]]]:
    """Validate Polygon coordinates (closed linear rings of at least 4 positions)."""
    rings = []
    for r, ring_value in enumerate(_array(value, where, "linear rings")):
        ring_where = f"{where}[{r}]"
        items = _array(ring_value, ring_where, "positions")
        if len(items) < 4:
            raise GeoError(f"{ring_where}: a linear ring needs at least 4 positions, got {len(items)}")
        ring = [_position(p, f"{ring_where}[{i}]") for i, p in enumerate(items)]
        if ring[0] != ring[-1]:
            raise GeoError(f"{ring_where}: a linear ring must be closed (its last position must "
                           f"equal its first, {ring[0]}), got {ring[-1]}")
        rings.append(ring)
    return rings


_COORDINATE_VALIDATORS = {
    "Point": _position,
    "MultiPoint": lambda v, w: [_position(p, f"{w}[{i}]") for i, p in enumerate(_array(v, w, "positions"))],
    "LineString": _line,
    "MultiLineString": lambda v, w: [_line(x, f"{w}[{i}]") for i, x in enumerate(_array(v, w, "lines"))],
    "Polygon": _polygon,
    "MultiPolygon": lambda v, w: [_polygon(x, f"{w}[{i}]") for i, x in enumerate(_array(v, w, "polygons"))],
}


def _validate(obj: Any, where: str, allow_collection: bool) -> dict[str, Any]:
    """Validate a geometry object structurally (no topology check)."""
    if not isinstance(obj, dict):
        raise GeoError(f"{where}: expected a GeoJSON geometry object, got {type(obj).__name__}")
    kind = obj.get("type")
    allowed = GEOMETRY_TYPES + (("GeometryCollection",) if allow_collection else ())
    if kind not in allowed:
        raise GeoError(f"{where}.type: expected one of {', '.join(allowed)}, got {kind!r}")
    if kind == "GeometryCollection":
        members = obj.get("geometries")
        if not isinstance(members, list) or not members:
            raise GeoError(f"{where}.geometries: a GeometryCollection needs a non-empty 'geometries' array")
        return {"type": kind, "geometries": [_validate(m, f"{where}.geometries[{i}]", True)
                                             for i, m in enumerate(members)]}
    if "coordinates" not in obj:
        raise GeoError(f"{where}: a {kind} needs a 'coordinates' member")
    coordinates = _COORDINATE_VALIDATORS[kind](obj["coordinates"], f"{where}.coordinates")
    return {"type": kind, "coordinates": coordinates}


def _strip_altitude(coordinates: Any) -> Any:
    """Coordinates with every position cut to [longitude, latitude] (GeoJSON may mix 2D and 3D)."""
    if isinstance(coordinates[0], float | int):
        return coordinates[:2]
    return [_strip_altitude(c) for c in coordinates]


def _to_shape(geom: dict[str, Any]) -> shapely.Geometry:
    """The 2D shapely geometry of a validated GeoJSON geometry (altitudes dropped)."""
    if geom["type"] == "GeometryCollection":
        return shapely.GeometryCollection([_to_shape(g) for g in geom["geometries"]])
    return shape({"type": geom["type"], "coordinates": _strip_altitude(geom["coordinates"])})


def _check_topology(geom: dict[str, Any], where: str) -> None:
    """Reject geometries that are not OGC-valid (self-intersecting rings, zero-length lines...)."""
    if geom["type"] == "GeometryCollection":
        for i, member in enumerate(geom["geometries"]):
            _check_topology(member, f"{where}.geometries[{i}]")
        return
    if geom["type"] in ("Point", "MultiPoint"):
        return
    reason = shapely.is_valid_reason(_to_shape(geom))
    if reason != "Valid Geometry":
        raise GeoError(f"{where}: invalid {geom['type']}: {reason} (rings must not self-intersect, "
                       "holes must lie inside their shell, lines must have non-zero length)")


def validate_geometry(obj: Any) -> dict[str, Any]:
    """Validate a GeoJSON geometry (strictly) and return a normalised copy (floats, lists only)."""
    geom = _validate(obj, "geometry", allow_collection=True)
    _check_topology(geom, "geometry")
    return geom


# --------------------------------------------------------------------------- bounding boxes


BBox = tuple[float, float, float, float]
_WORLD_LON = (-180.0, 180.0)
_BBOX_PADDING_M = 1e-3


def _positions(geom: dict[str, Any]) -> list[list[float]]:
    """All positions of a geometry, flattened."""
    kind = geom["type"]
    if kind == "GeometryCollection":
        return [p for member in geom["geometries"] for p in _positions(member)]
    coordinates = geom["coordinates"]
    if kind == "Point":
        return [coordinates]
    if kind in ("MultiPoint", "LineString"):
        return list(coordinates)
    if kind in ("MultiLineString", "Polygon"):
        return [p for line in coordinates for p in line]
    return [p for polygon in coordinates for ring in polygon for p in ring]


def _paths(geom: dict[str, Any]) -> list[list[list[float]]]:
    """The vertex sequences whose consecutive positions are edges (lines and rings)."""
    kind = geom["type"]
    if kind == "GeometryCollection":
        return [path for member in geom["geometries"] for path in _paths(member)]
    coordinates = geom["coordinates"]
    if kind == "LineString":
        return [coordinates]
    if kind in ("MultiLineString", "Polygon"):
        return list(coordinates)
    if kind == "MultiPolygon":
        return [ring for polygon in coordinates for ring in polygon]
    return []


def _geodesic_lat_extremes(lon1: float, lat1: float, lon2: float, lat2: float) -> tuple[float, float]:
    """Latitude range of the geodesic edge between two points (it may bulge poleward).

    By Clairaut's relation ``cos(beta) sin(azi)`` is constant along a geodesic (beta the reduced
    latitude); its vertex, reached inside the edge when the azimuth's north component changes
    sign, has ``cos(beta_v) = |cos(beta1) sin(azi1)|``.
    """
    low, high = min(lat1, lat2), max(lat1, lat2)
    inv = _GEOD.Inverse(lat1, lon1, lat2, lon2, Geodesic.AZIMUTH)
    c1, c2 = math.cos(math.radians(inv["azi1"])), math.cos(math.radians(inv["azi2"]))
    if c1 * c2 >= 0:
        return low, high
    beta1 = math.atan((1 - _F) * math.tan(math.radians(lat1)))
    cos_beta_v = min(1.0, abs(math.cos(beta1) * math.sin(math.radians(inv["azi1"]))))
    lat_v = math.degrees(math.atan2(math.sqrt(max(0.0, 1 - cos_beta_v**2)), (1 - _F) * cos_beta_v))
    return (low, max(high, lat_v)) if c1 > 0 else (min(low, -lat_v), high)


def geometry_bbox(geom: dict[str, Any]) -> BBox:
    """Return (min_lon, min_lat, max_lon, max_lat) covering the geometry.

    The box covers the geometry both with straight lon/lat edges (topological georels) and with
    geodesic edges (distances): geodesic edges that bulge poleward widen the latitude range, and
    an edge whose geodesic crosses the antimeridian widens the longitude range to [-180, 180].
    """
    positions = _positions(geom)
    lons = [p[0] for p in positions]
    lats = [p[1] for p in positions]
    min_lon, max_lon, min_lat, max_lat = min(lons), max(lons), min(lats), max(lats)
    for path in _paths(geom):
        for (lon1, lat1, *_), (lon2, lat2, *_) in zip(path, path[1:], strict=False):
            if (lon1, lat1) == (lon2, lat2):
                continue
            if abs(lon2 - lon1) > 180.0:
                min_lon, max_lon = _WORLD_LON
            low, high = _geodesic_lat_extremes(lon1, lat1, lon2, lat2)
            min_lat, max_lat = min(min_lat, low), max(max_lat, high)
    return (min_lon, min_lat, max_lon, max_lat)


def expand_bbox(box: BBox, distance_m: float) -> BBox:
    """Grow a lon/lat box so that it contains every point within ``distance_m`` of the box.

    A path of length d changes latitude by at most d / R_MIN (R_MIN the smallest meridional
    radius) and longitude by at most d / (a cos(phi_max)) (N >= a), phi_max being the largest
    |latitude| the path can reach. If a pole is reachable or the longitude range would wrap past
    the antimeridian, the longitude range becomes [-180, 180]. The distance is padded by 1 mm so
    that floating-point rounding never excludes a point at exactly the distance.
    """
    min_lon, min_lat, max_lon, max_lat = box
    distance_m += _BBOX_PADDING_M
    dlat = math.degrees(distance_m / R_MIN)
    low, high = min_lat - dlat, max_lat + dlat
    phi_max = max(abs(low), abs(high))
    out_lat = (max(low, -90.0), min(high, 90.0))
    if phi_max >= 90.0:
        return (_WORLD_LON[0], out_lat[0], _WORLD_LON[1], out_lat[1])
    dlon = math.degrees(distance_m / (_A * math.cos(math.radians(phi_max))))
    west, east = min_lon - dlon, max_lon + dlon
    if west < -180.0 or east > 180.0:
        west, east = _WORLD_LON
    return (west, out_lat[0], east, out_lat[1])


# --------------------------------------------------------------------------- distances


def _unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Unit vectors on the sphere for geodetic lon/lat in degrees (n x 3)."""
    lam, phi = np.radians(lon), np.radians(lat)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def _angles(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Great-circle angles (radians) between every row of ``u`` and every row of ``v``."""
    chord = np.linalg.norm(u[:, None, :] - v[None, :, :], axis=2)
    return 2.0 * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))


@dataclass
class _Parts:
    """Vertices and edges of a geometry, for distance computations."""

    lon: np.ndarray
    lat: np.ndarray
    unit: np.ndarray
    start: np.ndarray  # edge start vertex indices
    end: np.ndarray  # edge end vertex indices
    lone_points: bool  # has vertices that belong to no edge (points in a mixed collection)
    edge_sigma: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        """Precompute the great-circle angle of every edge."""
        diff = self.unit[self.start] - self.unit[self.end]
        self.edge_sigma = 2.0 * np.arcsin(np.clip(np.linalg.norm(diff, axis=1) / 2.0, 0.0, 1.0))

    @classmethod
    def of(cls, geom: dict[str, Any], densify: bool = False) -> _Parts:
        """Decompose a validated geometry into vertices and edges.

        With ``densify``, edges are split at points of the same geodesic so that the
        (PA + PB - AB) / 2 lower bound stays tight; the geometry itself is unchanged.
        """
        lon: list[float] = []
        lat: list[float] = []
        start: list[int] = []
        paths = _densified(_paths(geom)) if densify else _paths(geom)
        for path in paths:
            base = len(lon)
            lon.extend(p[0] for p in path)
            lat.extend(p[1] for p in path)
            start.extend(range(base, base + len(path) - 1))
        if not paths:
            points = _positions(geom)
            lon.extend(p[0] for p in points)
            lat.extend(p[1] for p in points)
        else:
            singles = [p for member in _point_members(geom) for p in member]
            lon.extend(p[0] for p in singles)
            lat.extend(p[1] for p in singles)
        lon_a, lat_a = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        start_a = np.asarray(start, dtype=np.intp)
        lone = bool(paths) and len(lon) > len(start) + len(paths)
        return cls(lon_a, lat_a, _unit_vectors(lon_a, lat_a), start_a, start_a + 1, lone)


def _densified(paths: list[list[list[float]]]) -> list[list[list[float]]]:
    """Split geodesic edges into pieces of at most DENSIFY_STEP_M (coarser for huge geometries)."""
    lines = [[_GEOD.InverseLine(a[1], a[0], b[1], b[0]) for a, b in zip(path, path[1:], strict=False)]
             for path in paths]
    total = sum(line.s13 for path_lines in lines for line in path_lines)
    step = max(DENSIFY_STEP_M, total / DENSIFY_MAX_VERTICES)
    out = []
    for path, path_lines in zip(paths, lines, strict=True):
        dense = [path[0]]
        for end, line in zip(path[1:], path_lines, strict=True):
            pieces = max(1, math.ceil(line.s13 / step))
            for k in range(1, pieces):
                pos = line.Position(line.s13 * k / pieces, Geodesic.LATITUDE | Geodesic.LONGITUDE)
                dense.append([pos["lon2"], pos["lat2"]])
            dense.append(end)
        out.append(dense)
    return out


def _point_members(geom: dict[str, Any]) -> list[list[list[float]]]:
    """Point positions of a geometry collection that also has lines or rings."""
    if geom["type"] == "GeometryCollection":
        return [p for member in geom["geometries"] for p in _point_members(member)]
    if geom["type"] == "Point":
        return [[geom["coordinates"]]]
    if geom["type"] == "MultiPoint":
        return [geom["coordinates"]]
    return []


def point_distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance in metres between two lon/lat points on WGS84 (Karney's algorithm)."""
    return float(_GEOD.Inverse(lat1, lon1, lat2, lon2, Geodesic.DISTANCE)["s12"])


def point_segment_distance(lon: float, lat: float, lon1: float, lat1: float,
                           lon2: float, lat2: float) -> float:
    """Geodesic distance in metres from a point to the geodesic edge between two points (WGS84).

    Geodesic interception: start at the edge's first point, repeatedly move along the edge by
    the spherical along-track offset ``atan2(sin(d) cos(A), cos(d))`` (d the current distance
    to the point, A the angle between the edge and the geodesic to the point), clamped to the
    edge, until the step is below 1e-6 m.
    """
    if (lon1, lat1) == (lon2, lat2):
        return point_distance(lon, lat, lon1, lat1)
    line = _GEOD.InverseLine(lat1, lon1, lat2, lon2, Geodesic.STANDARD | Geodesic.DISTANCE_IN)
    length = line.s13
    s = 0.0
    best = math.inf
    for _ in range(_MAX_ITERATIONS):
        pos = line.Position(s, _POS_MASK)
        inv = _GEOD.Inverse(pos["lat2"], pos["lon2"], lat, lon, _DIST_MASK)
        d = inv["s12"]
        best = min(best, d)
        angle = math.radians(inv["azi1"] - pos["azi2"])
        sigma = d / _R_STEP
        along = _R_STEP * math.atan2(math.sin(sigma) * math.cos(angle), math.cos(sigma))
        s_next = min(max(s + along, 0.0), length)
        if abs(s_next - s) < _STEP_TOLERANCE_M:
            break
        s = s_next
    return float(best)


@dataclass
class _PairBounds:
    """Lower/upper distance bounds of candidate (vertex, edge-or-vertex) pairs and their geometry."""

    lower: np.ndarray
    upper: np.ndarray
    pairs: list[tuple[_Parts, np.ndarray, _Parts, np.ndarray | None]]
    sizes: list[int]

    def exact(self, flat_index: int) -> float:
        """Exact geodesic distance of the pair at a flat index."""
        for (vertices, v_idx, other, e_idx), size in zip(self.pairs, self.sizes, strict=True):
            if flat_index < size:
                width = len(e_idx) if e_idx is not None else len(other.lon)
                i, j = divmod(flat_index, width)
                p = v_idx[i]
                if e_idx is None:
                    return point_distance(vertices.lon[p], vertices.lat[p], other.lon[j], other.lat[j])
                a, b = other.start[e_idx[j]], other.end[e_idx[j]]
                return point_segment_distance(vertices.lon[p], vertices.lat[p], other.lon[a],
                                              other.lat[a], other.lon[b], other.lat[b])
            flat_index -= size
        raise IndexError(flat_index)


def _pair_bounds(x: _Parts, y: _Parts) -> _PairBounds:
    """Bounds for every vertex of one geometry against every edge (or point) of the other."""
    sigma = _angles(x.unit, y.unit)
    lowers, uppers, pairs, sizes = [], [], [], []

    def vertex_edges(vertices: _Parts, other: _Parts, s: np.ndarray) -> None:
        to_start, to_end = s[:, other.start], s[:, other.end]
        lowers.append(np.maximum(0.0, (R_MIN * (to_start + to_end) - R_MAX * other.edge_sigma) / 2.0))
        uppers.append(R_MAX * np.minimum(to_start, to_end))
        pairs.append((vertices, np.arange(len(vertices.lon)), other, np.arange(len(other.start))))
        sizes.append(to_start.size)

    if len(y.start):
        vertex_edges(x, y, sigma)
    if len(x.start):
        vertex_edges(y, x, sigma.T)
    if not len(x.start) or not len(y.start) or x.lone_points or y.lone_points:
        lowers.append(R_MIN * sigma)
        uppers.append(R_MAX * sigma)
        pairs.append((x, np.arange(len(x.lon)), y, None))
        sizes.append(sigma.size)
    return _PairBounds(np.concatenate([b.ravel() for b in lowers]),
                       np.concatenate([b.ravel() for b in uppers]), pairs, sizes)


def _separation_below(x: _Parts, y: _Parts, limit: float, inclusive: bool) -> bool:
    """Whether the vertex/edge separation of two non-intersecting geometries is < (or <=) limit."""
    bounds = _pair_bounds(x, y)
    below = np.less_equal if inclusive else np.less
    if below(bounds.upper, limit).any():
        return True
    candidates = np.flatnonzero(below(bounds.lower, limit))
    for index in candidates[np.argsort(bounds.lower[candidates])]:
        if below(bounds.exact(int(index)), limit):
            return True
    return False


def _separation(x: _Parts, y: _Parts) -> float:
    """Exact vertex/edge separation of two non-intersecting geometries (branch and bound)."""
    bounds = _pair_bounds(x, y)
    best = float(bounds.upper.min())
    for index in np.argsort(bounds.lower):
        if bounds.lower[index] > best:
            break
        best = min(best, bounds.exact(int(index)))
    return best


def geodesic_distance(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Minimum geodesic distance in metres on WGS84 between two validated geometries (0 if they meet)."""
    if shapely.intersects(_to_shape(a), _to_shape(b)):
        return 0.0
    return _separation(_Parts.of(a), _Parts.of(b))


# --------------------------------------------------------------------------- queries


def _parse_coordinates(coordinates: str | list[Any] | None) -> Any:
    """Decode the ``coordinates`` member (JSON text from a URL, or an already decoded array)."""
    if coordinates is None or coordinates == "":
        raise GeoError("coordinates: missing; a geo-query needs geometry, coordinates and georel "
                       "(e.g. geometry=Point&coordinates=[5.37,43.29]&georel=near;maxDistance==2000)")
    if isinstance(coordinates, str):
        try:
            decoded = json.loads(coordinates)
        except ValueError:
            raise GeoError(f"coordinates: {coordinates[:80]!r} is not a JSON array; expected e.g. "
                           "[5.37,43.29] for a Point or [[[lon,lat],...]] for a Polygon") from None
    else:
        decoded = coordinates
    if not isinstance(decoded, list):
        raise GeoError("coordinates: expected a JSON array, e.g. [5.37,43.29] for a Point")
    return decoded


def _parse_distance(text: str, name: str) -> float:
    """Parse a maxDistance/minDistance value (metres, finite, non-negative)."""
    try:
        value = float(text)
    except ValueError:
        raise GeoError(f"georel: {name} must be a number of metres, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise GeoError(f"georel: {name} must be a finite, non-negative number of metres, got {text!r}")
    return value


def _parse_georel(georel: str | None) -> tuple[str, float | None, float | None]:
    """Split a georel into (relation, maxDistance, minDistance)."""
    if not georel:
        raise GeoError("georel: missing; expected one of near;maxDistance==<m>, near;minDistance==<m>, "
                       + ", ".join(GEORELS[1:]))
    relation, *modifiers = [token.strip() for token in georel.split(";")]
    if relation not in GEORELS:
        raise GeoError(f"georel: unknown relation {relation!r}; expected one of {', '.join(GEORELS)}")
    if relation != "near":
        if modifiers:
            raise GeoError(f"georel: {relation} takes no modifiers, got {';'.join(modifiers)!r}")
        return relation, None, None
    distances: dict[str, float] = {}
    for modifier in modifiers:
        name, sep, value = modifier.partition("==")
        if not sep or name not in ("maxDistance", "minDistance"):
            raise GeoError(f"georel: near modifier {modifier!r} is not maxDistance==<m> or minDistance==<m>")
        if name in distances:
            raise GeoError(f"georel: {name} is given twice")
        distances[name] = _parse_distance(value, name)
    if not distances:
        raise GeoError("georel: near needs a distance, e.g. near;maxDistance==2000 or near;minDistance==10")
    return relation, distances.get("maxDistance"), distances.get("minDistance")


class GeoQuery:
    """A parsed NGSI-LD geo-query; ``matches`` tests entity geometries against it."""

    def __init__(self, geometry: dict[str, Any], georel: str, geoproperty: str,
                 max_distance: float | None = None, min_distance: float | None = None) -> None:
        """Build a query from a validated reference geometry and a parsed georel."""
        self.geometry = geometry
        self.georel = georel
        self.geoproperty = geoproperty
        self.max_distance = max_distance
        self.min_distance = min_distance
        self._shape = _to_shape(geometry)
        shapely.prepare(self._shape)
        self._parts = _Parts.of(geometry, densify=georel == "near")
        self._point = geometry["coordinates"] if geometry["type"] == "Point" else None

    def __repr__(self) -> str:
        """Show the query as its georel and geometry type."""
        return (f"GeoQuery({self.georel!r}, max={self.max_distance}, min={self.min_distance}, "
                f"{self.geometry['type']}, geoproperty={self.geoproperty!r})")

    def matches(self, entity_geometry: dict[str, Any]) -> bool:
        """Whether "entity geometry <georel> reference geometry" holds (geometry already validated)."""
        if self.georel == "near":
            return self._near(entity_geometry)
        other = _to_shape(entity_geometry)
        if self.georel == "within":
            return bool(shapely.contains(self._shape, other))
        if self.georel == "contains":
            return bool(shapely.within(self._shape, other))
        if self.georel == "intersects":
            return bool(shapely.intersects(self._shape, other))
        if self.georel == "disjoint":
            return bool(shapely.disjoint(self._shape, other))
        if self.georel == "overlaps":
            return bool(shapely.overlaps(self._shape, other))
        return bool(shapely.equals(self._shape, other))

    def _near(self, entity_geometry: dict[str, Any]) -> bool:
        """near;maxDistance (distance <= d) and/or near;minDistance (distance >= d)."""
        if self._point is not None and entity_geometry["type"] == "Point":
            return self._near_points(entity_geometry["coordinates"])
        if shapely.intersects(self._shape, _to_shape(entity_geometry)):
            return self.min_distance is None or self.min_distance == 0
        parts = _Parts.of(entity_geometry)
        if self.max_distance is not None and not _separation_below(self._parts, parts,
                                                                   self.max_distance, True):
            return False
        return self.min_distance is None or not _separation_below(self._parts, parts,
                                                                  self.min_distance, False)

    def _near_points(self, position: list[float]) -> bool:
        """Point-to-point near test: spherical bounds first, Karney's inverse only when needed."""
        lon1, lat1 = self._point[0], self._point[1]  # type: ignore[index]
        lon2, lat2 = position[0], position[1]
        phi1, phi2 = math.radians(lat1), math.radians(lat2)
        h = (math.sin((phi2 - phi1) / 2) ** 2
             + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
        sigma = 2 * math.asin(min(1.0, math.sqrt(h)))
        low, high = R_MIN * sigma, R_MAX * sigma
        exact: float | None = None
        if self.max_distance is not None:
            if low > self.max_distance:
                return False
            if high > self.max_distance:
                exact = point_distance(lon1, lat1, lon2, lat2)
                if exact > self.max_distance:
                    return False
        if self.min_distance is not None:
            if high < self.min_distance:
                return False
            if low < self.min_distance:
                exact = point_distance(lon1, lat1, lon2, lat2) if exact is None else exact
                return exact >= self.min_distance
        return True

    def search_bbox(self) -> BBox | None:
        """A lon/lat box that every matching entity geometry intersects, or None if there is none."""
        if self.georel == "disjoint" or self.min_distance is not None:
            return None
        box = geometry_bbox(self.geometry)
        if self.max_distance is not None:
            return expand_bbox(box, self.max_distance)
        return box


def parse_geoquery(geometry: str | None, coordinates: str | list[Any] | None, georel: str | None,
                   geoproperty: str | None = None) -> GeoQuery:
    """Parse the geometry/coordinates/georel/geoproperty members of a geo-query into a GeoQuery."""
    if not geometry:
        raise GeoError("geometry: missing; a geo-query needs geometry, coordinates and georel "
                       f"(geometry is one of {', '.join(GEOMETRY_TYPES)})")
    if geometry not in GEOMETRY_TYPES:
        raise GeoError(f"geometry: expected one of {', '.join(GEOMETRY_TYPES)}, got {geometry!r}")
    relation, max_distance, min_distance = _parse_georel(georel)
    decoded = _parse_coordinates(coordinates)
    try:
        reference = validate_geometry({"type": geometry, "coordinates": decoded})
    except GeoError as exc:
        raise GeoError(exc.detail.replace("geometry.coordinates", "coordinates", 1)) from None
    if geoproperty is not None and not geoproperty.strip():
        raise GeoError("geoproperty: must be a GeoProperty name such as location, got an empty string")
    return GeoQuery(reference, relation, geoproperty or DEFAULT_GEOPROPERTY, max_distance, min_distance)

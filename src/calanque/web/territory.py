"""Commune outlines for the maps: the operator's territory GeoJSON, or approximate demonstration outlines.

An operator sets ``CALANQUE_TERRITORY_GEOJSON`` to a GeoJSON FeatureCollection of the communes (for
example exported from IGN ADMIN EXPRESS, WGS84); each feature's INSEE code and name are read from the
properties ``code``/``name``, ``INSEE_COM``/``NOM`` or ``insee_com``/``nom``. Without one, the outlines
are the Voronoi cells of the demonstration communes' centres (:data:`calanque.simulator.geo.COMMUNES`)
clipped to the metropolis's bounding box: they are approximate, and the answer says so
(``"approximate": true``) so that the pages can tell the user.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from shapely.geometry import MultiPoint, Point, box, mapping, shape
from shapely.ops import voronoi_diagram

from calanque.ngsild.api.http import json_response
from calanque.simulator.geo import COMMUNES, METROPOLIS_BBOX

router = APIRouter(tags=["web UI"])
_CODE_KEYS = ("code", "INSEE_COM", "insee_com", "codgeo", "CODGEO")
_NAME_KEYS = ("name", "NOM", "nom", "NOM_COM", "nom_com", "libgeo")


class TerritoryError(ValueError):
    """The territory GeoJSON cannot be used; the message says which file and what is wrong."""


def _rounded(geometry: Any, digits: int = 5) -> Any:
    """Coordinates rounded to about a metre: smaller answers, no visible change."""
    if isinstance(geometry, (list, tuple)):
        if geometry and isinstance(geometry[0], (int, float)):
            return [round(float(c), digits) for c in geometry]
        return [_rounded(g, digits) for g in geometry]
    return geometry


def demonstration_outlines() -> dict[str, Any]:
    """Voronoi cells of the demonstration communes' centres, clipped to the metropolis's bounding box."""
    frame = box(*METROPOLIS_BBOX)
    centres = [Point(c.lon, c.lat) for c in COMMUNES]
    cells = list(voronoi_diagram(MultiPoint(centres), envelope=frame).geoms)
    features = []
    for commune, centre in zip(COMMUNES, centres, strict=True):
        cell = next(c for c in cells if c.contains(centre)).intersection(frame)
        geometry = mapping(cell.simplify(0.0005))
        features.append(
            {
                "type": "Feature",
                "properties": {"code": commune.insee, "name": commune.name},
                "geometry": {"type": geometry["type"], "coordinates": _rounded(geometry["coordinates"])},
            }
        )
    return {"type": "FeatureCollection", "approximate": True, "features": features}


def load_outlines(path: Path) -> dict[str, Any]:
    """Read and check an operator's territory GeoJSON (TerritoryError says what is wrong)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise TerritoryError(f"territory GeoJSON {path} cannot be read: {err.strerror}") from None
    except ValueError as err:
        raise TerritoryError(f"territory GeoJSON {path} is not JSON: {err}") from None
    if (
        not isinstance(doc, dict)
        or doc.get("type") != "FeatureCollection"
        or not isinstance(doc.get("features"), list)
    ):
        raise TerritoryError(f"territory GeoJSON {path} must be a FeatureCollection")
    features = []
    for n, feature in enumerate(doc["features"]):
        props = (feature.get("properties") or {}) if isinstance(feature, dict) else {}
        code = next((str(props[k]) for k in _CODE_KEYS if props.get(k) is not None), None)
        name = next((str(props[k]) for k in _NAME_KEYS if props.get(k) is not None), None)
        try:
            geometry = shape(feature["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise TerritoryError(
                f"territory GeoJSON {path}: feature {n} has no valid geometry ({err})"
            ) from None
        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            raise TerritoryError(
                f"territory GeoJSON {path}: feature {n} is a {geometry.geom_type}, "
                "expected a Polygon or MultiPolygon commune outline"
            )
        minx, miny, maxx, maxy = geometry.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise TerritoryError(
                f"territory GeoJSON {path}: feature {n} is not in WGS84 longitude/latitude "
                "degrees (reproject it, e.g. ogr2ogr -t_srs EPSG:4326)"
            )
        out = mapping(geometry)
        features.append(
            {
                "type": "Feature",
                "properties": {"code": code, "name": name or code},
                "geometry": {"type": out["type"], "coordinates": _rounded(out["coordinates"])},
            }
        )
    return {"type": "FeatureCollection", "approximate": False, "features": features}


@lru_cache(maxsize=4)
def outlines(path: Path | None) -> dict[str, Any]:
    """The outlines served by this process: the operator's file when set, else the demonstration ones."""
    return load_outlines(path) if path else demonstration_outlines()


@router.get(
    "/api/v1/territory",
    summary="Commune outlines (GeoJSON) for the maps; 'approximate' when they are demonstration outlines",
)
def territory(request: Request) -> Any:
    """The commune outlines: anyone may read them (they are not data of the platform)."""
    response = json_response(outlines(request.app.state.settings.territory_geojson))
    response.headers["cache-control"] = "public, max-age=3600"
    return response

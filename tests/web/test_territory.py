"""Commune outlines: the operator's GeoJSON (checked at start) or the approximate demonstration outlines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import Point, box, shape

from calanque.config import Settings
from calanque.simulator.geo import COMMUNES, METROPOLIS_BBOX
from calanque.web.territory import TerritoryError, demonstration_outlines, load_outlines


def test_demonstration_outlines_tile_the_metropolis() -> None:
    outlines = demonstration_outlines()
    assert outlines["approximate"] is True
    cells = {f["properties"]["code"]: shape(f["geometry"]) for f in outlines["features"]}
    assert len(cells) == len(COMMUNES)
    for commune in COMMUNES:  # each centre lies in its own cell, in no other
        inside = [
            code
            for code, cell in cells.items()
            if cell.buffer(1e-9).contains(Point(commune.lon, commune.lat))
        ]
        assert inside == [commune.insee], commune.name
    frame = box(*METROPOLIS_BBOX)
    total = sum(cell.area for cell in cells.values())
    assert total == pytest.approx(frame.area, rel=0.01)  # no gap, no overlap (simplified to ~50 m)


def test_an_operator_file_with_ign_property_names(tmp_path: Path) -> None:
    square = [[[5.3, 43.2], [5.5, 43.2], [5.5, 43.4], [5.3, 43.4], [5.3, 43.2]]]
    path = tmp_path / "communes.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"INSEE_COM": "13055", "NOM": "Marseille"},
                        "geometry": {"type": "Polygon", "coordinates": square},
                    }
                ],
            }
        )
    )
    outlines = load_outlines(path)
    assert outlines["approximate"] is False
    assert outlines["features"][0]["properties"] == {"code": "13055", "name": "Marseille"}
    assert outlines["features"][0]["geometry"]["coordinates"] == square


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ('{"type": "Feature"}', "must be a FeatureCollection"),
        (
            '{"type": "FeatureCollection", "features": [{"properties": {}, "geometry": {"type": "Point", '
            '"coordinates": [5.3, 43.3]}}]}',
            "is a Point, expected a Polygon or MultiPolygon",
        ),
        (
            '{"type": "FeatureCollection", "features": [{"properties": {}, "geometry": {"type": "Polygon", '
            '"coordinates": [[[890000, 6240000], [900000, 6240000], [900000, 6250000], '
            '[890000, 6240000]]]}}]}',
            "not in WGS84",
        ),
        ('{"type": "FeatureCollection", "features": [{"properties": {}}]}', "has no valid geometry"),
    ],
)
def test_a_bad_file_says_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(content)
    with pytest.raises(TerritoryError, match=message):
        load_outlines(path)


def test_the_platform_refuses_to_start_with_a_bad_file(tmp_path: Path) -> None:
    from calanque.app import create_app

    with pytest.raises(TerritoryError, match="cannot be read"):
        create_app(Settings(data_dir=tmp_path, auth=False, territory_geojson=tmp_path / "missing.geojson"))

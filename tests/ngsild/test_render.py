"""Tests of NGSI-LD output representations (calanque.ngsild.render)."""

from __future__ import annotations

import json

import pytest

from calanque.ngsild.canonical import DEFAULT_PREFIX, NGSI_LD
from calanque.ngsild.entity import parse_entity
from calanque.ngsild.errors import BadRequestData
from calanque.ngsild.render import (
    parse_lang_filter,
    render_entity,
    render_geojson,
    render_geojson_feature,
    select_language,
)

from .dict_context import SDM, DictContext, sdm_context, sdm_example

NOW = "2026-11-25T10:00:00.000000Z"
D = DEFAULT_PREFIX
CTX = DictContext()

# Reference examples that are not valid NGSI-LD: FloodMonitoring uses "type": "string", WaterObserved has a
# Relationship whose object is a date. test_entity.py checks they are rejected.
INVALID = {"FloodMonitoring", "WaterObserved"}
MODELS = sorted(p.name for p in SDM.iterdir() if (p / "example-normalized.jsonld").exists() and p.name not in INVALID)


def _context_of(example: dict) -> DictContext:
    """The smart-data-models context named by the example's @context URL (dataModel.<Name>)."""
    url = example["@context"][0]
    return sdm_context(url.split("dataModel.")[1].split("/")[0])


@pytest.mark.parametrize("model", MODELS)
def test_normalized_round_trip_reproduces_the_reference_example(model: str) -> None:
    example = sdm_example(model)
    ctx = _context_of(example)
    entity = parse_entity(example, ctx, now=NOW)
    expected = {k: v for k, v in example.items() if k != "@context"}
    assert render_entity(entity, ctx) == expected


def noise() -> tuple[dict, DictContext]:
    """The NoiseLevelObserved reference example in canonical form, with its context."""
    ctx = sdm_context("Environment")
    return parse_entity(sdm_example("NoiseLevelObserved"), ctx, now=NOW), ctx


NOISE_ID = "urn:ngsi-ld:NoiseLevelObserved:Vitoria-NoiseLevelObserved-2016-12-28T11:00:00_2016-12-28T12:00:00"


def test_concise_noise_level_written_by_hand() -> None:
    entity, ctx = noise()
    expected = {
        "id": NOISE_ID,
        "type": "NoiseLevelObserved",
        "LAS": 91.6,
        "LAeq": 67.8,
        "LAeq_d": 65.4,
        "LAmax": 94.5,
        "dateObservedFrom": {"value": {"@type": "DateTime", "@value": "2016-12-28T11:00:00.00Z"}},
        "dateObservedTo": {"value": {"@type": "DateTime", "@value": "2016-12-28T12:00:00.00Z"}},
        "location": {"value": {"type": "Point", "coordinates": [-2.698, 42.8491]}},
    }
    concise = render_entity(entity, ctx, fmt="concise")
    assert concise == expected
    # Concise output parses back to the same canonical entity.
    assert parse_entity(concise, ctx, now=NOW) == entity


def test_key_values_noise_level_written_by_hand() -> None:
    entity, ctx = noise()
    assert render_entity(entity, ctx, fmt="keyValues") == {
        "id": NOISE_ID,
        "type": "NoiseLevelObserved",
        "LAS": 91.6,
        "LAeq": 67.8,
        "LAeq_d": 65.4,
        "LAmax": 94.5,
        "dateObservedFrom": {"@type": "DateTime", "@value": "2016-12-28T11:00:00.00Z"},
        "dateObservedTo": {"@type": "DateTime", "@value": "2016-12-28T12:00:00.00Z"},
        "location": {"type": "Point", "coordinates": [-2.698, 42.8491]},
    }


def test_sys_attrs_on_entity_instances_and_sub_attributes() -> None:
    ctx = sdm_context("Streetlighting")
    entity = parse_entity(sdm_example("Streetlight"), ctx, now=NOW)
    out = render_entity(entity, ctx, sys_attrs=True)
    assert out["createdAt"] == out["modifiedAt"] == NOW
    info = out["municipalityInfo"]
    assert info["createdAt"] == NOW and info["modifiedAt"] == NOW
    assert info["deviceInfo"]["createdAt"] == NOW
    assert "createdAt" not in render_entity(entity, ctx)["municipalityInfo"]
    # keyValues: system attributes only on the entity.
    kv = render_entity(entity, ctx, fmt="keyValues", sys_attrs=True)
    assert kv["createdAt"] == NOW and kv["powerState"] == "off"


def multi() -> dict:
    """A Vehicle with a two-instance speed, a relationship and scope."""
    body = {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": ["Vehicle", "Car"],
        "scope": "/Marseille",
        "speed": [
            {"type": "Property", "value": 55, "unitCode": "KMH"},
            {"type": "Property", "value": 54.5, "datasetId": "urn:ngsi-ld:dataset:gps"},
        ],
        "isParked": {"type": "Relationship", "object": "urn:ngsi-ld:Parking:1", "objectType": "Parking",
                     "observedAt": "2026-01-01T00:00:00Z"},
        "category": {"type": "VocabProperty", "vocab": ["commercial", "urban"]},
        "passengers": {"type": "ListRelationship", "objectList": ["urn:ngsi-ld:P:1", "urn:ngsi-ld:P:2"]},
        "temperatures": {"type": "ListProperty", "valueList": [1, 2]},
        "config": {"type": "JsonProperty", "json": {"k": None}},
        "area": {"type": "Property", "value": {"type": "Point", "coordinates": [1.0, 2.0]}},
    }
    return parse_entity(body, CTX, now=NOW)


def test_normalized_multi_instance_and_type_members() -> None:
    out = render_entity(multi(), CTX)
    assert out["type"] == ["Vehicle", "Car"]
    assert out["scope"] == "/Marseille"
    assert out["speed"] == [
        {"type": "Property", "value": 55, "unitCode": "KMH"},
        {"type": "Property", "value": 54.5, "datasetId": "urn:ngsi-ld:dataset:gps"},
    ]
    assert out["isParked"] == {"type": "Relationship", "object": "urn:ngsi-ld:Parking:1", "objectType": "Parking",
                               "observedAt": "2026-01-01T00:00:00.000000Z"}
    assert out["category"] == {"type": "VocabProperty", "vocab": ["commercial", "urban"]}
    assert out["passengers"] == {"type": "ListRelationship",
                                 "objectList": [{"object": "urn:ngsi-ld:P:1"}, {"object": "urn:ngsi-ld:P:2"}]}


def test_concise_drops_inferable_types_only() -> None:
    out = render_entity(multi(), CTX, fmt="concise")
    assert out["speed"] == [{"value": 55, "unitCode": "KMH"}, {"value": 54.5, "datasetId": "urn:ngsi-ld:dataset:gps"}]
    assert out["isParked"]["object"] == "urn:ngsi-ld:Parking:1" and "type" not in out["isParked"]
    assert out["category"] == {"vocab": ["commercial", "urban"]}
    assert out["temperatures"] == {"valueList": [1, 2]}
    assert out["config"] == {"json": {"k": None}}
    # A Property whose value looks like a geometry keeps its type (else it would read back as GeoProperty).
    assert out["area"] == {"type": "Property", "value": {"type": "Point", "coordinates": [1.0, 2.0]}}
    assert parse_entity({**out, "id": "urn:ngsi-ld:Vehicle:1"}, CTX, now=NOW) == multi()


def test_key_values_multi_instance_uses_the_dataset_form() -> None:
    out = render_entity(multi(), CTX, fmt="keyValues")
    assert out["speed"] == {"dataset": {"@none": 55, "urn:ngsi-ld:dataset:gps": 54.5}}
    assert out["isParked"] == "urn:ngsi-ld:Parking:1"
    assert out["category"] == {"vocab": ["commercial", "urban"]}
    assert out["passengers"] == {"objectList": ["urn:ngsi-ld:P:1", "urn:ngsi-ld:P:2"]}
    assert out["temperatures"] == {"valueList": [1, 2]}
    assert out["config"] == {"json": {"k": None}}


def test_dataset_id_filter() -> None:
    assert render_entity(multi(), CTX, dataset_id="urn:ngsi-ld:dataset:gps", attrs={D + "speed"}) == {
        "id": "urn:ngsi-ld:Vehicle:1", "type": ["Vehicle", "Car"], "scope": "/Marseille",
        "speed": {"type": "Property", "value": 54.5, "datasetId": "urn:ngsi-ld:dataset:gps"},
    }
    default_only = render_entity(multi(), CTX, dataset_id="@none", fmt="keyValues")
    assert default_only["speed"] == 55


def test_attrs_pick_and_omit() -> None:
    entity = multi()
    only = render_entity(entity, CTX, attrs={D + "isParked"}, fmt="keyValues")
    assert only == {"id": "urn:ngsi-ld:Vehicle:1", "type": ["Vehicle", "Car"], "scope": "/Marseille",
                    "isParked": "urn:ngsi-ld:Parking:1"}
    assert render_entity(entity, CTX, pick={"id", D + "isParked"}, fmt="keyValues") == {
        "id": "urn:ngsi-ld:Vehicle:1", "isParked": "urn:ngsi-ld:Parking:1"}
    omitted = render_entity(entity, CTX, omit={"id", "type", D + "speed"}, fmt="keyValues")
    assert "id" not in omitted and "type" not in omitted and "speed" not in omitted and "isParked" in omitted


def street(lang_map: dict) -> dict:
    """A Building whose 'street' LanguageProperty has the given map (and a sub-attribute)."""
    body = {"id": "urn:ngsi-ld:Building:1", "type": "Building",
            "street": {"type": "LanguageProperty", "languageMap": lang_map,
                       "note": {"type": "LanguageProperty", "languageMap": {"fr": "pavée", "en": "cobbled"}}}}
    return parse_entity(body, CTX, now=NOW)


GRAND_PLACE = {"fr": "Grand Place", "nl": "Grote Markt", "en-GB": "Grand Square"}


def test_lang_filter_turns_language_property_into_property_with_lang() -> None:
    out = render_entity(street(GRAND_PLACE), CTX, lang="fr")
    # The form published in the ETSI NGSI-LD test suite (building-language-property-*-filter).
    assert out["street"] == {"type": "Property", "value": "Grand Place", "lang": "fr",
                             "note": {"type": "Property", "value": "pavée", "lang": "fr"}}
    assert render_entity(street(GRAND_PLACE), CTX, lang="fr", fmt="keyValues")["street"] == "Grand Place"
    assert render_entity(street(GRAND_PLACE), CTX, lang="fr", fmt="concise")["street"]["value"] == "Grand Place"
    unfiltered = render_entity(street(GRAND_PLACE), CTX)["street"]
    assert unfiltered["type"] == "LanguageProperty" and unfiltered["languageMap"] == GRAND_PLACE
    assert render_entity(street(GRAND_PLACE), CTX, fmt="keyValues")["street"] == {"languageMap": GRAND_PLACE}


@pytest.mark.parametrize(
    ("lang_map", "lang", "expected"),
    [
        (GRAND_PLACE, "nl", ("nl", "Grote Markt")),
        (GRAND_PLACE, "NL", ("nl", "Grote Markt")),  # tags compare case-insensitively
        (GRAND_PLACE, "de,nl;q=0.8,fr;q=0.5", ("nl", "Grote Markt")),  # de absent, nl preferred over fr
        (GRAND_PLACE, "fr;q=0.4,nl;q=0.9", ("nl", "Grote Markt")),  # weights, not order, decide
        (GRAND_PLACE, "nl;q=0,fr", ("fr", "Grand Place")),  # q=0 means "not acceptable"
        (GRAND_PLACE, "en", ("en-GB", "Grand Square")),  # a range matches the tags it prefixes
        (GRAND_PLACE, "fr-BE", ("fr", "Grand Place")),  # lookup truncates the range
        (GRAND_PLACE, "*", ("en-GB", "Grand Square")),  # any: the first tag in sorted order
        (GRAND_PLACE, "de", ("en-GB", "Grand Square")),  # no match, no @none: first sorted tag
        ({"@none": "Grote Markt", "fr": "Grand Place"}, "de", ("@none", "Grote Markt")),
        ({"@none": "Grote Markt", "fr": "Grand Place"}, "*", ("fr", "Grand Place")),
    ],
)
def test_language_negotiation(lang_map: dict, lang: str, expected: tuple[str, str]) -> None:
    assert select_language(lang_map, parse_lang_filter(lang)) == expected
    out = render_entity(street(lang_map), CTX, lang=lang)["street"]
    assert (out["lang"], out["value"]) == expected


@pytest.mark.parametrize("bad", ["", "fr;q=2", "fr;x=1", "fr;q=abc", "f r", "nl;q=0"])
def test_bad_lang_filters_are_rejected(bad: str) -> None:
    with pytest.raises(BadRequestData) as err:
        parse_lang_filter(bad)
    assert "lang filter" in err.value.detail


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(BadRequestData, match="unknown representation 'simple'"):
        render_entity(multi(), CTX, fmt="simple")  # type: ignore[arg-type]


def building() -> dict:
    """The ETSI test-suite building with two geometries (location and observationSpace)."""
    body = {
        "id": "urn:ngsi-ld:Building:3009ef20-9f62-41f5-bd66-92f041b428b9",
        "type": "Building",
        "name": {"type": "Property", "value": "Eiffel Tower"},
        "subCategory": {"type": "Property", "value": "tourism"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [13.3986, 52.5547]}},
        "observationSpace": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [11.1111, 11.1111]}},
    }
    return parse_entity(body, CTX, now=NOW)


def test_geojson_feature_matches_the_etsi_test_suite_expectations() -> None:
    # Expected bodies from the ETSI NGSI-LD test suite files
    # building-two-geometry-attribute-{normalized,simplified}.geojson (minus @context).
    normalized = {
        "id": "urn:ngsi-ld:Building:3009ef20-9f62-41f5-bd66-92f041b428b9",
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [13.3986, 52.5547]},
        "properties": {
            "type": "Building",
            "name": {"type": "Property", "value": "Eiffel Tower"},
            "subCategory": {"type": "Property", "value": "tourism"},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [13.3986, 52.5547]}},
            "observationSpace": {"type": "GeoProperty",
                                 "value": {"type": "Point", "coordinates": [11.1111, 11.1111]}},
        },
    }
    simplified = {
        "id": "urn:ngsi-ld:Building:3009ef20-9f62-41f5-bd66-92f041b428b9",
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [13.3986, 52.5547]},
        "properties": {
            "type": "Building",
            "name": "Eiffel Tower",
            "subCategory": "tourism",
            "location": {"type": "Point", "coordinates": [13.3986, 52.5547]},
            "observationSpace": {"type": "Point", "coordinates": [11.1111, 11.1111]},
        },
    }
    loc = NGSI_LD + "location"
    assert render_geojson_feature(building(), CTX, geoproperty=loc) == normalized
    assert render_geojson_feature(building(), CTX, geoproperty=loc, fmt="keyValues") == simplified
    other = render_geojson_feature(building(), CTX, geoproperty=NGSI_LD + "observationSpace", fmt="keyValues")
    assert other["geometry"] == {"type": "Point", "coordinates": [11.1111, 11.1111]}


def test_geojson_collection_and_missing_geometry() -> None:
    collection = render_geojson([building(), multi()], CTX, geoproperty=NGSI_LD + "operationSpace",
                                fmt="keyValues", attrs={D + "name"})
    assert collection["type"] == "FeatureCollection"
    assert [f["geometry"] for f in collection["features"]] == [None, None]
    assert collection["features"][0]["properties"] == {"type": "Building", "name": "Eiffel Tower"}
    assert collection["features"][1]["properties"] == {"type": ["Vehicle", "Car"], "scope": "/Marseille"}
    # The geometry comes from the geoproperty even when attrs leaves it out of the properties.
    feature = render_geojson_feature(building(), CTX, geoproperty=NGSI_LD + "location", attrs={D + "name"})
    assert feature["geometry"] == {"type": "Point", "coordinates": [13.3986, 52.5547]}
    assert "location" not in feature["properties"]
    json.dumps(collection)  # serialisable as it stands

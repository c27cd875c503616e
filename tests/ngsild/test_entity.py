"""Tests of NGSI-LD payload parsing and validation (calanque.ngsild.entity)."""

from __future__ import annotations

import pytest

from calanque.ngsild import entity as entity_mod
from calanque.ngsild.canonical import DEFAULT_PREFIX, NGSI_LD
from calanque.ngsild.entity import (
    NGSI_NULL,
    is_ngsi_null_instance,
    parse_attribute_fragment,
    parse_attributes,
    parse_entity,
)
from calanque.ngsild.errors import BadRequestData

from .dict_context import DictContext, sdm_context, sdm_example

NOW = "2026-11-25T10:00:00.000000Z"
D = DEFAULT_PREFIX
ENV = "https://smartdatamodels.org/dataModel.Environment/"
CTX = DictContext({"Vehicle": "https://example.org/Vehicle", "speed": "https://example.org/speed"})


def vehicle(**attrs: object) -> dict:
    """A minimal Vehicle payload with the given attributes."""
    return {"id": "urn:ngsi-ld:Vehicle:A4567", "type": "Vehicle", **attrs}


def test_noise_level_example_is_parsed_into_the_canonical_form() -> None:
    body = sdm_example("NoiseLevelObserved")
    entity = parse_entity(body, sdm_context("Environment"), now=NOW)
    assert entity["id"] == "urn:ngsi-ld:NoiseLevelObserved:Vitoria-NoiseLevelObserved-2016-12-28T11:00:00_2016-12-28T12:00:00"
    assert entity["type"] == [ENV + "NoiseLevelObserved"]
    assert entity["createdAt"] == entity["modifiedAt"] == NOW
    assert set(entity["attrs"]) == {
        ENV + "LAS", ENV + "LAeq", ENV + "LAeq_d", ENV + "LAmax", ENV + "dateObservedFrom",
        ENV + "dateObservedTo", NGSI_LD + "location",
    }
    assert entity["attrs"][ENV + "LAeq"] == [
        {"type": "Property", "value": 67.8, "createdAt": NOW, "modifiedAt": NOW}
    ]
    # JSON-LD typed values are kept as they are.
    assert entity["attrs"][ENV + "dateObservedFrom"][0]["value"] == {
        "@type": "DateTime", "@value": "2016-12-28T11:00:00.00Z"
    }
    location = entity["attrs"][NGSI_LD + "location"][0]
    assert location["type"] == "GeoProperty"
    assert location["value"] == {"type": "Point", "coordinates": [-2.698, 42.8491]}


def test_sub_attributes_go_under_sub_with_expanded_names() -> None:
    body = sdm_example("Streetlight")
    entity = parse_entity(body, sdm_context("Streetlighting"), now=NOW)
    info = entity["attrs"]["https://smartdatamodels.org/dataModel.Streetlighting/municipalityInfo"][0]
    sub = info["sub"]["https://smartdatamodels.org/dataModel.Streetlighting/deviceInfo"]
    assert sub["type"] == "Property"
    assert sub["value"]["deviceModel"]["brandName"] == "abc"  # keys of compound values are not expanded
    assert sub["createdAt"] == NOW
    group = entity["attrs"]["https://smartdatamodels.org/dataModel.Streetlighting/refStreetlightGroup"][0]
    assert group == {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightGroup:streetlightgroup:G345",
                     "createdAt": NOW, "modifiedAt": NOW}


def test_flood_monitoring_example_with_type_string_is_rejected_naming_the_attribute() -> None:
    # The published FloodMonitoring example uses "type": "string", which is no NGSI-LD attribute type.
    with pytest.raises(BadRequestData) as err:
        parse_entity(sdm_example("FloodMonitoring"), sdm_context("Environment"), now=NOW)
    assert "floodLevelStatus" in err.value.detail
    assert "'string'" in err.value.detail


def test_water_observed_example_with_a_date_as_relationship_object_is_rejected() -> None:
    # The published WaterObserved example has "dateObserved": {"type": "Relationship", "object": <a date>}.
    with pytest.raises(BadRequestData) as err:
        parse_entity(sdm_example("WaterObserved"), sdm_context("Environment"), now=NOW)
    assert "dateObserved" in err.value.detail and "not an absolute URI" in err.value.detail


def test_concise_forms_are_inferred() -> None:
    body = vehicle(
        brandName="Mercedes",
        speed={"value": 55, "unitCode": "KMH", "observedAt": "2017-07-29T14:00:04+02:00"},
        isParked={"object": "urn:ngsi-ld:OffStreetParking:Downtown1", "providedBy": {"object": "urn:ngsi-ld:Person:Bob"}},
        street={"languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}},
        category={"vocab": "commercial"},
        temperatures={"valueList": [12, 13.5]},
        passengers={"objectList": ["urn:ngsi-ld:Person:A", {"object": "urn:ngsi-ld:Person:B"}]},
        config={"json": {"a": [1, 2]}},
        location={"type": "Point", "coordinates": [5.37, 43.29]},
        observationSpace={"value": {"type": "Point", "coordinates": [5.0, 43.0]}},
        dateObserved={"@type": "DateTime", "@value": "2026-01-01T00:00:00Z"},
    )
    attrs = parse_entity(body, CTX, now=NOW)["attrs"]
    one = {iri: insts[0] for iri, insts in attrs.items()}
    assert one[D + "brandName"]["type"] == "Property" and one[D + "brandName"]["value"] == "Mercedes"
    speed = one["https://example.org/speed"]
    assert speed["type"] == "Property" and speed["unitCode"] == "KMH"
    assert speed["observedAt"] == "2017-07-29T12:00:04.000000Z"  # normalised to UTC
    parked = one[D + "isParked"]
    assert parked["type"] == "Relationship"
    assert parked["sub"][D + "providedBy"]["type"] == "Relationship"
    assert one[D + "street"]["type"] == "LanguageProperty"
    assert one[D + "category"] == {"type": "VocabProperty", "vocab": D + "commercial", "createdAt": NOW, "modifiedAt": NOW}
    assert one[D + "temperatures"]["type"] == "ListProperty"
    assert one[D + "passengers"]["objectList"] == ["urn:ngsi-ld:Person:A", "urn:ngsi-ld:Person:B"]
    assert one[D + "config"]["type"] == "JsonProperty"
    assert one[NGSI_LD + "location"]["type"] == "GeoProperty"
    assert one[NGSI_LD + "observationSpace"]["type"] == "GeoProperty"
    assert one[D + "dateObserved"]["value"] == {"@type": "DateTime", "@value": "2026-01-01T00:00:00Z"}


def test_types_list_scope_and_multi_instances() -> None:
    body = {
        "id": "urn:ngsi-ld:Vehicle:1",
        "type": ["Vehicle", "https://example.org/Car", "Vehicle"],
        "scope": ["/Marseille/Vieux-Port", "/Marseille"],
        "speed": [
            {"type": "Property", "value": 55},
            {"type": "Property", "value": 54.5, "datasetId": "urn:ngsi-ld:dataset:gps"},
        ],
        "createdAt": "2000-01-01T00:00:00Z",  # system attribute in the input: ignored
    }
    entity = parse_entity(body, CTX, now=NOW)
    assert entity["type"] == ["https://example.org/Vehicle", "https://example.org/Car"]
    assert entity["scope"] == ["/Marseille/Vieux-Port", "/Marseille"]
    assert entity["createdAt"] == NOW
    speeds = entity["attrs"]["https://example.org/speed"]
    assert [s.get("datasetId") for s in speeds] == [None, "urn:ngsi-ld:dataset:gps"]


def test_null_is_accepted_only_when_allowed() -> None:
    with pytest.raises(BadRequestData) as err:
        parse_entity(vehicle(speed=NGSI_NULL), CTX, now=NOW)
    assert "speed" in err.value.detail and NGSI_NULL in err.value.detail
    attrs = parse_attributes({"speed": NGSI_NULL, "street": {"languageMap": {"@none": NGSI_NULL}}}, CTX,
                             now=NOW, allow_null=True)
    assert is_ngsi_null_instance(attrs["https://example.org/speed"][0])
    assert is_ngsi_null_instance(attrs[D + "street"][0])


def test_partial_payloads_and_fragments() -> None:
    attrs = parse_attributes({"speed": {"unitCode": "KMH"}}, CTX, now=NOW, partial=True)
    assert attrs["https://example.org/speed"][0] == {"unitCode": "KMH", "createdAt": NOW, "modifiedAt": NOW}
    fragment = parse_attribute_fragment(
        {"value": 20, "observedAt": "2026-01-01T01:00:00+01:00", "accuracy": NGSI_NULL}, CTX, "https://example.org/speed"
    )
    assert fragment["value"] == 20
    assert fragment["observedAt"] == "2026-01-01T00:00:00.000000Z"
    assert fragment["sub"][D + "accuracy"]["value"] == NGSI_NULL
    assert "createdAt" not in fragment


def test_same_attribute_under_two_names_is_merged_and_checked() -> None:
    body = vehicle(speed={"value": 1}, **{"https://example.org/speed": {"value": 2, "datasetId": "urn:ds:1"}})
    speeds = parse_entity(body, CTX, now=NOW)["attrs"]["https://example.org/speed"]
    assert [s["value"] for s in speeds] == [1, 2]
    with pytest.raises(BadRequestData) as err:
        parse_entity(vehicle(speed={"value": 1}, **{"https://example.org/speed": {"value": 2}}), CTX, now=NOW)
    assert "speed" in err.value.detail and "default instance" in err.value.detail


ERROR_CASES = [
    # (payload, words the detail must contain)
    ({"type": "Vehicle"}, ["'id'"]),
    ({"id": "not a uri", "type": "Vehicle"}, ["not a uri", "absolute URI"]),
    ({"id": "urn:ngsi-ld:V:1"}, ["'type'"]),
    ({"id": "urn:ngsi-ld:V:1", "type": []}, ["'type'"]),
    ({"id": "urn:ngsi-ld:V:1", "type": "Ve(hicle"}, ["Ve(hicle", "'('"]),
    (vehicle(**{"sp<eed": 1}), ["sp<eed", "'<'"]),
    (vehicle(**{"a b": 1}), ["'a b'"]),
    (vehicle(**{"": 1}), ["empty"]),
    (vehicle(speed=None), ["speed", "null"]),
    (vehicle(speed={"type": "Property"}), ["speed", "'value'"]),
    (vehicle(speed={"type": "Property", "value": None}), ["speed", "'value'", "null"]),
    (vehicle(speed={"type": "Property", "value": 1, "object": "urn:x:1"}), ["speed", "'object'", "'value'"]),
    (vehicle(owner={"type": "Relationship", "object": "urn:x:1", "value": 3}), ["owner", "'value'", "Relationship"]),
    (vehicle(owner={"type": "Relationship", "object": "Bob"}), ["owner", "'Bob'"]),
    (vehicle(owner={"type": "Relationship", "object": []}), ["owner", "'object'"]),
    (vehicle(owner={"value": 1, "object": "urn:x:1"}), ["owner", "several value members"]),
    (vehicle(address={"street": "x"}), ["address", "{\"value\""]),
    (vehicle(speed={"type": "Property", "value": 1, "observedAt": "yesterday"}), ["speed", "observedAt"]),
    (vehicle(speed={"type": "Property", "value": 1, "unitCode": ""}), ["speed", "unitCode"]),
    (vehicle(speed={"type": "Property", "value": 1, "datasetId": "gps"}), ["speed", "datasetId", "'gps'"]),
    (vehicle(speed=[{"value": 1, "datasetId": "urn:ds:1"}, {"value": 2, "datasetId": "urn:ds:1"}]),
     ["speed", "urn:ds:1", "distinct"]),
    (vehicle(name={"type": "LanguageProperty", "languageMap": {"fr": 3}}), ["name", "languageMap['fr']"]),
    (vehicle(name={"type": "LanguageProperty", "languageMap": {"not a tag": "x"}}), ["name", "'not a tag'"]),
    (vehicle(name={"type": "LanguageProperty", "languageMap": {}}), ["name", "languageMap"]),
    (vehicle(cat={"type": "VocabProperty", "vocab": 3}), ["cat", "'vocab'"]),
    (vehicle(temps={"type": "ListProperty", "valueList": 3}), ["temps", "valueList"]),
    (vehicle(kids={"type": "ListRelationship", "objectList": ["x"]}), ["kids", "objectList"]),
    (vehicle(location={"type": "Property", "value": 1}), ["location", "GeoProperty"]),
    (vehicle(location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1]}}), ["location"]),
    (vehicle(speed={"value": 1, "accuracy": [{"value": 1}, {"value": 2}]}), ["speed.accuracy", "single instance"]),
    (vehicle(speed={"value": 1, "accuracy": None}), ["speed.accuracy", "null"]),
    ({**vehicle(), "scope": "Marseille"}, ["Marseille", "scope"]),
    ({**vehicle(), "@id": "urn:x:1"}, ["'@id'"]),
]


@pytest.mark.parametrize(("payload", "words"), ERROR_CASES)
def test_invalid_payloads_raise_bad_request_data_with_actionable_details(payload: dict, words: list[str]) -> None:
    with pytest.raises(BadRequestData) as err:
        parse_entity(payload, CTX, now=NOW)
    for word in words:
        assert word in err.value.detail, (word, err.value.detail)


def test_body_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(BadRequestData, match="JSON object"):
        parse_entity([], CTX, now=NOW)  # type: ignore[arg-type]
    with pytest.raises(BadRequestData, match="entity member"):
        parse_attributes({"id": "urn:x:1"}, CTX, now=NOW)


def test_limits_are_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entity_mod, "MAX_ATTRIBUTES", 2)
    with pytest.raises(BadRequestData, match="too many attributes: 3"):
        parse_attributes({"a": 1, "b": 2, "c": 3}, CTX, now=NOW)
    monkeypatch.setattr(entity_mod, "MAX_SUB_DEPTH", 2)
    with pytest.raises(BadRequestData, match="'a.b.c'.*deeper than 2"):
        parse_attributes({"a": {"value": 1, "b": {"value": 2, "c": {"value": 3}}}}, CTX, now=NOW)
    monkeypatch.setattr(entity_mod, "MAX_VALUE_DEPTH", 3)
    with pytest.raises(BadRequestData, match="'deep'.*deeper than 3"):
        parse_attributes({"deep": {"value": [[[[[1]]]]]}}, CTX, now=NOW)
    monkeypatch.setattr(entity_mod, "MAX_STRING_LENGTH", 10)
    with pytest.raises(BadRequestData, match="'long'.*exceeds 10"):
        parse_attributes({"long": "x" * 11}, CTX, now=NOW)
    monkeypatch.setattr(entity_mod, "MAX_INSTANCES", 1)
    with pytest.raises(BadRequestData, match="'multi' has 2 instances"):
        parse_attributes({"multi": [{"value": 1}, {"value": 2, "datasetId": "urn:d:1"}]}, CTX, now=NOW)

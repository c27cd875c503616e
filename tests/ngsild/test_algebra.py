"""Tests of the NGSI-LD write operations as pure functions (calanque.ngsild.algebra)."""

from __future__ import annotations

import copy

import pytest

from calanque.ngsild.algebra import (
    add_types,
    append_attrs,
    delete_attr,
    merge_entity,
    partial_update_attr,
    replace_attr,
    replace_entity,
    update_attrs,
)
from calanque.ngsild.canonical import DEFAULT_PREFIX
from calanque.ngsild.entity import NGSI_NULL, parse_attribute_fragment, parse_attributes, parse_entity
from calanque.ngsild.errors import BadRequestData, ResourceNotFound
from calanque.ngsild.render import render_entity

from .dict_context import DictContext

T0 = "2026-11-25T10:00:00.000000Z"
T1 = "2026-11-25T11:00:00.000000Z"
D = DEFAULT_PREFIX
CTX = DictContext()
GPS = "urn:ngsi-ld:dataset:gps"


def store() -> dict:
    """The NGSI-LD primer's Store:002 (address, name, a two-instance temperature), created at T0."""
    body = {
        "id": "urn:ngsi-ld:Store:002",
        "type": "Store",
        "address": {
            "type": "Property",
            "value": {"streetAddress": "Tiger Street 4", "addressRegion": "Metropolis",
                      "addressLocality": "Cat City", "postalCode": "42420"},
            "verified": {"type": "Property", "value": True},
        },
        "name": {"type": "LanguageProperty", "languageMap": {"en": "Checkpoint Markt", "fr": "Marché"}},
        "temperature": [
            {"type": "Property", "value": 21, "unitCode": "CEL", "observedAt": "2026-11-25T09:00:00Z",
             "accuracy": {"type": "Property", "value": 0.5}},
            {"type": "Property", "value": 22, "datasetId": GPS},
        ],
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"},
    }
    return parse_entity(body, CTX, now=T0)


def attrs(body: dict, **flags: bool) -> dict:
    """Parse an attribute payload at T1."""
    return parse_attributes(body, CTX, now=T1, **flags)


def kv(entity: dict) -> dict:
    """The keyValues rendering, to state expectations compactly."""
    return render_entity(entity, CTX, fmt="keyValues")


def test_append_adds_and_overwrites_keeping_created_at() -> None:
    before = store()
    snapshot = copy.deepcopy(before)
    result = append_attrs(before, attrs({"temperature": {"value": 23}, "openNow": True}), T1)
    assert before == snapshot  # pure: the input is not modified
    entity = result.entity
    assert result.updated == [(D + "temperature", None), (D + "openNow", None)]
    assert result.not_updated == []
    default = entity["attrs"][D + "temperature"][0]
    assert default == {"type": "Property", "value": 23, "createdAt": T0, "modifiedAt": T1}
    assert entity["attrs"][D + "temperature"][1]["value"] == 22  # the GPS instance is untouched
    assert entity["attrs"][D + "openNow"][0]["createdAt"] == T1
    assert entity["modifiedAt"] == T1 and entity["createdAt"] == T0


def test_append_no_overwrite_reports_existing_instances() -> None:
    result = append_attrs(store(), attrs({"temperature": [{"value": 30, "datasetId": GPS}], "openNow": True}), T1,
                          no_overwrite=True)
    assert result.updated == [(D + "openNow", None)]
    assert result.not_updated == [(D + "temperature", GPS, "attribute instance already exists and noOverwrite is set")]
    assert kv(result.entity)["temperature"] == {"dataset": {"@none": 21, GPS: 22}}


def test_append_with_nothing_new_leaves_modified_at() -> None:
    result = append_attrs(store(), attrs({"temperature": {"value": 1}}), T1, no_overwrite=True)
    assert not result.changed and result.entity["modifiedAt"] == T0


def test_update_only_touches_existing_instances() -> None:
    payload = attrs({"temperature": [{"value": 25, "datasetId": GPS}, {"value": 5, "datasetId": "urn:ds:x"}],
                     "openNow": True, "owner": {"object": "urn:ngsi-ld:Person:Alice"}})
    result = update_attrs(store(), payload, T1)
    assert result.updated == [(D + "temperature", GPS), (D + "owner", None)]
    reasons = {(iri, ds): why for iri, ds, why in result.not_updated}
    assert "no instance with datasetId 'urn:ds:x'" in reasons[(D + "temperature", "urn:ds:x")]
    assert "has no attribute" in reasons[(D + "openNow", None)] and "openNow" in reasons[(D + "openNow", None)]
    assert kv(result.entity)["temperature"] == {"dataset": {"@none": 21, GPS: 25}}
    assert kv(result.entity)["owner"] == "urn:ngsi-ld:Person:Alice"
    assert result.entity["attrs"][D + "owner"][0]["createdAt"] == T0


def test_update_with_ngsi_ld_null_deletes_the_instance() -> None:
    result = update_attrs(store(), attrs({"owner": NGSI_NULL, "temperature": {"value": NGSI_NULL, "datasetId": GPS}},
                                         allow_null=True), T1)
    assert result.deleted == [(D + "owner", None), (D + "temperature", GPS)]
    assert D + "owner" not in result.entity["attrs"]
    assert kv(result.entity)["temperature"] == 21
    assert result.entity["modifiedAt"] == T1


def test_partial_update_merges_members_into_one_instance() -> None:
    fragment = parse_attribute_fragment({"value": 19, "accuracy": NGSI_NULL, "observedAt": "2026-11-25T10:30:00Z"},
                                        CTX, D + "temperature")
    result = partial_update_attr(store(), D + "temperature", fragment, T1)
    inst = result.entity["attrs"][D + "temperature"][0]
    # value and observedAt replaced, unitCode kept, the accuracy sub-attribute removed.
    assert inst == {"type": "Property", "value": 19, "unitCode": "CEL", "observedAt": "2026-11-25T10:30:00.000000Z",
                    "createdAt": T0, "modifiedAt": T1}
    assert result.updated == [(D + "temperature", None)]
    gps = partial_update_attr(store(), D + "temperature", parse_attribute_fragment({"value": 30}, CTX, D + "t"), T1,
                              dataset_id=GPS)
    assert kv(gps.entity)["temperature"] == {"dataset": {"@none": 21, GPS: 30}}


def test_partial_update_adds_a_sub_attribute_with_timestamps() -> None:
    fragment = parse_attribute_fragment({"source": {"object": "urn:ngsi-ld:Device:1"}}, CTX, D + "temperature")
    inst = partial_update_attr(store(), D + "temperature", fragment, T1).entity["attrs"][D + "temperature"][0]
    assert inst["value"] == 21
    assert inst["sub"][D + "source"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:1",
                                         "createdAt": T1, "modifiedAt": T1}
    assert inst["sub"][D + "accuracy"]["value"] == 0.5


def test_partial_update_errors() -> None:
    with pytest.raises(ResourceNotFound) as err:
        partial_update_attr(store(), D + "humidity", {"value": 1}, T1)
    assert "humidity" in err.value.detail
    with pytest.raises(ResourceNotFound) as err:
        partial_update_attr(store(), D + "temperature", {"value": 1}, T1, dataset_id="urn:ds:none")
    assert "urn:ds:none" in err.value.detail
    with pytest.raises(BadRequestData) as err:
        partial_update_attr(store(), D + "temperature", {"value": NGSI_NULL}, T1)
    assert "temperature" in err.value.detail and "'value'" in err.value.detail
    with pytest.raises(BadRequestData) as err:
        partial_update_attr(store(), D + "temperature", {"type": "Relationship"}, T1)
    assert "temperature" in err.value.detail and "'object'" in err.value.detail


def test_replace_attr_replaces_the_matching_instance() -> None:
    new = attrs({"temperature": {"value": 18, "unitCode": "FAH"}})[D + "temperature"]
    result = replace_attr(store(), D + "temperature", new, T1)
    assert result.entity["attrs"][D + "temperature"][0] == {"type": "Property", "value": 18, "unitCode": "FAH",
                                                              "createdAt": T0, "modifiedAt": T1}
    assert result.entity["attrs"][D + "temperature"][1]["datasetId"] == GPS
    with pytest.raises(ResourceNotFound, match="humidity"):
        replace_attr(store(), D + "humidity", new, T1)


def test_merge_patch_of_the_primer_address_example() -> None:
    # The NGSI-LD primer's merge example: streetAddress replaced, addressRegion removed by the NGSI-LD Null.
    patch = attrs({"address": {"type": "Property", "value": {"streetAddress": "Superman Street 4",
                                                            "addressRegion": NGSI_NULL,
                                                            "addressLocality": "Cat City", "postalCode": "42420"}}},
                  allow_null=True, partial=True)
    result = merge_entity(store(), patch, T1)
    address = result.entity["attrs"][D + "address"][0]
    assert address["value"] == {"streetAddress": "Superman Street 4", "addressLocality": "Cat City",
                                "postalCode": "42420"}
    assert address["sub"][D + "verified"]["value"] is True  # unmentioned sub-attribute kept
    assert address["createdAt"] == T0 and address["modifiedAt"] == T1
    assert set(result.entity["attrs"]) == set(store()["attrs"])  # unmentioned attributes kept


def test_merge_patch_deletes_attributes_sub_attributes_and_keys_with_null() -> None:
    patch = attrs(
        {
            "owner": NGSI_NULL,
            "temperature": [{"accuracy": NGSI_NULL, "unitCode": NGSI_NULL},
                            {"value": NGSI_NULL, "datasetId": GPS}],
            "name": {"languageMap": {"fr": NGSI_NULL, "de": "Markt"}},
            "ghost": NGSI_NULL,
        },
        allow_null=True, partial=True,
    )
    result = merge_entity(store(), patch, T1)
    entity = result.entity
    assert D + "owner" not in entity["attrs"]
    assert entity["attrs"][D + "temperature"] == [
        {"type": "Property", "value": 21, "observedAt": "2026-11-25T09:00:00.000000Z", "createdAt": T0,
         "modifiedAt": T1}
    ]
    assert entity["attrs"][D + "name"][0]["languageMap"] == {"en": "Checkpoint Markt", "de": "Markt"}
    assert result.deleted == [(D + "owner", None), (D + "temperature", GPS)]
    assert result.updated == [(D + "temperature", None), (D + "name", None)]
    assert result.not_updated == [(D + "ghost", None, "entity 'urn:ngsi-ld:Store:002' has no attribute "
                                   f"'{D}ghost'")]


def test_merge_patch_adds_attributes_types_and_scope() -> None:
    patch = attrs({"openNow": True, "temperature": {"unitCode": "FAH"}, "rating": {"unitCode": "P1"}}, partial=True,
                  allow_null=True)
    result = merge_entity(store(), patch, T1, types=[D + "Shop", D + "Store"], scope=["/Marseille"])
    entity = result.entity
    assert entity["type"] == [D + "Store", D + "Shop"]  # types only grow
    assert entity["scope"] == ["/Marseille"]
    assert entity["attrs"][D + "openNow"][0] == {"type": "Property", "value": True, "createdAt": T1,
                                                 "modifiedAt": T1}
    assert entity["attrs"][D + "temperature"][0]["unitCode"] == "FAH"
    assert entity["attrs"][D + "temperature"][0]["value"] == 21
    assert (D + "rating", None, "new attribute has no value to create it from") in result.not_updated
    unscoped = merge_entity(entity, {}, T1, scope=[NGSI_NULL]).entity
    assert "scope" not in unscoped


def test_merge_patch_merges_sub_attributes_recursively() -> None:
    patch = attrs({"temperature": {"accuracy": {"unitCode": "CEL"}}}, partial=True)
    sub = merge_entity(store(), patch, T1).entity["attrs"][D + "temperature"][0]["sub"][D + "accuracy"]
    assert sub == {"type": "Property", "value": 0.5, "unitCode": "CEL", "createdAt": T0, "modifiedAt": T1}


def test_replace_entity_keeps_created_at_and_reports_removed_instances() -> None:
    new = parse_entity({"id": "urn:ngsi-ld:Store:002", "type": "Shop", "temperature": {"value": 10},
                        "openNow": False}, CTX, now=T1)
    result = replace_entity(store(), new, T1)
    entity = result.entity
    assert entity["createdAt"] == T0 and entity["modifiedAt"] == T1
    assert entity["type"] == [D + "Store", D + "Shop"]
    assert kv(entity) == {"id": "urn:ngsi-ld:Store:002", "type": ["Store", "Shop"], "temperature": 10,
                          "openNow": False}
    assert entity["attrs"][D + "temperature"][0]["createdAt"] == T0
    assert entity["attrs"][D + "openNow"][0]["createdAt"] == T1
    assert sorted(result.deleted, key=str) == sorted(
        [(D + "address", None), (D + "name", None), (D + "temperature", GPS), (D + "owner", None)], key=str)
    with pytest.raises(BadRequestData, match="does not match"):
        replace_entity(store(), {**new, "id": "urn:ngsi-ld:Store:003"}, T1)


def test_delete_attr_default_dataset_and_all() -> None:
    default = delete_attr(store(), D + "temperature", now=T1)
    assert kv(default.entity)["temperature"] == 22 and default.deleted == [(D + "temperature", None)]
    gps = delete_attr(store(), D + "temperature", GPS, now=T1)
    assert kv(gps.entity)["temperature"] == 21
    everything = delete_attr(store(), D + "temperature", delete_all=True, now=T1)
    assert D + "temperature" not in everything.entity["attrs"]
    assert everything.deleted == [(D + "temperature", None), (D + "temperature", GPS)]
    assert everything.entity["modifiedAt"] == T1
    last = delete_attr(store(), D + "owner", now=T1)
    assert D + "owner" not in last.entity["attrs"]  # no instance left: the attribute goes


def test_delete_attr_errors_name_the_attribute() -> None:
    with pytest.raises(ResourceNotFound, match="humidity"):
        delete_attr(store(), D + "humidity", now=T1)
    with pytest.raises(ResourceNotFound, match="urn:ds:x"):
        delete_attr(store(), D + "temperature", "urn:ds:x", now=T1)
    no_default = delete_attr(store(), D + "temperature", now=T1).entity
    with pytest.raises(ResourceNotFound, match="default instance"):
        delete_attr(no_default, D + "temperature", now=T1)


def test_add_types_only_grows() -> None:
    result = add_types(store(), [D + "Store", D + "Shop"], T1)
    assert result.entity["type"] == [D + "Store", D + "Shop"]
    assert result.updated == [("type", None)]
    unchanged = add_types(store(), [D + "Store"], T1)
    assert not unchanged.changed and unchanged.entity["modifiedAt"] == T0

"""Deletions in the temporal evolution, over HTTP on SQLite and PostgreSQL.

Expected answers come from ETSI GS CIM 009 (V1.8.1/V1.9.1):
- clause 5.2.1: "for representing deleted elements in notifications and in the temporal evolution, the URI
  "urn:ngsi-ld:null" is used as a Property value or Relationship object and the JSON object
  {"@none": "urn:ngsi-ld:null"} for the languageMap of a LanguageProperty";
- clause 4.8: deletedAt is the time at which an Entity, Property or Relationship was deleted, used in the
  temporal representation; clause 6.3.11: with options=sysAttrs a temporal representation includes
  deletedAt when the element has been deleted;
- timeproperty=deletedAt selects the deletions (TemporalQuery, clause 5.2.21); observedAt (the default) and
  createdAt select values, which a deletion does not touch: the history before it stays as it was.

A deletion happens at the time the broker sets as the entity's modifiedAt, read back from the entity.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

NULL = "urn:ngsi-ld:null"
E = "urn:ngsi-ld:TrafficFlowObserved:t1"
T0, T1 = "2026-11-25T10:00:00Z", "2026-11-25T10:15:00Z"


def counter() -> dict:
    """A bike counter: two datasets of intensity, a relationship, a language property and a list."""
    return {
        "id": E, "type": "TrafficFlowObserved",
        "intensity": [
            {"type": "Property", "value": 12, "observedAt": T0, "datasetId": "urn:ngsi-ld:Dataset:in"},
            {"type": "Property", "value": 7, "observedAt": T0, "datasetId": "urn:ngsi-ld:Dataset:out"},
        ],
        "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:d1", "observedAt": T0},
        "label": {"type": "LanguageProperty", "languageMap": {"fr": "Vieux-Port", "en": "Old Port"},
                  "observedAt": T0},
        "lanes": {"type": "ListProperty", "valueList": [1, 2], "observedAt": T0},
        "name": {"type": "Property", "value": "counter 1", "observedAt": T0},
    }


def modified_at(api: httpx.Client, eid: str = E) -> str:
    """The entity's modifiedAt: the time of its last write (a deletion included)."""
    r = api.get(f"/entities/{eid}", params={"options": "sysAttrs"})
    assert r.status_code == 200, r.text
    return r.json()["modifiedAt"]


def created_at(api: httpx.Client, attr: str, eid: str = E) -> dict[str | None, str]:
    """createdAt of each instance of an attribute, by datasetId."""
    body = api.get(f"/entities/{eid}", params={"options": "sysAttrs"}).json()[attr]
    return {i.get("datasetId"): i["createdAt"] for i in (body if isinstance(body, list) else [body])}


def temporal(api: httpx.Client, eid: str = E, **params: str) -> dict:
    """GET /temporal/entities/{id} with parameters."""
    r = api.get(f"/temporal/entities/{eid}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def without_ids(instances: list[dict]) -> list[dict]:
    """Instances without their (random) instanceId, which is checked separately."""
    assert all(i["instanceId"].startswith("urn:ngsi-ld:attribute:instance:") for i in instances)
    return [{k: v for k, v in i.items() if k != "instanceId"} for i in instances]


def test_deleting_an_attribute_keeps_its_history_and_records_the_deletion(api: httpx.Client) -> None:
    assert api.post("/entities", json=counter()).status_code == 201
    api.patch(f"/entities/{E}/attrs", json={"name": {"type": "Property", "value": "counter 1b", "observedAt": T1}})
    born = created_at(api, "name")[None]
    assert api.delete(f"/entities/{E}/attrs/name").status_code == 204
    at = modified_at(api)
    # The values observed before stay as they were (default timeproperty: observedAt).
    assert [i["value"] for i in temporal(api)["name"]] == ["counter 1", "counter 1b"]
    assert [i["value"] for i in temporal(api, timeproperty="createdAt")["name"]] == ["counter 1", "counter 1b"]
    # The deletion: the NGSI-LD Null as value, at deletedAt, with its sysAttrs.
    deleted = temporal(api, timeproperty="deletedAt", options="sysAttrs")
    assert without_ids(deleted["name"]) == [
        {"type": "Property", "value": NULL, "createdAt": born, "modifiedAt": at, "deletedAt": at}]
    assert set(deleted) == {"id", "type", "createdAt", "modifiedAt", "name"}  # nothing else was deleted
    assert without_ids(temporal(api, timeproperty="deletedAt")["name"]) == [{"type": "Property", "value": NULL}]
    assert temporal(api, timeproperty="deletedAt", options="temporalValues")["name"] == {
        "type": "Property", "values": [[NULL, at]]}
    # By modification time the deletion is the instance's last change.
    values = temporal(api, timeproperty="modifiedAt", options="temporalValues")["name"]["values"]
    assert [v for v, _ in values] == ["counter 1", "counter 1b", NULL] and values[-1][1] == at
    # timerel applies to deletedAt.
    assert "name" in temporal(api, timeproperty="deletedAt", timerel="after", timeAt=at)
    assert "name" not in temporal(api, timeproperty="deletedAt", timerel="before", timeAt=at)


def test_deleting_one_dataset_or_all_instances(api: httpx.Client) -> None:
    assert api.post("/entities", json=counter()).status_code == 201
    born = created_at(api, "intensity")
    assert api.delete(f"/entities/{E}/attrs/intensity", params={"datasetId": "urn:ngsi-ld:Dataset:out"}).status_code == 204
    first = modified_at(api)
    got = temporal(api, timeproperty="deletedAt", options="sysAttrs")["intensity"]
    assert without_ids(got) == [{"type": "Property", "value": NULL, "datasetId": "urn:ngsi-ld:Dataset:out",
                                 "createdAt": born["urn:ngsi-ld:Dataset:out"], "modifiedAt": first,
                                 "deletedAt": first}]
    # Add a default instance, then delete every instance: one deletion per instance, at one time.
    api.post(f"/entities/{E}/attrs", json={"intensity": {"type": "Property", "value": 3, "observedAt": T1}})
    born_default = created_at(api, "intensity")[None]
    assert api.delete(f"/entities/{E}/attrs/intensity", params={"deleteAll": "true"}).status_code == 204
    second = modified_at(api)
    got = temporal(api, timeproperty="deletedAt", options="sysAttrs")["intensity"]
    assert sorted(map(str, without_ids(got))) == sorted(map(str, [
        {"type": "Property", "value": NULL, "datasetId": "urn:ngsi-ld:Dataset:out",
         "createdAt": born["urn:ngsi-ld:Dataset:out"], "modifiedAt": first, "deletedAt": first},
        {"type": "Property", "value": NULL, "datasetId": "urn:ngsi-ld:Dataset:in",
         "createdAt": born["urn:ngsi-ld:Dataset:in"], "modifiedAt": second, "deletedAt": second},
        {"type": "Property", "value": NULL, "createdAt": born_default, "modifiedAt": second, "deletedAt": second},
    ]))
    # the observed values are untouched: 12 (in) and 7 (out) at T0, 3 (default) at T1
    assert sorted((i.get("datasetId", ""), i["value"]) for i in temporal(api)["intensity"]) == [
        ("", 3), ("urn:ngsi-ld:Dataset:in", 12), ("urn:ngsi-ld:Dataset:out", 7)]


def test_null_of_each_attribute_type(api: httpx.Client) -> None:
    assert api.post("/entities", json=counter()).status_code == 201
    # PATCH .../attrs with the NGSI-LD Null deletes (clause 5.6.3), and so does a merge (clause 5.6.17).
    r = api.patch(f"/entities/{E}/attrs", json={"refDevice": {"type": "Relationship", "object": NULL}})
    assert r.status_code == 204, r.text
    patched = modified_at(api)
    r = api.patch(f"/entities/{E}", json={"label": {"type": "LanguageProperty", "languageMap": {"@none": NULL}},
                                          "lanes": {"type": "ListProperty", "valueList": [NULL]}})
    assert r.status_code == 204, r.text
    merged = modified_at(api)
    got = temporal(api, timeproperty="deletedAt", options="temporalValues")
    assert got["refDevice"] == {"type": "Relationship", "objects": [[NULL, patched]]}
    assert got["label"] == {"type": "LanguageProperty", "languageMaps": [[{"@none": NULL}, merged]]}
    assert got["lanes"] == {"type": "ListProperty", "valueLists": [[[NULL], merged]]}
    normalized = temporal(api, timeproperty="deletedAt")
    assert without_ids(normalized["refDevice"]) == [{"type": "Relationship", "object": NULL}]
    assert without_ids(normalized["label"]) == [{"type": "LanguageProperty", "languageMap": {"@none": NULL}}]
    assert set(normalized) == {"id", "type", "refDevice", "label", "lanes"}


def test_replacing_the_entity_records_the_attributes_it_drops(api: httpx.Client) -> None:
    assert api.post("/entities", json=counter()).status_code == 201
    r = api.put(f"/entities/{E}", json={"type": "TrafficFlowObserved",
                                        "name": {"type": "Property", "value": "renamed", "observedAt": T1}})
    assert r.status_code == 204, r.text
    at = modified_at(api)
    deleted = temporal(api, timeproperty="deletedAt", options="temporalValues")
    assert deleted == {"id": E, "type": "TrafficFlowObserved",
                       "intensity": {"type": "Property", "values": [[NULL, at], [NULL, at]]},
                       "refDevice": {"type": "Relationship", "objects": [[NULL, at]]},
                       "label": {"type": "LanguageProperty", "languageMaps": [[{"@none": NULL}, at]]},
                       "lanes": {"type": "ListProperty", "valueLists": [[[NULL], at]]}}
    assert [i["value"] for i in temporal(api)["name"]] == ["counter 1", "renamed"]
    # Batch upsert with replace (the default) drops attributes the same way.
    r = api.post("/entityOperations/upsert", json=[{"id": E, "type": "TrafficFlowObserved",
                                                     "intensity": {"type": "Property", "value": 1}}])
    assert r.status_code == 204, r.text
    again = modified_at(api)
    assert temporal(api, timeproperty="deletedAt", options="temporalValues", attrs="name")["name"] == {
        "type": "Property", "values": [[NULL, again]]}


def test_deleting_the_entity_keeps_its_temporal_evolution(api: httpx.Client) -> None:
    assert api.post("/entities", json=counter()).status_code == 201
    created = api.get(f"/entities/{E}", params={"options": "sysAttrs"}).json()["createdAt"]
    before = datetime.now(UTC)
    assert api.delete(f"/entities/{E}").status_code == 204
    after = datetime.now(UTC)
    assert api.get(f"/entities/{E}").status_code == 404
    head = temporal(api, options="sysAttrs")
    at = head["deletedAt"]
    assert before <= datetime.fromisoformat(at.replace("Z", "+00:00")) <= after
    assert head["createdAt"] == created and head["modifiedAt"] == at
    # every attribute instance ends with its deletion at the entity's deletedAt; the values stay
    got = temporal(api, timeproperty="deletedAt", options="temporalValues")
    assert got == {"id": E, "type": "TrafficFlowObserved",
                   "intensity": {"type": "Property", "values": [[NULL, at], [NULL, at]]},
                   "refDevice": {"type": "Relationship", "objects": [[NULL, at]]},
                   "label": {"type": "LanguageProperty", "languageMaps": [[{"@none": NULL}, at]]},
                   "lanes": {"type": "ListProperty", "valueLists": [[[NULL], at]]},
                   "name": {"type": "Property", "values": [[NULL, at]]}}
    assert temporal(api, options="temporalValues", attrs="name")["name"]["values"] == [
        ["counter 1", "2026-11-25T10:00:00.000000Z"]]
    listed = api.get("/temporal/entities", params={"type": "TrafficFlowObserved", "options": "sysAttrs"}).json()
    assert [(e["id"], e["deletedAt"]) for e in listed] == [(E, at)]
    # Without sysAttrs no system attribute shows (clause 6.3.11).
    assert "deletedAt" not in temporal(api)
    # Re-created, the entity is no longer deleted; its history goes on.
    assert api.post("/entities", json=counter()).status_code == 201
    head = temporal(api, options="sysAttrs", attrs="name")
    assert "deletedAt" not in head and head["createdAt"] == created
    assert [i["value"] for i in head["name"]] == ["counter 1", "counter 1"]


def test_batch_delete_and_merge_record_deletions(api: httpx.Client) -> None:
    second = {**counter(), "id": "urn:ngsi-ld:TrafficFlowObserved:t2"}
    assert api.post("/entityOperations/create", json=[counter(), second]).status_code == 201
    r = api.post("/entityOperations/merge", json=[{"id": E, "name": {"type": "Property", "value": NULL}}])
    assert r.status_code == 204, r.text
    merged = modified_at(api)
    assert temporal(api, timeproperty="deletedAt", options="temporalValues")["name"] == {
        "type": "Property", "values": [[NULL, merged]]}
    r = api.post("/entityOperations/delete", json=[second["id"], "urn:ngsi-ld:TrafficFlowObserved:none"])
    assert r.status_code == 207, r.text
    head = temporal(api, second["id"], options="sysAttrs", timeproperty="deletedAt")
    assert sorted(head) == ["createdAt", "deletedAt", "id", "intensity", "label", "lanes", "modifiedAt", "name",
                            "refDevice", "type"]
    assert {i["deletedAt"] for i in head["intensity"] + head["name"]} == {head["deletedAt"]}
    assert "deletedAt" not in temporal(api, options="sysAttrs")  # the other one is not deleted


def test_aggregations_and_rollup_ignore_deletions(api: httpx.Client) -> None:
    body = {"id": E, "type": "TrafficFlowObserved",
            "intensity": {"type": "Property", "value": 12, "observedAt": T0}}
    assert api.post("/entities", json=body).status_code == 201
    api.patch(f"/entities/{E}/attrs", json={"intensity": {"type": "Property", "value": 20, "observedAt": T1}})
    assert api.delete(f"/entities/{E}/attrs/intensity").status_code == 204
    window = {"timerel": "between", "timeAt": "2026-11-25T10:00:00Z", "endTimeAt": "2026-11-25T11:00:00Z"}
    # hour 10:00: the two observed values 12 and 20 -> count 2, sum 32, avg 16; the deletion adds nothing
    for period in ("PT1H", "PT30M"):  # the first is answered from the hourly rollup, the second from rows
        got = temporal(api, options="aggregatedValues", aggrMethods="totalCount,sum,avg", aggrPeriodDuration=period,
                       **window)["intensity"]
        assert [b[0] for b in got["totalCount"]] == [2]  # 10:00 and 10:15 share the first bucket of both
        assert [b[0] for b in got["sum"]] == [32.0] and [b[0] for b in got["avg"]] == [16.0]
    # by modification time the values count, not the deletion
    mod = temporal(api, options="aggregatedValues", aggrMethods="totalCount", timeproperty="modifiedAt")
    assert [b[0] for b in mod["intensity"]["totalCount"]] == [2]
    r = api.get(f"/temporal/entities/{E}", params={"options": "aggregatedValues", "aggrMethods": "totalCount",
                                                    "timeproperty": "deletedAt"})
    assert r.status_code == 400 and "deletedAt" in r.json()["detail"]

"""The hourly history rollup: aggregations answered from it equal a plain Python computation over the
raw rows, on both backends, after inserts in several batches and after every kind of history change.

The reference below groups the rows written by the test itself (never the store's output): a bucket
holds the observed, non-deleted rows with origin + k·period <= observedAt < origin + (k+1)·period;
totalCount counts them, the numeric methods use the JSON numbers among their values (booleans and text
excluded), stddev is the population standard deviation (statistics.pstdev).
"""

from __future__ import annotations

import json
import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calanque.store.base import HistoryQuery, HistoryRow

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
ATTRS = ["https://ex.org/temperature", "https://ex.org/status"]
ENTITIES = [f"urn:ngsi-ld:Sensor:{k}" for k in range(3)]
METHODS = ["totalCount", "sum", "avg", "min", "max", "sumsq", "stddev"]
HOUR = 3_600_000_000


def ts(moment: datetime) -> str:
    """Canonical timestamp text."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def random_rows(rng: random.Random, n: int) -> list[HistoryRow]:
    """History rows over 3 days: numbers (ints, floats, negative), text, booleans, deleted and unobserved rows."""
    rows = []
    for i in range(n):
        moment = ORIGIN + timedelta(seconds=rng.randrange(-3_600, 3 * 86_400))
        kind = rng.random()
        if kind < 0.55:
            value: Any = round(rng.uniform(-40, 90), rng.choice([0, 1, 3]))
        elif kind < 0.7:
            value = rng.randrange(-5, 50)
        elif kind < 0.8:
            value = rng.choice(["open", "closed"])
        else:
            value = rng.choice([True, False])
        observed = rng.random() > 0.08
        instance: dict[str, Any] = {"type": "Property", "value": value, "createdAt": ts(moment), "modifiedAt": ts(moment)}
        if observed:
            instance["observedAt"] = ts(moment)
        dataset = rng.choice(["", "", "urn:ngsi-ld:Dataset:b"])
        if dataset:
            instance["datasetId"] = dataset
        rows.append(HistoryRow(
            entity_id=rng.choice(ENTITIES), attr=rng.choice(ATTRS), instance=instance, dataset_id=dataset,
            instance_id=f"urn:ngsi-ld:attribute:instance:{i}", observed_at=ts(moment) if observed else None,
            created_at=ts(moment), modified_at=ts(moment), deleted=rng.random() < 0.05,
        ))
    return rows


def reference(rows: list[HistoryRow], origin: datetime, period: timedelta, start: datetime | None,
              end: datetime | None) -> dict[tuple[str, str], dict[int, dict[str, Any]]]:
    """Aggregate the rows in Python, independently of the store."""
    groups: dict[tuple[str, str], dict[int, list[HistoryRow]]] = {}
    for row in rows:
        if row.deleted or row.observed_at is None:
            continue
        moment = datetime.fromisoformat(row.observed_at.replace("Z", "+00:00"))
        if moment < origin or (start is not None and moment < start) or (end is not None and moment >= end):
            continue
        bucket = (moment - origin) // period
        groups.setdefault((row.entity_id, row.attr), {}).setdefault(bucket, []).append(row)
    out: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for key, buckets in groups.items():
        for bucket, members in buckets.items():
            numbers = [r.instance["value"] for r in members
                       if isinstance(r.instance["value"], int | float) and not isinstance(r.instance["value"], bool)]
            values: dict[str, Any] = {"totalCount": len(members)}
            if numbers:
                values.update(sum=math.fsum(numbers), avg=statistics.fmean(numbers), min=min(numbers),
                              max=max(numbers), sumsq=math.fsum(x * x for x in numbers),
                              stddev=statistics.pstdev(numbers))
            else:
                values.update(dict.fromkeys(["sum", "avg", "min", "max", "sumsq", "stddev"]))
            out.setdefault(key, {})[bucket] = values
    return out


def stored(store: Any, origin: datetime, period: timedelta, start: datetime | None, end: datetime | None,
           methods: list[str] = METHODS) -> dict[tuple[str, str], dict[int, dict[str, Any]]]:
    """What the store's aggregate_history answers, in the reference's shape."""
    query = HistoryQuery(entity_ids=ENTITIES, attrs=ATTRS, start=ts(start) if start else None,
                         end=ts(end) if end else None)
    with store.session() as s:
        answer = s.aggregate_history("", query, origin=ts(origin), period_us=int(period / timedelta(microseconds=1)),
                                     methods=methods)
    return {key: {b: {m: values[m][i] for m in methods} for i, b in enumerate(indexes)}
            for key, (indexes, values) in answer.items()}


def assert_same(got: dict, expected: dict, methods: list[str] = METHODS) -> None:
    """Counts, min and max exactly; sums, means and deviations up to float summation order."""
    assert got.keys() == expected.keys()
    for key in expected:
        assert got[key].keys() == expected[key].keys(), key
        for bucket, values in expected[key].items():
            for m in methods:
                want, have = values[m], got[key][bucket][m]
                if want is None or m in ("totalCount", "min", "max"):
                    assert have == want, (key, bucket, m)
                else:
                    assert math.isclose(have, want, rel_tol=1e-9, abs_tol=1e-6), (key, bucket, m, have, want)


WINDOWS = [
    # (origin, period, start, end): aligned on hours, so the rollup answers
    (ORIGIN, timedelta(hours=1), ORIGIN, ORIGIN + timedelta(days=3)),
    (ORIGIN, timedelta(hours=3), ORIGIN, ORIGIN + timedelta(days=2)),
    (ORIGIN - timedelta(hours=1), timedelta(days=1), None, None),
    (ORIGIN + timedelta(hours=5), timedelta(hours=2), ORIGIN + timedelta(hours=5), ORIGIN + timedelta(hours=30)),
]


def write(store: Any, rows: list[HistoryRow], batches: int) -> None:
    """Write the rows in several transactions, so that rollup hours are merged across batches."""
    size = math.ceil(len(rows) / batches)
    for first in range(0, len(rows), size):
        with store.session(write=True) as s:
            s.add_history("", rows[first : first + size])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollup_answers_equal_the_raw_rows(store: Any, seed: int) -> None:
    """Hour-aligned aggregations (answered from the rollup) match the Python reference."""
    rows = random_rows(random.Random(seed), 1_500)
    write(store, rows, batches=4)
    for origin, period, start, end in WINDOWS:
        assert_same(stored(store, origin, period, start, end), reference(rows, origin, period, start, end))


def test_unaligned_windows_and_distinct_count_still_read_raw_rows(store: Any) -> None:
    """Windows not on whole hours, and distinctCount, are answered from the raw rows, and agree too."""
    rows = random_rows(random.Random(9), 800)
    write(store, rows, batches=2)
    origin = ORIGIN + timedelta(minutes=30)
    assert_same(stored(store, origin, timedelta(hours=1), origin, origin + timedelta(days=1)),
                reference(rows, origin, timedelta(hours=1), origin, origin + timedelta(days=1)))
    got = stored(store, ORIGIN, timedelta(hours=6), ORIGIN, None, ["distinctCount", "avg"])
    expected = reference(rows, ORIGIN, timedelta(hours=6), ORIGIN, None)
    for key, buckets in expected.items():
        for bucket, values in buckets.items():
            # distinct stored JSON values (so 79 and 79.0 are two values, as the store has always counted)
            members = {json.dumps(r.instance["value"])
                       for r in rows if not r.deleted and r.observed_at and (r.entity_id, r.attr) == key
                       and (datetime.fromisoformat(r.observed_at.replace("Z", "+00:00")) - ORIGIN)
                       // timedelta(hours=6) == bucket
                       and datetime.fromisoformat(r.observed_at.replace("Z", "+00:00")) >= ORIGIN}
            assert got[key][bucket]["distinctCount"] == len(members)
            if values["avg"] is None:
                assert got[key][bucket]["avg"] is None
            else:
                assert math.isclose(got[key][bucket]["avg"], values["avg"], rel_tol=1e-9)


def test_rollup_follows_history_changes(store: Any) -> None:
    """Deleting instances, a dataset, an attribute or a temporal entity, and rewriting an instance,
    keep rollup answers equal to the reference over the remaining rows."""
    rng = random.Random(5)
    rows = random_rows(rng, 1_200)
    write(store, rows, batches=3)
    check = lambda: [assert_same(stored(store, o, p, s, e), reference(rows, o, p, s, e))  # noqa: E731
                     for o, p, s, e in WINDOWS[:2]]

    victims = rng.sample([r for r in rows if r.observed_at], 40)
    with store.session(write=True) as s:
        for r in victims:
            assert s.delete_history("", r.entity_id, r.attr, instance_id=r.instance_id) == 1
    rows = [r for r in rows if r not in victims]
    check()

    with store.session(write=True) as s:
        s.delete_history("", ENTITIES[0], ATTRS[0], dataset_id="urn:ngsi-ld:Dataset:b")
    rows = [r for r in rows if not (r.entity_id == ENTITIES[0] and r.attr == ATTRS[0]
                                    and r.dataset_id == "urn:ngsi-ld:Dataset:b")]
    check()

    # rewrite instances: a number becomes text, text becomes a number, an unobserved row gets observedAt
    changed = [r for r in rows if not r.deleted][:30] + [r for r in rows if r.observed_at is None and not r.deleted][:5]
    with store.session(write=True) as s:
        for r in changed:
            value = "now text" if isinstance(r.instance["value"], int | float) else 12.5
            stamp = r.observed_at or r.created_at
            new = {**r.instance, "value": value, "observedAt": stamp, "modifiedAt": ts(ORIGIN + timedelta(days=9))}
            assert s.update_history_instance("", r.entity_id, r.attr, r.instance_id, new)
            r.instance, r.observed_at = new, stamp
    check()

    with store.session(write=True) as s:
        s.delete_history("", ENTITIES[1], ATTRS[1])
        s.upsert_temporal_entities("", [{"id": ENTITIES[2], "type": ["https://ex.org/Sensor"],
                                         "createdAt": ts(ORIGIN), "modifiedAt": ts(ORIGIN)}])
        assert s.delete_temporal_entity("", ENTITIES[2])
    rows = [r for r in rows if not (r.entity_id == ENTITIES[1] and r.attr == ATTRS[1]) and r.entity_id != ENTITIES[2]]
    check()

    # rows written again after the deletions are counted from zero, not on top of stale hours
    again = random_rows(random.Random(6), 300)
    write(store, again, batches=1)
    rows += again
    check()

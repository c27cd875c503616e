"""The hourly series summaries (attr_rollup, calanque.store.rollup) equal a plain Python computation over the
raw rows, on both backends: whatever the order the rows arrive in (late rows inside an hour, rows before
an hour's first sample), after deletions and rewrites, after the migration's back-fill; and a reader that
combines summaries with raw ranges gets exactly the samples of read_series.

The reference below is computed from the rows the test wrote (never from the store): per entity,
attribute, UTC hour and datasetId, over the numeric samples in time order, the first and last sample,
the shortest and longest step, the counter increase (a decrease counts the new reading, a reset),
the trapezoid integral and the time each value ends (the histogram).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from calanque.store.base import HistoryRow
from calanque.store.rollup import HIST_DTYPE, HIST_MAX

ORIGIN = datetime(2026, 3, 28, 20, tzinfo=UTC)  # the night of the spring DST change in Europe
HOUR = 3_600_000_000
ENTITIES = [f"urn:ngsi-ld:Sensor:{k}" for k in range(2)]
ATTRS = ["https://ex.org/level", "https://ex.org/energy"]
DATASETS = ["", "urn:ngsi-ld:Dataset:in"]


def ts(us: int) -> str:
    """Canonical timestamp text of epoch microseconds."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def us(moment: datetime) -> int:
    """Epoch microseconds."""
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def make_row(i: int, entity: str, attr: str, dataset: str, at: int, value: Any, *, observed: bool = True,
             deleted: bool = False) -> HistoryRow:
    """One history row."""
    instance: dict[str, Any] = {"type": "Property", "value": value, "createdAt": ts(at), "modifiedAt": ts(at)}
    if observed:
        instance["observedAt"] = ts(at)
    if dataset:
        instance["datasetId"] = dataset
    return HistoryRow(entity_id=entity, attr=attr, instance=instance, dataset_id=dataset,
                      instance_id=f"urn:ngsi-ld:attribute:instance:{i}", observed_at=ts(at) if observed else None,
                      created_at=ts(at), modified_at=ts(at), deleted=deleted)


def random_rows(rng: random.Random, per_series: int, first_id: int = 0) -> list[HistoryRow]:
    """Rows of every (entity, attribute, dataset) over 10 hours: distinct times per series, numbers on a
    0.5 grid (so values repeat), a few texts, unobserved and deleted rows, and counter resets."""
    rows = []
    i = first_id
    for entity in ENTITIES:
        for attr in ATTRS:
            for dataset in DATASETS:
                times = sorted(rng.sample(range(0, 10 * 3_600, 7), per_series))
                level = 50.0
                for second in times:
                    kind = rng.random()
                    if kind < 0.85:
                        level = max(0.0, level + rng.choice([-3, -1, 0, 0.5, 1, 2]) if rng.random() > 0.03 else 1.5)
                        value: Any = level
                    elif kind < 0.9:
                        value = rng.randrange(0, 80)
                    else:
                        value = "text"
                    rows.append(make_row(i, entity, attr, dataset, us(ORIGIN) + second * 1_000_000, value,
                                         observed=rng.random() > 0.04, deleted=rng.random() < 0.04))
                    i += 1
    return rows


def reference(rows: list[HistoryRow]) -> dict[tuple[str, str, int, str], dict[str, Any]]:
    """The expected rollup rows, computed from the rows themselves."""
    groups: dict[tuple[str, str, int, str], list[HistoryRow]] = defaultdict(list)
    for r in rows:
        if r.deleted or r.observed_at is None:
            continue
        at = us(datetime.fromisoformat(r.observed_at.replace("Z", "+00:00")))
        groups[(r.entity_id, r.attr, at // HOUR * HOUR, r.dataset_id)].append(r)
    out = {}
    for key, members in groups.items():
        samples = sorted(
            (us(datetime.fromisoformat(r.observed_at.replace("Z", "+00:00"))), float(r.instance["value"]))  # type: ignore[union-attr]
            for r in members
            if isinstance(r.instance["value"], int | float) and not isinstance(r.instance["value"], bool)
        )
        expected: dict[str, Any] = {"n_rows": len(members), "n_num": len(samples)}
        if samples:
            values = [v for _, v in samples]
            pairs = list(zip(samples, samples[1:]))
            steps = [b[0] - a[0] for a, b in pairs]
            hist: dict[float, int] = defaultdict(int)
            for (ta, _), (tb, vb) in pairs:
                hist[vb] += tb - ta
            expected.update(
                s=math.fsum(values), sq=math.fsum(v * v for v in values), mn=min(values), mx=max(values),
                t0=samples[0][0], v0=samples[0][1], t1=samples[-1][0], v1=samples[-1][1],
                dmin=min(steps) if steps else None, dmax=max(steps) if steps else None,
                inc=math.fsum((b[1] - a[1]) if b[1] >= a[1] else b[1] for a, b in pairs),
                trap=math.fsum((a[1] + b[1]) / 2 * (b[0] - a[0]) / 1e6 for a, b in pairs),
                hist=dict(hist) if len(hist) <= HIST_MAX else None,
            )
        out[key] = expected
    return out


COLUMNS = ["n_rows", "n_num", "s", "sq", "mn", "mx", "t0", "v0", "t1", "v1", "dmin", "dmax", "inc", "trap", "hist"]


def stored(store: Any) -> dict[tuple[str, str, int, str], dict[str, Any]]:
    """The rollup rows as stored."""
    with store.session() as s:
        rows = s.conn.execute(
            f"SELECT r.entity_id, r.attr, r.hour, r.dataset_id, {', '.join('r.' + c for c in COLUMNS[:-1])}, x.hist "
            "FROM attr_rollup r JOIN attr_rollup_hist x ON (x.tenant, x.entity_id, x.attr, x.hour, x.dataset_id) = "
            "(r.tenant, r.entity_id, r.attr, r.hour, r.dataset_id) WHERE r.tenant = ''"
        ).fetchall()
        assert s.conn.execute("SELECT count(*) FROM attr_rollup_hist").fetchone()[0] == len(rows)
    out = {}
    for row in rows:
        values = dict(zip(COLUMNS, row[4:]))
        if values["hist"] is not None:  # entries (value, µs); a value may repeat: durations add up
            pairs = np.frombuffer(bytes(values["hist"]), dtype=HIST_DTYPE)
            hist: dict[float, int] = defaultdict(int)
            for value, spent in zip(pairs["v"].tolist(), pairs["d"].tolist()):
                hist[value] += spent
            values["hist"] = dict(hist)
        out[tuple(row[:4])] = values
    return out


def assert_rollup(store: Any, rows: list[HistoryRow]) -> None:
    """The stored rollup equals the reference: integers and first/last values exactly, sums up to rounding."""
    got, expected = stored(store), reference(rows)
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        have = got[key]
        assert (have["n_rows"], have["n_num"]) == (want["n_rows"], want["n_num"]), key
        if not want["n_num"]:
            assert have["s"] is None and have["t0"] is None, key
            continue
        for name in ("mn", "mx", "t0", "v0", "t1", "v1", "dmin", "dmax", "hist"):
            assert have[name] == want[name], (key, name, have[name], want[name])
        for name in ("s", "sq", "inc", "trap"):
            assert math.isclose(have[name], want[name], rel_tol=1e-12, abs_tol=1e-9), (key, name)


def write(store: Any, rows: list[HistoryRow], batches: int) -> None:
    """Write rows in several transactions."""
    size = max(1, math.ceil(len(rows) / batches))
    for first in range(0, len(rows), size):
        with store.session(write=True) as s:
            s.add_history("", rows[first : first + size])


@pytest.mark.parametrize("order", ["in order", "reversed", "shuffled"])
def test_rollup_equals_the_raw_rows_whatever_the_arrival_order(store: Any, order: str) -> None:
    """Rows arriving in time order merge by appending, in reverse order by prepending, shuffled (late rows
    inside an hour) by summarising the hour again: the result is the same."""
    rng = random.Random(len(order))
    rows = random_rows(rng, 300)
    arrival = sorted(rows, key=lambda r: r.created_at)
    if order == "reversed":
        arrival.reverse()
    elif order == "shuffled":
        rng.shuffle(arrival)
    write(store, arrival, batches=25)
    assert_rollup(store, rows)


def test_rollup_follows_deletions_and_rewrites(store: Any) -> None:
    """Deleting instances, a dataset, an attribute or a temporal entity, and rewriting an instance,
    keep every summary equal to the reference over the remaining rows; rows written again later too."""
    rng = random.Random(7)
    rows = random_rows(rng, 250)
    write(store, rows, batches=4)
    victims = rng.sample([r for r in rows if r.observed_at and not r.deleted], 60)
    with store.session(write=True) as s:
        for r in victims:
            assert s.delete_history("", r.entity_id, r.attr, instance_id=r.instance_id) == 1
    rows = [r for r in rows if r not in victims]
    assert_rollup(store, rows)

    with store.session(write=True) as s:
        s.delete_history("", ENTITIES[0], ATTRS[0], dataset_id=DATASETS[1])
    rows = [r for r in rows if (r.entity_id, r.attr, r.dataset_id) != (ENTITIES[0], ATTRS[0], DATASETS[1])]
    assert_rollup(store, rows)

    # a number becomes another number or text, text becomes a number, an unobserved row gets observedAt
    changed = [r for r in rows if not r.deleted][:40] + [r for r in rows if r.observed_at is None][:5]
    with store.session(write=True) as s:
        for k, r in enumerate(changed):
            value: Any = "now text" if k % 3 == 0 else float(k % 7)
            stamp = r.observed_at or r.created_at
            new = {**r.instance, "value": value, "observedAt": stamp}
            assert s.update_history_instance("", r.entity_id, r.attr, r.instance_id, new)
            r.instance, r.observed_at = new, stamp
    assert_rollup(store, rows)

    with store.session(write=True) as s:
        s.delete_history("", ENTITIES[1], ATTRS[1])
        s.upsert_temporal_entities("", [{"id": ENTITIES[0], "type": ["https://ex.org/Sensor"],
                                         "createdAt": ts(us(ORIGIN)), "modifiedAt": ts(us(ORIGIN))}])
        assert s.delete_temporal_entity("", ENTITIES[0])
    rows = [r for r in rows if (r.entity_id, r.attr) != (ENTITIES[1], ATTRS[1]) and r.entity_id != ENTITIES[0]]
    assert_rollup(store, rows)

    again = random_rows(random.Random(8), 120, first_id=100_000)
    write(store, again, batches=3)
    rows += again  # the same hours again: merged into what is left (interleaving: summarised again)
    assert_rollup(store, rows)


def test_ties_and_many_distinct_values(store: Any) -> None:
    """Two samples at one time make the shortest step 0 (readers then read the raw rows); an hour with more
    than HIST_MAX distinct values keeps no histogram, and keeps none when more samples come."""
    base = us(ORIGIN)
    rows = [make_row(0, ENTITIES[0], ATTRS[0], "", base + 10_000_000, 1.0),
            make_row(1, ENTITIES[0], ATTRS[0], "", base + 10_000_000, 2.0),
            make_row(2, ENTITIES[0], ATTRS[0], "", base + 20_000_000, 3.0)]
    rows += [make_row(10 + k, ENTITIES[1], ATTRS[0], "", base + k * 1_000_000, 0.25 * k) for k in range(HIST_MAX + 5)]
    write(store, rows[:3], 1)
    write(store, rows[3:], 7)
    summaries = stored(store)
    assert summaries[(ENTITIES[0], ATTRS[0], base // HOUR * HOUR, "")]["dmin"] == 0
    many = summaries[(ENTITIES[1], ATTRS[0], base // HOUR * HOUR, "")]
    assert many["hist"] is None and many["n_num"] == HIST_MAX + 5 and many["dmax"] == 1_000_000
    write(store, [make_row(500, ENTITIES[1], ATTRS[0], "", base + 3_000_000_000, 1.0)], 1)
    assert stored(store)[(ENTITIES[1], ATTRS[0], base // HOUR * HOUR, "")]["hist"] is None
    # one batch holding too many values, appended to an hour that kept its histogram until then
    more = [make_row(1000 + k, ENTITIES[0], ATTRS[1], "", base + k * 1_000_000, 0.5 * k) for k in range(3)]
    write(store, more, 1)
    assert stored(store)[(ENTITIES[0], ATTRS[1], base // HOUR * HOUR, "")]["hist"] is not None
    more += [make_row(2000 + k, ENTITIES[0], ATTRS[1], "", base + (10 + k) * 1_000_000, 0.25 * k)
             for k in range(HIST_MAX + 2)]
    write(store, more[3:], 1)
    assert stored(store)[(ENTITIES[0], ATTRS[1], base // HOUR * HOUR, "")]["hist"] is None
    assert_rollup(store, rows + [make_row(500, ENTITIES[1], ATTRS[0], "", base + 3_000_000_000, 1.0)] + more)


def test_backfill_rebuilds_the_maintained_rollup(store: Any) -> None:
    """The migration's back-fill (rebuild_rollup) computes the same summaries as the ones maintained on write."""
    rows = random_rows(random.Random(11), 200)
    shuffled = rows[:]
    random.Random(12).shuffle(shuffled)
    write(store, shuffled, batches=9)
    maintained = stored(store)
    with store.session(write=True) as s:
        assert s.rebuild_rollup() == len(maintained) > 0
    assert stored(store).keys() == maintained.keys()
    assert_rollup(store, rows)


def test_summaries_and_raw_ranges_give_the_samples_of_read_series(store: Any) -> None:
    """read_rollup over whole hours plus read_series_in over the other ranges hold exactly the samples of
    read_series: their count, first and last, sums per hour."""
    rows = random_rows(random.Random(3), 400)
    write(store, rows, batches=5)
    base = us(ORIGIN)
    start, end = base + 1_234_000_000, base + 9 * HOUR + 777_000_000
    for entity in ENTITIES:
        for dataset in DATASETS:
            with store.session() as s:
                whole = s.read_series("", entity, ATTRS[0], start, end, dataset_id=dataset)
                first_hour = -(-start // HOUR) * HOUR
                last_hour = end // HOUR * HOUR
                hours = s.read_rollup("", entity, ATTRS[0], first_hour, last_hour, dataset_id=dataset)
                odd = [h for h in hours.hour.tolist() if h // HOUR % 3 == 0]  # read some whole hours raw too
                kept = hours.take(~np.isin(hours.hour, odd))
                raw = s.read_series_in("", entity, ATTRS[0], [(start, first_hour), *[(h, h + HOUR) for h in odd],
                                                             (last_hour, end)], dataset_id=dataset)
            assert [t for t, _ in raw] == sorted(t for t, _ in raw)
            assert len(raw) + int(kept.n.sum()) == len(whole)
            by_hour: dict[int, list[tuple[int, float]]] = defaultdict(list)
            for t, v in whole:
                by_hour[t // HOUR * HOUR].append((t, v))
            for k, h in enumerate(kept.hour.tolist()):
                samples = by_hour.pop(h)
                assert (kept.t0[k], kept.v0[k], kept.t1[k], kept.v1[k]) == (*samples[0], *samples[-1])
                assert math.isclose(kept.s[k], math.fsum(v for _, v in samples), rel_tol=1e-12, abs_tol=1e-9)
            assert sorted(t for samples in by_hour.values() for t, _ in samples) == [t for t, _ in raw]


def test_last_n_of_named_attributes(store: Any) -> None:
    """read_history's last N instances per (entity, attribute), read one indexed range each when the
    attributes are named, are the N most recent rows of each, in ascending time, within the window."""
    from calanque.store.base import HistoryQuery

    rows = random_rows(random.Random(21), 120)
    times: dict[tuple[str, str, str], int] = defaultdict(int)
    for r in rows:
        times[(r.entity_id, r.attr, r.created_at)] += 1
    rows = [r for r in rows if times[(r.entity_id, r.attr, r.created_at)] == 1]  # no two rows at one time
    write(store, rows, batches=2)
    end = ORIGIN + timedelta(hours=7)
    with store.session() as s:
        got = s.read_history("", HistoryQuery(entity_ids=ENTITIES, attrs=ATTRS, end=ts(us(end)), last_n=3))
    expected = []
    for entity in sorted(ENTITIES):
        for attr in sorted(ATTRS):
            mine = sorted((r for r in rows if (r.entity_id, r.attr) == (entity, attr) and r.observed_at
                           and r.observed_at < ts(us(end))), key=lambda r: r.observed_at)  # type: ignore[arg-type, return-value]
            expected += [r.instance_id for r in mine[-3:]]
    assert [r.instance_id for r in got] == expected


def test_concurrent_writers_of_the_same_hours(store: Any) -> None:
    """Two transactions at a time appending interleaved samples of the same hours (two ingest workers):
    each merges into what the other committed (PostgreSQL row locks, in key order), and the rollup equals
    the reference."""
    from concurrent.futures import ThreadPoolExecutor

    rows = random_rows(random.Random(31), 200)
    streams = [sorted(rows[k::2], key=lambda r: r.created_at) for k in range(2)]

    def run(stream: list[HistoryRow]) -> None:
        write(store, stream, batches=40)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(run, s) for s in streams]:
            done.result()
    assert_rollup(store, rows)

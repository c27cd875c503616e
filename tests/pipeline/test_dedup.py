"""Duplicate detection: network ids, broker redelivery, frame counters across gateways and resets."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from calanque.field.connectors import Uplink, chirpstack, generic
from calanque.pipeline.dedup import DedupIndex, keys_for

FIXTURES = Path(__file__).parent.parent / "field" / "fixtures"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def counter_uplink(f_cnt: int, at: datetime, device: str = "a84041000181c0de") -> Uplink:
    """An uplink with a frame counter and no network id (e.g. two integrations forwarding raw frames)."""
    return Uplink(network="lns", device_key=device, observed_at=at, received_at=at, time_source="gateway",
                  f_port=2, f_cnt=f_cnt, payload=b"\x00")


def test_keys() -> None:
    up = chirpstack.parse_event("up", (FIXTURES / "chirpstack_up_ldds75.json").read_bytes())
    assert isinstance(up, Uplink)
    assert keys_for(up) == ["chirpstack:id:9b1c2f7e-5d3a-4c1e-8f00-1a2b3c4d5e6f",
                            "chirpstack:a84041000181c0de:fcnt:42"]
    pushed = generic.parse_http({"device": "c1", "observedAt": "2026-03-02T08:00:00Z", "measurements": {"n": 1}})
    assert keys_for(pushed) == ["http:c1:at:2026-03-02T08:00:00.000000Z"]
    assert keys_for(generic.parse_http({"device": "c1", "measurements": {"n": 1}})) == []


def test_same_deduplication_id_from_two_gateways_and_broker_redelivery() -> None:
    body = json.loads((FIXTURES / "chirpstack_up_ldds75.json").read_text())
    index = DedupIndex()
    first = chirpstack.parse_event("up", orjson.dumps(body))
    assert isinstance(first, Uplink)
    assert index.check_and_record(first) is False
    # the same frame forwarded with only the other gateway's reception: same deduplicationId
    other = dict(body, rxInfo=body["rxInfo"][1:])
    second = chirpstack.parse_event("up", orjson.dumps(other))
    assert isinstance(second, Uplink)
    assert index.check_and_record(second) is True
    # the MQTT broker redelivers the original message (QoS 1) a minute later
    again = chirpstack.parse_event("up", orjson.dumps(body), received_at=datetime.now(UTC) + timedelta(minutes=1))
    assert isinstance(again, Uplink)
    assert index.check_and_record(again) is True
    # the next frame is new
    nxt = chirpstack.parse_event("up", orjson.dumps(dict(body, fCnt=43, deduplicationId="other-id",
                                                         time="2026-03-02T08:25:00Z", rxInfo=[])))
    assert isinstance(nxt, Uplink)
    assert index.check_and_record(nxt) is False


def test_counter_copies_across_gateways_are_duplicates() -> None:
    index = DedupIndex()
    assert index.check_and_record(counter_uplink(7, T0)) is False
    # a second gateway timestamps the same frame 0.4 s later: within the 120 s tolerance
    assert index.check_and_record(counter_uplink(7, T0 + timedelta(milliseconds=400))) is True
    assert index.check_and_record(counter_uplink(7, T0, device="other")) is False


def test_fcnt_reset_after_a_gap_is_a_new_session() -> None:
    index = DedupIndex()
    for n in range(0, 50):
        assert index.check_and_record(counter_uplink(n, T0 + timedelta(minutes=10 * n))) is False
    # the device rejoins: its counter restarts at 0, 9 hours after its last uplink (n=49 at +490 min)
    restart = T0 + timedelta(minutes=490 + 540)
    assert index.check_and_record(counter_uplink(0, restart)) is False
    assert index.check_and_record(counter_uplink(1, restart + timedelta(minutes=10))) is False
    # and a copy of the new fCnt 0 is again a duplicate
    assert index.check_and_record(counter_uplink(0, restart + timedelta(seconds=2))) is True


def test_tolerance_boundary() -> None:
    index = DedupIndex(counter_tolerance=timedelta(seconds=30))
    index.record(counter_uplink(5, T0))
    assert index.is_duplicate(counter_uplink(5, T0 + timedelta(seconds=30))) is True
    assert index.is_duplicate(counter_uplink(5, T0 + timedelta(seconds=31))) is False
    # is_duplicate does not record
    assert index.is_duplicate(counter_uplink(6, T0)) is False
    assert index.is_duplicate(counter_uplink(6, T0)) is False


def test_bounded_window_evicts_oldest() -> None:
    index = DedupIndex(capacity=3)
    ups = [counter_uplink(n, T0 + timedelta(seconds=n)) for n in range(4)]
    for up in ups:
        index.record(up)
    assert len(index) == 3
    assert index.is_duplicate(ups[0]) is False  # evicted
    assert all(index.is_duplicate(up) for up in ups[1:])


def test_state_round_trip_through_json() -> None:
    index = DedupIndex(capacity=10, counter_tolerance=timedelta(seconds=45))
    up = counter_uplink(9, T0)
    index.record(up)
    index.record(replace(up, network="tts", dedup_id="as:up:01ABC", f_cnt=10))
    state = json.loads(json.dumps(index.to_state()))
    restored = DedupIndex.from_state(state)
    assert (restored.capacity, restored.counter_tolerance, len(restored)) == (10, timedelta(seconds=45), 3)
    assert restored.is_duplicate(counter_uplink(9, T0 + timedelta(seconds=45))) is True
    assert restored.is_duplicate(counter_uplink(9, T0 + timedelta(seconds=46))) is False
    assert restored.is_duplicate(replace(up, network="tts", dedup_id="as:up:01ABC", f_cnt=None)) is True


def test_invalid_state_is_rejected() -> None:
    for bad in ({}, {"version": 1, "capacity": 5}, {"version": 1, "capacity": 5, "counterToleranceSeconds": 1,
                                                   "entries": [[1, 2]]}):
        try:
            DedupIndex.from_state(bad)
        except ValueError as err:
            assert "dedup index state" in str(err)
        else:
            raise AssertionError(f"state {bad} was accepted")

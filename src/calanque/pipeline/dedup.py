"""Duplicate-uplink detection with a bounded memory window and a persistable state.

An uplink can arrive more than once: heard by several gateways (when the network server
does not deduplicate, or two integrations forward the same frame), or redelivered by an
MQTT broker / HTTP retry. :func:`keys_for` gives an uplink's keys:

* ``{network}:id:{dedup_id}`` — the network's own id (ChirpStack ``deduplicationId``, The
  Things Stack ``as:up:`` correlation id). The same id is always the same uplink.
* ``{network}:{device}:fcnt:{fCnt}`` — the frame counter of a LoRaWAN uplink.
* ``{network}:{device}:at:{observedAt}`` — for messages without a counter, when the time
  was written in the message itself (a redelivered generic message carries the same time).

Frame counter rule: counters restart (at 0 or 1) when a device rejoins or reboots, so a
repeated fCnt is not always a duplicate. Copies of one frame carry the same gateway or
network time (within seconds across gateways), while a new session reaches an old fCnt
only after a gap. An fCnt key therefore marks a duplicate only when the stored time and
the new uplink's ``observed_at`` differ by at most ``counter_tolerance`` (default 120 s);
a lower or equal fCnt seen later than that is a new session and replaces the stored entry.
Id and time keys match regardless of time.

The index keeps the ``capacity`` most recently recorded keys (least-recently-seen first
out). :meth:`DedupIndex.to_state` / :meth:`DedupIndex.from_state` give a JSON form, so
worker processes can later share the index through the store.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import timedelta
from typing import Any

from calanque.field.connectors.model import Uplink
from calanque.ngsild.canonical import format_ts

DEFAULT_CAPACITY = 100_000
DEFAULT_COUNTER_TOLERANCE = timedelta(seconds=120)
_STATE_VERSION = 1


def keys_for(uplink: Uplink) -> list[str]:
    """Return the dedup keys of ``uplink`` (see the module docstring), most specific first."""
    keys: list[str] = []
    if uplink.dedup_id:
        keys.append(f"{uplink.network}:id:{uplink.dedup_id}")
    if uplink.f_cnt is not None:
        keys.append(f"{uplink.network}:{uplink.device_key}:fcnt:{uplink.f_cnt}")
    elif uplink.time_source == "message":
        keys.append(f"{uplink.network}:{uplink.device_key}:at:{format_ts(uplink.observed_at)}")
    return keys


def _is_counter_key(key: str) -> bool:
    """True for a frame-counter key, which matches only within the time tolerance."""
    return ":fcnt:" in key


class DedupIndex:
    """Remembers recent uplink keys and says whether a new uplink was already seen."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY,
                 counter_tolerance: timedelta = DEFAULT_COUNTER_TOLERANCE) -> None:
        """Keep at most ``capacity`` keys; fCnt keys match within ``counter_tolerance``."""
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if counter_tolerance < timedelta(0):
            raise ValueError("counter_tolerance must not be negative")
        self.capacity = capacity
        self.counter_tolerance = counter_tolerance
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        """Number of keys currently remembered."""
        return len(self._seen)

    def keys_for(self, uplink: Uplink) -> list[str]:
        """Return the dedup keys of ``uplink`` (same as the module function)."""
        return keys_for(uplink)

    def is_duplicate(self, uplink: Uplink) -> bool:
        """True when one of the uplink's keys was already recorded (fCnt keys: within the tolerance)."""
        at = uplink.observed_at.timestamp()
        tolerance = self.counter_tolerance.total_seconds()
        for key in keys_for(uplink):
            stored = self._seen.get(key)
            if stored is None:
                continue
            if not _is_counter_key(key) or abs(at - stored) <= tolerance:
                return True
        return False

    def record(self, uplink: Uplink) -> None:
        """Remember the uplink's keys, evicting the oldest keys beyond the capacity."""
        at = uplink.observed_at.timestamp()
        for key in keys_for(uplink):
            self._seen[key] = at
            self._seen.move_to_end(key)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def check_and_record(self, uplink: Uplink) -> bool:
        """Return True if ``uplink`` is a duplicate; otherwise record it and return False."""
        if self.is_duplicate(uplink):
            return True
        self.record(uplink)
        return False

    def to_state(self) -> dict[str, Any]:
        """Return a JSON-serialisable copy of the index (keys oldest first with their epoch times)."""
        return {
            "version": _STATE_VERSION,
            "capacity": self.capacity,
            "counterToleranceSeconds": self.counter_tolerance.total_seconds(),
            "entries": [[key, at] for key, at in self._seen.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DedupIndex:
        """Rebuild an index from :meth:`to_state` output; ValueError when the state is not one."""
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise ValueError(f"not a dedup index state of version {_STATE_VERSION}")
        try:
            index = cls(int(state["capacity"]), timedelta(seconds=float(state["counterToleranceSeconds"])))
            for key, at in state["entries"]:
                if not isinstance(key, str):
                    raise TypeError("entry key must be a string")
                index._seen[key] = float(at)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"invalid dedup index state: {err}") from None
        while len(index._seen) > index.capacity:
            index._seen.popitem(last=False)
        return index

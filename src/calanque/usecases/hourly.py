"""Long series read through the store's hourly summaries, with raw samples only where those cannot serve.

A year of 1-minute samples is 525 600 rows but 8 760 hourly summaries (:class:`HourlyRollup`,
maintained by the store on every write, :mod:`calanque.store.rollup`). :func:`read_hybrid` gives a
use case, for a window [start, end), the summaries of the whole hours inside it that the use case
can compute from (its ``usable`` test: no two samples at one time, steps short enough, no negative
count...) and the raw samples of everything else: the partial hours at the window's edges and the
hours it refused. Together they stand for exactly the samples :meth:`Session.read_series` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain

import numpy as np

from calanque.store.base import HourlyRollup, Session
from calanque.store.rollup import HIST_DTYPE, HOUR_US

Usable = Callable[[HourlyRollup], np.ndarray]


@dataclass(frozen=True, slots=True)
class HybridSeries:
    """Raw samples (epoch µs, values, time-ordered) and the summaries of the other hours of a window."""

    times: np.ndarray
    values: np.ndarray
    hours: HourlyRollup

    @property
    def samples(self) -> int:
        """How many samples the window holds (raw ones plus those the summaries stand for)."""
        return int(self.times.size) + int(self.hours.n.sum())


def no_ties(hours: HourlyRollup) -> np.ndarray:
    """Hours whose samples all have distinct times (the order of samples sharing a time is not kept)."""
    return (hours.dmin > 0) | (hours.n == 1)


def with_hist(hours: HourlyRollup) -> np.ndarray:
    """Hours that kept their value histogram."""
    return np.array([h is not None for h in hours.hist], dtype=bool)


def crossing(hours: HourlyRollup, cuts: np.ndarray) -> np.ndarray:
    """Hours strictly containing one of the moments ``cuts`` (epoch µs)."""
    inner = cuts[cuts % HOUR_US != 0]
    return np.isin(hours.hour, inner - inner % HOUR_US)


def read_hybrid(session: Session, tenant: str, entity_id: str, attr: str, start_us: int, end_us: int, *,
                dataset_id: str, usable: Usable | None = None, hist: bool = False) -> HybridSeries:
    """The series of one attribute instance in [start_us, end_us): summaries of the whole hours ``usable``
    accepts (default: every hour without tied samples; ``hist``: with their histograms), raw samples elsewhere."""
    first = -(-start_us // HOUR_US) * HOUR_US
    last = end_us // HOUR_US * HOUR_US
    if first < last:
        hours = session.read_rollup(tenant, entity_id, attr, first, last, dataset_id=dataset_id, hist=hist)
        keep = no_ties(hours) & (usable(hours) if usable is not None else True)
        refused = hours.hour[~keep].tolist()
        hours = hours.take(keep)
    else:
        hours = HourlyRollup.empty()
        first = last = end_us
        refused = []
    ranges: list[list[int]] = []
    for a, b in [(start_us, first), *[(h, h + HOUR_US) for h in refused], (last, end_us)]:
        if b <= a:
            continue
        if ranges and ranges[-1][1] == a:
            ranges[-1][1] = b
        else:
            ranges.append([a, b])
    rows = session.read_series_in(tenant, entity_id, attr, [(a, b) for a, b in ranges], dataset_id=dataset_id)
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.float64, count=2 * len(rows))
    # epoch microseconds (< 2**53 until the year 2255) survive the float64 round trip exactly
    return HybridSeries(flat[0::2].astype(np.int64), flat[1::2], hours)


def hist_entries(hours: HourlyRollup) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every hour's histogram as flat arrays: (index of the hour, value, duration µs), by hour then value."""
    blobs = [h or b"" for h in hours.hist]
    pairs = np.frombuffer(b"".join(blobs), dtype=HIST_DTYPE)
    owner = np.repeat(np.arange(len(blobs)), [len(b) // HIST_DTYPE.itemsize for b in blobs])
    return owner, pairs["v"].astype(np.float64), pairs["d"].astype(np.int64)

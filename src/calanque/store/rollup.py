"""The hourly summary of a stored series: what one hour of one attribute instance holds.

The store keeps, for every (entity, attribute, datasetId, UTC hour) of the observed, non-deleted
history, a summary that the domain services read instead of the raw rows (a *continuous
aggregate*, maintained on every write; ``attr_rollup``). Over the numeric samples of the hour,
in time order ``(t_1, v_1) … (t_n, v_n)``, it holds:

* ``n_rows`` (every row, numbers or not), ``n_num``, the sum, the sum of squares, min and max;
* the first and the last sample, ``(t0, v0)`` and ``(t1, v1)``;
* over the *interior* steps ``(t_{i-1}, v_{i-1}) → (t_i, v_i)``, i = 2…n (the steps inside the
  hour; the step from the previous hour's last sample to this hour's first one is left to the
  reader, who knows both):

  - ``dmin`` and ``dmax``, the shortest and longest step (µs; 0 when two samples share a time),
  - ``inc``, the increase of a cumulative counter: ``v_i − v_{i−1}`` when it grows, else ``v_i``
    (a decrease is a reset to zero), as :func:`calanque.usecases.lighting.energy.energy_from_counter_values`,
  - ``trap``, the trapezoid integral ``Σ (v_{i−1} + v_i) / 2 · (t_i − t_{i−1})`` in value·seconds,
  - ``hist``, the duration-weighted distribution of the values: (value, µs) entries giving for each
    ``v_i`` the steps ending at it, so the time a sample stamped at the end of its interval stands
    for (noise levels). A value may appear in several entries (their durations add up): merging
    two summaries then only appends bytes, and entries are combined by value when they grow
    beyond :data:`HIST_MAX`; ``None`` when the hour holds more distinct values than that (the
    readers then read that hour's raw samples).

Two summaries of one hour whose samples do not interleave merge exactly (an append or a
prepend: the step between them is added, in SQL, :meth:`calanque.store.sql.SqlSession._add_to_rollup`);
interleaved ones (late data inside the hour) cannot, and the hour is summarised again from its
raw rows (:func:`summarize`). Sums equal the raw-row ones up to
floating-point summation order; counts, times, first/last values, min, max and the histogram's
durations are exact.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

HOUR_US = 3_600_000_000
HIST_MAX = 128
HIST_DTYPE = np.dtype([("v", "<f8"), ("d", "<i8")])
# Column order of a summary as stored in attr_rollup (after the key columns tenant, entity_id, attr, hour,
# dataset_id); the histogram is stored apart, in attr_rollup_hist, so that readers of the other columns
# do not read it.
COLUMNS = ("n_rows", "n_num", "s", "sq", "mn", "mx", "t0", "v0", "t1", "v1", "dmin", "dmax", "inc", "trap")


@dataclass(slots=True)
class HourSummary:
    """The summary of one hour of one attribute instance (see the module documentation)."""

    n_rows: int
    n_num: int = 0
    s: float | None = None
    sq: float | None = None
    mn: float | None = None
    mx: float | None = None
    t0: int | None = None
    v0: float | None = None
    t1: int | None = None
    v1: float | None = None
    dmin: int | None = None
    dmax: int | None = None
    inc: float = 0.0
    trap: float = 0.0
    hist: bytes | None = b""

    def row(self) -> tuple[Any, ...]:
        """The stored columns, in :data:`COLUMNS` order."""
        return (self.n_rows, self.n_num, self.s, self.sq, self.mn, self.mx, self.t0, self.v0, self.t1, self.v1,
                self.dmin, self.dmax, self.inc, self.trap)

    @classmethod
    def from_row(cls, row: tuple[Any, ...] | list[Any], hist: bytes | memoryview | None) -> HourSummary:
        """A summary from its stored columns (:data:`COLUMNS` order) and its stored histogram."""
        (n_rows, n_num, s, sq, mn, mx, t0, v0, t1, v1, dmin, dmax, inc, trap) = row
        return cls(int(n_rows), int(n_num), s, sq, mn, mx, t0, v0, t1, v1, dmin, dmax, float(inc or 0.0),
                   float(trap or 0.0), b"" if not n_num else None if hist is None else bytes(hist))


_ENTRY = struct.Struct("<dq")
HIST_ENTRY_BYTES = _ENTRY.size


def encode_hist(hist: dict[float, int]) -> bytes | None:
    """A histogram {value: µs} as stored, (value float64, duration int64) little-endian entries; None when it
    holds more than :data:`HIST_MAX` values."""
    if len(hist) > HIST_MAX:
        return None
    return b"".join(_ENTRY.pack(v, d) for v, d in hist.items())


def hist_entry(value: float, step: int) -> bytes:
    """One histogram entry: ``step`` µs ending at ``value``."""
    return _ENTRY.pack(value, step)


def decode_hist(raw: bytes | memoryview | None) -> dict[float, int] | None:
    """The histogram {value: µs} of stored entries (durations of a repeated value added; None stays None)."""
    if raw is None:
        return None
    out: dict[float, int] = {}
    for value, duration in _ENTRY.iter_unpack(bytes(raw)):
        out[value] = out.get(value, 0) + duration
    return out


def _increase(before: float, after: float) -> float:
    """A counter's increase between two readings; a decrease is a reset, counted from zero."""
    step = after - before
    return step if step >= 0 else after


def summarize(points: list[tuple[int, float]], n_rows: int) -> HourSummary:
    """The summary of one hour from its numeric samples sorted by time, and its count of rows."""
    out = HourSummary(n_rows)
    if not points:
        return out
    if len(points) == 1:  # the common case of live ingestion: one new sample of an hour
        t, v = points[0]
        out.n_num, out.s, out.sq, out.mn, out.mx, out.t0, out.v0, out.t1, out.v1 = 1, v, v * v, v, v, t, v, t, v
        return out
    times = [t for t, _ in points]
    values = [v for _, v in points]
    out.n_num = len(points)
    out.s = sum(values)
    out.sq = sum(v * v for v in values)
    out.mn, out.mx = min(values), max(values)
    out.t0, out.v0, out.t1, out.v1 = times[0], values[0], times[-1], values[-1]
    hist: dict[float, int] = {}
    inc = trap = 0.0
    dmin = dmax = None
    for (ta, va), (tb, vb) in zip(points, points[1:]):
        step = tb - ta
        dmin = step if dmin is None or step < dmin else dmin
        dmax = step if dmax is None or step > dmax else dmax
        inc += _increase(va, vb)
        trap += (va + vb) / 2 * (step / 1e6)
        hist[vb] = hist.get(vb, 0) + step
    out.dmin, out.dmax, out.inc, out.trap = dmin, dmax, inc, trap
    out.hist = encode_hist(hist)
    return out

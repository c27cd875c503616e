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
  - ``hist``, the duration-weighted distribution of the values: for each distinct ``v_i`` the sum
    of the steps ending at it (µs), so the time a sample stamped at the end of its interval
    stands for (noise levels); ``None`` when the hour holds more than :data:`HIST_MAX` distinct
    values (the readers then read that hour's raw samples).

Two summaries of one hour whose samples do not interleave merge exactly (an append or a
prepend: the step between them is added); interleaved ones (late data inside the hour) cannot,
and the hour is summarised again from its raw rows. Sums equal the raw-row ones up to
floating-point summation order; counts, times, first/last values, min, max and the histogram's
durations are exact.
"""

from __future__ import annotations

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
    hist: dict[float, int] | None = None

    def row(self) -> tuple[Any, ...]:
        """The stored columns, in :data:`COLUMNS` order."""
        return (self.n_rows, self.n_num, self.s, self.sq, self.mn, self.mx, self.t0, self.v0, self.t1, self.v1,
                self.dmin, self.dmax, self.inc, self.trap)

    @classmethod
    def from_row(cls, row: tuple[Any, ...] | list[Any], hist: bytes | memoryview | None) -> HourSummary:
        """A summary from its stored columns (:data:`COLUMNS` order) and its stored histogram."""
        (n_rows, n_num, s, sq, mn, mx, t0, v0, t1, v1, dmin, dmax, inc, trap) = row
        return cls(int(n_rows), int(n_num), s, sq, mn, mx, t0, v0, t1, v1, dmin, dmax, float(inc or 0.0),
                   float(trap or 0.0), decode_hist(hist) if n_num else None)


def encode_hist(hist: dict[float, int] | None) -> bytes | None:
    """The histogram as stored: (value float64, duration int64) pairs sorted by value, little-endian."""
    if hist is None:
        return None
    if not hist:
        return b""
    return np.array(sorted(hist.items()), dtype=HIST_DTYPE).tobytes()


def decode_hist(raw: bytes | memoryview | None) -> dict[float, int] | None:
    """The histogram from its stored bytes (None stays None: not kept)."""
    if raw is None:
        return None
    pairs = np.frombuffer(bytes(raw), dtype=HIST_DTYPE)
    return dict(zip(pairs["v"].tolist(), pairs["d"].tolist(), strict=True))


def _increase(before: float, after: float) -> float:
    """A counter's increase between two readings; a decrease is a reset, counted from zero."""
    step = after - before
    return step if step >= 0 else after


def summarize(points: list[tuple[int, float]], n_rows: int) -> HourSummary:
    """The summary of one hour from its numeric samples sorted by time, and its count of rows."""
    out = HourSummary(n_rows)
    if not points:
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
    out.hist = hist if len(hist) <= HIST_MAX else None
    return out


def merge(old: HourSummary, new: HourSummary) -> HourSummary | None:
    """Two summaries of one hour as one, when the samples of one all come after the other's; else None."""
    if not new.n_num or not old.n_num:
        numbers = old if old.n_num else new
        return HourSummary(old.n_rows + new.n_rows, numbers.n_num, numbers.s, numbers.sq, numbers.mn, numbers.mx,
                           numbers.t0, numbers.v0, numbers.t1, numbers.v1, numbers.dmin, numbers.dmax, numbers.inc,
                           numbers.trap, numbers.hist)
    assert old.t0 is not None and old.t1 is not None and new.t0 is not None and new.t1 is not None
    if new.t0 > old.t1:
        first, second = old, new
    elif new.t1 < old.t0:
        first, second = new, old
    else:
        return None
    assert first.t1 is not None and second.t0 is not None
    va, vb, step = first.v1, second.v0, second.t0 - first.t1
    assert va is not None and vb is not None
    steps = [d for d in (first.dmin, second.dmin, step) if d is not None]
    highs = [d for d in (first.dmax, second.dmax, step) if d is not None]
    hist = None
    if first.hist is not None and second.hist is not None:
        hist = dict(first.hist)
        for value, duration in second.hist.items():
            hist[value] = hist.get(value, 0) + duration
        hist[vb] = hist.get(vb, 0) + step
        if len(hist) > HIST_MAX:
            hist = None
    return HourSummary(
        n_rows=first.n_rows + second.n_rows, n_num=first.n_num + second.n_num,
        s=first.s + second.s, sq=first.sq + second.sq,  # type: ignore[operator]
        mn=min(first.mn, second.mn), mx=max(first.mx, second.mx),  # type: ignore[type-var]
        t0=first.t0, v0=first.v0, t1=second.t1, v1=second.v1, dmin=min(steps), dmax=max(highs),
        inc=first.inc + _increase(va, vb) + second.inc,
        trap=first.trap + (va + vb) / 2 * (step / 1e6) + second.trap,
        hist=hist,
    )

"""Request rate limits: one token bucket per identity and per anonymous client address.

The buckets live in each server process, not in the store: a limit that cost a store write on every
request would cost more than the requests it protects (the authorisation check must stay well under
a millisecond). The consequence, stated in docs/security.md: with N worker processes a client can
reach up to N times the configured rate. Login attempts, where the count matters for security, are
counted in the store instead (shared by every process; see calanque.auth.repository).
"""

from __future__ import annotations

import math
import threading
import time


class TokenBuckets:
    """Per-key token buckets refilled continuously at ``per_minute`` tokens a minute, holding as many."""

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token of a key's bucket: 0 when allowed, else the seconds until a token is back."""
        if self.capacity <= 0:
            return 0.0  # a limit of 0 means no limit
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > self.max_keys:
                    self._forget_full(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely (they hold no information)."""
        full = [k for k, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.capacity]
        for k in full:
            del self._buckets[k]


def retry_after(seconds: float) -> str:
    """The Retry-After header value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(seconds)))

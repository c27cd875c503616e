"""Deterministic pseudo-random numbers keyed by tuples (seed, device, slot, …), stable across runs.

Every draw hashes its key with BLAKE2b, so a value depends only on its key: the same device at
the same time gives the same reading whatever the order or the mode of the run.
"""

from __future__ import annotations

import hashlib
import math


def uniform(*key: object) -> float:
    """A number in [0, 1) determined by ``key``."""
    return int.from_bytes(digest(8, *key), "big") / 18446744073709551616.0


def digest(size: int, *key: object) -> bytes:
    """``size`` (1..64) bytes determined by ``key``."""
    return hashlib.blake2b(repr(key).encode(), digest_size=size).digest()


def normal(*key: object) -> float:
    """A standard normal number determined by ``key`` (Box–Muller on two uniforms from one digest)."""
    raw = digest(16, *key, "n")
    u1 = int.from_bytes(raw[:8], "big") / 18446744073709551616.0
    u2 = int.from_bytes(raw[8:], "big") / 18446744073709551616.0
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def poisson(mean: float, *key: object) -> int:
    """A Poisson count of mean ``mean`` determined by ``key`` (normal approximation above 60)."""
    if mean <= 0:
        return 0
    if mean > 60:
        return max(0, round(mean + math.sqrt(mean) * normal(*key)))
    u = uniform(*key)
    k, p = 0, math.exp(-mean)
    cumulative = p
    while u > cumulative and k < 1000:
        k += 1
        p *= mean / k
        cumulative += p
    return k

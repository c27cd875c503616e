"""Fixtures of the simulator tests: a client on the root of the live server (both backends)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture
def root(api: httpx.Client) -> Iterator[httpx.Client]:
    """A client on the server root of the (emptied) backend under test."""
    base = str(api.base_url).removesuffix("/").removesuffix("/ngsi-ld/v1")
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client


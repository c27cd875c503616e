"""Versioned schema migrations, one folder of numbered SQL files per backend.

A migration may also have a step in Python, run in the same transaction right after its SQL
(:data:`AFTER`): the back-fill of a derived table that SQL alone cannot compute on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any


def _rebuild_rollup(session: Any) -> None:
    """Summarise the existing history into the new hourly rollup (0007)."""
    session.rebuild_rollup()


AFTER: dict[str, Callable[[Any], None]] = {"0007_series_rollup.sql": _rebuild_rollup}


def migration_files(dialect: str) -> list[tuple[str, str]]:
    """Return (name, sql) for every migration of a backend, in order."""
    folder = resources.files(__package__) / dialect
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name, p.read_text(encoding="utf-8")) for p in files]

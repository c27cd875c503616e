"""Versioned schema migrations, one folder of numbered SQL files per backend."""

from __future__ import annotations

from importlib import resources


def migration_files(dialect: str) -> list[tuple[str, str]]:
    """Return (name, sql) for every migration of a backend, in order."""
    folder = resources.files(__package__) / dialect
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name, p.read_text(encoding="utf-8")) for p in files]

"""The embedded store: one SQLite file in WAL mode, one connection per thread."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from calanque.ngsild.qlang import register_sqlite_functions
from calanque.store.base import Store
from calanque.store.migrations import AFTER, migration_files
from calanque.store.scope import current as current_scope
from calanque.store.sql import SqlSession


class SqliteStore(Store):
    """SQLite backend: WAL journal, NORMAL sync, a busy timeout, per-thread connections."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.migrate()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA temp_store=MEMORY")
        # regexp() (idPattern, q patterns) and the date-time helper used by compiled q expressions.
        register_sqlite_functions(conn)
        with self._lock:
            self._all.append(conn)
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[SqlSession]:
        """Open a transaction; ``write=True`` takes the write lock up front.

        Writers of this process queue on a Python lock before asking SQLite for its write lock:
        SQLite makes a waiting writer sleep and retry (busy handler, up to 100 ms per retry), which
        under concurrent requests costs far more than the writes themselves.
        """
        conn = self._conn()
        if write:
            self._write_lock.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield SqlSession(conn, "sqlite", scope=None if write else current_scope())
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
        finally:
            if write:
                self._write_lock.release()

    def migrate(self) -> list[str]:
        """Apply pending migrations in one exclusive transaction."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            applied = []
            for name, sql in migration_files("sqlite"):
                if name in done:
                    continue
                for statement in _split_sql(sql):
                    conn.execute(statement)
                if name in AFTER:
                    AFTER[name](SqlSession(conn, "sqlite"))
                conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (name, datetime.now(UTC).isoformat()),
                )
                applied.append(name)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return applied

    def close(self) -> None:
        """Close every connection opened by this store."""
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()


def _split_sql(sql: str) -> list[str]:
    """Split a migration file into statements: at semicolons, except inside a CREATE TRIGGER, whose
    body (BEGIN … END;) ends at a line reading ``END;``."""
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        text = "\n".join(current).strip()
        if text.upper().startswith("CREATE TRIGGER"):
            if line.strip().upper() == "END;":
                statements.append(text)
                current = []
            continue
        if ";" in line:
            parts = text.split(";")
            statements += [p.strip() for p in parts[:-1] if p.strip()]
            current = [parts[-1]] if parts[-1].strip() else []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements

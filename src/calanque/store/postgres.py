"""The production store: PostgreSQL with a connection pool and a time-partitioned history."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from calanque.store.base import HistoryRow, Store
from calanque.store.migrations import AFTER, migration_files
from calanque.store.scope import ReadScope
from calanque.store.scope import current as current_scope
from calanque.store.sql import SqlSession

set_json_loads(orjson.loads)

_MIGRATION_LOCK = 0x43414C41  # advisory lock id ("CALA") serialising migrations across workers
POSTGIS_MODES = ("auto", "on", "off")


def _month_bounds(us: int) -> tuple[int, int, str]:
    """Return the [start, end) microsecond bounds and a name suffix of the month containing us."""
    dt = datetime.fromtimestamp(us / 1_000_000, UTC)
    start = datetime(dt.year, dt.month, 1, tzinfo=UTC)
    end = datetime(dt.year + (dt.month == 12), dt.month % 12 + 1, 1, tzinfo=UTC)
    to_us = lambda d: int((d - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000  # noqa: E731
    return to_us(start), to_us(end), f"{dt.year:04d}m{dt.month:02d}"


class PostgresSession(SqlSession):
    """A PostgreSQL transaction that creates history partitions on demand."""

    def __init__(self, conn: psycopg.Connection, store: PostgresStore, scope: ReadScope | None = None) -> None:
        super().__init__(conn, "postgres", scope=scope)
        self.store = store
        self.geom_column = store.geom_column
        self.postgis = store.postgis

    def _prepare_history_times(self, times: Iterable[int]) -> None:
        day_us = 86_400 * 1_000_000
        months = {_month_bounds(day * day_us) for day in {t // day_us for t in times}}
        for start, end, suffix in months:
            if suffix in self.store.known_partitions:
                continue
            # Created in its own autocommit connection, so that concurrent workers racing on the same
            # month do not abort this transaction.
            self.store.ensure_partition(start, end, suffix)

    def add_history(self, tenant: str, rows: Iterable[HistoryRow]) -> None:
        """Append rows to the attribute history with COPY (one round trip for the whole batch)."""
        params = [self._history_params(tenant, r) for r in rows]
        if not params:
            return
        self._prepare_history_times(p[5] for p in params)
        with self.conn.cursor() as cur:
            with cur.copy(
                "COPY attr_history (tenant, entity_id, attr, dataset_id, instance_id, ts, observed_at, created_at, "
                "modified_at, num, val, deleted, instance) FROM STDIN"
            ) as copy:
                for p in params:
                    copy.write_row(p)
        self._add_to_rollup(tenant, params)


class PostgresStore(Store):
    """PostgreSQL backend: pooled connections, JSONB documents, history partitioned by month."""

    dialect = "postgres"

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 16, postgis: str | None = None) -> None:
        """Connect, migrate and detect PostGIS.

        ``postgis`` (default: the CALANQUE_POSTGIS environment variable, else "auto"): "auto" evaluates
        geo-queries with PostGIS when the extension is installed in the database, "on" requires it, "off"
        never uses it (the geometries are still kept up to date when the extension is there).
        """
        mode = (postgis or os.environ.get("CALANQUE_POSTGIS") or "auto").lower()
        if mode not in POSTGIS_MODES:
            raise ValueError(f"unknown PostGIS mode '{mode}': use auto, on or off")
        self.url = url
        self.geom_column = False
        self.postgis = False
        self.known_partitions: set[str] = set()
        self._partition_lock = threading.Lock()
        try:
            with psycopg.connect(url, connect_timeout=10) as probe:
                probe.execute("SELECT 1")
        except psycopg.OperationalError as err:
            raise RuntimeError(f"cannot connect to PostgreSQL at {url}: {err}".strip()) from err
        self.pool = ConnectionPool(url, min_size=min_size, max_size=max_size, open=True,
                                   kwargs={"prepare_threshold": 5})
        self.migrate()
        self._load_partitions()
        self._setup_postgis(mode)

    def _load_partitions(self) -> None:
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'attr_history'"
            ).fetchall()
        self.known_partitions.update(r[0].removeprefix("attr_history_y") for r in rows)

    def _setup_postgis(self, mode: str) -> None:
        """Detect the postgis extension; when present, keep each geometry in entity_geo.geom (GiST index)
        and fill it for rows written without it (an upgrade, or a worker that ran before the extension)."""
        with self.pool.connection() as conn:
            installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is not None
        if mode == "on" and not installed:
            raise RuntimeError(
                "PostGIS is required (CALANQUE_POSTGIS=on) but the postgis extension is not installed in this "
                "database: run CREATE EXTENSION postgis as a superuser, or set CALANQUE_POSTGIS=auto or off")
        if not installed:
            return
        with psycopg.connect(self.url) as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                conn.execute("ALTER TABLE entity_geo ADD COLUMN IF NOT EXISTS geom geometry(Geometry, 4326)")
                conn.execute("CREATE INDEX IF NOT EXISTS entity_geo_geom ON entity_geo USING gist (geom)")
        self.geom_column = True
        self.postgis = mode != "off"
        self._fill_geometries()

    def _fill_geometries(self, batch: int = 500) -> None:
        """Rewrite the entity_geo rows of entities that have rows without a geometry."""
        while True:
            with self.session(write=True) as s:
                rows = s.conn.execute(
                    "SELECT e.tenant, e.seq, e.doc FROM entities e WHERE e.seq IN (SELECT g.entity_seq FROM "
                    "entity_geo g JOIN entities x ON x.seq = g.entity_seq WHERE g.geom IS NULL LIMIT %s) FOR UPDATE",
                    (batch,)).fetchall()
                if not rows:
                    return
                s.conn.execute("DELETE FROM entity_geo WHERE entity_seq = ANY(%s)", ([r[1] for r in rows],))
                for tenant, seq, doc in rows:
                    s._write_geo(s._index_rows(tenant, seq, doc)[2])

    def ensure_partition(self, start: int, end: int, suffix: str) -> None:
        """Create the monthly history partition [start, end) if it does not exist."""
        with self._partition_lock:
            if suffix in self.known_partitions:
                return
            with psycopg.connect(self.url, autocommit=True) as conn:
                try:
                    conn.execute(
                        f"CREATE TABLE IF NOT EXISTS attr_history_y{suffix} PARTITION OF attr_history "
                        f"FOR VALUES FROM ({start}) TO ({end})"
                    )
                except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
                    pass  # another worker created it at the same moment
            self.known_partitions.add(suffix)

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[PostgresSession]:
        """Open a transaction on a pooled connection."""
        with self.pool.connection() as conn:
            with conn.transaction():
                yield PostgresSession(conn, self, None if write else current_scope())

    def migrate(self) -> list[str]:
        """Apply pending migrations under an advisory lock (safe with several workers)."""
        applied = []
        with psycopg.connect(self.url) as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
                for name, sql in migration_files("postgres"):
                    if name in done:
                        continue
                    conn.execute(sql)
                    if name in AFTER:
                        AFTER[name](SqlSession(conn, "postgres"))
                    conn.execute(
                        "INSERT INTO schema_migrations (name, applied_at) VALUES (%s, %s)",
                        (name, datetime.now(UTC).isoformat()),
                    )
                    applied.append(name)
        return applied

    def close(self) -> None:
        """Close the pool."""
        self.pool.close()

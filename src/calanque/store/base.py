"""The store interface: what the NGSI-LD service and the domain services need from storage.

Two backends implement it (``sqlite`` embedded, ``postgres`` for production) and both pass
the same test suite. The store is deliberately dumb: it keeps canonical entities
(see :mod:`calanque.ngsild.canonical`), their attribute history, and a few indexes; all
NGSI-LD semantics live in :mod:`calanque.ngsild.service`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Dialect = Literal["sqlite", "postgres"]


@dataclass(slots=True)
class HistoryRow:
    """One attribute instance as it was at one moment: a row of the temporal history."""

    entity_id: str
    attr: str
    instance: dict[str, Any]
    dataset_id: str = ""
    instance_id: str = ""
    observed_at: str | None = None
    created_at: str = ""
    modified_at: str = ""
    deleted: bool = False  # the row records the deletion of the instance (its value is the NGSI-LD Null)


@dataclass(slots=True)
class SqlPredicate:
    """A SQL boolean fragment with its parameters, produced by the query compilers."""

    sql: str
    params: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class EntityQuery:
    """A compiled entity query: SQL-side filters plus an optional exact Python post-filter."""

    ids: Sequence[str] | None = None
    id_pattern: str | None = None
    type_iris: Sequence[str] | None = None  # cheap prefilter: entity has at least one of these
    predicates: list[SqlPredicate] = field(default_factory=list)  # over columns of alias `e`
    attrs_any: Sequence[str] | None = None  # entity has at least one of these attributes
    geo_attr: str | None = None
    geo_bbox: tuple[float, float, float, float] | None = None
    post_filter: Callable[[dict[str, Any]], bool] | None = None
    # The parsed geo-query (calanque.ngsild.geo.GeoQuery) behind geo_attr/geo_bbox/post_filter, for stores
    # that evaluate it themselves (PostGIS)
    geo_query: Any = None
    # A SELECT of entity seqs containing every match (a superset), with the dialect's placeholders:
    # when present it drives the query, and the other filters become per-entity lookups.
    candidates: SqlPredicate | None = None
    # What the filters name, for read scopes (calanque.store.scope): attributes of q, and whether the
    # type selection is an expression (';', parentheses) rather than a plain list of alternatives.
    filter_attrs: frozenset[str] = frozenset()
    type_selection_complex: bool = False
    limit: int = 20
    offset: int = 0
    count: bool = False


@dataclass(slots=True)
class HistoryQuery:
    """Which history rows to read: entities, attributes and a time window on one time property."""

    entity_ids: Sequence[str]
    attrs: Sequence[str] | None = None
    # deletedAt selects the rows recording deletions (HistoryRow.deleted), the others the rows holding values
    # (modifiedAt: both, a deletion being the last modification of an instance)
    timeproperty: Literal["observedAt", "createdAt", "modifiedAt", "deletedAt"] = "observedAt"
    start: str | None = None  # inclusive, canonical timestamp
    end: str | None = None  # exclusive
    last_n: int | None = None  # keep the N most recent instances per attribute
    last_n_by_dataset: bool = False  # last_n counts per (attribute, datasetId) instead
    limit: int | None = None  # overall bound on rows read (protects memory)


@dataclass(slots=True)
class HourlyRollup:
    """Hourly summaries of one attribute instance's numeric history (:mod:`calanque.store.rollup`), as columns.

    One element per UTC hour holding at least one numeric sample, oldest first: ``hour`` (start, epoch
    µs), ``n`` samples, their sum ``s``, ``mn``/``mx``, the first ``(t0, v0)`` and last ``(t1, v1)``
    sample, and over the steps between consecutive samples inside the hour ``dmin``/``dmax`` (µs, -1
    with a single sample), the counter increase ``inc``, the trapezoid integral ``trap`` (value·s)
    and ``hist``, the encoded duration-weighted value histogram (None when not kept).
    """

    hour: np.ndarray
    n: np.ndarray
    s: np.ndarray
    mn: np.ndarray
    mx: np.ndarray
    t0: np.ndarray
    v0: np.ndarray
    t1: np.ndarray
    v1: np.ndarray
    dmin: np.ndarray
    dmax: np.ndarray
    inc: np.ndarray
    trap: np.ndarray
    hist: list[bytes | None]

    @classmethod
    def empty(cls) -> HourlyRollup:
        """No hours."""
        ints, floats = np.empty(0, dtype=np.int64), np.empty(0)
        return cls(ints, ints, floats, floats, floats, ints, floats, ints, floats, ints, ints, floats, floats, [])

    def __len__(self) -> int:
        """The number of hours."""
        return int(self.hour.size)

    def take(self, keep: np.ndarray) -> HourlyRollup:
        """The hours selected by a boolean mask."""
        picked = np.flatnonzero(keep)
        return HourlyRollup(*(getattr(self, name)[picked] for name in _ARRAY_FIELDS),
                            hist=[self.hist[i] for i in picked.tolist()])


_ARRAY_FIELDS = ("hour", "n", "s", "mn", "mx", "t0", "v0", "t1", "v1", "dmin", "dmax", "inc", "trap")


class Session(abc.ABC):
    """One transaction on the store. Used as a context manager: commits on success."""

    dialect: Dialect
    # The read scope of the request (calanque.store.scope), applied by read sessions; None: unrestricted.
    scope: Any = None

    # tenants -------------------------------------------------------------------------
    @abc.abstractmethod
    def tenant_exists(self, tenant: str) -> bool:
        """Tell whether a tenant has been created (the default tenant "" always exists)."""

    @abc.abstractmethod
    def ensure_tenant(self, tenant: str) -> None:
        """Create the tenant if it does not exist yet."""

    @abc.abstractmethod
    def list_tenants(self) -> list[str]:
        """List the tenants, default tenant first."""

    # entities ------------------------------------------------------------------------
    @abc.abstractmethod
    def get_entities(self, tenant: str, ids: Sequence[str], *, for_update: bool = False) -> dict[str, dict]:
        """Load canonical entities by id; missing ids are absent from the result."""

    def get_entity(self, tenant: str, entity_id: str, *, for_update: bool = False) -> dict | None:
        """Load one canonical entity, or None."""
        return self.get_entities(tenant, [entity_id], for_update=for_update).get(entity_id)

    @abc.abstractmethod
    def changed_entities(self, tenant: str, since: str, limit: int) -> list[dict]:
        """Entities whose modifiedAt is after ``since`` (a canonical timestamp), oldest change first, at most
        ``limit`` (an index on modifiedAt makes this cheap: live pages poll it from every server process)."""

    @abc.abstractmethod
    def insert_entities(self, tenant: str, entities: Sequence[dict]) -> list[str]:
        """Insert new entities; return the ids that already existed (and were not inserted)."""

    @abc.abstractmethod
    def update_entities(self, tenant: str, entities: Sequence[dict], *, reindex: bool = True) -> None:
        """Overwrite existing entities with new canonical documents (reindex=False: index rows unchanged)."""

    @abc.abstractmethod
    def delete_entities(self, tenant: str, ids: Sequence[str]) -> list[str]:
        """Delete entities; return the ids that were actually deleted."""

    @abc.abstractmethod
    def query_entities(self, tenant: str, query: EntityQuery) -> tuple[list[dict], int | None]:
        """Run a query; return the page of entities and, when asked, the total count."""

    # discovery -----------------------------------------------------------------------
    @abc.abstractmethod
    def type_summary(self, tenant: str) -> dict[str, dict[str, int]]:
        """Map each entity type IRI to {attribute IRI: number of entities having it}, plus "" count."""

    @abc.abstractmethod
    def attribute_summary(self, tenant: str) -> dict[str, dict[str, Any]]:
        """Map each attribute IRI to its entity count, the types using it and its attribute types."""

    # history -------------------------------------------------------------------------
    @abc.abstractmethod
    def add_history(self, tenant: str, rows: Iterable[HistoryRow]) -> None:
        """Append rows to the attribute history."""

    @abc.abstractmethod
    def read_history(self, tenant: str, query: HistoryQuery) -> list[HistoryRow]:
        """Read history rows, ordered by entity, attribute and time."""

    @abc.abstractmethod
    def aggregate_history(
        self,
        tenant: str,
        query: HistoryQuery,
        *,
        origin: str,
        period_us: int,
        methods: Sequence[str],
    ) -> dict[tuple[str, str], tuple[list[int], dict[str, list[Any]]]]:
        """Aggregate numeric history in fixed buckets of period_us microseconds from origin.

        Returns {(entity_id, attr): ([bucket index, ...], {method: [value per bucket, ...]})} for the
        methods among totalCount, distinctCount, sum, avg, min, max, stddev, sumsq; buckets without
        rows are absent, numeric methods are None for a bucket without numbers.
        """

    @abc.abstractmethod
    def read_series(
        self, tenant: str, entity_id: str, attr: str, start_us: int | None = None, end_us: int | None = None,
        *, dataset_id: str | None = None, limit: int | None = None,
    ) -> list[tuple[int, float]]:
        """The numeric history of one attribute as (observedAt µs, value) pairs, oldest first.

        Only observed, non-deleted numeric instances are returned; ``start_us`` is inclusive and
        ``end_us`` exclusive; ``dataset_id`` None means every instance ("" is the default one).
        This is the fast path of the domain services: an index-only scan, no JSON decoding.
        """

    @abc.abstractmethod
    def read_series_of(
        self, tenant: str, entity_ids: Sequence[str], attr: str, start_us: int | None, end_us: int | None, *,
        dataset_id: str,
    ) -> list[tuple[str, int, float]]:
        """:meth:`read_series` of one attribute instance of many entities at once: (entity id, observedAt µs,
        value) rows ordered by entity and time."""

    @abc.abstractmethod
    def read_series_in(
        self, tenant: str, entity_id: str, attr: str, ranges: Sequence[tuple[int, int]], *, dataset_id: str,
    ) -> list[tuple[int, float]]:
        """:meth:`read_series` of one instance over several [start µs, end µs) ranges (sorted, disjoint) at once."""

    @abc.abstractmethod
    def read_rollup(
        self, tenant: str, entity_id: str, attr: str, start_us: int, end_us: int, *, dataset_id: str,
        hist: bool = False,
    ) -> HourlyRollup:
        """The hourly summaries of one attribute instance for the hours starting in [start_us, end_us)
        (``hist``: with their value histograms, else None in their place).

        The fast path of the domain services over long periods: a year of 1-minute samples is 8 760
        summaries. Together with :meth:`read_series_in` for the hours a reader cannot use as summaries
        (partial hours at the edges of a window, ...), it gives exactly what :meth:`read_series` gives.
        """

    @abc.abstractmethod
    def earliest_history(self, tenant: str, query: HistoryQuery) -> str | None:
        """The earliest time (on the query's time property) among the matching history rows."""

    @abc.abstractmethod
    def delete_history(
        self, tenant: str, entity_id: str, attr: str | None = None, instance_id: str | None = None,
        dataset_id: str | None = None,
    ) -> int:
        """Delete history rows of an entity (all, one attribute, or one instance); return how many."""

    @abc.abstractmethod
    def update_history_instance(self, tenant: str, entity_id: str, attr: str, instance_id: str,
                                instance: dict) -> bool:
        """Replace one stored history instance; return False when it does not exist."""

    @abc.abstractmethod
    def temporal_entity(self, tenant: str, entity_id: str) -> dict | None:
        """Return {"id", "type": [...], "createdAt", "modifiedAt"[, "deletedAt"]} for an entity with history."""

    @abc.abstractmethod
    def temporal_entity_ids(self, tenant: str, query: EntityQuery) -> list[dict]:
        """Ids and types of entities with history matching the id/type filters of the query."""

    @abc.abstractmethod
    def upsert_temporal_entities(self, tenant: str, entities: Sequence[dict], *, revive: bool = True) -> None:
        """Record (or extend) the identity of entities that have history (revive: clear a recorded deletion)."""

    @abc.abstractmethod
    def mark_temporal_entities_deleted(self, tenant: str, ids: Sequence[str], deleted_at: str) -> None:
        """Record that entities were deleted at a time; their history stays."""

    @abc.abstractmethod
    def delete_temporal_entity(self, tenant: str, entity_id: str) -> bool:
        """Delete an entity's whole history and identity; return whether it existed."""

    # JSON-LD contexts (shared cache between worker processes) ------------------------
    @abc.abstractmethod
    def context_get(self, url: str) -> dict | None:
        """Return a stored context document with its metadata, or None."""

    @abc.abstractmethod
    def context_put(self, url: str, doc: Any, kind: str, local_id: str) -> None:
        """Store a context document (insert or replace)."""

    @abc.abstractmethod
    def context_delete(self, url: str) -> bool:
        """Delete a stored context; return whether it existed."""

    @abc.abstractmethod
    def context_list(self) -> list[dict]:
        """List stored contexts with their metadata."""

    @abc.abstractmethod
    def context_touch(self, url: str) -> None:
        """Count one use of a stored context."""


class Store(abc.ABC):
    """A storage backend. Thread-safe: each call to :meth:`session` gets its own transaction."""

    dialect: Dialect

    @abc.abstractmethod
    def session(self, *, write: bool = False) -> AbstractContextManager[Session]:
        """Open a transaction (committed when the block ends without error).

        ``write=True`` takes the write lock up front (SQLite ``BEGIN IMMEDIATE``) so that a
        read-modify-write never fails half-way on a lock upgrade.
        """

    @abc.abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the names applied."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

def open_store(database_url: str | None = None, data_dir: str | None = None, *, postgis: str | None = None) -> Store:
    """Open the store named by a database URL, or the embedded SQLite store in data_dir.

    ``postgis`` (auto, on, off; default CALANQUE_POSTGIS or auto) chooses how PostgreSQL evaluates geo-queries.
    """
    if database_url and database_url.startswith(("postgresql://", "postgres://")):
        from calanque.store.postgres import PostgresStore

        return PostgresStore(database_url, postgis=postgis)
    if database_url and database_url.startswith("sqlite:///"):
        from calanque.store.sqlite import SqliteStore

        return SqliteStore(database_url.removeprefix("sqlite:///"))
    if database_url:
        raise ValueError(
            f"unsupported database URL '{database_url}': use postgresql://user@host/db or sqlite:///path/file.db"
        )
    from pathlib import Path

    from calanque.store.sqlite import SqliteStore

    directory = Path(data_dir or "calanque-data")
    directory.mkdir(parents=True, exist_ok=True)
    return SqliteStore(str(directory / "calanque.db"))

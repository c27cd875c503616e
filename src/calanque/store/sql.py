"""The SQL session shared by both backends; dialect differences are small hooks.

Statements are written with ``?`` placeholders and translated to ``%s`` for PostgreSQL.
"""

from __future__ import annotations

import math
from dataclasses import replace
from hashlib import blake2b
from itertools import groupby
from operator import itemgetter
from collections.abc import Callable, Iterator, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import orjson

from calanque.ngsild.canonical import VALUE_MEMBER
from calanque.ngsild.qlang import numeric_key
from calanque.store.base import (
    Dialect,
    EntityQuery,
    HistoryQuery,
    HistoryRow,
    HourlyRollup,
    Session,
    SqlPredicate,
)
from calanque.store.rollup import COLUMNS as ROLLUP_COLUMNS
from calanque.store.rollup import (
    HIST_ENTRY_BYTES,
    HIST_MAX,
    HOUR_US,
    HourSummary,
    decode_hist,
    encode_hist,
    hist_entry,
    summarize,
)
from calanque.store.scope import NOTHING, ReadScope

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
AGGREGATION_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
# The history column holding each time property. A deletion is recorded as a row with ``deleted`` set
# whose created_at/modified_at hold the time of the deletion (its deletedAt) and observed_at is NULL.
_TIME_COLUMN = {"observedAt": "ts", "createdAt": "created_at", "modifiedAt": "modified_at",
                "deletedAt": "modified_at"}
RollupKey = tuple[str, str, int, str]  # (entity id, attribute, hour, datasetId) of a rollup row
_PG_ROLLUP_TYPES = ("bigint", "bigint", "float8", "float8", "float8", "float8", "bigint", "float8", "bigint", "float8",
                    "bigint", "bigint", "float8", "float8")
_ROLLUP_KEY = "tenant, entity_id, attr, hour, dataset_id"


@lru_cache(maxsize=8192)  # a batch shares its timestamps (now, observedAt): most calls are repeats
def ts_to_us(text: str) -> int:
    """Convert a canonical timestamp string to microseconds since the Unix epoch."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_to_ts(us: int) -> str:
    """Convert microseconds since the Unix epoch to a canonical timestamp string."""
    dt = _NAIVE_EPOCH + timedelta(microseconds=us)
    if dt.year < 1000:  # isoformat pads years to 4 digits too, but keep strftime's output for them
        seconds, micro = divmod(us, 1_000_000)
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{micro:06d}Z"
    return dt.isoformat(timespec="microseconds") + "Z"


def instance_value(instance: dict[str, Any]) -> Any:
    """Return the member carrying an instance's value, whatever its attribute type."""
    return instance.get(VALUE_MEMBER.get(instance.get("type", "Property"), "value"))


def numeric(value: Any) -> float | None:
    """Return a finite float for numeric values (not booleans), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _stddev(s: Any, sq: Any, n: int) -> float:
    mean = float(s) / n
    return math.sqrt(max(float(sq) / n - mean * mean, 0.0))


# The values of each aggregation method over buckets, from the columns (total, distinct, sum, min, max,
# sumsq, n): numeric methods are null for a bucket that holds no number.
_METHOD_COLUMN: dict[str, Callable[..., list[Any]]] = {
    "totalCount": lambda total, distinct, s, mn, mx, sq, n: [int(v) for v in total],
    "distinctCount": lambda total, distinct, s, mn, mx, sq, n: [int(v) for v in distinct],
    "sum": lambda total, distinct, s, mn, mx, sq, n: [float(a) if k else None for a, k in zip(s, n)],
    "avg": lambda total, distinct, s, mn, mx, sq, n: [float(a) / k if k else None for a, k in zip(s, n)],
    "min": lambda total, distinct, s, mn, mx, sq, n: [float(a) if k else None for a, k in zip(mn, n)],
    "max": lambda total, distinct, s, mn, mx, sq, n: [float(a) if k else None for a, k in zip(mx, n)],
    "sumsq": lambda total, distinct, s, mn, mx, sq, n: [float(a) if k else None for a, k in zip(sq, n)],
    "stddev": lambda total, distinct, s, mn, mx, sq, n: [
        _stddev(a, b, k) if k else None for a, b, k in zip(s, sq, n)
    ],
}


def _entity_geo_boxes(entity: dict[str, Any]) -> list[tuple[str, float, float, float, float, dict]]:
    """Bounding boxes of every GeoProperty instance of an entity, for the geo prefilter, with the geometry."""
    from calanque.ngsild.geo import geometry_bbox

    boxes = []
    for attr, instances in entity.get("attrs", {}).items():
        for inst in instances:
            if inst.get("type") == "GeoProperty" and isinstance(inst.get("value"), dict):
                try:
                    boxes.append((attr, *geometry_bbox(inst["value"]), inst["value"]))
                except (ValueError, TypeError, KeyError):
                    continue
    return boxes


class SqlSession(Session):
    """A transaction over a DB-API connection (sqlite3 or psycopg)."""

    dialect: Dialect
    # PostgreSQL with PostGIS (calanque.store.postgis): entity_geo.geom is maintained, and geo-queries use it
    geom_column = False
    postgis = False

    def __init__(self, conn: Any, dialect: Dialect, *, scope: ReadScope | None = None) -> None:
        self.conn = conn
        self.dialect = dialect
        self._ph = "?" if dialect == "sqlite" else "%s"
        self.scope = scope  # set on read sessions of restricted requests (calanque.store.scope)

    # low-level helpers ---------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self._sql(sql), params)

    def _many(self, sql: str, rows: list[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.dialect == "sqlite":
            self.conn.executemany(sql, rows)
        else:
            with self.conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)

    def _dump(self, doc: Any) -> str:
        return orjson.dumps(doc).decode()

    def _load(self, raw: Any) -> Any:
        if isinstance(raw, (str, bytes)):
            return orjson.loads(raw)
        return raw

    def _json_param(self) -> str:
        return "?" if self.dialect == "sqlite" else "?::jsonb"

    # tenants -------------------------------------------------------------------------
    def tenant_exists(self, tenant: str) -> bool:
        """Tell whether a tenant has been created (the default tenant always exists)."""
        if tenant == "":
            return True
        return self._exec("SELECT 1 FROM tenants WHERE name = ?", (tenant,)).fetchone() is not None

    def ensure_tenant(self, tenant: str) -> None:
        """Create the tenant if it does not exist yet."""
        if tenant == "":
            return
        self._exec(
            "INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
            (tenant, datetime.now(UTC).isoformat()),
        )

    def list_tenants(self) -> list[str]:
        """List the tenants, default tenant first."""
        return [""] + [r[0] for r in self._exec("SELECT name FROM tenants ORDER BY name").fetchall()]

    # entities ------------------------------------------------------------------------
    def get_entities(self, tenant: str, ids: Sequence[str], *, for_update: bool = False) -> dict[str, dict]:
        """Load canonical entities by id."""
        if not ids:
            return {}
        out: dict[str, dict] = {}
        lock = " ORDER BY id FOR UPDATE" if for_update and self.dialect == "postgres" else ""
        for where, params in self.in_chunks("id", ids):
            rows = self._exec(f"SELECT id, doc FROM entities WHERE tenant = ? AND {where}{lock}",
                              (tenant, *params)).fetchall()
            for entity_id, doc in rows:
                out[entity_id] = self._load(doc)
        scope = self.scope
        if scope is not None:
            shown = {}
            for entity_id, doc in out.items():
                if scope.visible(doc, tenant):
                    shown[entity_id] = scope.redact(doc)
                    scope.remember(entity_id, scope.allowed_attrs(doc.get("type", [])))
                else:
                    scope.remember(entity_id, False)
            return shown
        return out

    def changed_entities(self, tenant: str, since: str, limit: int) -> list[dict]:
        """Entities whose modifiedAt is after ``since``, oldest change first (index entities_modified)."""
        if self.dialect == "sqlite":
            key = "json_extract(doc, '$.modifiedAt')"
        else:  # byte order ("C"): canonical timestamps have one fixed width, so it is time order
            key = "(doc ->> 'modifiedAt') COLLATE \"C\""
        rows = self._exec(
            f"SELECT doc FROM entities WHERE tenant = ? AND {key} > ? ORDER BY {key} LIMIT {int(limit)}",
            (tenant, since),
        ).fetchall()
        return [self._load(r[0]) for r in rows]

    def in_chunks(self, column: str, values: Sequence[Any], size: int = 500) -> Iterator[tuple[str, list[Any]]]:
        """``column IN (…)`` conditions with their parameters: one ``= ANY(array)`` on PostgreSQL
        (a single short statement, cheap to parse), chunks of ``size`` placeholders on SQLite."""
        values = list(values)
        if not values:
            return
        if self.dialect == "postgres":  # binary array parameter: no text escaping of the elements
            yield f"{column} = ANY(%b)", [values]
            return
        for start in range(0, len(values), size):
            chunk = values[start : start + size]
            yield f"{column} IN ({','.join('?' * len(chunk))})", chunk

    def _index_rows(self, tenant: str, seq: int, entity: dict) -> tuple[list, list, list]:
        types = [(tenant, t, seq) for t in dict.fromkeys(entity.get("type", []))]
        attrs = [
            (tenant, a, seq, ",".join(sorted({i.get("type", "Property") for i in insts})), *numeric_key(insts))
            for a, insts in entity.get("attrs", {}).items()
        ]
        geo = [(tenant, a, seq, *box) for a, *box in _entity_geo_boxes(entity)]  # the geometry comes last
        return types, attrs, geo

    def _write_indexes(self, tenant: str, items: list[tuple[int, dict]]) -> None:
        types: list = []
        attrs: list = []
        geo: list = []
        for seq, entity in items:
            t, a, g = self._index_rows(tenant, seq, entity)
            types += t
            attrs += a
            geo += g
        if self.dialect == "postgres":
            # one statement for the three tables (data-modifying CTEs), the rows of each as one JSON parameter
            parts: list[tuple[str, str]] = []
            for table, columns, rows in (
                ("entity_types", "tenant text, type text, entity_seq bigint", types),
                ("entity_attrs", "tenant text, attr text, entity_seq bigint, attr_types text, num float8, "
                                 "numkind smallint", attrs),
            ):
                if rows:
                    names = [c.split()[0] for c in columns.split(", ")]
                    parts.append((f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM "
                                  f"jsonb_to_recordset(%b::jsonb) AS v({columns})",
                                  self._dump([dict(zip(names, r)) for r in rows])))
            if geo:
                parts.append(self._geo_insert(geo))
            if parts:
                *ctes, (last, last_param) = parts
                prefix = "WITH " + ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(ctes)) + " " if ctes else ""
                self.conn.execute(prefix + last, [param for _, param in ctes] + [last_param])
            return
        self._many("INSERT INTO entity_types (tenant, type, entity_seq) VALUES (?, ?, ?)", types)
        self._many(
            "INSERT INTO entity_attrs (tenant, attr, entity_seq, attr_types, num, numkind) VALUES (?, ?, ?, ?, ?, ?)",
            attrs,
        )
        self._many(
            "INSERT INTO entity_geo (tenant, attr, entity_seq, minx, miny, maxx, maxy) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [row[:-1] for row in geo],
        )

    def _write_geo(self, rows: list[tuple]) -> None:
        """Insert PostgreSQL entity_geo rows (tenant, attr, seq, box..., GeoJSON geometry) in one statement."""
        if rows:
            sql, param = self._geo_insert(rows)
            self.conn.execute(sql, (param,))

    def _geo_insert(self, rows: list[tuple]) -> tuple[str, str]:
        """The PostgreSQL INSERT of entity_geo rows and its JSON parameter; with PostGIS the geometry goes
        in the geom column."""
        names = ["tenant", "attr", "entity_seq", "minx", "miny", "maxx", "maxy"]
        columns = "tenant text, attr text, entity_seq bigint, minx float8, miny float8, maxx float8, maxy float8"
        if self.geom_column:
            return (f"INSERT INTO entity_geo ({', '.join(names)}, geom) SELECT {', '.join('v.' + n for n in names)}, "
                    "ST_Force2D(ST_SetSRID(ST_GeomFromGeoJSON(v.gj), 4326)) "
                    f"FROM jsonb_to_recordset(%b::jsonb) AS v({columns}, gj jsonb)",
                    self._dump([{**dict(zip(names, r)), "gj": r[-1]} for r in rows]))
        return (f"INSERT INTO entity_geo ({', '.join(names)}) SELECT * FROM jsonb_to_recordset(%b::jsonb) "
                f"AS v({columns})", self._dump([dict(zip(names, r)) for r in rows]))

    def _drop_indexes(self, seqs: list[int]) -> None:
        for table in ("entity_types", "entity_attrs", "entity_geo"):
            for start in range(0, len(seqs), 500):
                chunk = seqs[start : start + 500]
                self._exec(f"DELETE FROM {table} WHERE entity_seq IN ({','.join('?' * len(chunk))})", chunk)

    def insert_entities(self, tenant: str, entities: Sequence[dict]) -> list[str]:
        """Insert new entities; return the ids that already existed."""
        # PostgreSQL learns which exist from the INSERT itself (ON CONFLICT DO NOTHING), one round trip less
        existing = set(self._existing_ids(tenant, [e["id"] for e in entities])) if self.dialect == "sqlite" else set()
        seen: set[str] = set()
        fresh = []
        duplicates = []
        for e in entities:
            if e["id"] in existing or e["id"] in seen:
                duplicates.append(e["id"])
            else:
                seen.add(e["id"])
                fresh.append(e)
        if not fresh:
            return duplicates
        # Entities get their seq (the creation order every query pages in) in the order given.
        seqs: dict[str, int] = {}
        if self.dialect == "sqlite":
            for start in range(0, len(fresh), 200):  # multi-row INSERTs: one statement per 200 entities
                chunk = fresh[start : start + 200]
                params: list[Any] = []
                for e in chunk:
                    params += (tenant, e["id"], self._dump(e))
                rows = self.conn.execute(
                    f"INSERT INTO entities (tenant, id, doc) VALUES {','.join(['(?, ?, ?)'] * len(chunk))} "
                    "RETURNING id, seq", params).fetchall()
                seqs.update(rows)
        else:  # one statement: the documents as one JSON array, inserted in array order
            rows = self.conn.execute(
                "INSERT INTO entities (tenant, id, doc) SELECT %s, v.doc ->> 'id', v.doc "
                "FROM jsonb_array_elements(%b::jsonb) WITH ORDINALITY AS v(doc, n) ORDER BY v.n "
                "ON CONFLICT (tenant, id) DO NOTHING RETURNING id, seq",
                (tenant, self._dump(fresh)),
            ).fetchall()
            seqs.update(rows)
            duplicates += [e["id"] for e in fresh if e["id"] not in seqs]
            fresh = [e for e in fresh if e["id"] in seqs]
        self._write_indexes(tenant, [(seqs[e["id"]], e) for e in fresh])
        return duplicates

    def _existing_ids(self, tenant: str, ids: list[str]) -> list[str]:
        found = []
        for where, params in self.in_chunks("id", ids):
            found += [r[0] for r in self._exec(f"SELECT id FROM entities WHERE tenant = ? AND {where}",
                                               (tenant, *params)).fetchall()]
        return found

    def _seqs(self, tenant: str, ids: Sequence[str]) -> dict[str, int]:
        out = {}
        for where, params in self.in_chunks("id", ids):
            for entity_id, seq in self._exec(f"SELECT id, seq FROM entities WHERE tenant = ? AND {where}",
                                             (tenant, *params)).fetchall():
                out[entity_id] = seq
        return out

    def update_entities(self, tenant: str, entities: Sequence[dict], *, reindex: bool = True) -> None:
        """Overwrite existing entities with new canonical documents (the last one wins for a repeated id).

        ``reindex=False`` keeps the type/attribute/geo index rows: only for callers that know the
        entities' types, attribute names and types and geo-properties are unchanged (ingestion).
        """
        entities = list({e["id"]: e for e in entities}.values())
        if not entities:
            return
        if not reindex:
            if self.dialect == "postgres":  # one statement for the whole batch
                # one JSON object {id: document} serialised by orjson and parsed once by the server
                self._exec(
                    "UPDATE entities AS e SET doc = v.doc FROM jsonb_each(%b::jsonb) AS v(id, doc) "
                    "WHERE e.tenant = ? AND e.id = v.id",
                    (self._dump({e["id"]: e for e in entities}), tenant),
                )
            else:
                self._many(
                    f"UPDATE entities SET doc = {self._json_param()} WHERE tenant = ? AND id = ?",
                    [(self._dump(e), tenant, e["id"]) for e in entities],
                )
            self._update_numeric_index(tenant, entities)
            return
        seqs = self._seqs(tenant, [e["id"] for e in entities])
        self._many(
            f"UPDATE entities SET doc = {self._json_param()} WHERE tenant = ? AND id = ?",
            [(self._dump(e), tenant, e["id"]) for e in entities],
        )
        self._drop_indexes(list(seqs.values()))
        self._write_indexes(tenant, [(seqs[e["id"]], e) for e in entities if e["id"] in seqs])

    def _update_numeric_index(self, tenant: str, entities: Sequence[dict]) -> None:
        """Refresh the numeric index entries (entity_attrs.num, numkind) of entities whose values changed."""
        keys = [(e["id"], attr, *numeric_key(insts)) for e in entities for attr, insts in e.get("attrs", {}).items()]
        if not keys:
            return
        if self.dialect == "postgres":
            # resolve the entity sequence numbers first, then join on the (tenant, attr, entity_seq) key with
            # binary arrays: a join through entities inside the UPDATE made the planner scan (17 s a batch)
            seqs = self._seqs(tenant, list(dict.fromkeys(i for i, _, _, _ in keys)))
            known = [(seqs[i], a, n, k) for i, a, n, k in keys if i in seqs]
            if not known:
                return
            self._exec(
                "UPDATE entity_attrs AS a SET num = v.num, numkind = v.numkind "
                "FROM unnest(%b::bigint[], %b::text[], %b::float8[], %b::int2[]) AS v(seq, attr, num, numkind) "
                "WHERE a.tenant = ? AND a.attr = v.attr AND a.entity_seq = v.seq "
                "AND (a.num IS DISTINCT FROM v.num OR a.numkind <> v.numkind)",
                ([r[0] for r in known], [r[1] for r in known], [r[2] for r in known], [r[3] for r in known],
                 tenant),
            )
        else:
            self._many(
                "UPDATE entity_attrs SET num = ?, numkind = ? WHERE tenant = ? AND attr = ? "
                "AND entity_seq = (SELECT seq FROM entities WHERE tenant = ? AND id = ?)",
                [(n, k, tenant, a, tenant, i) for i, a, n, k in keys],
            )

    def delete_entities(self, tenant: str, ids: Sequence[str]) -> list[str]:
        """Delete entities; return the ids actually deleted."""
        seqs = self._seqs(tenant, ids)
        if not seqs:
            return []
        self._drop_indexes(list(seqs.values()))
        values = list(seqs.values())
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            self._exec(f"DELETE FROM entities WHERE seq IN ({','.join('?' * len(chunk))})", chunk)
        return list(seqs)

    def _where(self, tenant: str, query: EntityQuery, *, candidates_clause: bool = True) -> tuple[str, list[Any]]:
        clauses = ["e.tenant = ?"]
        params: list[Any] = [tenant]
        if query.ids is not None:
            clauses.append(f"e.id IN ({','.join('?' * len(query.ids))})" if query.ids else "1 = 0")
            params += list(query.ids)
        if query.id_pattern is not None:
            clauses.append("regexp(?, e.id)" if self.dialect == "sqlite" else "e.id ~ ?")
            params.append(query.id_pattern)
        if query.type_iris is not None:
            marks = ",".join("?" * len(query.type_iris)) or "NULL"
            if query.candidates is not None:  # a lookup per candidate, not a list of every entity of the type
                clauses.append(
                    f"EXISTS (SELECT 1 FROM entity_types t WHERE t.tenant = ? AND t.type IN ({marks}) "
                    "AND t.entity_seq = e.seq)"
                )
            else:
                clauses.append(
                    f"e.seq IN (SELECT t.entity_seq FROM entity_types t WHERE t.tenant = ? AND t.type IN ({marks}))"
                )
            params += [tenant, *query.type_iris]
        if query.attrs_any is not None:
            marks = ",".join("?" * len(query.attrs_any)) or "NULL"
            clauses.append(
                f"e.seq IN (SELECT a.entity_seq FROM entity_attrs a WHERE a.tenant = ? AND a.attr IN ({marks}))"
            )
            params += [tenant, *query.attrs_any]
        if query.geo_attr is not None:
            if self.postgis and query.geo_query is not None:
                from calanque.store import postgis

                condition, geo_params = postgis.candidates(query.geo_query)
                clauses.append("e.seq IN (SELECT g.entity_seq FROM entity_geo g WHERE g.tenant = ? AND g.attr = ? "
                               f"AND {condition})")
                params += [tenant, query.geo_attr, *geo_params]
            elif query.geo_bbox is not None:
                minx, miny, maxx, maxy = query.geo_bbox
                clauses.append(
                    "e.seq IN (SELECT g.entity_seq FROM entity_geo g WHERE g.tenant = ? AND g.attr = ? "
                    "AND g.minx <= ? AND g.maxx >= ? AND g.miny <= ? AND g.maxy >= ?)"
                )
                params += [tenant, query.geo_attr, maxx, minx, maxy, miny]
            else:
                clauses.append("e.seq IN (SELECT g.entity_seq FROM entity_geo g WHERE g.tenant = ? AND g.attr = ?)")
                params += [tenant, query.geo_attr]
        for pred in query.predicates:
            # Predicates come from the q and type compilers with the dialect's own placeholders.
            clauses.append(f"({pred.sql})")
            params += pred.params
        if query.candidates is not None and candidates_clause:
            clauses.append(f"e.seq IN ({query.candidates.sql})")
            params += query.candidates.params
        return " AND ".join(clauses), params

    def _from(self, tenant: str, query: EntityQuery) -> tuple[str, list[Any]]:
        """FROM and WHERE of an entity query, with their parameters.

        On SQLite, candidates are joined first with CROSS JOIN, which fixes the join order: without
        table statistics its planner may otherwise scan every entity in seq order (to avoid sorting
        the page) and test each against the candidate list.
        """
        if self.dialect == "sqlite" and query.candidates is not None:
            where, params = self._where(tenant, query, candidates_clause=False)
            return (f"({query.candidates.sql}) c CROSS JOIN entities e WHERE e.seq = c.entity_seq AND {where}",
                    [*query.candidates.params, *params])
        where, params = self._where(tenant, query)
        if self.dialect == "postgres":
            # The predicates already use %s; translate only the fragments written here.
            where = self._translate_where(tenant, query)
        return f"entities e WHERE {where}", params

    def query_entities(self, tenant: str, query: EntityQuery) -> tuple[list[dict], int | None]:
        """Run a query; return a page of entities and, when asked, the total count.

        Under a read scope the scope's condition joins the query (so the page and the count only hold
        visible entities) and the documents come back redacted.
        """
        scope = self.scope
        if scope is None:
            return self._run_query(tenant, query)
        condition = scope.predicate(self.dialect, query) if tenant == scope.tenant else NOTHING
        if condition is NOTHING:
            return [], (0 if query.count else None)
        page, count = self._run_query(tenant, replace(query, predicates=[*query.predicates, condition]))
        return [scope.redact(doc) for doc in page], count

    def _run_query(self, tenant: str, query: EntityQuery) -> tuple[list[dict], int | None]:
        source, params = self._from(tenant, query)
        if query.post_filter is not None:
            certain, certain_params = self._certain(tenant, query)
            rows = self.conn.execute(f"SELECT e.doc, {certain} FROM {source} ORDER BY e.seq",
                                     [*certain_params, *params])
            matched = [doc for doc, sure in ((self._load(r[0]), r[1]) for r in rows) if sure or query.post_filter(doc)]
            count = len(matched) if query.count else None
            return matched[query.offset : query.offset + query.limit], count
        page: list[dict] = []
        if query.limit > 0:
            page = [
                self._load(r[0])
                for r in self.conn.execute(
                    f"SELECT e.doc FROM {source} ORDER BY e.seq LIMIT {int(query.limit)} "
                    f"OFFSET {int(query.offset)}",
                    params,
                ).fetchall()
            ]
        count = None
        if query.count:
            count = self.conn.execute(f"SELECT count(*) FROM {source}", params).fetchone()[0]
        return page, count

    def _certain(self, tenant: str, query: EntityQuery) -> tuple[str, list[Any]]:
        """A SELECT expression telling the rows that certainly pass the post filter (PostGIS decides them)."""
        if self.postgis and query.geo_query is not None:
            from calanque.store import postgis

            found = postgis.certain(query.geo_query)
            if found is not None:
                condition, params = found
                return (f"EXISTS (SELECT 1 FROM entity_geo g WHERE g.tenant = %s AND g.attr = %s "
                        f"AND g.entity_seq = e.seq AND {condition.replace('?', '%s')})",
                        [tenant, query.geo_attr, *params])
        return "false", []

    def _translate_where(self, tenant: str, query: EntityQuery) -> str:
        """Build the PostgreSQL WHERE clause: own fragments translated, predicates untouched."""
        own = EntityQuery(
            ids=query.ids, id_pattern=query.id_pattern, type_iris=query.type_iris,
            attrs_any=query.attrs_any, geo_attr=query.geo_attr, geo_bbox=query.geo_bbox, geo_query=query.geo_query,
            candidates=SqlPredicate("") if query.candidates is not None else None,
        )
        base, _ = self._where(tenant, own)
        if query.candidates is not None:  # drop the placeholder clause: candidates come last
            base = base.removesuffix(" AND e.seq IN ()")
        base = base.replace("?", "%s")
        extra = [f"({p.sql})" for p in query.predicates]
        if query.candidates is not None:
            extra.append(f"e.seq IN ({query.candidates.sql})")
        return " AND ".join([base, *extra])

    # discovery -----------------------------------------------------------------------
    def type_summary(self, tenant: str) -> dict[str, dict[str, int]]:
        """Map each type IRI to {attribute IRI: entity count} plus "" → entity count."""
        if self.scope is not None:
            return self._scoped_type_summary(tenant, self.scope)
        out: dict[str, dict[str, int]] = {}
        for type_iri, count in self._exec(
            "SELECT type, count(*) FROM entity_types WHERE tenant = ? GROUP BY type", (tenant,)
        ).fetchall():
            out.setdefault(type_iri, {})[""] = count
        for type_iri, attr, count in self._exec(
            "SELECT t.type, a.attr, count(*) FROM entity_types t JOIN entity_attrs a "
            "ON a.entity_seq = t.entity_seq WHERE t.tenant = ? GROUP BY t.type, a.attr",
            (tenant,),
        ).fetchall():
            out.setdefault(type_iri, {})[attr] = count
        return out

    def attribute_summary(self, tenant: str) -> dict[str, dict[str, Any]]:
        """Map each attribute IRI to its entity count, the types using it and its attribute types."""
        if self.scope is not None:
            return self._scoped_attribute_summary(tenant, self.scope)
        out: dict[str, dict[str, Any]] = {}
        for attr, attr_types, count in self._exec(
            "SELECT attr, attr_types, count(*) FROM entity_attrs WHERE tenant = ? GROUP BY attr, attr_types",
            (tenant,),
        ).fetchall():
            info = out.setdefault(attr, {"count": 0, "attributeTypes": set(), "types": set()})
            info["count"] += count
            info["attributeTypes"].update(attr_types.split(","))
        for attr, type_iri in self._exec(
            "SELECT DISTINCT a.attr, t.type FROM entity_attrs a JOIN entity_types t "
            "ON a.entity_seq = t.entity_seq WHERE a.tenant = ?",
            (tenant,),
        ).fetchall():
            out.setdefault(attr, {"count": 0, "attributeTypes": set(), "types": set()})["types"].add(type_iri)
        return out

    def _scoped_conditions(self, scope: ReadScope, tenant: str
                           ) -> tuple[tuple[str, list[Any]], tuple[str, list[Any]]] | None:
        """Conditions keeping what a scope shows: visible entities (over ``e``, with ``ty.tenant``), and
        visible types or (type, attribute) pairs (over ``ty`` and ``a``); None when nothing is visible."""
        if tenant != scope.tenant:
            return None
        condition = scope.predicate(self.dialect)
        if condition is NOTHING:
            return None
        ph = self._ph
        entities = (f"ty.tenant = {ph} AND ({condition.sql})", [tenant, *condition.params])
        if scope.attrs is not None:
            pairs = [(t, sorted(a)) for t, a in sorted(scope.attrs.items()) if a]
            if not pairs:
                return None
            sql = "(" + " OR ".join(
                f"(ty.type = {ph} AND a.attr IN ({', '.join([ph] * len(a))}))" for _, a in pairs) + ")"
            return entities, (sql, [v for t, a in pairs for v in (t, *a)])
        if scope.types is not None:
            return entities, (f"ty.type IN ({', '.join([ph] * len(scope.types))})", sorted(scope.types))
        return entities, ("1 = 1", [])

    def _scoped_type_summary(self, tenant: str, scope: ReadScope) -> dict[str, dict[str, int]]:
        """type_summary counting visible entities, types and attributes only."""
        found = self._scoped_conditions(scope, tenant)
        if found is None:
            return {}
        (entities, e_params), (pairs, p_params) = found
        ph = self._ph
        types = "1 = 1" if scope.types is None else f"ty.type IN ({', '.join([ph] * len(scope.types))})"
        out: dict[str, dict[str, int]] = {}
        for type_iri, count in self.conn.execute(
            f"SELECT ty.type, count(*) FROM entity_types ty JOIN entities e ON e.seq = ty.entity_seq "
            f"WHERE {entities} AND {types} GROUP BY ty.type", [*e_params, *sorted(scope.types or ())],
        ).fetchall():
            out.setdefault(type_iri, {})[""] = count
        for type_iri, attr, count in self.conn.execute(
            "SELECT ty.type, a.attr, count(*) FROM entity_types ty JOIN entity_attrs a ON a.entity_seq = ty.entity_seq "
            f"JOIN entities e ON e.seq = ty.entity_seq WHERE {entities} AND {pairs} GROUP BY ty.type, a.attr",
            [*e_params, *p_params],
        ).fetchall():
            out.setdefault(type_iri, {})[attr] = count
        return out

    def _scoped_attribute_summary(self, tenant: str, scope: ReadScope) -> dict[str, dict[str, Any]]:
        """attribute_summary counting visible entities and (type, attribute) pairs only."""
        found = self._scoped_conditions(scope, tenant)
        if found is None:
            return {}
        (entities, e_params), (pairs, p_params) = found
        params = [*e_params, *p_params]
        source = ("FROM entity_attrs a JOIN entity_types ty ON ty.entity_seq = a.entity_seq "
                  f"JOIN entities e ON e.seq = a.entity_seq WHERE {entities} AND {pairs}")
        out: dict[str, dict[str, Any]] = {}
        for attr, attr_types, count in self.conn.execute(
            f"SELECT a.attr, a.attr_types, count(DISTINCT a.entity_seq) {source} GROUP BY a.attr, a.attr_types", params
        ).fetchall():
            info = out.setdefault(attr, {"count": 0, "attributeTypes": set(), "types": set()})
            info["count"] += count
            info["attributeTypes"].update(attr_types.split(","))
        for attr, type_iri in self.conn.execute(f"SELECT DISTINCT a.attr, ty.type {source}", params).fetchall():
            out.setdefault(attr, {"count": 0, "attributeTypes": set(), "types": set()})["types"].add(type_iri)
        return out

    def _visible_attrs(self, tenant: str, entity_ids: Iterable[str]) -> dict[str, frozenset[str] | None]:
        """Under a read scope: the visible entities among these ids, each with its visible attributes
        (None: all). Looked up once per entity and request."""
        scope = self.scope
        assert scope is not None
        out: dict[str, frozenset[str] | None] = {}
        missing = []
        for entity_id in dict.fromkeys(entity_ids):
            try:
                known = scope.remembered(entity_id)
            except KeyError:
                missing.append(entity_id)
                continue
            if known is not False:
                out[entity_id] = known  # type: ignore[assignment]
        if not missing:
            return out
        types: dict[str, list[str]] = {}
        condition = scope.predicate(self.dialect) if tenant == scope.tenant else NOTHING
        if condition is not NOTHING:
            for where, chunk in self.in_chunks("e.id", missing):
                rows = self.conn.execute(
                    f"SELECT e.id, ty.type FROM entities e JOIN entity_types ty ON ty.entity_seq = e.seq "
                    f"WHERE e.tenant = {self._ph} AND {where} AND ({condition.sql})",
                    [tenant, *chunk, *condition.params],
                ).fetchall()
                for entity_id, type_iri in rows:
                    types.setdefault(entity_id, []).append(type_iri)
        for entity_id in missing:
            if entity_id in types:
                out[entity_id] = scope.allowed_attrs(types[entity_id])
                scope.remember(entity_id, out[entity_id])
            else:
                scope.remember(entity_id, False)
        return out

    def _scoped_history(self, tenant: str, query: HistoryQuery
                        ) -> tuple[HistoryQuery, dict[str, frozenset[str] | None]] | None:
        """The history query narrowed to the visible entities and attributes of the read scope (None:
        nothing visible), and each entity's visible attributes for the final filtering of the rows."""
        visible = self._visible_attrs(tenant, query.entity_ids)
        ids = [i for i in query.entity_ids if i in visible]
        attrs: list[str] | None = None if query.attrs is None else list(query.attrs)
        if any(v is not None for v in visible.values()):
            union = frozenset().union(*(v for v in visible.values() if v is not None))
            if all(v is not None for v in visible.values()):
                attrs = sorted(union) if attrs is None else [a for a in attrs if a in union]
        if not ids or attrs == []:
            return None
        return replace(query, entity_ids=ids, attrs=attrs), visible

    # history -------------------------------------------------------------------------
    def _history_params(self, tenant: str, row: HistoryRow) -> tuple:
        created = ts_to_us(row.created_at)
        observed = ts_to_us(row.observed_at) if row.observed_at else None
        value = instance_value(row.instance)
        return (
            tenant,
            row.entity_id,
            row.attr,
            row.dataset_id,
            row.instance_id,
            observed if observed is not None else created,
            observed,
            created,
            ts_to_us(row.modified_at or row.created_at),
            numeric(value),
            None if value is None else self._dump(value),
            row.deleted,
            self._dump(row.instance),
        )

    def _prepare_history_times(self, times: Iterable[int]) -> None:
        """Hook for backends that must prepare storage for history rows at these times (PostgreSQL partitions)."""

    def add_history(self, tenant: str, rows: Iterable[HistoryRow]) -> None:
        """Append rows to the attribute history (and to its hourly rollup)."""
        params = [self._history_params(tenant, r) for r in rows]
        if not params:
            return
        self._prepare_history_times(p[5] for p in params)
        self._many(
            "INSERT INTO attr_history (tenant, entity_id, attr, dataset_id, instance_id, ts, observed_at, "
            f"created_at, modified_at, num, val, deleted, instance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            f"{self._json_param()})",
            params,
        )
        self._add_to_rollup(tenant, params)

    def _add_to_rollup(self, tenant: str, params: list[tuple]) -> None:
        """Add freshly inserted history rows (as built by _history_params) to the hourly rollup."""
        counts: dict[RollupKey, int] = {}
        points: dict[RollupKey, list[tuple[int, float]]] = {}
        for p in params:
            if p[11] or p[6] is None:  # deleted, or not observed: outside the rollup
                continue
            ts = p[5]
            key = (p[1], p[2], ts - ts % HOUR_US, p[3])
            counts[key] = counts.get(key, 0) + 1
            if p[9] is not None:
                points.setdefault(key, []).append((ts, p[9]))
        if not counts:
            return
        fresh = {}
        for key, n_rows in counts.items():
            samples = points.get(key, [])
            samples.sort()
            fresh[key] = summarize(samples, n_rows)
        self._lock_rollup_of(tenant, {key[0] for key in fresh})
        stale, joins = self._merge_rollup(tenant, fresh)
        self._append_hists(tenant, {
            key: None if summary.hist is None else summary.hist + (hist_entry(*joins[key]) if key in joins else b"")
            for key, summary in fresh.items() if key not in stale})
        self._refresh_rollup(tenant, stale)

    # The merge of new summaries into stored hours, one statement (ON CONFLICT DO UPDATE, with o the stored
    # row and x the new one): counts and sums add, bounds widen; when the new samples all come after the
    # stored ones (or all before), the first/last sample move and the step between the two summaries (its
    # length jd, the value it ends at jv, the value before it ja) enters the step bounds, the counter increase
    # and the trapezoid integral; when they interleave (late data inside the hour), the row is marked stale
    # and summarised again from its raw rows.
    _MERGE = {
        "n_rows": "o.n_rows + x.n_rows",
        "n_num": "o.n_num + x.n_num",
        "s": "CASE WHEN x.n_num = 0 THEN o.s WHEN o.n_num = 0 THEN x.s ELSE o.s + x.s END",
        "sq": "CASE WHEN x.n_num = 0 THEN o.sq WHEN o.n_num = 0 THEN x.sq ELSE o.sq + x.sq END",
        "mn": "CASE WHEN x.n_num = 0 THEN o.mn WHEN o.n_num = 0 THEN x.mn ELSE {least}(o.mn, x.mn) END",
        "mx": "CASE WHEN x.n_num = 0 THEN o.mx WHEN o.n_num = 0 THEN x.mx ELSE {greatest}(o.mx, x.mx) END",
        "t0": "CASE WHEN x.n_num = 0 THEN o.t0 WHEN o.n_num = 0 OR x.t0 < o.t0 THEN x.t0 ELSE o.t0 END",
        "v0": "CASE WHEN x.n_num = 0 THEN o.v0 WHEN o.n_num = 0 OR x.t0 < o.t0 THEN x.v0 ELSE o.v0 END",
        "t1": "CASE WHEN x.n_num = 0 THEN o.t1 WHEN o.n_num = 0 OR x.t1 > o.t1 THEN x.t1 ELSE o.t1 END",
        "v1": "CASE WHEN x.n_num = 0 THEN o.v1 WHEN o.n_num = 0 OR x.t1 > o.t1 THEN x.v1 ELSE o.v1 END",
        "dmin": "CASE WHEN x.n_num = 0 THEN o.dmin WHEN o.n_num = 0 THEN x.dmin "
                "ELSE {least}(COALESCE(o.dmin, {jd}), COALESCE(x.dmin, {jd}), {jd}) END",
        "dmax": "CASE WHEN x.n_num = 0 THEN o.dmax WHEN o.n_num = 0 THEN x.dmax "
                "ELSE {greatest}(COALESCE(o.dmax, {jd}), COALESCE(x.dmax, {jd}), {jd}) END",
        "inc": "CASE WHEN x.n_num = 0 THEN o.inc WHEN o.n_num = 0 THEN x.inc "
               "ELSE COALESCE(o.inc + x.inc + CASE WHEN {jv} >= {ja} THEN {jv} - {ja} ELSE {jv} END, 0) END",
        "trap": "CASE WHEN x.n_num = 0 THEN o.trap WHEN o.n_num = 0 THEN x.trap "
                "ELSE COALESCE(o.trap + x.trap + ({ja} + {jv}) / 2 * (CAST({jd} AS DOUBLE PRECISION) / 1000000.0), 0) END",
        "jv": "{jv}",
        "jd": "{jd}",
        "stale": "CASE WHEN o.n_num > 0 AND x.n_num > 0 AND NOT (x.t0 > o.t1 OR x.t1 < o.t0) THEN 1 ELSE 0 END",
    }
    _JOIN = {
        "jd": "(CASE WHEN o.n_num > 0 AND x.n_num > 0 AND x.t0 > o.t1 THEN x.t0 - o.t1 "
              "WHEN o.n_num > 0 AND x.n_num > 0 AND x.t1 < o.t0 THEN o.t0 - x.t1 END)",
        "jv": "(CASE WHEN o.n_num > 0 AND x.n_num > 0 AND x.t0 > o.t1 THEN x.v0 "
              "WHEN o.n_num > 0 AND x.n_num > 0 AND x.t1 < o.t0 THEN o.v0 END)",
        "ja": "(CASE WHEN o.n_num > 0 AND x.n_num > 0 AND x.t0 > o.t1 THEN o.v1 "
              "WHEN o.n_num > 0 AND x.n_num > 0 AND x.t1 < o.t0 THEN x.v1 END)",
    }

    def _merge_sql(self) -> str:
        """The SET clause of the merge, for this dialect (o → the stored row, x → the new one)."""
        names = {"least": "min" if self.dialect == "sqlite" else "LEAST",
                 "greatest": "max" if self.dialect == "sqlite" else "GREATEST"}
        joins = {k: v.format(**names) for k, v in self._JOIN.items()}
        sets = []
        for column, expr in self._MERGE.items():
            expr = expr.format(**names, **joins)
            expr = expr.replace("o.", "attr_rollup.").replace("x.", "excluded.")
            sets.append(f"{column} = {expr}")
        return ", ".join(sets)

    def _merge_rollup(self, tenant: str, fresh: dict[RollupKey, HourSummary]
                      ) -> tuple[list[RollupKey], dict[RollupKey, tuple[float, int]]]:
        """Merge the summaries of new rows into the stored hours (inserting the hours not stored yet); return
        the hours to summarise again from their rows and, for the others that had samples already, the step
        joining the two summaries (value it ends at, length µs), which their histograms gain."""
        keys = sorted(fresh)
        names = ", ".join(ROLLUP_COLUMNS)
        conflict = f"ON CONFLICT ({_ROLLUP_KEY}) DO UPDATE SET {self._merge_sql()}"
        returning = " RETURNING entity_id, attr, hour, dataset_id, stale, jv, jd"
        stale: list[RollupKey] = []
        joins: dict[RollupKey, tuple[float, int]] = {}
        results: list[Sequence[Any]] = []
        if self.dialect == "postgres":
            typed = ", ".join(f"{c} {t}" for c, t in zip(ROLLUP_COLUMNS, _PG_ROLLUP_TYPES, strict=True))
            payload = self._dump([{"e": k[0], "a": k[1], "h": k[2], "d": k[3],
                                   **dict(zip(ROLLUP_COLUMNS, fresh[k].row(), strict=True))} for k in keys])
            results = self.conn.execute(
                f"INSERT INTO attr_rollup ({_ROLLUP_KEY}, {names}) SELECT %s, v.e, v.a, v.h, v.d, "
                f"{', '.join('v.' + c for c in ROLLUP_COLUMNS)} FROM jsonb_to_recordset(%b::jsonb) AS v(e text, "
                f"a text, h bigint, d text, {typed}) ORDER BY v.e, v.a, v.h, v.d {conflict}{returning}",
                (tenant, payload)).fetchall()
        else:
            width = 5 + len(ROLLUP_COLUMNS)
            for first in range(0, len(keys), 30_000 // width):
                chunk = keys[first : first + 30_000 // width]
                marks = ", ".join([f"({', '.join('?' * width)})"] * len(chunk))
                params = [x for k in chunk for x in (tenant, *k, *fresh[k].row())]
                results += self.conn.execute(
                    f"INSERT INTO attr_rollup ({_ROLLUP_KEY}, {names}) VALUES {marks} {conflict}{returning}",
                    params).fetchall()
        for entity_id, attr, hour, dataset_id, is_stale, jv, jd in results:
            key = (entity_id, attr, int(hour), dataset_id)
            if is_stale:
                stale.append(key)
            elif jd is not None:
                joins[key] = (float(jv), int(jd))
        return stale, joins

    def _append_hists(self, tenant: str, added: dict[RollupKey, bytes | None]) -> None:
        """Append entries to the hours' histograms (None, or a histogram not kept, leaves none); combine by
        value the ones that outgrow HIST_MAX entries (None when they hold more distinct values than that)."""
        if not added:
            return
        keys = sorted(added)
        concat = ("CASE WHEN attr_rollup_hist.hist IS NULL OR excluded.hist IS NULL THEN NULL "
                  + ("ELSE attr_rollup_hist.hist || excluded.hist END" if self.dialect == "postgres"
                     else "ELSE CAST(attr_rollup_hist.hist || excluded.hist AS BLOB) END"))
        tail = (f"ON CONFLICT ({_ROLLUP_KEY}) DO UPDATE SET hist = {concat} "
                f"RETURNING entity_id, attr, hour, dataset_id, {'octet_length' if self.dialect == 'postgres' else 'length'}(hist)")
        if self.dialect == "postgres":
            sizes = self.conn.execute(
                f"INSERT INTO attr_rollup_hist ({_ROLLUP_KEY}, hist) SELECT %s, v.e, v.a, v.h, v.d, v.x "
                "FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::text[], %b::bytea[]) AS v(e, a, h, d, x) "
                + tail, (tenant, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
                         [k[3] for k in keys], [added[k] for k in keys])).fetchall()
        else:
            sizes = []
            for first in range(0, len(keys), 5_000):
                chunk = keys[first : first + 5_000]
                sizes += self.conn.execute(
                    f"INSERT INTO attr_rollup_hist ({_ROLLUP_KEY}, hist) VALUES "
                    f"{', '.join(['(?, ?, ?, ?, ?, ?)'] * len(chunk))} " + tail,
                    [x for k in chunk for x in (tenant, *k, added[k])]).fetchall()
        grown = [(e, a, int(h), d) for e, a, h, d, size in sizes if size is not None and size > HIST_MAX * HIST_ENTRY_BYTES]
        for key in grown:
            raw = self._exec(f"SELECT hist FROM attr_rollup_hist WHERE tenant = ? AND entity_id = ? AND attr = ? "
                             "AND hour = ? AND dataset_id = ?", (tenant, *key)).fetchone()[0]
            combined = decode_hist(raw)
            self._exec("UPDATE attr_rollup_hist SET hist = ? WHERE tenant = ? AND entity_id = ? AND attr = ? "
                       "AND hour = ? AND dataset_id = ?",
                       (None if combined is None else encode_hist(combined), tenant, *key))

    def _lock_rollup_of(self, tenant: str, entity_ids: set[str]) -> None:
        """Serialise the rollup maintenance of these entities between transactions (PostgreSQL).

        One transaction-level advisory lock per entity, all taken in one statement in a fixed order:
        without it, two writers of the same hours (two ingest workers) lock existing rows and insert new
        ones in an order the other may have taken the other way, and deadlock.
        """
        if self.dialect != "postgres" or not entity_ids:
            return
        keys = sorted({int.from_bytes(blake2b(f"{tenant}\x00{e}".encode(), digest_size=8).digest(), "big", signed=True)
                       for e in entity_ids})
        self.conn.execute("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(%b::bigint[]) AS k "
                          "ORDER BY 1) AS s", (keys,))

    def _load_rollup(self, tenant: str, keys: list[RollupKey], *, lock: bool = False
                     ) -> dict[RollupKey, HourSummary]:
        """The stored summaries of these hours (locked for update on PostgreSQL when asked)."""
        if not keys:
            return {}
        columns = ", ".join(f"r.{c}" for c in ROLLUP_COLUMNS) + ", x.hist"
        hist_join = ("LEFT JOIN attr_rollup_hist x ON x.tenant = r.tenant AND x.entity_id = r.entity_id "
                     "AND x.attr = r.attr AND x.hour = r.hour AND x.dataset_id = r.dataset_id")
        out: dict[RollupKey, HourSummary] = {}
        for start in range(0, len(keys), 2000):
            chunk = keys[start : start + 2000]
            if self.dialect == "postgres":
                rows = self.conn.execute(
                    f"SELECT k.i, {columns} FROM jsonb_to_recordset(%b::jsonb) AS k(i int, e text, a text, h bigint, "
                    "d text) JOIN attr_rollup r ON r.tenant = %s AND r.entity_id = k.e AND r.attr = k.a "
                    f"AND r.hour = k.h AND r.dataset_id = k.d {hist_join} ORDER BY k.i"
                    + (" FOR UPDATE OF r" if lock else ""),
                    (self._dump([{"i": i, "e": e, "a": a, "h": h, "d": d} for i, (e, a, h, d) in enumerate(chunk)]),
                     tenant),
                ).fetchall()
            else:
                rows = self.conn.execute(
                    f"SELECT k.key, {columns} FROM json_each(?) k CROSS JOIN attr_rollup r ON r.tenant = ? "
                    "AND r.entity_id = k.value ->> 0 AND r.attr = k.value ->> 1 AND r.hour = k.value ->> 2 "
                    f"AND r.dataset_id = k.value ->> 3 {hist_join}",
                    (self._dump(chunk), tenant),
                ).fetchall()
            for row in rows:
                out[chunk[row[0]]] = HourSummary.from_row(row[1:-1], row[-1])
        return out

    def _store_rollup(self, tenant: str, rows: dict[RollupKey, HourSummary], existing: set[RollupKey]
                      ) -> list[RollupKey]:
        """Write summaries: overwrite the stored (locked) hours in ``existing``, insert the others.

        Returns the hours another transaction inserted first (PostgreSQL): the caller merges into them.
        """
        if not rows:
            return []
        keys = sorted(rows)
        names = ", ".join(ROLLUP_COLUMNS)
        update = ", ".join(f"{c} = excluded.{c}" for c in ROLLUP_COLUMNS) + ", jv = NULL, jd = NULL, stale = 0"
        conflict = f"ON CONFLICT ({_ROLLUP_KEY})"
        if self.dialect == "sqlite":
            self.conn.executemany(
                f"INSERT INTO attr_rollup ({_ROLLUP_KEY}, {names}) "
                f"VALUES ({', '.join('?' * (5 + len(ROLLUP_COLUMNS)))}) {conflict} DO UPDATE SET {update}",
                [(tenant, *key, *rows[key].row()) for key in keys],
            )
            self.conn.executemany(
                f"INSERT INTO attr_rollup_hist ({_ROLLUP_KEY}, hist) VALUES (?, ?, ?, ?, ?, ?) "
                f"{conflict} DO UPDATE SET hist = excluded.hist",
                [(tenant, *key, rows[key].hist) for key in keys],
            )
            return []
        typed = ", ".join(f"{c} {t}" for c, t in zip(ROLLUP_COLUMNS, _PG_ROLLUP_TYPES, strict=True))
        select = (f"SELECT %s, v.e, v.a, v.h, v.d, {', '.join('v.' + c for c in ROLLUP_COLUMNS)} "
                  "FROM jsonb_to_recordset(%b::jsonb) AS v(e text, a text, h bigint, d text, "
                  f"{typed}) ORDER BY v.e, v.a, v.h, v.d")
        insert = f"INSERT INTO attr_rollup ({_ROLLUP_KEY}, {names}) "

        def payload(chosen: list[RollupKey]) -> str:
            return self._dump([{"e": k[0], "a": k[1], "h": k[2], "d": k[3],
                                **dict(zip(ROLLUP_COLUMNS, rows[k].row(), strict=True))} for k in chosen])

        old = [k for k in keys if k in existing]
        new = [k for k in keys if k not in existing]
        if old:
            self.conn.execute(insert + select + f" {conflict} DO UPDATE SET {update}", (tenant, payload(old)))
        done: set[RollupKey] = set()
        if new:
            done = {tuple(r) for r in self.conn.execute(  # type: ignore[misc]
                insert + select + f" {conflict} DO NOTHING RETURNING entity_id, attr, hour, dataset_id",
                (tenant, payload(new))).fetchall()}
        written = [k for k in keys if k in existing or k in done]
        if written:
            hists = [rows[k].hist for k in written]
            self.conn.execute(
                f"INSERT INTO attr_rollup_hist ({_ROLLUP_KEY}, hist) SELECT %s, v.e, v.a, v.h, v.d, v.x "
                "FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::text[], %b::bytea[]) AS v(e, a, h, d, x) "
                f"{conflict} DO UPDATE SET hist = excluded.hist",
                (tenant, [k[0] for k in written], [k[1] for k in written], [k[2] for k in written],
                 [k[3] for k in written], hists),
            )
        return [k for k in new if k not in done]

    def _refresh_rollup(self, tenant: str, keys: Iterable[RollupKey]) -> None:
        """Summarise hours (entity id, attribute, hour, datasetId) again from the history rows left in them."""
        pending = sorted(set(keys))
        self._lock_rollup_of(tenant, {key[0] for key in pending})
        while pending:
            existing = self._load_rollup(tenant, pending, lock=True)
            counts: dict[RollupKey, int] = {}
            points: dict[RollupKey, list[tuple[int, float]]] = {}
            for start in range(0, len(pending), 500):
                chunk = pending[start : start + 500]
                for index, ts, num in self._hour_rows(tenant, chunk):
                    key = chunk[index]
                    counts[key] = counts.get(key, 0) + 1
                    if num is not None:
                        points.setdefault(key, []).append((ts, num))
            gone = [k for k in pending if k not in counts and k in existing]
            for start in range(0, len(gone), 500):
                chunk = gone[start : start + 500]
                for table in ("attr_rollup", "attr_rollup_hist"):
                    if self.dialect == "postgres":
                        self.conn.execute(
                            f"DELETE FROM {table} r USING jsonb_to_recordset(%b::jsonb) AS k(e text, a text, "
                            "h bigint, d text) WHERE r.tenant = %s AND r.entity_id = k.e AND r.attr = k.a "
                            "AND r.hour = k.h AND r.dataset_id = k.d",
                            (self._dump([{"e": e, "a": a, "h": h, "d": d} for e, a, h, d in chunk]), tenant))
                    else:
                        self.conn.executemany(
                            f"DELETE FROM {table} WHERE tenant = ? AND entity_id = ? AND attr = ? AND hour = ? "
                            "AND dataset_id = ?", [(tenant, *k) for k in chunk])
            summaries = {k: summarize(sorted(points.get(k, [])), n) for k, n in counts.items()}
            pending = self._store_rollup(tenant, summaries, set(existing))

    def _hour_rows(self, tenant: str, keys: list[RollupKey]) -> list[tuple[int, int, float | None]]:
        """(index of the key, ts, num) of the observed, non-deleted history rows in each hour, by time."""
        if self.dialect == "postgres":
            # one index range per hour (LATERAL, OFFSET 0 keeps it from being flattened into a join that
            # the planner would run as a scan of the whole history)
            return self.conn.execute(
                "SELECT k.i, x.ts, x.num FROM jsonb_to_recordset(%b::jsonb) AS k(i int, e text, a text, hr bigint, "
                "d text) CROSS JOIN LATERAL (SELECT h.ts, h.num FROM attr_history h WHERE h.tenant = %s "
                f"AND h.entity_id = k.e AND h.attr = k.a AND h.ts >= k.hr AND h.ts < k.hr + {HOUR_US} "
                "AND h.dataset_id = k.d AND NOT h.deleted AND h.observed_at IS NOT NULL OFFSET 0) x "
                "ORDER BY k.i, x.ts",
                (self._dump([{"i": i, "e": e, "a": a, "hr": h, "d": d} for i, (e, a, h, d) in enumerate(keys)]),
                 tenant),
            ).fetchall()
        return self.conn.execute(
            "SELECT k.key, h.ts, h.num FROM json_each(?) k CROSS JOIN attr_history h ON h.tenant = ? "
            "AND h.entity_id = k.value ->> 0 AND h.attr = k.value ->> 1 AND h.ts >= k.value ->> 2 "
            f"AND h.ts < (k.value ->> 2) + {HOUR_US} AND h.dataset_id = k.value ->> 3 "
            "WHERE h.deleted = 0 AND h.observed_at IS NOT NULL ORDER BY k.key, h.ts",
            (self._dump(keys), tenant),
        ).fetchall()

    def rebuild_rollup(self) -> int:
        """Summarise the whole history into the rollup again (the migration's back-fill); return the hours."""
        self._exec("DELETE FROM attr_rollup")
        self._exec("DELETE FROM attr_rollup_hist")
        alive = "deleted = 0" if self.dialect == "sqlite" else "NOT deleted"
        sql = (f"SELECT tenant, entity_id, attr, dataset_id, ts, num FROM attr_history WHERE {alive} "
               "AND observed_at IS NOT NULL ORDER BY tenant, entity_id, attr, ts")
        cursor = self.conn.cursor(name="calanque_rollup_rebuild") if self.dialect == "postgres" else self.conn.cursor()
        if self.dialect == "postgres":
            cursor.itersize = 20_000
        cursor.execute(sql)
        written = 0
        batch: dict[str, dict[RollupKey, HourSummary]] = {}

        def flush() -> None:
            nonlocal written
            for tenant, summaries in batch.items():
                self._store_rollup(tenant, summaries, set(summaries))
                written += len(summaries)
            batch.clear()

        size = 0
        for (tenant, entity_id, attr, hour), group in groupby(
            cursor, key=lambda r: (r[0], r[1], r[2], r[4] - r[4] % HOUR_US)
        ):
            counts: dict[str, int] = {}
            points: dict[str, list[tuple[int, float]]] = {}
            for row in group:
                counts[row[3]] = counts.get(row[3], 0) + 1
                if row[5] is not None:
                    points.setdefault(row[3], []).append((row[4], row[5]))
            for dataset_id, n_rows in counts.items():
                batch.setdefault(tenant, {})[(entity_id, attr, hour, dataset_id)] = summarize(
                    sorted(points.get(dataset_id, [])), n_rows)
                size += 1
            if size >= 5000:
                flush()
                size = 0
        flush()
        cursor.close()
        return written

    def _rollup_keys(self, where: str, params: Sequence[Any]) -> list[RollupKey]:
        """The rollup hours touched by the history rows matching a condition."""
        mod = "%" if self.dialect == "sqlite" else "%%"  # psycopg placeholders use '%'
        hour = f"ts - (((ts {mod} {HOUR_US}) + {HOUR_US}) {mod} {HOUR_US})"
        return [tuple(r) for r in self._exec(  # type: ignore[misc]
            f"SELECT DISTINCT entity_id, attr, {hour}, dataset_id FROM attr_history WHERE {where}", params).fetchall()]

    def read_rollup(
        self, tenant: str, entity_id: str, attr: str, start_us: int, end_us: int, *, dataset_id: str,
        hist: bool = False,
    ) -> HourlyRollup:
        """The hourly summaries of one attribute instance for the hours starting in [start_us, end_us)."""
        # numbers only (NULL step bounds of single-sample hours as -1): the rows become one float64 array
        # (epoch microseconds are exact in a double until 2255)
        columns = ("r.hour, r.n_num, r.s, r.mn, r.mx, r.t0, r.v0, r.t1, r.v1, COALESCE(r.dmin, -1), "
                   "COALESCE(r.dmax, -1), r.inc, r.trap")
        where = ("r.tenant = ? AND r.entity_id = ? AND r.attr = ? AND r.hour >= ? AND r.hour < ? "
                 "AND r.dataset_id = ? AND r.n_num > 0")
        if hist:
            sql = (f"SELECT {columns}, x.hist FROM attr_rollup r LEFT JOIN attr_rollup_hist x ON x.tenant = r.tenant "
                   "AND x.entity_id = r.entity_id AND x.attr = r.attr AND x.hour = r.hour AND x.dataset_id = r.dataset_id "
                   f"WHERE {where} ORDER BY r.hour")
        else:
            sql = f"SELECT {columns} FROM attr_rollup r WHERE {where} ORDER BY r.hour"
        rows = self._exec(sql, (tenant, entity_id, attr, int(start_us), int(end_us), dataset_id)).fetchall()
        if not rows:
            return HourlyRollup.empty()
        blobs: list[bytes | None] = [None] * len(rows)
        if hist:
            blobs = [None if r[13] is None else bytes(r[13]) for r in rows]
            rows = [r[:13] for r in rows]
        table = np.array(rows, dtype=np.float64)
        ints = table[:, [0, 1, 5, 7, 9, 10]].astype(np.int64)
        return HourlyRollup(
            hour=ints[:, 0], n=ints[:, 1], s=table[:, 2], mn=table[:, 3], mx=table[:, 4], t0=ints[:, 2],
            v0=table[:, 6], t1=ints[:, 3], v1=table[:, 8], dmin=ints[:, 4], dmax=ints[:, 5], inc=table[:, 11],
            trap=table[:, 12], hist=blobs,
        )

    def read_series_of(
        self, tenant: str, entity_ids: Sequence[str], attr: str, start_us: int | None, end_us: int | None, *,
        dataset_id: str,
    ) -> list[tuple[str, int, float]]:
        """:meth:`read_series` of one attribute instance of many entities at once, ordered by entity and time."""
        alive = "deleted = 0" if self.dialect == "sqlite" else "NOT deleted"
        window = ""
        bounds: list[Any] = []
        if start_us is not None:
            window += " AND ts >= ?"
            bounds.append(int(start_us))
        if end_us is not None:
            window += " AND ts < ?"
            bounds.append(int(end_us))
        rows: list[tuple[str, int, float]] = []
        for where, params in self.in_chunks("entity_id", sorted(set(entity_ids))):
            rows += self._exec(
                f"SELECT entity_id, ts, num FROM attr_history WHERE tenant = ? AND {where} AND attr = ? "
                f"AND dataset_id = ? AND {alive} AND observed_at IS NOT NULL AND num IS NOT NULL{window} "
                "ORDER BY entity_id, ts",
                (tenant, *params, attr, dataset_id, *bounds),
            ).fetchall()
        return rows

    def read_series_in(
        self, tenant: str, entity_id: str, attr: str, ranges: Sequence[tuple[int, int]], *, dataset_id: str,
    ) -> list[tuple[int, float]]:
        """:meth:`read_series` of one instance over several [start µs, end µs) ranges at once."""
        if not ranges:
            return []
        if len(ranges) == 1:
            return self.read_series(tenant, entity_id, attr, ranges[0][0], ranges[0][1], dataset_id=dataset_id)
        bounds = self._dump([[int(a), int(b)] for a, b in ranges])
        if self.dialect == "postgres":
            return self.conn.execute(
                "SELECT x.ts, x.num FROM jsonb_to_recordset(%b::jsonb) AS r(a bigint, b bigint) CROSS JOIN LATERAL "
                "(SELECT h.ts, h.num FROM attr_history h WHERE h.tenant = %s AND h.entity_id = %s AND h.attr = %s "
                "AND h.ts >= r.a AND h.ts < r.b AND h.dataset_id = %s AND NOT h.deleted "
                "AND h.observed_at IS NOT NULL AND h.num IS NOT NULL OFFSET 0) x ORDER BY x.ts",
                ("[" + ",".join(f'{{"a":{a},"b":{b}}}' for a, b in ranges) + "]", tenant, entity_id, attr,
                 dataset_id),
            ).fetchall()
        return self.conn.execute(
            "SELECT h.ts, h.num FROM json_each(?) r CROSS JOIN attr_history h ON h.tenant = ? AND h.entity_id = ? "
            "AND h.attr = ? AND h.ts >= r.value ->> 0 AND h.ts < r.value ->> 1 WHERE h.dataset_id = ? "
            "AND h.deleted = 0 AND h.observed_at IS NOT NULL AND h.num IS NOT NULL ORDER BY h.ts",
            (bounds, tenant, entity_id, attr, dataset_id),
        ).fetchall()

    def _history_where(self, tenant: str, query: HistoryQuery) -> tuple[str, list[Any]]:
        clauses = ["tenant = ?"]
        params: list[Any] = [tenant]
        clauses.append(f"entity_id IN ({','.join('?' * len(query.entity_ids)) or 'NULL'})")
        params += list(query.entity_ids)
        if query.attrs is not None:
            clauses.append(f"attr IN ({','.join('?' * len(query.attrs)) or 'NULL'})")
            params += list(query.attrs)
        column = _TIME_COLUMN[query.timeproperty]
        if query.timeproperty == "observedAt":
            clauses.append("observed_at IS NOT NULL")  # deletions are never observed
        elif query.timeproperty == "createdAt":  # a deletion creates nothing
            clauses.append("deleted = 0" if self.dialect == "sqlite" else "NOT deleted")
        elif query.timeproperty == "deletedAt":
            clauses.append("deleted = 1" if self.dialect == "sqlite" else "deleted")
        if query.start is not None:
            clauses.append(f"{column} >= ?")
            params.append(ts_to_us(query.start))
        if query.end is not None:
            clauses.append(f"{column} < ?")
            params.append(ts_to_us(query.end))
        return " AND ".join(clauses), params

    def read_history(self, tenant: str, query: HistoryQuery) -> list[HistoryRow]:
        """Read history rows ordered by entity, attribute and time (ascending)."""
        if not query.entity_ids:
            return []
        if self.scope is not None:
            scoped = self._scoped_history(tenant, query)
            if scoped is None:
                return []
            narrowed, visible = scoped
            return [r for r in self._read_history(tenant, narrowed)
                    if visible[r.entity_id] is None or r.attr in visible[r.entity_id]]  # type: ignore[operator]
        return self._read_history(tenant, query)

    def _read_history(self, tenant: str, query: HistoryQuery) -> list[HistoryRow]:
        where, params = self._history_where(tenant, query)
        column = _TIME_COLUMN[query.timeproperty]
        select = (
            "SELECT entity_id, attr, dataset_id, instance_id, observed_at, created_at, modified_at, deleted, "
            f"instance, {column} AS t FROM attr_history WHERE {where}"
        )
        pairs = len(set(query.entity_ids)) * len(set(query.attrs)) if query.attrs is not None else None
        if query.last_n and not query.last_n_by_dataset and pairs is not None and pairs <= 200:
            # The last N of each (entity, attribute) by an indexed descending read each, instead of a
            # window function over every row (a year of 1-minute history to find one instance).
            rows = []
            for entity_id in sorted(set(query.entity_ids)):
                for attr in sorted(set(query.attrs or ())):
                    one = replace(query, entity_ids=[entity_id], attrs=[attr], last_n=None, limit=None)
                    where_one, params_one = self._history_where(tenant, one)
                    rows += self._exec(
                        "SELECT entity_id, attr, dataset_id, instance_id, observed_at, created_at, modified_at, "
                        f"deleted, instance, {column} AS t FROM attr_history WHERE {where_one} "
                        f"ORDER BY {column} DESC LIMIT {int(query.last_n)}", params_one).fetchall()
            rows.sort(key=itemgetter(0, 1, 9))
            if query.limit:
                rows = rows[: int(query.limit)]
        else:
            if query.last_n:
                partition = "entity_id, attr, dataset_id" if query.last_n_by_dataset else "entity_id, attr"
                sql = (
                    f"SELECT * FROM (SELECT h.*, row_number() OVER (PARTITION BY {partition} ORDER BY t DESC) "
                    f"AS rn FROM ({select}) h) r WHERE rn <= {int(query.last_n)} ORDER BY entity_id, attr, t"
                )
            else:
                sql = f"{select} ORDER BY entity_id, attr, t"
            if query.limit:
                sql += f" LIMIT {int(query.limit)}"
            rows = self._exec(sql, params).fetchall()
        return [
            HistoryRow(
                entity_id=r[0],
                attr=r[1],
                dataset_id=r[2],
                instance_id=r[3],
                observed_at=us_to_ts(r[4]) if r[4] is not None else None,
                created_at=us_to_ts(r[5]),
                modified_at=us_to_ts(r[6]),
                deleted=bool(r[7]),
                instance=self._load(r[8]),
            )
            for r in rows
        ]

    def aggregate_history(
        self,
        tenant: str,
        query: HistoryQuery,
        *,
        origin: str,
        period_us: int,
        methods: Sequence[str],
    ) -> dict[tuple[str, str], tuple[list[int], dict[str, list[Any]]]]:
        """Aggregate numeric history in fixed buckets of period_us microseconds from origin."""
        if not query.entity_ids:
            return {}
        if self.scope is not None:
            scoped = self._scoped_history(tenant, query)
            if scoped is None:
                return {}
            query, visible = scoped
            found = self._aggregate(tenant, query, origin, period_us, methods)
            return {k: v for k, v in found.items() if visible[k[0]] is None or k[1] in visible[k[0]]}  # type: ignore[operator]
        return self._aggregate(tenant, query, origin, period_us, methods)

    def _aggregate(self, tenant: str, query: HistoryQuery, origin: str, period_us: int, methods: Sequence[str]
                   ) -> dict[tuple[str, str], tuple[list[int], dict[str, list[Any]]]]:
        unknown = set(methods) - set(AGGREGATION_METHODS)
        if unknown:
            raise ValueError(f"unknown aggregation method(s): {', '.join(sorted(unknown))}")
        origin_us = ts_to_us(origin)
        if self._rollup_answers(query, origin_us, period_us, methods):
            return self._aggregate_rollup(tenant, query, origin_us, period_us, methods)
        where, params = self._history_where(tenant, query)
        column = _TIME_COLUMN[query.timeproperty]
        bucket = f"(({column} - ?) / ?)"
        # Only the aggregates the methods need: count(DISTINCT val) in particular reads the
        # value text of every row, which the covering index does not hold.
        wanted = set(methods)
        exprs = {
            "total": "count(*)" if "totalCount" in wanted else "NULL",
            "distinct": "count(DISTINCT val)" if "distinctCount" in wanted else "NULL",
            "sum": "sum(num)" if wanted & {"sum", "avg", "stddev"} else "NULL",
            "min": "min(num)" if "min" in wanted else "NULL",
            "max": "max(num)" if "max" in wanted else "NULL",
            "sq": "sum(num * num)" if wanted & {"sumsq", "stddev"} else "NULL",
        }
        sql = (
            f"SELECT entity_id, attr, {bucket} AS b, {', '.join(exprs.values())}, count(num) "
            f"FROM attr_history WHERE {where} AND NOT deleted "
            f"AND {column} >= ? GROUP BY entity_id, attr, b ORDER BY entity_id, attr, b"
        )
        if self.dialect == "sqlite":
            sql = sql.replace("NOT deleted", "deleted = 0")
        rows = self._exec(sql, [origin_us, period_us, *params, origin_us]).fetchall()
        return self._buckets(rows, methods)

    @staticmethod
    def _rollup_answers(query: HistoryQuery, origin_us: int, period_us: int, methods: Sequence[str]) -> bool:
        """Whether the hourly rollup gives this aggregation: observedAt, whole hours, hour-aligned
        origin and window, no distinctCount (the rollup keeps no values)."""
        bounds = [origin_us] + [ts_to_us(t) for t in (query.start, query.end) if t is not None]
        return (
            query.timeproperty == "observedAt"
            and "distinctCount" not in methods
            and period_us > 0
            and period_us % HOUR_US == 0
            and all(b % HOUR_US == 0 for b in bounds)
        )

    def _aggregate_rollup(self, tenant: str, query: HistoryQuery, origin_us: int, period_us: int,
                          methods: Sequence[str]) -> dict[tuple[str, str], tuple[list[int], dict[str, list[Any]]]]:
        """The aggregation answered from the hourly rollup, one indexed range read per entity.

        Only the columns the methods need are read (the row conversion is most of the cost); the
        attribute column only when several attributes are asked for.
        """
        needed = {"total": "totalCount" in methods, "s": bool({"sum", "avg", "stddev"} & set(methods)),
                  "mn": "min" in methods, "mx": "max" in methods, "sq": bool({"sumsq", "stddev"} & set(methods))}
        # Rows are per hour and datasetId: always grouped into buckets (one bucket of one-hour periods
        # may hold several datasets).
        agg = {"total": "sum(n_rows)", "s": "sum(s)", "mn": "min(mn)", "mx": "max(mx)", "sq": "sum(sq)"}
        cast = "" if self.dialect == "sqlite" else "::bigint"
        columns = [(agg[name] + (cast if name == "total" else "")) if wanted else "NULL"
                   for name, wanted in needed.items()]
        n_col = f"sum(n_num){cast}"
        one_attr = query.attrs is not None and len(query.attrs) == 1
        clauses = ["tenant = ?", "entity_id = ?", "hour >= ?"]
        tail: list[Any] = [origin_us]
        if query.attrs is not None:
            clauses.append(f"attr IN ({','.join('?' * len(query.attrs)) or 'NULL'})")
            tail += list(query.attrs)
        if query.start is not None:
            clauses.append("hour >= ?")
            tail.append(ts_to_us(query.start))
        if query.end is not None:
            clauses.append("hour < ?")
            tail.append(ts_to_us(query.end))
        attr_col = "NULL" if one_attr else "attr"
        sql = (f"SELECT {attr_col}, ((hour - ?) / ?) AS b, {', '.join(columns)}, {n_col} FROM attr_rollup "
               f"WHERE {' AND '.join(clauses)}")
        sql += " GROUP BY attr, b ORDER BY attr, b"
        sql = self._sql(sql)
        out: dict[tuple[str, str], tuple[list[int], dict[str, list[Any]]]] = {}
        for entity_id in sorted(set(query.entity_ids)):
            rows = self.conn.execute(sql, (origin_us, period_us, tenant, entity_id, *tail)).fetchall()
            for attr, group in groupby(rows, key=itemgetter(0)):
                _, b, total, s, mn, mx, sq, n = zip(*group)
                key = (entity_id, query.attrs[0] if one_attr else attr)
                out[key] = ([int(x) for x in b],
                            {m: _METHOD_COLUMN[m](total, None, s, mn, mx, sq, n) for m in methods})
        return out

    @staticmethod
    def _buckets(rows: list[Sequence[Any]], methods: Sequence[str]
                 ) -> dict[tuple[str, str], tuple[list[int], dict[str, list[Any]]]]:
        """Turn (entity, attr, bucket, total, distinct, sum, min, max, sumsq, n) rows, ordered by entity,
        attribute and bucket, into columns: bucket indexes and one list of values per method."""
        out: dict[tuple[str, str], tuple[list[int], dict[str, list[Any]]]] = {}
        for key, group in groupby(rows, key=itemgetter(0, 1)):
            columns = list(zip(*group))
            out[key] = ([int(b) for b in columns[2]], {m: _METHOD_COLUMN[m](*columns[3:]) for m in methods})
        return out

    def read_series(
        self, tenant: str, entity_id: str, attr: str, start_us: int | None = None, end_us: int | None = None,
        *, dataset_id: str | None = None, limit: int | None = None,
    ) -> list[tuple[int, float]]:
        """The numeric history of one attribute as (observedAt µs, value) pairs, oldest first."""
        if self.scope is not None:
            visible = self._visible_attrs(tenant, [entity_id])
            if entity_id not in visible or (visible[entity_id] is not None and attr not in visible[entity_id]):  # type: ignore[operator]
                return []
        sql = ("SELECT ts, num FROM attr_history WHERE tenant = ? AND entity_id = ? AND attr = ? "
               f"AND {'deleted = 0' if self.dialect == 'sqlite' else 'NOT deleted'} "
               "AND observed_at IS NOT NULL AND num IS NOT NULL")
        params: list[Any] = [tenant, entity_id, attr]
        if start_us is not None:
            sql += " AND ts >= ?"
            params.append(int(start_us))
        if end_us is not None:
            sql += " AND ts < ?"
            params.append(int(end_us))
        if dataset_id is not None:
            sql += " AND dataset_id = ?"
            params.append(dataset_id)
        sql += " ORDER BY ts"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._exec(sql, params).fetchall()

    def earliest_history(self, tenant: str, query: HistoryQuery) -> str | None:
        """The earliest time (on the query's time property) among the matching rows holding values."""
        if not query.entity_ids:
            return None
        if self.scope is not None:  # per group of entities sharing their visible attributes
            scoped = self._scoped_history(tenant, query)
            if scoped is None:
                return None
            query, visible = scoped
            groups: dict[frozenset[str] | None, list[str]] = {}
            for entity_id in query.entity_ids:
                groups.setdefault(visible[entity_id], []).append(entity_id)
            found = []
            for allowed, ids in groups.items():
                attrs = query.attrs if allowed is None else [a for a in (query.attrs or sorted(allowed))
                                                             if a in allowed]
                if attrs != []:
                    found.append(self._earliest(tenant, replace(query, entity_ids=ids, attrs=attrs)))
            moments = [m for m in found if m is not None]
            return min(moments, key=ts_to_us) if moments else None
        return self._earliest(tenant, query)

    def _earliest(self, tenant: str, query: HistoryQuery) -> str | None:
        where, params = self._history_where(tenant, query)
        column = _TIME_COLUMN[query.timeproperty]
        alive = "deleted = 0" if self.dialect == "sqlite" else "NOT deleted"  # the origin of aggregated values
        row = self._exec(f"SELECT min({column}) FROM attr_history WHERE {where} AND {alive}", params).fetchone()
        return us_to_ts(row[0]) if row and row[0] is not None else None

    def delete_history(
        self, tenant: str, entity_id: str, attr: str | None = None, instance_id: str | None = None,
        dataset_id: str | None = None,
    ) -> int:
        """Delete history rows of an entity; return how many were deleted (the rollup follows)."""
        where = "tenant = ? AND entity_id = ?"
        params: list[Any] = [tenant, entity_id]
        if attr is not None:
            where += " AND attr = ?"
            params.append(attr)
        if instance_id is not None:
            where += " AND instance_id = ?"
            params.append(instance_id)
        if dataset_id is not None:
            where += " AND dataset_id = ?"
            params.append(dataset_id)
        partial = instance_id is not None or dataset_id is not None
        keys = self._rollup_keys(where, params) if partial else []
        count = self._exec(f"DELETE FROM attr_history WHERE {where}", params).rowcount
        if partial:
            self._refresh_rollup(tenant, keys)
        else:  # every row of the entity (or of one attribute) is gone: so are its rollup hours
            self._exec(f"DELETE FROM attr_rollup WHERE {where}", params)
            self._exec(f"DELETE FROM attr_rollup_hist WHERE {where}", params)
        return count

    def update_history_instance(self, tenant: str, entity_id: str, attr: str, instance_id: str,
                                instance: dict) -> bool:
        """Replace one stored history instance; return False when it does not exist."""
        value = instance_value(instance)
        observed = ts_to_us(instance["observedAt"]) if instance.get("observedAt") else None
        # a new observedAt moves the instance in time: its indexed time (ts) follows, and the hours it
        # leaves and enters are summarised again
        sql = (
            f"UPDATE attr_history SET instance = {self._json_param()}, num = ?, val = ?, "
            "modified_at = ?, observed_at = COALESCE(?, observed_at), ts = COALESCE(?, ts) "
            "WHERE tenant = ? AND entity_id = ? AND attr = ? AND instance_id = ?"
        )
        where = "tenant = ? AND entity_id = ? AND attr = ? AND instance_id = ?"
        keys = self._rollup_keys(where, (tenant, entity_id, attr, instance_id))
        if observed is not None:
            self._prepare_history_times([observed])
        cur = self._exec(
            sql,
            (
                self._dump(instance),
                numeric(value),
                None if value is None else self._dump(value),
                ts_to_us(instance.get("modifiedAt") or datetime.now(UTC).isoformat().replace("+00:00", "Z")),
                observed,
                observed,
                tenant,
                entity_id,
                attr,
                instance_id,
            ),
        )
        keys += self._rollup_keys(where, (tenant, entity_id, attr, instance_id))
        self._refresh_rollup(tenant, keys)
        return cur.rowcount > 0

    def temporal_entity(self, tenant: str, entity_id: str) -> dict | None:
        """Return the identity of an entity that has history, or None."""
        row = self._exec(
            "SELECT id, types, created_at, modified_at, deleted_at FROM temporal_entities WHERE tenant = ? AND id = ?",
            (tenant, entity_id),
        ).fetchone()
        if row is None:
            return None
        ident = self._identity(row)
        if self.scope is not None:
            if entity_id not in self._visible_attrs(tenant, [entity_id]):
                return None
            ident["type"] = self.scope.visible_types(ident["type"])
        return ident

    def temporal_entity_ids(self, tenant: str, query: EntityQuery) -> list[dict]:
        """Identities of entities with history matching the id, idPattern and type filters."""
        clauses = ["tenant = ?"]
        params: list[Any] = [tenant]
        if query.ids is not None:
            clauses.append(f"id IN ({','.join('?' * len(query.ids)) or 'NULL'})")
            params += list(query.ids)
        if query.id_pattern is not None:
            clauses.append("regexp(?, id)" if self.dialect == "sqlite" else "id ~ ?")
            params.append(query.id_pattern)
        if query.type_iris is not None:
            clauses.append(
                "id IN (SELECT tt.id FROM temporal_entity_types tt WHERE tt.tenant = ? "
                f"AND tt.type IN ({','.join('?' * len(query.type_iris)) or 'NULL'}))"
            )
            params += [tenant, *query.type_iris]
        rows = self._exec(
            f"SELECT id, types, created_at, modified_at, deleted_at FROM temporal_entities "
            f"WHERE {' AND '.join(clauses)} ORDER BY id",
            params,
        ).fetchall()
        idents = [self._identity(r) for r in rows]
        scope = self.scope
        if scope is None:
            return idents
        # an entity's history is visible while the entity itself is (its current commune, its types)
        visible = self._visible_attrs(tenant, [i["id"] for i in idents])
        return [{**i, "type": scope.visible_types(i["type"])} for i in idents if i["id"] in visible]

    @staticmethod
    def _identity(row: Sequence[Any]) -> dict:
        """A temporal entity's identity from (id, types, created_at, modified_at, deleted_at)."""
        ident = {"id": row[0], "type": orjson.loads(row[1]), "createdAt": row[2], "modifiedAt": row[3]}
        if row[4] is not None:
            ident["deletedAt"] = row[4]
        return ident

    def upsert_temporal_entities(self, tenant: str, entities: Sequence[dict], *, revive: bool = True) -> None:
        """Record (or extend) the identity of entities that have history.

        ``revive``: the entities exist (they were just written), so a deletion recorded earlier no
        longer holds; the temporal API, which adds history without creating entities, passes False.
        """
        if not entities:
            return
        current = {}
        ids = [e["id"] for e in entities]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for entity_id, types in self._exec(
                f"SELECT id, types FROM temporal_entities WHERE tenant = ? AND id IN ({','.join('?' * len(chunk))})",
                (tenant, *chunk),
            ).fetchall():
                current[entity_id] = orjson.loads(types)
        inserts, updates, new_types = [], [], []
        for e in entities:
            if e["id"] in current:
                known = current[e["id"]]
                merged = list(dict.fromkeys([*known, *e["type"]]))
                updates.append((self._dump(merged), e["modifiedAt"], tenant, e["id"]))
                new_types += [(tenant, t, e["id"]) for t in merged[len(known):]]
                current[e["id"]] = merged
            else:
                inserts.append((tenant, e["id"], self._dump(list(e["type"])), e["createdAt"], e["modifiedAt"]))
                current[e["id"]] = list(dict.fromkeys(e["type"]))
                new_types += [(tenant, t, e["id"]) for t in current[e["id"]]]
        self._many(
            "INSERT INTO temporal_entity_types (tenant, type, id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", new_types
        )
        self._many(
            "INSERT INTO temporal_entities (tenant, id, types, created_at, modified_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant, id) DO NOTHING",
            inserts,
        )
        revived = ", deleted_at = NULL" if revive else ""
        self._many(f"UPDATE temporal_entities SET types = ?, modified_at = ?{revived} WHERE tenant = ? AND id = ?",
                   updates)

    def mark_temporal_entities_deleted(self, tenant: str, ids: Sequence[str], deleted_at: str) -> None:
        """Record that entities were deleted at a time (their history stays)."""
        for where, params in self.in_chunks("id", ids):
            self._exec(f"UPDATE temporal_entities SET deleted_at = ?, modified_at = ? WHERE tenant = ? AND {where}",
                       (deleted_at, deleted_at, tenant, *params))

    def delete_temporal_entity(self, tenant: str, entity_id: str) -> bool:
        """Delete an entity's whole history and identity; return whether it existed."""
        n = self.delete_history(tenant, entity_id)
        self._exec("DELETE FROM temporal_entity_types WHERE tenant = ? AND id = ?", (tenant, entity_id))
        cur = self._exec("DELETE FROM temporal_entities WHERE tenant = ? AND id = ?", (tenant, entity_id))
        return bool(n or cur.rowcount)

    # JSON-LD contexts ----------------------------------------------------------------
    def context_get(self, url: str) -> dict | None:
        """Return a stored context with its metadata, or None."""
        row = self._exec(
            "SELECT url, local_id, kind, doc, created_at, last_usage, hits FROM jsonld_contexts WHERE url = ? "
            "OR local_id = ?",
            (url, url),
        ).fetchone()
        return None if row is None else self._context_row(row)

    def _context_row(self, row: Sequence[Any]) -> dict:
        return {
            "url": row[0], "localId": row[1], "kind": row[2], "doc": self._load(row[3]), "createdAt": row[4],
            "lastUsage": row[5], "numberOfHits": row[6],
        }

    def context_put(self, url: str, doc: Any, kind: str, local_id: str) -> None:
        """Insert or replace a stored context."""
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        self._exec(
            f"INSERT INTO jsonld_contexts (url, local_id, kind, doc, created_at, hits) VALUES (?, ?, ?, "
            f"{self._json_param()}, ?, 0) ON CONFLICT (url) DO UPDATE SET doc = excluded.doc, kind = excluded.kind",
            (url, local_id, kind, self._dump(doc), now),
        )

    def context_delete(self, url: str) -> bool:
        """Delete a stored context; return whether it existed."""
        return self._exec("DELETE FROM jsonld_contexts WHERE url = ? OR local_id = ?", (url, url)).rowcount > 0

    def context_list(self) -> list[dict]:
        """List stored contexts with their metadata."""
        rows = self._exec(
            "SELECT url, local_id, kind, doc, created_at, last_usage, hits FROM jsonld_contexts ORDER BY created_at"
        ).fetchall()
        return [self._context_row(r) for r in rows]

    def context_touch(self, url: str) -> None:
        """Count one use of a stored context."""
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        self._exec("UPDATE jsonld_contexts SET hits = hits + 1, last_usage = ? WHERE url = ?", (now, url))

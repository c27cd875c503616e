"""The SQL session shared by both backends; dialect differences are small hooks.

Statements are written with ``?`` placeholders and translated to ``%s`` for PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from calanque.ngsild.canonical import VALUE_MEMBER
from calanque.store.base import Dialect, EntityQuery, HistoryQuery, HistoryRow, Session

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AGGREGATION_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")


def ts_to_us(text: str) -> int:
    """Convert a canonical timestamp string to microseconds since the Unix epoch."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_to_ts(us: int) -> str:
    """Convert microseconds since the Unix epoch to a canonical timestamp string."""
    seconds, micro = divmod(us, 1_000_000)
    dt = datetime.fromtimestamp(seconds, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{micro:06d}Z"


def instance_value(instance: dict[str, Any]) -> Any:
    """Return the member carrying an instance's value, whatever its attribute type."""
    return instance.get(VALUE_MEMBER.get(instance.get("type", "Property"), "value"))


def numeric(value: Any) -> float | None:
    """Return a finite float for numeric values (not booleans), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _entity_geo_boxes(entity: dict[str, Any]) -> list[tuple[str, float, float, float, float]]:
    """Bounding boxes of every GeoProperty instance of an entity, for the geo prefilter."""
    from calanque.ngsild.geo import geometry_bbox

    boxes = []
    for attr, instances in entity.get("attrs", {}).items():
        for inst in instances:
            if inst.get("type") == "GeoProperty" and isinstance(inst.get("value"), dict):
                try:
                    boxes.append((attr, *geometry_bbox(inst["value"])))
                except (ValueError, TypeError, KeyError):
                    continue
    return boxes


class SqlSession(Session):
    """A transaction over a DB-API connection (sqlite3 or psycopg)."""

    dialect: Dialect

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self._ph = "?" if dialect == "sqlite" else "%s"

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
        return out

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
            (tenant, a, seq, ",".join(sorted({i.get("type", "Property") for i in insts})))
            for a, insts in entity.get("attrs", {}).items()
        ]
        geo = [(tenant, a, seq, *box) for a, *box in _entity_geo_boxes(entity)]
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
        self._many("INSERT INTO entity_types (tenant, type, entity_seq) VALUES (?, ?, ?)", types)
        self._many("INSERT INTO entity_attrs (tenant, attr, entity_seq, attr_types) VALUES (?, ?, ?, ?)", attrs)
        self._many(
            "INSERT INTO entity_geo (tenant, attr, entity_seq, minx, miny, maxx, maxy) VALUES (?, ?, ?, ?, ?, ?, ?)",
            geo,
        )

    def _drop_indexes(self, seqs: list[int]) -> None:
        for table in ("entity_types", "entity_attrs", "entity_geo"):
            for start in range(0, len(seqs), 500):
                chunk = seqs[start : start + 500]
                self._exec(f"DELETE FROM {table} WHERE entity_seq IN ({','.join('?' * len(chunk))})", chunk)

    def insert_entities(self, tenant: str, entities: Sequence[dict]) -> list[str]:
        """Insert new entities; return the ids that already existed."""
        existing = set(self._existing_ids(tenant, [e["id"] for e in entities]))
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
        sql = f"INSERT INTO entities (tenant, id, doc) VALUES (?, ?, {self._json_param()}) RETURNING seq"
        items: list[tuple[int, dict]] = []
        if self.dialect == "sqlite":
            for e in fresh:
                seq = self.conn.execute(sql, (tenant, e["id"], self._dump(e))).fetchone()[0]
                items.append((seq, e))
        else:
            with self.conn.cursor() as cur:
                cur.executemany(
                    sql.replace("?", "%s"), [(tenant, e["id"], self._dump(e)) for e in fresh], returning=True
                )
                for e in fresh:
                    items.append((cur.fetchone()[0], e))
                    cur.nextset()
        self._write_indexes(tenant, items)
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
            return
        seqs = self._seqs(tenant, [e["id"] for e in entities])
        self._many(
            f"UPDATE entities SET doc = {self._json_param()} WHERE tenant = ? AND id = ?",
            [(self._dump(e), tenant, e["id"]) for e in entities],
        )
        self._drop_indexes(list(seqs.values()))
        self._write_indexes(tenant, [(seqs[e["id"]], e) for e in entities if e["id"] in seqs])

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

    def _where(self, tenant: str, query: EntityQuery) -> tuple[str, list[Any]]:
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
            if query.geo_bbox is not None:
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
        return " AND ".join(clauses), params

    def query_entities(self, tenant: str, query: EntityQuery) -> tuple[list[dict], int | None]:
        """Run a query; return a page of entities and, when asked, the total count."""
        where, params = self._where(tenant, query)
        if self.dialect == "postgres":
            # The predicates already use %s; translate only the fragments written here.
            where = self._translate_where(tenant, query)
        if query.post_filter is not None:
            rows = self.conn.execute(f"SELECT e.doc FROM entities e WHERE {where} ORDER BY e.seq", params)
            matched = [doc for doc in (self._load(r[0]) for r in rows) if query.post_filter(doc)]
            count = len(matched) if query.count else None
            return matched[query.offset : query.offset + query.limit], count
        page: list[dict] = []
        if query.limit > 0:
            page = [
                self._load(r[0])
                for r in self.conn.execute(
                    f"SELECT e.doc FROM entities e WHERE {where} ORDER BY e.seq LIMIT {int(query.limit)} "
                    f"OFFSET {int(query.offset)}",
                    params,
                ).fetchall()
            ]
        count = None
        if query.count:
            count = self.conn.execute(f"SELECT count(*) FROM entities e WHERE {where}", params).fetchone()[0]
        return page, count

    def _translate_where(self, tenant: str, query: EntityQuery) -> str:
        """Build the PostgreSQL WHERE clause: own fragments translated, predicates untouched."""
        own = EntityQuery(
            ids=query.ids, id_pattern=query.id_pattern, type_iris=query.type_iris,
            attrs_any=query.attrs_any, geo_attr=query.geo_attr, geo_bbox=query.geo_bbox,
        )
        base, _ = self._where(tenant, own)
        base = base.replace("?", "%s")
        extra = [f"({p.sql})" for p in query.predicates]
        return " AND ".join([base, *extra])

    # discovery -----------------------------------------------------------------------
    def type_summary(self, tenant: str) -> dict[str, dict[str, int]]:
        """Map each type IRI to {attribute IRI: entity count} plus "" → entity count."""
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

    def _before_history_insert(self, params: list[tuple]) -> None:
        """Hook for backends that must prepare storage (PostgreSQL partitions)."""

    def add_history(self, tenant: str, rows: Iterable[HistoryRow]) -> None:
        """Append rows to the attribute history."""
        params = [self._history_params(tenant, r) for r in rows]
        if not params:
            return
        self._before_history_insert(params)
        self._many(
            "INSERT INTO attr_history (tenant, entity_id, attr, dataset_id, instance_id, ts, observed_at, "
            f"created_at, modified_at, num, val, deleted, instance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            f"{self._json_param()})",
            params,
        )

    def _history_where(self, tenant: str, query: HistoryQuery) -> tuple[str, list[Any]]:
        clauses = ["tenant = ?"]
        params: list[Any] = [tenant]
        clauses.append(f"entity_id IN ({','.join('?' * len(query.entity_ids)) or 'NULL'})")
        params += list(query.entity_ids)
        if query.attrs is not None:
            clauses.append(f"attr IN ({','.join('?' * len(query.attrs)) or 'NULL'})")
            params += list(query.attrs)
        column = {"observedAt": "ts", "createdAt": "created_at", "modifiedAt": "modified_at"}[query.timeproperty]
        if query.timeproperty == "observedAt":
            clauses.append("observed_at IS NOT NULL")
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
        where, params = self._history_where(tenant, query)
        column = {"observedAt": "ts", "createdAt": "created_at", "modifiedAt": "modified_at"}[query.timeproperty]
        select = (
            "SELECT entity_id, attr, dataset_id, instance_id, observed_at, created_at, modified_at, deleted, "
            f"instance, {column} AS t FROM attr_history WHERE {where}"
        )
        if query.last_n:
            sql = (
                f"SELECT * FROM (SELECT h.*, row_number() OVER (PARTITION BY entity_id, attr ORDER BY t DESC) "
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
    ) -> dict[tuple[str, str], list[tuple[int, dict[str, Any]]]]:
        """Aggregate numeric history in fixed buckets of period_us microseconds from origin."""
        if not query.entity_ids:
            return {}
        unknown = set(methods) - set(AGGREGATION_METHODS)
        if unknown:
            raise ValueError(f"unknown aggregation method(s): {', '.join(sorted(unknown))}")
        where, params = self._history_where(tenant, query)
        column = {"observedAt": "ts", "createdAt": "created_at", "modifiedAt": "modified_at"}[query.timeproperty]
        origin_us = ts_to_us(origin)
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
        out: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
        for entity_id, attr, b, total, distinct, s, mn, mx, sq, n in rows:
            values: dict[str, Any] = {}
            for m in methods:
                if m == "totalCount":
                    values[m] = int(total)
                elif m == "distinctCount":
                    values[m] = int(distinct)
                elif n == 0:
                    values[m] = None
                elif m == "sum":
                    values[m] = float(s)
                elif m == "avg":
                    values[m] = float(s) / n
                elif m == "min":
                    values[m] = float(mn)
                elif m == "max":
                    values[m] = float(mx)
                elif m == "sumsq":
                    values[m] = float(sq)
                elif m == "stddev":
                    mean = float(s) / n
                    values[m] = math.sqrt(max(float(sq) / n - mean * mean, 0.0))
            out.setdefault((entity_id, attr), []).append((int(b), values))
        return out

    def read_series(
        self, tenant: str, entity_id: str, attr: str, start_us: int | None = None, end_us: int | None = None,
        *, dataset_id: str | None = None, limit: int | None = None,
    ) -> list[tuple[int, float]]:
        """The numeric history of one attribute as (observedAt µs, value) pairs, oldest first."""
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
        """The earliest time (on the query's time property) among the matching history rows."""
        if not query.entity_ids:
            return None
        where, params = self._history_where(tenant, query)
        column = {"observedAt": "ts", "createdAt": "created_at", "modifiedAt": "modified_at"}[query.timeproperty]
        row = self._exec(f"SELECT min({column}) FROM attr_history WHERE {where}", params).fetchone()
        return us_to_ts(row[0]) if row and row[0] is not None else None

    def delete_history(
        self, tenant: str, entity_id: str, attr: str | None = None, instance_id: str | None = None,
        dataset_id: str | None = None,
    ) -> int:
        """Delete history rows of an entity; return how many were deleted."""
        sql = "DELETE FROM attr_history WHERE tenant = ? AND entity_id = ?"
        params: list[Any] = [tenant, entity_id]
        if attr is not None:
            sql += " AND attr = ?"
            params.append(attr)
        if instance_id is not None:
            sql += " AND instance_id = ?"
            params.append(instance_id)
        if dataset_id is not None:
            sql += " AND dataset_id = ?"
            params.append(dataset_id)
        return self._exec(sql, params).rowcount

    def update_history_instance(self, tenant: str, entity_id: str, attr: str, instance_id: str,
                                instance: dict) -> bool:
        """Replace one stored history instance; return False when it does not exist."""
        value = instance_value(instance)
        observed = ts_to_us(instance["observedAt"]) if instance.get("observedAt") else None
        sql = (
            f"UPDATE attr_history SET instance = {self._json_param()}, num = ?, val = ?, "
            "modified_at = ?, observed_at = COALESCE(?, observed_at) "
            "WHERE tenant = ? AND entity_id = ? AND attr = ? AND instance_id = ?"
        )
        cur = self._exec(
            sql,
            (
                self._dump(instance),
                numeric(value),
                None if value is None else self._dump(value),
                ts_to_us(instance.get("modifiedAt") or datetime.now(UTC).isoformat().replace("+00:00", "Z")),
                observed,
                tenant,
                entity_id,
                attr,
                instance_id,
            ),
        )
        return cur.rowcount > 0

    def temporal_entity(self, tenant: str, entity_id: str) -> dict | None:
        """Return the identity of an entity that has history, or None."""
        row = self._exec(
            "SELECT id, types, created_at, modified_at FROM temporal_entities WHERE tenant = ? AND id = ?",
            (tenant, entity_id),
        ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "type": orjson.loads(row[1]), "createdAt": row[2], "modifiedAt": row[3]}

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
        rows = self._exec(
            f"SELECT id, types, created_at, modified_at FROM temporal_entities WHERE {' AND '.join(clauses)} "
            "ORDER BY id",
            params,
        ).fetchall()
        wanted = set(query.type_iris) if query.type_iris is not None else None
        out = []
        for r in rows:
            types = orjson.loads(r[1])
            if wanted is not None and not wanted.intersection(types):
                continue
            out.append({"id": r[0], "type": types, "createdAt": r[2], "modifiedAt": r[3]})
        return out

    def upsert_temporal_entities(self, tenant: str, entities: Sequence[dict]) -> None:
        """Record (or extend) the identity of entities that have history."""
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
        inserts, updates = [], []
        for e in entities:
            if e["id"] in current:
                merged = list(dict.fromkeys([*current[e["id"]], *e["type"]]))
                updates.append((self._dump(merged), e["modifiedAt"], tenant, e["id"]))
            else:
                inserts.append((tenant, e["id"], self._dump(list(e["type"])), e["createdAt"], e["modifiedAt"]))
                current[e["id"]] = list(e["type"])
        self._many(
            "INSERT INTO temporal_entities (tenant, id, types, created_at, modified_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant, id) DO NOTHING",
            inserts,
        )
        self._many("UPDATE temporal_entities SET types = ?, modified_at = ? WHERE tenant = ? AND id = ?", updates)

    def delete_temporal_entity(self, tenant: str, entity_id: str) -> bool:
        """Delete an entity's whole history and identity; return whether it existed."""
        n = self.delete_history(tenant, entity_id)
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

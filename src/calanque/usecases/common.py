"""What every use-case HTTP API shares: time windows, entity lookup, history series and errors.

Use-case endpoints speak JSON (``application/json``) and answer errors as the NGSI-LD
ProblemDetails the rest of the platform uses (400 bad parameter, 404 unknown entity or
tenant). Attribute and type names are the Smart Data Models terms, expanded with the
NGSI-LD core context exactly as the ingestion pipeline and a client without ``@context``
store them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from fastapi import Request
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from calanque.ngsild.api.http import tenant_of
from calanque.ngsild.canonical import parse_ts
from calanque.ngsild.errors import BadRequestData, InvalidRequest, NonexistentTenant, ResourceNotFound
from calanque.store.base import Store

DEFAULT_MAX_PERIOD = timedelta(days=400)


class CamelModel(BaseModel):
    """Base of use-case response models: snake_case attributes, camelCase JSON."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


@lru_cache(maxsize=4096)
def term_iri(term: str) -> str:
    """Expand an attribute or type term with the NGSI-LD core context (the ingestion's expansion)."""
    return _core_resolver().core.expand(term) if term else term


@lru_cache(maxsize=1)
def _core_resolver():  # type: ignore[no-untyped-def]
    from calanque.ngsild.jsonld import ContextResolver

    return ContextResolver()


def to_us(moment: datetime) -> int:
    """An aware datetime as integer microseconds since the Unix epoch (the store's time unit)."""
    return int(round(moment.timestamp() * 1_000_000))


def from_us(us: int) -> datetime:
    """Integer epoch microseconds as an aware UTC datetime."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


def parse_time(value: str, name: str) -> datetime:
    """Parse an ISO 8601 date-time (or a bare date, taken as midnight UTC) given as parameter ``name``."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        return parse_ts(text)
    except ValueError:
        raise BadRequestData(
            f"parameter '{name}' is not an ISO 8601 date-time: '{text[:40]}' (e.g. 2026-11-25T00:00:00Z)"
        ) from None


def parse_window(
    start: str | None, end: str | None, *, default: timedelta, max_period: timedelta = DEFAULT_MAX_PERIOD,
    now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The [from, to) window of a request: defaults to ``default`` ending now; 400 when reversed or too long."""
    end_dt = parse_time(end, "to") if end else (now or datetime.now(UTC))
    start_dt = parse_time(start, "from") if start else end_dt - default
    if start_dt >= end_dt:
        raise BadRequestData(f"'from' ({start_dt.isoformat()}) must be before 'to' ({end_dt.isoformat()})")
    if end_dt - start_dt > max_period:
        raise BadRequestData(
            f"the period from {start_dt.isoformat()} to {end_dt.isoformat()} is longer than the "
            f"configured limit of {max_period.days} days; ask for a shorter period"
        )
    return start_dt, end_dt


def store_of(request: Request) -> Store:
    """The application's store."""
    return request.app.state.store


def max_period_of(request: Request) -> timedelta:
    """The longest period a use-case request may cover (Settings.max_indicator_days)."""
    days = getattr(request.app.state.settings, "max_indicator_days", DEFAULT_MAX_PERIOD.days)
    return timedelta(days=days)


def load_entity(request: Request, entity_id: str, expected_types: tuple[str, ...]) -> tuple[str, dict]:
    """Return (tenant, canonical entity) for a use-case request; 404 when absent, 400 when of another type."""
    tenant = tenant_of(request)
    if ":" not in entity_id:
        raise BadRequestData(f"'{entity_id[:80]}' is not an entity id: expected a URI such as urn:ngsi-ld:…")
    store = store_of(request)
    with store.session() as session:
        if not session.tenant_exists(tenant):
            raise NonexistentTenant(f"tenant '{tenant}' does not exist")
        entity = session.get_entity(tenant, entity_id)
    if entity is None:
        raise ResourceNotFound(f"entity '{entity_id}' does not exist")
    wanted = {term_iri(t) for t in expected_types}
    if not wanted.intersection(entity.get("type", [])):
        raise InvalidRequest(
            f"entity '{entity_id}' is not of type {' or '.join(expected_types)}; this endpoint needs one"
        )
    return tenant, entity


def series(
    request: Request, tenant: str, entity_id: str, attr: str, start: datetime | None, end: datetime | None,
    *, dataset_id: str | None = None,
) -> tuple[list[int], list[float]]:
    """The numeric history of attribute term ``attr`` in [start, end): (epoch µs list, value list)."""
    store = store_of(request)
    limit = getattr(request.app.state.settings, "max_history_rows", None)
    with store.session() as session:
        rows = session.read_series(
            tenant, entity_id, term_iri(attr),
            to_us(start) if start else None, to_us(end) if end else None,
            dataset_id=dataset_id, limit=limit,
        )
    return [r[0] for r in rows], [float(r[1]) for r in rows]

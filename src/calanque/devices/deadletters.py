"""Dead letters: ingestion messages that failed, kept with their raw payload so they can be retried.

A dead letter records the payload (text as is, binary as base64), where it came from (connector
and topic/URL), why it failed (``error_kind`` parse|unknown_device|decode|mapping|store, plus a
reason), its tenant, when it was received, how many retries were attempted and its status:

* ``pending``: never retried;
* ``retried``: retried at least once, and the last retry failed again (``last_error`` says why);
* ``resolved``: a retry went through the pipeline without error.

Retrying calls a handler ``Callable[[DeadLetter], None]`` that raises on failure. The HTTP API
finds it on ``app.state.deadletter_retry`` (the app's ingestion pipeline); the CLI builds it with
:func:`default_retry_handler`: the ingestion pipeline over the store, unless a test or an embedding
application registered another factory with :func:`register_retry_handler`.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from calanque.devices.repository import from_us, to_us
from calanque.store.base import Session, SqlPredicate, Store

ErrorKind = Literal["parse", "unknown_device", "decode", "mapping", "store"]
DeadLetterStatus = Literal["pending", "retried", "resolved"]
ERROR_KINDS: tuple[str, ...] = ("parse", "unknown_device", "decode", "mapping", "store")
STATUSES: tuple[str, ...] = ("pending", "retried", "resolved")

_COLUMNS = ("id", "tenant", "received_at", "connector", "topic", "device_id", "error_kind", "reason", "payload",
            "payload_encoding", "attempts", "status", "last_attempt_at", "last_error")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM dead_letters"


class DeadLetter(BaseModel):
    """A failed ingestion message with its raw payload and its retry state."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: int
    tenant: str = ""
    received_at: datetime
    connector: str = Field(description="Connector name, e.g. chirpstack-mqtt")
    topic: str = Field(description="MQTT topic or URL the message came from")
    device_id: str | None = None
    error_kind: ErrorKind
    reason: str
    payload: str = Field(description="The raw payload: text as received, or base64 when binary")
    payload_encoding: Literal["text", "base64"]
    attempts: int = 0
    status: DeadLetterStatus = "pending"
    last_attempt_at: datetime | None = None
    last_error: str | None = None

    def raw(self) -> bytes:
        """The payload bytes exactly as received."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode("utf-8")


RetryHandler = Callable[[DeadLetter], None]
RetryHandlerFactory = Callable[[Store], RetryHandler]


def _encode(payload: bytes | str) -> tuple[str, str]:
    if isinstance(payload, str):
        return payload, "text"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(payload).decode("ascii"), "base64"
    if any(ord(c) < 32 and c not in "\t\r\n" for c in text):
        return base64.b64encode(payload).decode("ascii"), "base64"
    return text, "text"


def _row(row: Sequence[Any]) -> DeadLetter:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["received_at"] = from_us(values["received_at"])
    values["last_attempt_at"] = from_us(values["last_attempt_at"])
    return DeadLetter.model_validate(values)


def add_dead_letter(
    session: Session,
    *,
    tenant: str,
    payload: bytes | str,
    connector: str,
    topic: str,
    error_kind: str,
    reason: str,
    device_id: str | None = None,
    received_at: datetime | None = None,
) -> DeadLetter:
    """Store a failed message; binary payloads (not UTF-8 text) are kept as base64."""
    if error_kind not in ERROR_KINDS:
        raise ValueError(f"unknown error kind '{error_kind}': expected one of {', '.join(ERROR_KINDS)}")
    text, encoding = _encode(payload)
    received = to_us(received_at or datetime.now(UTC))
    new_id = session._exec(  # type: ignore[attr-defined]
        "INSERT INTO dead_letters (tenant, received_at, connector, topic, device_id, error_kind, reason, payload, "
        "payload_encoding, attempts, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 'pending') RETURNING id",
        (tenant, received, connector, topic, device_id, error_kind, reason, text, encoding),
    ).fetchone()[0]
    letter = get_dead_letter(session, tenant, int(new_id))
    assert letter is not None
    return letter


def get_dead_letter(
    session: Session, tenant: str, letter_id: int, *, within: SqlPredicate | None = None
) -> DeadLetter | None:
    """Load one dead letter of a tenant, or None (also when it fails the ``within`` condition)."""
    extra = f" AND ({within.sql})" if within is not None else ""
    row = session._exec(  # type: ignore[attr-defined]
        f"{_SELECT} WHERE tenant = ? AND id = ?{extra}", (tenant, letter_id, *(within.params if within else ()))
    ).fetchone()
    return _row(row) if row else None


def list_dead_letters(
    session: Session,
    tenant: str,
    *,
    status: str | None = None,
    error_kind: str | None = None,
    connector: str | None = None,
    device_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
    within: SqlPredicate | None = None,
) -> tuple[list[DeadLetter], int]:
    """List a tenant's dead letters, oldest first, with filters; return the page and the total.

    ``within``: a further condition (the dead letters of the devices a read scope shows)."""
    clauses = ["tenant = ?"]
    params: list[Any] = [tenant]
    for column, value in (("status", status), ("error_kind", error_kind), ("connector", connector),
                          ("device_id", device_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if within is not None:
        clauses.append(f"({within.sql})")
        params += within.params
    where = " AND ".join(clauses)
    total = session._exec(f"SELECT count(*) FROM dead_letters WHERE {where}", params).fetchone()[0]  # type: ignore[attr-defined]
    rows = session._exec(  # type: ignore[attr-defined]
        f"{_SELECT} WHERE {where} ORDER BY id LIMIT {int(limit)} OFFSET {int(offset)}", params
    ).fetchall()
    return [_row(r) for r in rows], int(total)


def record_attempt(session: Session, tenant: str, letter_id: int, error: str | None) -> DeadLetter | None:
    """Count one retry: ``error`` None marks the letter resolved, otherwise retried with that error."""
    session._exec(  # type: ignore[attr-defined]
        "UPDATE dead_letters SET attempts = attempts + 1, last_attempt_at = ?, status = ?, last_error = ? "
        "WHERE tenant = ? AND id = ?",
        (to_us(datetime.now(UTC)), "resolved" if error is None else "retried", error, tenant, letter_id),
    )
    return get_dead_letter(session, tenant, letter_id)


def retry_one(store: Store, handler: RetryHandler, letter: DeadLetter) -> DeadLetter:
    """Hand a dead letter to the handler (outside any transaction) and record the outcome."""
    try:
        handler(letter)
    except Exception as err:  # the handler's failure is the retry's outcome, kept on the letter
        error: str | None = f"{type(err).__name__}: {err}"
    else:
        error = None
    with store.session(write=True) as session:
        updated = record_attempt(session, letter.tenant, letter.id, error)
    assert updated is not None
    return updated


def retry_many(store: Store, handler: RetryHandler, letters: Sequence[DeadLetter]) -> dict[str, Any]:
    """Retry several dead letters; return counts and the letters that failed again."""
    resolved = 0
    failed = []
    for letter in letters:
        outcome = retry_one(store, handler, letter)
        if outcome.status == "resolved":
            resolved += 1
        else:
            failed.append({"id": outcome.id, "error": outcome.last_error})
    return {"attempted": len(letters), "resolved": resolved, "failed": failed}


_factory_lock = threading.Lock()
_retry_factory: RetryHandlerFactory | None = None


def register_retry_handler(factory: RetryHandlerFactory | None) -> None:
    """Register (or with None, remove) the factory building the pipeline's retry handler for a store."""
    global _retry_factory
    with _factory_lock:
        _retry_factory = factory


def default_retry_handler(store: Store) -> RetryHandler:
    """The registered retry handler if any, else the ingestion pipeline's own retry over ``store``."""
    import os

    with _factory_lock:
        factory = _retry_factory
    if factory is not None:
        return factory(store)
    from calanque.pipeline.ingest import Ingestor
    from calanque.usecases.registry import discover, parse_paths

    usecases = discover(parse_paths(os.environ.get("CALANQUE_USECASE_PATHS")))
    return Ingestor(store, usecases=usecases).retry_dead_letter

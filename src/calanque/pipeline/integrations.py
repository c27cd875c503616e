"""Integration keys: how an HTTP push (ChirpStack HTTP integration, TTS webhook, generic push) proves
who it is and which tenant its data belongs to.

An integration has a name, a kind (chirpstack, tts or http) and a tenant. Its key is shown once,
at creation; only its SHA-256 hash is stored. A push sends the key in the ``X-Calanque-Key``
header (or ``Authorization: Bearer <key>``); the key's integration decides the tenant.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from calanque.devices.repository import from_us, to_us
from calanque.ngsild.errors import AlreadyExists, BadRequestData
from calanque.store.base import Session

KINDS = ("chirpstack", "tts", "http")
KEY_PREFIX = "clq_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


class Integration(BaseModel):
    """An integration as listed (never with its key)."""

    name: str
    tenant: str
    kind: str
    key_prefix: str = Field(serialization_alias="keyPrefix")
    created_at: datetime = Field(serialization_alias="createdAt")
    last_used_at: datetime | None = Field(default=None, serialization_alias="lastUsedAt")


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_integration(session: Session, name: str, kind: str, tenant: str) -> tuple[Integration, str]:
    """Create an integration; return it and its key (the only time the key is available)."""
    if not _NAME.fullmatch(name or ""):
        raise BadRequestData(f"bad integration name '{str(name)[:64]}': use 1 to 64 letters, digits, '_', '.', '-'")
    if kind not in KINDS:
        raise BadRequestData(f"unknown integration kind '{str(kind)[:20]}': expected one of {', '.join(KINDS)}")
    if session._exec("SELECT 1 FROM integrations WHERE name = ?", (name,)).fetchone():  # type: ignore[attr-defined]
        raise AlreadyExists(f"integration '{name}' already exists; revoke it first to issue a new key")
    key = KEY_PREFIX + secrets.token_hex(24)
    now = to_us(datetime.now(UTC))
    session._exec(  # type: ignore[attr-defined]
        "INSERT INTO integrations (name, tenant, kind, key_hash, key_prefix, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (name, tenant, kind, hash_key(key), key[:10], now),
    )
    return Integration(name=name, tenant=tenant, kind=kind, key_prefix=key[:10], created_at=from_us(now)), key


def list_integrations(session: Session) -> list[Integration]:
    """Every integration, by name."""
    rows = session._exec(  # type: ignore[attr-defined]
        "SELECT name, tenant, kind, key_prefix, created_at, last_used_at FROM integrations ORDER BY name"
    ).fetchall()
    return [Integration(name=r[0], tenant=r[1], kind=r[2], key_prefix=r[3], created_at=from_us(r[4]),
                        last_used_at=from_us(r[5])) for r in rows]


def revoke_integration(session: Session, name: str) -> bool:
    """Delete an integration and its key; True when it existed."""
    cur = session._exec("DELETE FROM integrations WHERE name = ?", (name,))  # type: ignore[attr-defined]
    return bool(cur.rowcount)


def resolve_key(session: Session, key: str) -> dict[str, Any] | None:
    """The integration (name, tenant, kind) a key belongs to, or None."""
    row = session._exec(  # type: ignore[attr-defined]
        "SELECT name, tenant, kind FROM integrations WHERE key_hash = ?", (hash_key(key),)
    ).fetchone()
    return {"name": row[0], "tenant": row[1], "kind": row[2]} if row else None

"""API keys, local users, cookie sessions, login attempts and the audit log, in the store.

Secrets never reach the store: an API key or a session token is a 256-bit random value kept as its
SHA-256 digest (a fast hash is enough for values that cannot be guessed); a password is kept as an
argon2id hash (slow and salted, because people choose passwords that can be guessed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, Field

from calanque.auth.model import (
    ALL_TENANTS,
    AuthConflict,
    AuthInputError,
    Principal,
    check_definition,
    check_name,
    now_us,
)
from calanque.devices.repository import from_us
from calanque.store.base import Session

KEY_PREFIX = "clk_"
MIN_PASSWORD = 12
_TOUCH_EVERY_US = 60_000_000
_HASHER = PasswordHasher()  # argon2id, 64 MiB, 3 passes (the library's RFC 9106 low-memory profile)
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))  # verified when a user is unknown: same cost


def _x(session: Session, sql: str, params: Any = ()) -> Any:
    """Run one statement on a store session (the SQL session's dialect-neutral execute)."""
    return session._exec(sql, params)  # type: ignore[attr-defined]


def digest(secret: str) -> str:
    """The stored form of a key or session token (SHA-256, hex)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _json(items: list[str] | tuple[str, ...]) -> str:
    return orjson.dumps(list(items)).decode()


def _list(text: str) -> tuple[str, ...]:
    return tuple(orjson.loads(text))


# API keys -----------------------------------------------------------------------------------
class ApiKey(BaseModel):
    """An API key as listed: everything but the secret."""

    id: str
    name: str
    tenant: str
    role: str
    scopes: list[str]
    usecases: list[str]
    communes: list[str]
    sites: list[str]
    created_at: datetime = Field(serialization_alias="createdAt")
    created_by: str = Field(serialization_alias="createdBy")
    expires_at: datetime | None = Field(default=None, serialization_alias="expiresAt")
    revoked_at: datetime | None = Field(default=None, serialization_alias="revokedAt")
    rotated_at: datetime | None = Field(default=None, serialization_alias="rotatedAt")
    last_used_at: datetime | None = Field(default=None, serialization_alias="lastUsedAt")


_KEY_COLUMNS = (
    "id, name, tenant, role, scopes, usecases, communes, sites, created_at, created_by, expires_at, "
    "revoked_at, rotated_at, last_used_at"
)


def _row_to_key(r: Any) -> ApiKey:
    return ApiKey(
        id=r[0],
        name=r[1],
        tenant=r[2],
        role=r[3],
        scopes=list(_list(r[4])),
        usecases=list(_list(r[5])),
        communes=list(_list(r[6])),
        sites=list(_list(r[7])),
        created_at=from_us(r[8]),
        created_by=r[9],
        expires_at=from_us(r[10]),
        revoked_at=from_us(r[11]),
        rotated_at=from_us(r[12]),
        last_used_at=from_us(r[13]),
    )


def _new_secret(key_id: str) -> str:
    return f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def create_key(
    session: Session,
    *,
    name: str,
    tenant: str,
    role: str,
    scopes: list[str] | None = None,
    usecases: list[str] | None = None,
    communes: list[str] | None = None,
    sites: list[str] | None = None,
    expires_at: int | None = None,
    created_by: str,
    known_usecases: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create an API key; return it and the full key (the only time the key exists outside its holder)."""
    check_name(name, "key name")
    effective = check_definition(role, tenant, scopes, list(usecases or ()), known_usecases)
    now = now_us()
    if expires_at is not None and expires_at <= now:
        raise AuthInputError("the expiry date is in the past")
    if _x(
        session, "SELECT 1 FROM api_keys WHERE tenant = ? AND name = ? AND revoked_at IS NULL", (tenant, name)
    ).fetchone():
        raise AuthConflict(f"tenant '{tenant}' already has a key named '{name}': rotate or revoke it")
    key_id = secrets.token_hex(6)
    key = _new_secret(key_id)
    _x(
        session,
        f"INSERT INTO api_keys ({_KEY_COLUMNS}, key_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key_id,
            name,
            tenant,
            role,
            _json(effective),
            _json(usecases or []),
            _json(communes or []),
            _json(sites or []),
            now,
            created_by,
            expires_at,
            None,
            None,
            None,
            digest(key),
        ),
    )
    found = get_key(session, key_id)
    assert found is not None
    return found, key


def get_key(session: Session, key_id: str) -> ApiKey | None:
    """One key by id, or None."""
    row = _x(session, f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    return _row_to_key(row) if row else None


def list_keys(session: Session, tenant: str | None = None, *, include_revoked: bool = False) -> list[ApiKey]:
    """Keys of one tenant (None: every tenant), newest first."""
    where, params = [], []
    if tenant is not None:
        where.append("tenant = ?")
        params.append(tenant)
    if not include_revoked:
        where.append("revoked_at IS NULL")
    sql = f"SELECT {_KEY_COLUMNS} FROM api_keys" + (f" WHERE {' AND '.join(where)}" if where else "")
    return [_row_to_key(r) for r in _x(session, sql + " ORDER BY created_at DESC, id", params).fetchall()]


def rotate_key(session: Session, key_id: str) -> tuple[ApiKey, str]:
    """Give a live key a new secret (the old one stops working at once); return it and the new key."""
    current = get_key(session, key_id)
    if current is None or current.revoked_at is not None:
        raise AuthInputError(f"no live key '{key_id}'")
    key = _new_secret(key_id)
    _x(
        session,
        "UPDATE api_keys SET key_hash = ?, rotated_at = ? WHERE id = ?",
        (digest(key), now_us(), key_id),
    )
    found = get_key(session, key_id)
    assert found is not None
    return found, key


def revoke_key(session: Session, key_id: str) -> bool:
    """Revoke a key for good; False when there is no live key with this id."""
    cur = _x(
        session, "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now_us(), key_id)
    )
    return bool(cur.rowcount)


def resolve_key(session: Session, key: str) -> Principal | None:
    """The principal of a live, unexpired key, or None; records its use."""
    row = _x(
        session,
        "SELECT id, tenant, role, scopes, usecases, communes, sites, expires_at, revoked_at, last_used_at "
        "FROM api_keys WHERE key_hash = ?",
        (digest(key),),
    ).fetchone()
    now = now_us()
    if row is None or row[8] is not None or (row[7] is not None and row[7] <= now):
        return None
    if row[9] is None or now - row[9] > _TOUCH_EVERY_US:  # last use kept to the minute: few writes
        _x(session, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, row[0]))
    return Principal(
        kind="key",
        id=row[0],
        role=row[2],
        tenant=row[1],
        scopes=frozenset(_list(row[3])),
        usecases=_list(row[4]),
        communes=_list(row[5]),
        sites=_list(row[6]),
    )


# users --------------------------------------------------------------------------------------
class User(BaseModel):
    """A local account as listed: everything but the password hash."""

    username: str
    tenant: str
    role: str
    usecases: list[str]
    communes: list[str]
    sites: list[str]
    created_at: datetime = Field(serialization_alias="createdAt")
    disabled_at: datetime | None = Field(default=None, serialization_alias="disabledAt")
    last_login_at: datetime | None = Field(default=None, serialization_alias="lastLoginAt")


_USER_COLUMNS = "username, tenant, role, usecases, communes, sites, created_at, disabled_at, last_login_at"


def _row_to_user(r: Any) -> User:
    return User(
        username=r[0],
        tenant=r[1],
        role=r[2],
        usecases=list(_list(r[3])),
        communes=list(_list(r[4])),
        sites=list(_list(r[5])),
        created_at=from_us(r[6]),
        disabled_at=from_us(r[7]),
        last_login_at=from_us(r[8]),
    )


def check_password(password: str) -> None:
    """Refuse passwords too short to resist guessing."""
    if len(password) < MIN_PASSWORD:
        raise AuthInputError(f"the password must have at least {MIN_PASSWORD} characters")


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    tenant: str,
    role: str,
    usecases: list[str] | None = None,
    communes: list[str] | None = None,
    sites: list[str] | None = None,
    known_usecases: list[str] | None = None,
) -> User:
    """Create a local account with an argon2id password hash."""
    check_name(username, "user name")
    check_definition(role, tenant, None, list(usecases or ()), known_usecases)
    check_password(password)
    if _x(session, "SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
        raise AuthConflict(f"user '{username}' already exists")
    _x(
        session,
        f"INSERT INTO users ({_USER_COLUMNS}, password_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            username,
            tenant,
            role,
            _json(usecases or []),
            _json(communes or []),
            _json(sites or []),
            now_us(),
            None,
            None,
            _HASHER.hash(password),
        ),
    )
    found = get_user(session, username)
    assert found is not None
    return found


def get_user(session: Session, username: str) -> User | None:
    """One account, or None."""
    row = _x(session, f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,)).fetchone()
    return _row_to_user(row) if row else None


def list_users(session: Session, tenant: str | None = None) -> list[User]:
    """Accounts of one tenant (None: every tenant), by name."""
    if tenant is None:
        rows = _x(session, f"SELECT {_USER_COLUMNS} FROM users ORDER BY username").fetchall()
    else:
        rows = _x(
            session, f"SELECT {_USER_COLUMNS} FROM users WHERE tenant = ? ORDER BY username", (tenant,)
        ).fetchall()
    return [_row_to_user(r) for r in rows]


def set_password(session: Session, username: str, password: str) -> bool:
    """Replace a user's password and end its sessions; False when the user does not exist."""
    check_password(password)
    cur = _x(
        session, "UPDATE users SET password_hash = ? WHERE username = ?", (_HASHER.hash(password), username)
    )
    _x(session, "DELETE FROM user_sessions WHERE username = ?", (username,))
    return bool(cur.rowcount)


def disable_user(session: Session, username: str) -> bool:
    """Disable an account and end its sessions; False when there is no enabled user of this name."""
    cur = _x(
        session,
        "UPDATE users SET disabled_at = ? WHERE username = ? AND disabled_at IS NULL",
        (now_us(), username),
    )
    _x(session, "DELETE FROM user_sessions WHERE username = ?", (username,))
    return bool(cur.rowcount)


def verify_password(session: Session, username: str, password: str) -> User | None:
    """The enabled user whose password this is, or None (an unknown user costs the same time)."""
    row = _x(
        session, "SELECT password_hash, disabled_at FROM users WHERE username = ?", (username,)
    ).fetchone()
    stored = row[0] if row else _DUMMY_HASH
    try:
        _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or row[1] is not None:
        return None
    if _HASHER.check_needs_rehash(stored):
        _x(
            session,
            "UPDATE users SET password_hash = ? WHERE username = ?",
            (_HASHER.hash(password), username),
        )
    _x(session, "UPDATE users SET last_login_at = ? WHERE username = ?", (now_us(), username))
    return get_user(session, username)


# cookie sessions -----------------------------------------------------------------------------
def create_session(session: Session, username: str, lifetime_s: int) -> tuple[str, str]:
    """Open a browser session; return (session token, CSRF token), both stored only as digests."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = now_us()
    _x(
        session,
        "INSERT INTO user_sessions (token_hash, csrf_hash, username, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (digest(token), digest(csrf), username, now, now + lifetime_s * 1_000_000),
    )
    return token, csrf


def resolve_session(session: Session, token: str) -> Principal | None:
    """The principal of a live session token of an enabled user, or None."""
    row = _x(
        session,
        "SELECT u.username, u.tenant, u.role, u.usecases, u.communes, u.sites, s.csrf_hash "
        "FROM user_sessions s "
        "JOIN users u ON u.username = s.username WHERE s.token_hash = ? AND s.expires_at > ? "
        "AND u.disabled_at IS NULL",
        (digest(token), now_us()),
    ).fetchone()
    if row is None:
        return None
    from calanque.auth.model import ROLE_SCOPES

    return Principal(
        kind="user",
        id=row[0],
        role=row[2],
        tenant=row[1],
        scopes=ROLE_SCOPES[row[2]],
        usecases=_list(row[3]),
        communes=_list(row[4]),
        sites=_list(row[5]),
        csrf_hash=row[6],
    )


def end_session(session: Session, token: str) -> bool:
    """Close a session (logout); True when it existed."""
    cur = _x(session, "DELETE FROM user_sessions WHERE token_hash = ?", (digest(token),))
    return bool(cur.rowcount)


def csrf_matches(principal: Principal, token: str | None) -> bool:
    """Whether a CSRF token is the one issued with a principal's cookie session."""
    return (
        bool(token)
        and principal.csrf_hash is not None
        and hmac.compare_digest(digest(token), principal.csrf_hash)
    )


# login attempts --------------------------------------------------------------------------------
def record_attempt(session: Session, username: str, address: str, success: bool) -> None:
    """Remember one login attempt (for rate limiting and the audit)."""
    _x(
        session,
        "INSERT INTO login_attempts (at, username, address, success) VALUES (?, ?, ?, ?)",
        (now_us(), username[:64], address, success),
    )


def recent_failures(session: Session, username: str, address: str, window_s: int) -> tuple[int, int]:
    """Failed logins within the window: (for this user name, from this address)."""
    since = now_us() - window_s * 1_000_000
    false = False if session.dialect == "postgres" else 0
    by_user = _x(
        session,
        "SELECT count(*) FROM login_attempts WHERE username = ? AND at > ? AND success = ?",
        (username[:64], since, false),
    ).fetchone()[0]
    by_address = _x(
        session,
        "SELECT count(*) FROM login_attempts WHERE address = ? AND at > ? AND success = ?",
        (address, since, false),
    ).fetchone()[0]
    return int(by_user), int(by_address)


def oldest_failure(session: Session, username: str, address: str, window_s: int) -> int | None:
    """Epoch µs of the oldest failure in the window for this user name or address (when the block lifts)."""
    since = now_us() - window_s * 1_000_000
    false = False if session.dialect == "postgres" else 0
    row = _x(
        session,
        "SELECT min(at) FROM login_attempts WHERE (username = ? OR address = ?) AND at > ? AND success = ?",
        (username[:64], address, since, false),
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


# audit log ----------------------------------------------------------------------------------
@dataclass(slots=True)
class AuditEntry:
    """One audited action: who, when, what, from where, and the outcome."""

    at: int
    actor: str
    role: str
    tenant: str
    action: str
    address: str
    status: int
    detail: dict[str, Any]
    id: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The entry as the API and the export show it."""
        moment = from_us(self.at)
        return {
            "id": self.id,
            "at": moment.isoformat().replace("+00:00", "Z") if moment else None,
            "actor": self.actor,
            "role": self.role,
            "tenant": self.tenant,
            "action": self.action,
            "address": self.address,
            "status": self.status,
            "detail": self.detail,
        }


def append_audit(session: Session, entry: AuditEntry) -> None:
    """Append an entry to the audit log (the log is never updated or deleted from)."""
    _x(
        session,
        "INSERT INTO audit_log (at, actor, role, tenant, action, address, status, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.at,
            entry.actor,
            entry.role,
            entry.tenant,
            entry.action,
            entry.address,
            entry.status,
            orjson.dumps(entry.detail).decode(),
        ),
    )


def list_audit(
    session: Session,
    *,
    tenant: str | None = None,
    actor: str | None = None,
    since: int | None = None,
    until: int | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Audit entries, oldest first, filtered by tenant, actor, time window [since, until) and id."""
    where, params = [], []
    for clause, value in (
        ("tenant = ?", tenant),
        ("actor = ?", actor),
        ("at >= ?", since),
        ("at < ?", until),
        ("id > ?", after_id),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    sql = "SELECT id, at, actor, role, tenant, action, address, status, detail FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = _x(session, sql + " ORDER BY id LIMIT ?", [*params, limit]).fetchall()
    return [
        AuditEntry(
            id=int(r[0]),
            at=int(r[1]),
            actor=r[2],
            role=r[3],
            tenant=r[4],
            action=r[5],
            address=r[6],
            status=int(r[7]),
            detail=orjson.loads(r[8]),
        )
        for r in rows
    ]


def tenant_filter(principal: Principal) -> str | None:
    """The tenant an admin's listings are limited to (None: every tenant)."""
    return None if principal.tenant == ALL_TENANTS else principal.tenant

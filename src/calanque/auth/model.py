"""The principal a request acts as: its role, tenant, scopes and narrowing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

ROLES = ("admin", "operator", "viewer", "partner")
SCOPES = ("read", "write", "command", "admin")
ALL_TENANTS = "*"
# What each role may ever do; a key's scopes can only narrow this.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "operator": frozenset({"read", "write", "command"}),
    "viewer": frozenset({"read"}),
    "partner": frozenset({"read", "write", "command"}),
    "public": frozenset({"read"}),
}
_TENANT = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@\-]{0,63}")


class AuthInputError(ValueError):
    """An account or key definition a user can correct (the message says what is wrong)."""


class AuthConflict(AuthInputError):
    """The key name or user name is already taken."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: an API key, a local user, an OIDC subject, or nobody (public)."""

    kind: str  # key | user | oidc | anonymous | noauth
    id: str
    role: str  # admin | operator | viewer | partner | public
    tenant: str  # a tenant name ("" is the default tenant) or "*" for every tenant
    scopes: frozenset[str] = frozenset()
    usecases: tuple[str, ...] = ()
    communes: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    csrf_hash: str | None = field(default=None, repr=False)  # set for cookie sessions

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        return self.kind if self.kind in ("anonymous", "noauth") else f"{self.kind}:{self.id}"

    def may_use_tenant(self, tenant: str) -> bool:
        """Whether this principal may act in a tenant."""
        return self.tenant == ALL_TENANTS or self.tenant == tenant


ANONYMOUS = Principal(kind="anonymous", id="", role="public", tenant="", scopes=ROLE_SCOPES["public"])
NO_AUTH = Principal(kind="noauth", id="", role="admin", tenant=ALL_TENANTS, scopes=ROLE_SCOPES["admin"])


def check_definition(
    role: str,
    tenant: str,
    scopes: list[str] | None,
    usecases: list[str],
    known_usecases: list[str] | None = None,
) -> list[str]:
    """Validate a role/tenant/scopes/use-cases combination; return the effective scopes."""
    if role not in ROLES:
        raise AuthInputError(f"unknown role '{role[:30]}': expected one of {', '.join(ROLES)}")
    if tenant != ALL_TENANTS and tenant != "" and not _TENANT.fullmatch(tenant):
        raise AuthInputError(
            f"bad tenant '{tenant[:70]}': use 1 to 64 letters, digits, '_', '-', '.', "
            "'' for the default tenant or '*' for every tenant"
        )
    if role == "partner" and tenant == ALL_TENANTS:
        raise AuthInputError("a partner belongs to one tenant: give its tenant, not '*'")
    if role == "operator" and not usecases:
        raise AuthInputError("an operator works on one or more use cases: give them (e.g. waste, lighting)")
    if role != "operator" and usecases:
        raise AuthInputError("only an operator is given use cases")
    if known_usecases is not None:
        unknown = [u for u in usecases if u not in known_usecases]
        if unknown:
            raise AuthInputError(
                f"unknown use case(s) {', '.join(unknown)}: expected {', '.join(known_usecases)}"
            )
    allowed = ROLE_SCOPES[role]
    if scopes is None:
        return sorted(allowed)
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        raise AuthInputError(f"unknown scope(s) {', '.join(bad)}: expected {', '.join(SCOPES)}")
    beyond = [s for s in scopes if s not in allowed]
    if beyond:
        raise AuthInputError(
            f"role {role} cannot have scope(s) {', '.join(beyond)}: it allows {', '.join(sorted(allowed))}"
        )
    if not scopes:
        raise AuthInputError("give at least one scope")
    return sorted(set(scopes))


def check_name(name: str, what: str) -> str:
    """Validate a key or user name."""
    if not _NAME.fullmatch(name or ""):
        raise AuthInputError(
            f"bad {what} '{str(name)[:64]}': use 1 to 64 letters, digits, '_', '.', '@', '-'"
        )
    return name


def now_us() -> int:
    """The current time in epoch microseconds."""
    delta = datetime.now(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def term_of(iri: str) -> str:
    """The last segment of a type or attribute IRI (its term in the usual contexts)."""
    return re.split(r"[/#:]", iri.rstrip("/"))[-1]


def is_loopback(host: str) -> bool:
    """Whether a listen address only accepts local connections (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

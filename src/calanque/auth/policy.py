"""Which role may do what, on which endpoint family: one table, read by the middleware.

Every request path falls into one family. A path of no known family is reserved to platform admins,
so an endpoint added later is closed until this table opens it.

| family | what | read | write / command |
|---|---|---|---|
| docs, catalogue, context | /docs, /openapi.json, GET /api/v1/usecases, GET one @context | anyone | - |
| public reads | NGSI-LD entity, temporal, discovery reads; public use-case paths | anyone (published) | - |
| login | POST /api/v1/auth/login, /logout | anyone | - |
| public pages | /login, /favicon.ico, /public…, /_static/ui/… (the UI's own files and vendored libraries) | anyone | - |
| territory | GET /api/v1/territory (commune outlines) | anyone | - |
| staff pages | /, /usecases…, /entities…, /devices… (web UI pages; anonymous browsers are redirected to /login) | admin, operator, viewer, partner | - |
| overview | GET /api/v1/map, /api/v1/live (map data, live changes; the endpoint checks the tenant) | admin, operator, viewer, partner | - |
| ingest | /api/v1/ingest/… | integration key (checked by the endpoint) | |
| me | GET /api/v1/auth/me | any identity | - |
| ngsi-ld | /ngsi-ld/v1/… | admin, operator, viewer, partner | admin, partner, operator (own use cases) |
| usecase | /api/v1/<use case>/… | admin, operator, viewer, partner | admin, partner, operator (own use cases) |
| devices | /api/v1/devices | admin, operator, viewer, partner | admin, partner, operator (own use cases) |
| commands | /api/v1/commands | admin, operator, viewer, partner | admin, partner, operator (own use cases) |
| deadletters | /api/v1/deadletters | admin, operator, partner | admin, operator, partner |
| contexts | GET list, POST, DELETE /ngsi-ld/v1/jsonldContexts | any identity | platform admin |
| accounts, audit | /api/v1/auth/keys, /users, /api/v1/audit | admin (own tenant, or all for '*') | admin |
| publication | /api/v1/publication | admin, operator, viewer, partner | admin |
| integrations | /api/v1/integrations | platform admin | platform admin |
| other | anything else | platform admin | platform admin |

Tenant-scoped families (ngsi-ld, usecase, devices, commands, deadletters, publication) also require the
request's tenant (``NGSILD-Tenant``) to be the principal's, unless the principal's tenant is ``*``.

What a permitted read *shows* is narrowed further by the request's read scope (calanque.store.scope):
anonymous callers see the tenant's published types and attributes only, operators the entity types of
their use cases, identities narrowed to communes or sites what lies in them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from calanque.auth.model import ALL_TENANTS, Principal

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STAFF = frozenset({"admin", "operator", "viewer", "partner"})
PUBLIC_FAMILIES = frozenset({"docs", "catalogue", "context", "login", "public-pages", "territory"})
# Web UI pages for staff: "/" and the paths under these prefixes (calanque.web).
UI_PAGE_PREFIXES = ("/usecases", "/entities", "/devices")
UI_PUBLIC_PREFIXES = ("/public",)
TENANT_SCOPED = frozenset({"ngsi-ld", "usecase", "devices", "commands", "deadletters", "publication"})
ALLOWED_ROLES: dict[str, dict[str, frozenset[str]]] = {
    "me": {"read": STAFF},
    "staff-pages": {"read": STAFF},
    "overview": {"read": STAFF},
    "ngsi-ld": {"read": STAFF, "write": frozenset({"admin", "operator", "partner"})},
    "usecase": {"read": STAFF, "write": frozenset({"admin", "operator", "partner"})},
    "devices": {"read": STAFF, "write": frozenset({"admin", "operator", "partner"})},
    "commands": {"read": STAFF, "command": frozenset({"admin", "operator", "partner"})},
    "deadletters": {
        "read": frozenset({"admin", "operator", "partner"}),
        "write": frozenset({"admin", "operator", "partner"}),
    },
    "contexts": {"read": STAFF, "admin": frozenset({"admin"})},
    "accounts": {"read": frozenset({"admin"}), "admin": frozenset({"admin"})},
    "publication": {"read": STAFF, "admin": frozenset({"admin"})},
    "audit": {"read": frozenset({"admin"})},
    "integrations": {"read": frozenset({"admin"}), "admin": frozenset({"admin"})},
    "other": {"read": frozenset({"admin"}), "write": frozenset({"admin"})},
}
PLATFORM_ONLY = frozenset({"integrations", "other"})  # admins of every tenant only
_READ_POSTS = ("/ngsi-ld/v1/entityOperations/query", "/ngsi-ld/v1/temporal/entityOperations/query")
# NGSI-LD reads open to anonymous callers (their read scope shows published data only); a read endpoint
# added later stays closed to them until it is listed here.
_PUBLIC_NGSILD = re.compile(
    r"/ngsi-ld/v1/(?:(?:temporal/)?entities(?:/(?!.*/attrs(?:/|$)).+)?|types(?:/.+)?|attributes(?:/.+)?)/?"
)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a request touches: its family, the action it performs and the use case it belongs to."""

    family: str
    action: str  # read | write | command | admin
    usecase: str | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: 401 (no or bad identity) or 403 (identity not allowed)."""

    status: int
    detail: str


def classify(method: str, path: str, usecases: frozenset[str]) -> Endpoint:
    """The endpoint family and action of a request."""
    read = method in READ_METHODS
    if path in ("/docs", "/openapi.json") or path.startswith("/_static/"):
        return Endpoint("docs", "read" if read else "write")
    if path == "/" or _under(path, UI_PAGE_PREFIXES):
        return Endpoint("staff-pages", "read" if read else "write")
    if path in ("/login", "/favicon.ico") or _under(path, UI_PUBLIC_PREFIXES):
        return Endpoint("public-pages", "read" if read else "write")
    if path.startswith("/ngsi-ld/v1/"):
        if path.startswith("/ngsi-ld/v1/jsonldContexts"):
            if read and path.startswith("/ngsi-ld/v1/jsonldContexts/"):
                return Endpoint("context", "read")
            return Endpoint("contexts", "read" if read else "admin")
        return Endpoint("ngsi-ld", "read" if read or path.rstrip("/") in _READ_POSTS else "write")
    if not path.startswith("/api/v1/"):
        return Endpoint("other", "read" if read else "write")
    head = path[len("/api/v1/") :].split("/", 1)[0]
    if path in ("/api/v1/auth/login", "/api/v1/auth/logout"):
        return Endpoint("login", "read")
    if path == "/api/v1/auth/me":
        return Endpoint("me", "read" if read else "write")
    if head == "auth":
        return Endpoint("accounts", "read" if read else "admin")
    if path in ("/api/v1/map", "/api/v1/live"):
        return Endpoint("overview", "read" if read else "write")
    if path == "/api/v1/territory":
        return Endpoint("territory", "read" if read else "write")
    if head == "publication":
        return Endpoint("publication", "read" if read else "admin")
    if head == "audit":
        return Endpoint("audit", "read" if read else "write")
    if head == "ingest":
        return Endpoint("ingest", "write")
    if head == "integrations":
        return Endpoint("integrations", "read" if read else "admin")
    if head == "commands":
        return Endpoint("commands", "read" if read else "command")
    if head == "devices":
        return Endpoint("devices", "read" if read else "write")
    if head == "deadletters":
        return Endpoint("deadletters", "read" if read else "write")
    if path.rstrip("/") == "/api/v1/usecases":
        return Endpoint("catalogue", "read" if read else "write")
    if head in usecases:
        return Endpoint("usecase", "read" if read else "write", usecase=head)
    return Endpoint("other", "read" if read else "write")


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    """Whether a path is one of the prefixes or below one of them."""
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def public_path_pattern(paths: tuple[str, ...]) -> re.Pattern[str] | None:
    """A pattern matching a use case's public GET paths (templates such as ``/{counterId}/display``)."""
    if not paths:
        return None
    parts = [re.sub(r"\\\{[A-Za-z_][A-Za-z0-9_]*\\\}", "[^/]+", re.escape(p)) for p in paths]
    return re.compile(f"(?:{'|'.join(parts)})/?")


def is_public_read(
    method: str, path: str, endpoint: Endpoint, usecase_paths: dict[str, re.Pattern[str]]
) -> bool:
    """Whether an anonymous caller may make this read (its read scope then shows published data only)."""
    if endpoint.action != "read" or method not in ("GET", "HEAD", "POST"):
        return False
    if endpoint.family == "ngsi-ld":
        if method == "POST":
            return path.rstrip("/") in _READ_POSTS
        return _PUBLIC_NGSILD.fullmatch(path) is not None
    if endpoint.family == "usecase" and method != "POST" and endpoint.usecase is not None:
        pattern = usecase_paths.get(endpoint.usecase)
        prefix = f"/api/v1/{endpoint.usecase}"
        return pattern is not None and pattern.fullmatch(path[len(prefix) :]) is not None
    return False


def decide(principal: Principal, endpoint: Endpoint, tenant: str, *, public: bool = False) -> Refusal | None:
    """None when the principal may perform the request, else why not (nothing is checked beyond).

    ``public``: the request is a public read (:func:`is_public_read`), which anonymous callers may make
    in any tenant.
    """
    family, action = endpoint.family, endpoint.action
    if family in PUBLIC_FAMILIES and action == "read":
        return None
    if family == "ingest":
        return None  # integration keys, checked by the ingestion endpoints themselves
    if principal.kind == "anonymous" and public:
        return None
    if principal.kind == "anonymous":
        return Refusal(
            401,
            "authentication required: send an API key (Authorization: Bearer clk_…), an "
            "OpenID Connect token, or log in at POST /api/v1/auth/login",
        )
    roles = ALLOWED_ROLES.get(family, {}).get(action)
    if roles is None or principal.role not in roles:
        what = "read" if action == "read" else "change"
        return Refusal(403, f"role {principal.role} may not {what} {_FAMILY_NAMES.get(family, family)}")
    if action not in principal.scopes:
        return Refusal(
            403,
            f"this {principal.kind} lacks the '{action}' scope (it has: "
            f"{', '.join(sorted(principal.scopes)) or 'none'})",
        )
    if (
        family in PLATFORM_ONLY or (family == "contexts" and action != "read")
    ) and principal.tenant != ALL_TENANTS:
        return Refusal(403, f"only an admin of every tenant may use {_FAMILY_NAMES.get(family, family)}")
    if (
        family == "usecase"
        and action != "read"
        and principal.role == "operator"
        and endpoint.usecase not in principal.usecases
    ):
        return Refusal(403, f"this operator works on {', '.join(principal.usecases)}, not {endpoint.usecase}")
    if family == "usecase" and action != "read" and (principal.communes or principal.sites):
        # an import writes whatever its files hold, in any commune: it cannot be checked entity by entity
        return Refusal(
            403,
            f"this {principal.kind} is narrowed to communes or sites; a use-case import may "
            "write anywhere in the tenant, so it needs an identity that is not narrowed",
        )
    if family in TENANT_SCOPED and not principal.may_use_tenant(tenant):
        return Refusal(
            403,
            f"this {principal.kind} belongs to tenant '{principal.tenant}', not '{tenant}' (NGSILD-Tenant)",
        )
    return None


_FAMILY_NAMES = {
    "me": "its identity",
    "ngsi-ld": "NGSI-LD entities",
    "usecase": "use-case indicators",
    "devices": "the device registry",
    "commands": "commands",
    "deadletters": "dead letters",
    "contexts": "the @context store",
    "accounts": "keys and users",
    "publication": "the publication of public data",
    "audit": "the audit log",
    "integrations": "integrations",
    "other": "this endpoint",
    "docs": "the documentation",
    "catalogue": "the use-case list",
    "staff-pages": "the staff pages",
    "public-pages": "the public pages",
    "overview": "the map and live changes",
    "territory": "the commune outlines",
}

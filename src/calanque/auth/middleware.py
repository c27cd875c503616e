"""The one ASGI middleware in front of every endpoint: identify, limit, authorise, audit.

For each HTTP request, in this order:

1. **identify** the principal: an API key (``Authorization: Bearer clk_…`` or ``X-API-Key``), an
   OpenID Connect token (``Authorization: Bearer <JWT>``), a browser session cookie, or nobody;
   the ingestion endpoints are left to their integration keys;
2. **rate-limit** it (per identity, or per client address when anonymous): 429 with ``Retry-After``;
3. **authorise** it with :mod:`calanque.auth.policy` (role × endpoint family × tenant) and, for the
   writes of operators and of identities narrowed to communes or sites, :mod:`calanque.auth.targets`;
   a cookie-authenticated write must also carry the session's CSRF token (``X-CSRF-Token``);
   a refusal is a ProblemDetails 401 or 403 and the endpoint never runs;
4. run the endpoint under the caller's **read scope** when it is restricted (anonymous: published data
   only; operators: their use cases' types; narrowed identities: their communes or sites; see
   :mod:`calanque.store.scope`), adding security headers to its answer (and a Content-Security-Policy
   on HTML);
5. **audit** every write and every refusal of an identified caller (after the answer is sent).

Lookups of keys, sessions and publications are cached for a few seconds per process (KEY_CACHE_SECONDS),
so a GET costs no store round trip; a key revoked through this process stops at once, elsewhere within that
delay. With ``Settings.auth`` off (loopback only) every request acts as an admin of every tenant and
writes are still audited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import orjson
from starlette.middleware.cors import CORSMiddleware

from calanque.auth import repository as repo
from calanque.auth import targets
from calanque.auth.model import ANONYMOUS, NO_AUTH, Principal, is_loopback, now_us
from calanque.auth.oidc import ForbiddenToken, InvalidToken, OidcVerifier
from calanque.auth.policy import (
    PUBLIC_FAMILIES,
    READ_METHODS,
    TENANT_SCOPED,
    Endpoint,
    Refusal,
    classify,
    decide,
    is_public_read,
    public_path_pattern,
)
from calanque.auth.ratelimit import TokenBuckets, retry_after
from calanque.config import Settings
from calanque.ngsild.errors import NgsiLdError
from calanque.store.base import Store
from calanque.store.scope import CURRENT as CURRENT_SCOPE
from calanque.store.scope import ReadScope

log = logging.getLogger("calanque.auth")

KEY_CACHE_SECONDS = 5.0
SESSION_COOKIE = "calanque_session"
CSRF_COOKIE = "calanque_csrf"
CSRF_HEADER = b"x-csrf-token"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
HTML_HEADERS = [
    # Swagger UI runs its own inline bootstrap script; everything else comes from this origin.
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-inline'; "
        b"style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"cache-control", b"no-store"),
]


class Forbidden(NgsiLdError):
    """The identity may not perform this request (403)."""

    kind, status, title = "Forbidden", 403, "Forbidden"


class Unauthenticated(NgsiLdError):
    """The request carries no valid identity (401)."""

    kind, status, title = "Unauthorized", 401, "Unauthorized"


class TooManyRequests(NgsiLdError):
    """The caller exceeded its request rate (429)."""

    kind, status, title = "TooManyRequests", 429, "Too many requests"


class AuthState:
    """What the middleware and the auth endpoints share in one process: settings, store, caches."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        usecase_types: dict[str, frozenset[str]],
        public_paths: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.usecase_types = usecase_types
        self.usecase_names = frozenset(usecase_types)
        self.public_paths = {
            name: pattern
            for name, paths in (public_paths or {}).items()
            if (pattern := public_path_pattern(paths)) is not None
        }
        self._publications: dict[str, tuple[dict[str, frozenset[str]], float]] = {}
        self._narrowed_types: dict[tuple[str, ...], frozenset[str]] = {}
        self.verifier: OidcVerifier | None = None
        if settings.oidc_issuer:
            if not settings.oidc_audience:
                raise ValueError(
                    "CALANQUE_OIDC_AUDIENCE is required with CALANQUE_OIDC_ISSUER: tokens are only "
                    "accepted for this platform's audience"
                )
            self.verifier = OidcVerifier(
                settings.oidc_issuer,
                settings.oidc_audience,
                jwks_url=settings.oidc_jwks_url,
                claim_prefix=settings.oidc_claim_prefix,
            )
        self.per_identity = TokenBuckets(settings.rate_limit_per_minute)
        self.per_address = TokenBuckets(settings.rate_limit_anonymous_per_minute)
        self._cache: dict[str, tuple[Principal | None, float]] = {}

    def cached(self, slot: str, lookup: Callable[[], Principal | None]) -> Principal | None:
        """A key or session lookup, cached for KEY_CACHE_SECONDS (including misses)."""
        now = time.monotonic()
        hit = self._cache.get(slot)
        if hit is not None and hit[1] > now:
            return hit[0]
        found = lookup()
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[slot] = (found, now + KEY_CACHE_SECONDS)
        return found

    def forget(self, principal_id: str | None = None, slot: str | None = None) -> None:
        """Drop cached lookups of one key or user (after a revocation, rotation or logout)."""
        if slot is not None:
            self._cache.pop(slot, None)
        if principal_id is not None:
            for k in [k for k, (p, _) in self._cache.items() if p is not None and p.id == principal_id]:
                del self._cache[k]

    def peek(self, headers: dict[bytes, bytes]) -> Principal | None:
        """The principal of a request's API key or session when a fresh lookup is cached, else None."""
        auth = headers.get(b"authorization", b"")
        token = auth[7:].strip() if auth[:7].lower() == b"bearer " else headers.get(b"x-api-key", b"").strip()
        if token.startswith(repo.KEY_PREFIX.encode()):
            slot = "k:" + repo.digest(token.decode("latin-1"))
        elif not auth and not token:
            session_token = _cookie(headers.get(b"cookie", b""), SESSION_COOKIE)
            if not session_token:
                return None
            slot = "s:" + repo.digest(session_token)
        else:
            return None
        hit = self._cache.get(slot)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def identify(self, headers: dict[bytes, bytes], endpoint: Endpoint) -> Principal:
        """The principal of a request (blocking: may read the store or fetch the provider's keys)."""
        if endpoint.family == "ingest":
            return ANONYMOUS
        token = None
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
        elif auth:
            raise Unauthenticated("unsupported Authorization scheme: use 'Bearer <API key or token>'")
        token = token or headers.get(b"x-api-key", b"").decode("latin-1").strip() or None
        if token:
            if token.startswith(repo.KEY_PREFIX):
                found = self.cached(
                    "k:" + repo.digest(token), lambda: self._with_session(repo.resolve_key, token)
                )
                if found is None:
                    raise Unauthenticated("unknown, revoked or expired API key")
                return found
            if self.verifier is None:
                raise Unauthenticated(
                    "the bearer token is not a Calanque API key (clk_…) and no OpenID Connect "
                    "provider is configured"
                )
            try:
                return self.verifier.verify(token)
            except InvalidToken as err:
                raise Unauthenticated(str(err)) from None
            except ForbiddenToken as err:
                raise Forbidden(str(err)) from None
        session_token = _cookie(headers.get(b"cookie", b""), SESSION_COOKIE)
        if session_token:
            found = self.cached(
                "s:" + repo.digest(session_token),
                lambda: self._with_session(repo.resolve_session, session_token),
            )
            if found is None and endpoint.family not in PUBLIC_FAMILIES:
                raise Unauthenticated("the session has expired or was closed: log in again")
            return found or ANONYMOUS
        return ANONYMOUS

    def _with_session(self, func: Callable[..., Principal | None], secret: str) -> Principal | None:
        with self.store.session(write=func is repo.resolve_key) as session:
            return func(session, secret)

    # read scopes ---------------------------------------------------------------------------------
    def publication(self, tenant: str) -> dict[str, frozenset[str]]:
        """A tenant's published types and attributes (blocking on a cache miss: reads the store)."""
        now = time.monotonic()
        hit = self._publications.get(tenant)
        if hit is not None and hit[1] > now:
            return hit[0]
        from calanque.auth import publication

        with self.store.session() as session:
            found = publication.published(session, tenant)
        if len(self._publications) > 10_000:
            self._publications.clear()
        self._publications[tenant] = (found, now + KEY_CACHE_SECONDS)
        return found

    def cached_publication(self, tenant: str) -> dict[str, frozenset[str]] | None:
        """A tenant's publication when a fresh lookup is cached (no store access), else None."""
        hit = self._publications.get(tenant)
        return hit[0] if hit is not None and hit[1] > time.monotonic() else None

    def forget_publication(self, tenant: str) -> None:
        """Drop a tenant's cached publication (after it changed through this process)."""
        self._publications.pop(tenant, None)

    def public_scope(self, tenant: str, published: dict[str, frozenset[str]]) -> ReadScope:
        """The read scope of an anonymous request: the tenant's published types and attributes."""
        return ReadScope(
            tenant=tenant, types=frozenset(published), attrs=published, label="anonymous callers"
        )

    def narrowed_scope(self, principal: Principal, tenant: str) -> ReadScope | None:
        """The read scope of an operator (its use cases' types) or a narrowed identity, else None."""
        operator = principal.role == "operator"
        if not operator and not principal.communes and not principal.sites:
            return None
        from calanque.usecases.common import term_iri

        types = None
        if operator:
            types = self._narrowed_types.get(principal.usecases)
            if types is None:
                types = frozenset(
                    term_iri(t) for u in principal.usecases for t in self.usecase_types.get(u, frozenset())
                )
                self._narrowed_types[principal.usecases] = types
        return ReadScope(
            tenant=tenant,
            types=types,
            communes=principal.communes,
            sites=principal.sites,
            commune_attr=term_iri("municipalityCode") if principal.communes else "",
            site_attr=term_iri("site") if principal.sites else "",
            label=f"this {principal.kind}",
        )

    def seed_publication(self, usecases: list[Any]) -> None:
        """Publish in the default tenant the use cases' defaults never applied there before (audited)."""
        from calanque.auth import publication

        with self.store.session(write=True) as session:
            publication.seed(session, usecases)

    def check_targets(
        self, principal: Principal, method: str, path: str, tenant: str, body: bytes
    ) -> Refusal | None:
        """The target checks of a limited identity's write (blocking: reads the store)."""
        with self.store.session() as session:
            return targets.check(session, principal, method, path, tenant, body, self.usecase_types)

    def audit(self, entry: repo.AuditEntry) -> None:
        """Append one audit entry; a failure is logged (without secrets) and never breaks the request."""
        try:
            with self.store.session(write=True) as session:
                repo.append_audit(session, entry)
        except Exception as err:  # noqa: BLE001 - the answer is already sent; say so loudly in the logs
            log.error("audit entry for %s %s could not be written: %s", entry.action, entry.status, err)


def _cookie(header: bytes, name: str) -> str | None:
    for part in header.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


class AuthMiddleware:
    """Identify, rate-limit, authorise and audit every HTTP request (see the module docstring)."""

    def __init__(self, app: Any, state: AuthState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        st = self.state
        method, path = scope["method"], scope["path"]
        headers = dict(scope.get("headers", []))
        endpoint = classify(method, path, st.usecase_names)
        tenant = headers.get(b"ngsild-tenant", b"").decode("latin-1").strip()[:64]
        address = (scope.get("client") or ("unknown", 0))[0]
        principal = NO_AUTH
        read_scope: ReadScope | None = None
        refusal: NgsiLdError | None = None
        retry: float = 0.0
        if st.settings.auth:
            try:
                if not _needs_thread(headers, endpoint):
                    principal = ANONYMOUS
                else:  # a cached key or session costs no thread hop (the common case)
                    principal = st.peek(headers) or await anyio.to_thread.run_sync(
                        st.identify, headers, endpoint
                    )
            except NgsiLdError as err:
                principal, refusal = ANONYMOUS, err
            if refusal is None and endpoint.family != "ingest":
                bucket = st.per_address if principal.kind == "anonymous" else st.per_identity
                retry = bucket.take(principal.actor if principal.kind != "anonymous" else address)
                if retry:
                    refusal = TooManyRequests(
                        f"more than {int(bucket.capacity)} requests a minute; retry in {retry_after(retry)} s"
                    )
            if refusal is None:
                public = principal.kind == "anonymous" and is_public_read(
                    method, path, endpoint, st.public_paths
                )
                denied = decide(principal, endpoint, tenant, public=public)
                if (
                    denied is None
                    and principal.csrf_hash is not None
                    and method not in READ_METHODS
                    and endpoint.family != "login"
                ):
                    token = headers.get(CSRF_HEADER, b"").decode("latin-1")
                    if not repo.csrf_matches(principal, token):
                        denied = Refusal(
                            403,
                            "a write with a session cookie needs the session's CSRF token in "
                            "the X-CSRF-Token header (from the login answer or the "
                            f"{CSRF_COOKIE} cookie)",
                        )
                if denied is None and targets.needs_check(principal, endpoint):
                    body, receive = await _buffer(receive)
                    try:
                        denied = await anyio.to_thread.run_sync(
                            st.check_targets, principal, method, path, tenant, body
                        )
                    except NgsiLdError as err:
                        refusal = err
                if denied is not None:
                    refusal = (Unauthenticated if denied.status == 401 else Forbidden)(denied.detail)
            # the home map's data is read with the same narrowing (the live stream narrows per page)
            if refusal is None and (endpoint.family in TENANT_SCOPED or endpoint.family == "overview"):
                if principal.kind == "anonymous":
                    published = st.cached_publication(tenant)
                    if published is None:
                        published = await anyio.to_thread.run_sync(st.publication, tenant)
                    read_scope = st.public_scope(tenant, published)
                else:
                    read_scope = st.narrowed_scope(principal, tenant)
        scope.setdefault("state", {})["principal"] = principal
        scope["state"]["read_scope"] = read_scope
        status = [0]
        to_login = endpoint.family == "staff-pages" and method == "GET"
        if refusal is not None and refusal.status == 401 and to_login:
            await _to_login(send, scope)  # a browser without a (valid) session goes to the login page
            status[0] = 303
        elif refusal is not None:
            await _problem(send, refusal, retry)
            status[0] = refusal.status
        else:

            async def send_with_headers(message: dict) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                    extra = list(SECURITY_HEADERS)
                    names = {name for name, _ in message.get("headers", [])}
                    for name, value in message.get("headers", []):
                        if name == b"content-type" and value.startswith(b"text/html"):
                            # pages that set their own (stricter) policy keep it: the web UI's pages
                            extra += [h for h in HTML_HEADERS if h[0] not in names]
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                await send(message)

            if read_scope is None:
                await self.app(scope, receive, send_with_headers)
            else:  # the store's read sessions of this request apply it (calanque.store.scope)
                scope_token = CURRENT_SCOPE.set(read_scope)
                try:
                    await self.app(scope, receive, send_with_headers)
                finally:
                    CURRENT_SCOPE.reset(scope_token)
        if _audited(method, endpoint, status[0], _needs_thread(headers, endpoint)):
            detail: dict[str, Any] = {}
            query = scope.get("query_string", b"")
            if query:
                detail["query"] = query.decode("latin-1")[:500]
            if refusal is not None:
                detail["refused"] = refusal.detail[:300]
            detail.update(scope["state"].get("audit_detail", {}))
            entry = repo.AuditEntry(
                at=now_us(),
                actor=principal.actor,
                role=principal.role,
                tenant=tenant,
                action=f"{method} {path[:500]}",
                address=address,
                status=status[0],
                detail=detail,
            )
            await anyio.to_thread.run_sync(st.audit, entry)


def _needs_thread(headers: dict[bytes, bytes], endpoint: Endpoint) -> bool:
    """Whether identification may need the store or the network (else the caller is anonymous)."""
    return endpoint.family != "ingest" and (
        b"authorization" in headers
        or b"x-api-key" in headers
        or SESSION_COOKIE.encode() in headers.get(b"cookie", b"")
    )


def _audited(method: str, endpoint: Endpoint, status: int, presented: bool) -> bool:
    """Every write and command (but uplink pushes), and every read refused to a presented credential.

    The POST forms of NGSI-LD queries are reads: audited only when refused (anonymous callers may make
    them, and must not be able to fill the log)."""
    if endpoint.family == "ingest":
        return False
    if method not in READ_METHODS and not (endpoint.family == "ngsi-ld" and endpoint.action == "read"):
        return True
    return status == 403 or (status == 401 and presented)


async def _buffer(receive: Any) -> tuple[bytes, Any]:
    """Read the whole request body; return it and a receive() that replays it to the app."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _to_login(send: Any, scope: dict) -> None:
    """Redirect (303) a browser asking for a staff page without a session to /login?next=<the page>."""
    from urllib.parse import quote

    target = scope["path"]
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    location = "/login?next=" + quote(target, safe="")
    headers = [(b"location", location.encode("latin-1")), (b"content-length", b"0"),
               (b"cache-control", b"no-store"), *SECURITY_HEADERS]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _problem(send: Any, err: NgsiLdError, retry: float) -> None:
    body = orjson.dumps(err.to_problem())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
    ]
    if err.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="calanque"'))
    if err.status == 429:
        headers.append((b"retry-after", retry_after(retry).encode()))
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def protect(app: Any, settings: Settings, store: Store) -> Any:
    """Mount the auth endpoints on a FastAPI app and wrap it in CORS and the auth middleware."""
    from calanque.auth.api import router

    if not settings.auth and not is_loopback(settings.host):
        raise ValueError(
            f"authentication can only be off on a loopback address (127.0.0.1, ::1), not {settings.host}"
        )
    usecases = getattr(app.state, "usecases", [])
    usecase_types = {uc.name: frozenset(uc.entity_types) for uc in usecases}
    public_paths = {uc.name: tuple(uc.public_paths) for uc in usecases}
    state = AuthState(settings, store, usecase_types, public_paths)
    state.seed_publication(usecases)
    app.state.auth = state
    app.include_router(router)
    wrapped: Any = AuthMiddleware(app, state)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        wrapped = CORSMiddleware(
            wrapped,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Link",
                "NGSILD-Tenant",
                "X-API-Key",
                "X-CSRF-Token",
                "Accept",
            ],
            expose_headers=["Link", "NGSILD-Results-Count", "Retry-After", "Location"],
            max_age=600,
        )
    return wrapped

"""/api/v1/auth (login, logout, who am I, API keys, users), /api/v1/audit and /api/v1/publication.

The middleware has already decided who may call what (keys, users and the audit log: admins); these
endpoints also keep a tenant admin to its own tenant. Answers never contain a secret except the one
moment a key is created or rotated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from calanque.auth import publication
from calanque.auth import repository as repo
from calanque.auth.middleware import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AuthState,
    Forbidden,
    TooManyRequests,
    Unauthenticated,
)
from calanque.auth.model import ALL_TENANTS, AuthConflict, AuthInputError, Principal, now_us
from calanque.auth.ratelimit import retry_after
from calanque.devices.repository import to_us
from calanque.ngsild.api.http import json_response, problem_response, tenant_of
from calanque.ngsild.errors import AlreadyExists, BadRequestData, ResourceNotFound

router = APIRouter(prefix="/api/v1", tags=["security"])
LOGIN_WINDOW_S = 15 * 60
ADDRESS_FACTOR = 4  # an address (an office behind one NAT) may fail this many times more than one user name


def _auth(request: Request) -> AuthState:
    return request.app.state.auth


def _principal(request: Request) -> Principal:
    return request.state.principal


def _input_error(err: AuthInputError) -> Exception:
    return AlreadyExists(str(err)) if isinstance(err, AuthConflict) else BadRequestData(str(err))


def _known_usecases(request: Request) -> list[str]:
    return sorted(_auth(request).usecase_names)


def _tenant_for(principal: Principal, wanted: str | None) -> str:
    """The tenant an admin acts on: its own, or any (given) for an admin of every tenant."""
    if principal.tenant != ALL_TENANTS:
        if wanted is not None and wanted != principal.tenant:
            raise Forbidden(
                f"an admin of tenant '{principal.tenant}' manages only that tenant, not '{wanted}'"
            )
        return principal.tenant
    return "" if wanted is None else wanted


def _visible(principal: Principal, tenant: str) -> bool:
    return principal.tenant == ALL_TENANTS or principal.tenant == tenant


# login ---------------------------------------------------------------------------------------
class Login(BaseModel):
    """A user name and password."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/auth/login", summary="Log in with a local account: sets an HttpOnly session cookie")
def login(request: Request, body: Login) -> Any:
    """Check the password (argon2id), with lockout after repeated failures; open a cookie session."""
    state, settings = _auth(request), _auth(request).settings
    address = request.client.host if request.client else "unknown"
    request.state.audit_detail = {"username": body.username}
    limit = settings.login_max_failures
    with state.store.session(write=True) as session:
        by_user, by_address = repo.recent_failures(session, body.username, address, LOGIN_WINDOW_S)
        if by_user >= limit or by_address >= limit * ADDRESS_FACTOR:
            oldest = repo.oldest_failure(session, body.username, address, LOGIN_WINDOW_S) or now_us()
            wait = retry_after((oldest + LOGIN_WINDOW_S * 1_000_000 - now_us()) / 1_000_000)
            request.state.audit_detail = {"username": body.username, "refused": "login rate limit"}
            blocked = problem_response(
                TooManyRequests(
                    f"too many failed logins for this user name or from this address; retry in {wait} s"
                )
            )
            blocked.headers["retry-after"] = wait
            return blocked
        user = repo.verify_password(session, body.username, body.password)
        repo.record_attempt(session, body.username, address, user is not None)
        if user is not None:
            lifetime = int(settings.session_hours * 3600)
            token, csrf = repo.create_session(session, user.username, lifetime)
    if user is None:
        raise Unauthenticated("wrong user name or password")
    secure = settings.public_base_url().startswith("https://")
    answer = json_response(
        {
            "username": user.username,
            "role": user.role,
            "tenant": user.tenant,
            "csrfToken": csrf,
            "expiresIn": lifetime,
        }
    )
    answer.set_cookie(
        SESSION_COOKIE, token, max_age=lifetime, httponly=True, samesite="strict", secure=secure, path="/"
    )
    answer.set_cookie(
        CSRF_COOKIE, csrf, max_age=lifetime, httponly=False, samesite="strict", secure=secure, path="/"
    )
    answer.headers["cache-control"] = "no-store"
    return answer


@router.post("/auth/logout", status_code=204, summary="Close the browser session")
def logout(request: Request) -> Response:
    """End the session of the session cookie (if any) and clear the cookies."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with _auth(request).store.session(write=True) as session:
            repo.end_session(session, token)
        _auth(request).forget(slot="s:" + repo.digest(token))
    answer = Response(status_code=204)
    answer.delete_cookie(SESSION_COOKIE, path="/")
    answer.delete_cookie(CSRF_COOKIE, path="/")
    return answer


@router.get("/auth/me", summary="Who the request acts as")
def me(request: Request) -> Any:
    """The caller's identity, role, tenant, scopes and narrowing."""
    p = _principal(request)
    return json_response(
        {
            "kind": p.kind,
            "id": p.id,
            "role": p.role,
            "tenant": p.tenant,
            "scopes": sorted(p.scopes),
            "usecases": list(p.usecases),
            "communes": list(p.communes),
            "sites": list(p.sites),
        }
    )


# API keys --------------------------------------------------------------------------------------
class KeyCreate(BaseModel):
    """A new API key: its name, tenant, role, and optional scopes, use cases, narrowing and expiry."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    tenant: str | None = Field(default=None, description="default: the admin's tenant ('' for admins of all)")
    role: str
    scopes: list[str] | None = None
    usecases: list[str] = Field(default_factory=list)
    communes: list[str] = Field(default_factory=list)
    sites: list[str] = Field(default_factory=list)
    expires_at: datetime | None = Field(default=None, alias="expiresAt")


def _key_json(key: repo.ApiKey, secret: str | None = None) -> dict[str, Any]:
    out = key.model_dump(mode="json", by_alias=True)
    if secret is not None:
        out["key"] = secret
    return out


def _own_key(request: Request, session: Any, key_id: str) -> repo.ApiKey:
    key = repo.get_key(session, key_id)
    if key is None or not _visible(_principal(request), key.tenant):
        raise ResourceNotFound(f"no API key '{key_id[:40]}'")
    return key


@router.post(
    "/auth/keys", status_code=201, summary="Create an API key; the answer holds the key, shown only once"
)
def create_key(request: Request, body: KeyCreate) -> Any:
    """Create a key for the admin's tenant (or any tenant, for an admin of every tenant)."""
    principal = _principal(request)
    tenant = _tenant_for(principal, body.tenant)
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        raise BadRequestData("expiresAt needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    try:
        with _auth(request).store.session(write=True) as session:
            key, secret = repo.create_key(
                session,
                name=body.name,
                tenant=tenant,
                role=body.role,
                scopes=body.scopes,
                usecases=body.usecases,
                communes=body.communes,
                sites=body.sites,
                created_by=principal.actor,
                expires_at=to_us(body.expires_at.astimezone(UTC)) if body.expires_at else None,
                known_usecases=_known_usecases(request),
            )
    except AuthInputError as err:
        raise _input_error(err) from None
    request.state.audit_detail = {"key": key.id, "role": key.role, "keyTenant": key.tenant}
    answer = json_response(_key_json(key, secret), status=201)
    answer.headers["cache-control"] = "no-store"
    return answer


@router.get("/auth/keys", summary="List API keys (never the keys themselves)")
def list_keys(
    request: Request, tenant: str | None = None, include_revoked: bool = Query(False, alias="includeRevoked")
) -> Any:
    """Keys of the admin's tenant, or of every tenant (or one) for an admin of every tenant."""
    principal = _principal(request)
    wanted = tenant if principal.tenant == ALL_TENANTS else _tenant_for(principal, tenant)
    with _auth(request).store.session() as session:
        keys = repo.list_keys(session, wanted, include_revoked=include_revoked)
    return json_response([_key_json(k) for k in keys])


@router.get("/auth/keys/{key_id}", summary="One API key")
def get_key(request: Request, key_id: str) -> Any:
    """One key of the admin's reach."""
    with _auth(request).store.session() as session:
        return json_response(_key_json(_own_key(request, session, key_id)))


@router.post("/auth/keys/{key_id}/rotate", summary="Give a key a new secret; the old one stops working")
def rotate_key(request: Request, key_id: str) -> Any:
    """Rotate a key: same id, name, role and tenant; a new secret shown only in this answer."""
    try:
        with _auth(request).store.session(write=True) as session:
            _own_key(request, session, key_id)
            key, secret = repo.rotate_key(session, key_id)
    except AuthInputError as err:
        raise _input_error(err) from None
    _auth(request).forget(principal_id=key_id)
    request.state.audit_detail = {"key": key_id}
    answer = json_response(_key_json(key, secret))
    answer.headers["cache-control"] = "no-store"
    return answer


@router.delete("/auth/keys/{key_id}", status_code=204, summary="Revoke an API key for good")
def revoke_key(request: Request, key_id: str) -> Response:
    """Revoke a key: it stops working at once in this process, within seconds elsewhere."""
    with _auth(request).store.session(write=True) as session:
        _own_key(request, session, key_id)
        if not repo.revoke_key(session, key_id):
            raise ResourceNotFound(f"API key '{key_id[:40]}' is already revoked")
    _auth(request).forget(principal_id=key_id)
    request.state.audit_detail = {"key": key_id}
    return Response(status_code=204)


# users --------------------------------------------------------------------------------------
class UserCreate(BaseModel):
    """A new local account."""

    model_config = ConfigDict(extra="forbid")
    username: str
    password: str = Field(max_length=1024)
    tenant: str | None = None
    role: str
    usecases: list[str] = Field(default_factory=list)
    communes: list[str] = Field(default_factory=list)
    sites: list[str] = Field(default_factory=list)


@router.post("/auth/users", status_code=201, summary="Create a local account")
def create_user(request: Request, body: UserCreate) -> Any:
    """Create an account of the admin's tenant (any tenant for an admin of every tenant)."""
    tenant = _tenant_for(_principal(request), body.tenant)
    try:
        with _auth(request).store.session(write=True) as session:
            user = repo.create_user(
                session,
                username=body.username,
                password=body.password,
                tenant=tenant,
                role=body.role,
                usecases=body.usecases,
                communes=body.communes,
                sites=body.sites,
                known_usecases=_known_usecases(request),
            )
    except AuthInputError as err:
        raise _input_error(err) from None
    request.state.audit_detail = {"user": user.username, "role": user.role, "userTenant": user.tenant}
    return json_response(user.model_dump(mode="json", by_alias=True), status=201)


@router.get("/auth/users", summary="List local accounts")
def list_users(request: Request) -> Any:
    """Accounts of the admin's tenant (every tenant for an admin of every tenant)."""
    with _auth(request).store.session() as session:
        users = repo.list_users(session, repo.tenant_filter(_principal(request)))
    return json_response([u.model_dump(mode="json", by_alias=True) for u in users])


@router.delete(
    "/auth/users/{username}", status_code=204, summary="Disable a local account and end its sessions"
)
def disable_user(request: Request, username: str) -> Response:
    """Disable an account of the admin's reach."""
    with _auth(request).store.session(write=True) as session:
        user = repo.get_user(session, username)
        if (
            user is None
            or not _visible(_principal(request), user.tenant)
            or not repo.disable_user(session, username)
        ):
            raise ResourceNotFound(f"no enabled user '{username[:64]}'")
    _auth(request).forget(principal_id=username)
    request.state.audit_detail = {"user": username}
    return Response(status_code=204)


# audit ------------------------------------------------------------------------------------------
@router.get("/audit", summary="Read the audit log (admins; a tenant admin sees its tenant)")
def read_audit(
    request: Request,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    tenant: str | None = None,
    after_id: int | None = Query(None, alias="afterId", ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    """Audit entries oldest first; page with afterId (the last id of the previous page)."""
    principal = _principal(request)
    wanted = tenant if principal.tenant == ALL_TENANTS else _tenant_for(principal, tenant)
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise BadRequestData(f"'{name}' needs a time zone (e.g. 2027-01-01T00:00:00Z)")
    with _auth(request).store.session() as session:
        entries = repo.list_audit(
            session,
            tenant=wanted,
            actor=actor,
            since=to_us(since) if since else None,
            until=to_us(until) if until else None,
            after_id=after_id,
            limit=limit,
        )
    return json_response(
        {
            "items": [e.as_json() for e in entries],
            "nextAfterId": entries[-1].id if len(entries) == limit else None,
        }
    )


# publication ------------------------------------------------------------------------------------
class PublicationBody(BaseModel):
    """The attributes of an entity type anyone may read (its id and type are public with it)."""

    model_config = ConfigDict(extra="forbid")
    attributes: list[str] = Field(max_length=publication.MAX_ATTRIBUTES)


def _publication_json(request: Request, tenant: str) -> dict[str, Any]:
    with _auth(request).store.session() as session:
        found = publication.list_published(session, tenant)
    return {
        "tenant": tenant,
        "types": [p.as_json() for p in found],
        "defaults": publication.describe_defaults(getattr(request.app.state, "usecases", [])),
    }


@router.get("/publication", summary="What anonymous callers may read in this tenant (NGSILD-Tenant)")
def read_publication(request: Request) -> Any:
    """The published entity types with their public attributes, and the use cases' defaults."""
    return json_response(_publication_json(request, tenant_of(request)))


@router.put(
    "/publication/{entity_type:path}",
    summary="Publish an entity type with exactly these attributes (the rest of it stays private)",
)
def put_publication(request: Request, entity_type: str, body: PublicationBody) -> Any:
    """Publish a type (a term such as NoiseLevelObserved, or an IRI) and exactly the attributes listed."""
    tenant = tenant_of(request)
    try:
        with _auth(request).store.session(write=True) as session:
            found = publication.publish(
                session, tenant, entity_type, body.attributes, actor=_principal(request).actor, replace=True
            )
    except AuthInputError as err:
        raise _input_error(err) from None
    _auth(request).forget_publication(tenant)
    shown = found.as_json()
    request.state.audit_detail = {"entityType": shown["entityType"], "attributes": shown["attributes"]}
    return json_response(shown)


@router.delete(
    "/publication/{entity_type:path}",
    status_code=204,
    summary="Unpublish an entity type, or only some of its attributes (attrs=a,b)",
)
def delete_publication(request: Request, entity_type: str, attrs: str | None = None) -> Response:
    """Make a type private again (or, with ``attrs``, only those attributes)."""
    tenant = tenant_of(request)
    names = None if attrs is None else [a.strip() for a in attrs.split(",") if a.strip()]
    if names == []:
        raise BadRequestData("attrs is empty: name the attributes to unpublish, or leave it out for the type")
    try:
        with _auth(request).store.session(write=True) as session:
            removed = publication.unpublish(session, tenant, entity_type, names)
    except AuthInputError as err:
        raise _input_error(err) from None
    if not removed:
        raise ResourceNotFound(
            f"'{entity_type[:80]}' is not published in this tenant"
            + (" with those attributes" if names else "")
        )
    _auth(request).forget_publication(tenant)
    request.state.audit_detail = {"entityType": entity_type[:200], "attributes": names}
    return Response(status_code=204)


@router.post("/publication/defaults", summary="Publish the use cases' default public types and attributes")
def apply_publication_defaults(request: Request) -> Any:
    """Apply every default the use cases declare to this tenant (again, even those unpublished since)."""
    tenant = tenant_of(request)
    with _auth(request).store.session(write=True) as session:
        added = publication.apply_defaults(
            session,
            tenant,
            getattr(request.app.state, "usecases", []),
            actor=_principal(request).actor,
            only_new=False,
        )
    _auth(request).forget_publication(tenant)
    request.state.audit_detail = {
        "published": [[publication.compact(t), publication.compact(a) if a else ""] for t, a in added]
    }
    return json_response(_publication_json(request, tenant))

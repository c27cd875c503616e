"""OpenID Connect bearer tokens: verified against the identity provider's JWKS.

The issuer URL is configured (``CALANQUE_OIDC_ISSUER``); the JWKS URL comes from the issuer's
``/.well-known/openid-configuration`` unless given (``CALANQUE_OIDC_JWKS_URL``). The key set is
cached for five minutes and fetched again at once (at most every 30 s) when a token names a key id it
does not hold, which is how providers roll their keys. A token is accepted only with a valid signature
by one of those keys (asymmetric algorithms only), the configured audience, the configured issuer, and
an expiry in the future (30 s leeway for clock skew).

Calanque reads its authorisation from claims the provider adds (a Keycloak "hardcoded claim" or "user
attribute" mapper, an Azure AD app role…), named with a prefix (``calanque_`` by default):
``calanque_role`` (admin, operator, viewer, partner), ``calanque_tenant`` ("*" for every tenant; the
default tenant when absent), ``calanque_usecases``, ``calanque_communes``, ``calanque_sites`` (lists).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import jwt

from calanque.auth.model import ALL_TENANTS, ROLE_SCOPES, ROLES, AuthInputError, Principal, check_definition

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
CACHE_SECONDS = 300.0
REFETCH_SECONDS = 30.0
LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """A bearer token that cannot be accepted; the message says why (never the token itself)."""


class ForbiddenToken(Exception):
    """A valid token that grants no role in Calanque."""


class OidcVerifier:
    """Checks bearer tokens of one issuer and turns them into principals."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        jwks_url: str | None = None,
        claim_prefix: str = "calanque_",
        timeout: float = 5.0,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.claim_prefix = claim_prefix
        self.timeout = timeout
        self._jwks_url = jwks_url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            doc = httpx.get(url, timeout=self.timeout).raise_for_status().json()
        except (httpx.HTTPError, ValueError) as err:
            raise InvalidToken(
                f"the identity provider's discovery document at {url} cannot be read: {err}"
            ) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("jwks_uri"), str):
            raise InvalidToken(f"the discovery document at {url} has no jwks_uri")
        return doc["jwks_uri"]

    def _refresh(self) -> None:
        url = self._jwks_url or self._discover()
        try:
            doc = httpx.get(url, timeout=self.timeout).raise_for_status().json()
            keys = jwt.PyJWKSet.from_dict(doc).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as err:
            raise InvalidToken(f"the identity provider's key set at {url} cannot be read: {err}") from None
        self._jwks_url = url
        self._keys = {k.key_id or "": k for k in keys}
        self._fetched_at = time.monotonic()

    def _key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            if not self._keys or age > CACHE_SECONDS or (kid not in self._keys and age > REFETCH_SECONDS):
                self._refresh()
            key = self._keys.get(kid)
        if key is None:
            raise InvalidToken(
                f"the token is signed with key id '{kid[:64]}', which the provider does not publish"
            )
        return key

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; InvalidToken (401) or ForbiddenToken (403) otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken(
                "the bearer token is neither a Calanque API key nor a JSON Web Token"
            ) from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise InvalidToken(
                f"token algorithm '{str(alg)[:16]}' is not accepted: use an asymmetric one "
                f"({', '.join(ALGORITHMS)})"
            )
        key = self._key(str(header.get("kid") or ""))
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(
                f"the token is not meant for this platform (audience must be '{self.audience}')"
            ) from None
        except jwt.InvalidIssuerError:
            raise InvalidToken(f"the token was not issued by {self.issuer}") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except jwt.PyJWTError as err:
            raise InvalidToken(f"the token is not valid: {err}") from None
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        p = self.claim_prefix
        role = claims.get(p + "role")
        if role not in ROLES:
            raise ForbiddenToken(
                f"the token grants no Calanque role: its '{p}role' claim must be one of {', '.join(ROLES)}"
            )
        tenant = claims.get(p + "tenant", "")
        if not isinstance(tenant, str) or (role == "partner" and tenant == ALL_TENANTS):
            raise ForbiddenToken(f"the token's '{p}tenant' claim must name one tenant")

        def strings(name: str) -> tuple[str, ...]:
            value = claims.get(p + name, [])
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ForbiddenToken(f"the token's '{p}{name}' claim must be a list of strings")
            return tuple(value)

        usecases = strings("usecases")
        try:  # the same rules as keys and accounts: an operator without use cases is refused, …
            check_definition(role, tenant, None, list(usecases))
        except AuthInputError as err:
            raise ForbiddenToken(f"the token's Calanque claims are not a valid identity: {err}") from None
        return Principal(
            kind="oidc",
            id=str(claims["sub"])[:128],
            role=role,
            tenant=tenant,
            scopes=ROLE_SCOPES[role],
            usecases=usecases,
            communes=strings("communes"),
            sites=strings("sites"),
        )

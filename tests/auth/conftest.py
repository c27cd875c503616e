"""Servers with authentication on (one per backend and module), real API keys, and a local OIDC provider.

The identity provider is a real HTTP server on 127.0.0.1 publishing a discovery document and the JWKS
of an RSA key generated here; tokens are signed with that key by PyJWT. No network beyond loopback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from calanque.auth import repository as repo
from calanque.config import Settings
from tests.conftest import BACKENDS, LiveServer, drop_pg_database, free_port, make_store

AUDIENCE = "calanque-test"


class Provider:
    """A local OpenID Connect provider: discovery document, JWKS, and token signing."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.jwks_requests = 0
        port = free_port()
        self.issuer = f"http://127.0.0.1:{port}/realms/city"
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                if self.path == "/realms/city/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": provider.issuer + "/certs"}
                elif self.path == "/realms/city/certs":
                    provider.jwks_requests += 1
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(provider.key.public_key()))
                    body = {"keys": [{**jwk, "kid": provider.kid, "use": "sig", "alg": "RS256"}]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, *, key: Any = None, kid: str | None = None, **claims: Any) -> str:
        """A token signed by the provider's key (or another), with sensible defaults for every claim."""
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "agent-42",
            "iat": now,
            "exp": now + 300,
            "calanque_role": "viewer",
            "calanque_tenant": "",
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def close(self) -> None:
        """Stop the HTTP server."""
        self.httpd.shutdown()


@pytest.fixture(scope="session")
def provider() -> Iterator[Provider]:
    """The local identity provider."""
    p = Provider()
    yield p
    p.close()


@dataclass
class AuthServer:
    """A live server with auth on, its store, and keys of every role."""

    url: str
    store: Any
    backend: str
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, str] = field(default_factory=dict)

    def client(self, who: str | None = None, tenant: str | None = None) -> httpx.Client:
        """An HTTP client acting as one of the keys (None: anonymous), optionally in a tenant."""
        headers = {}
        if who is not None:
            headers["Authorization"] = f"Bearer {self.keys[who]}"
        if tenant is not None:
            headers["NGSILD-Tenant"] = tenant
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def add_key(self, label: str, **definition: Any) -> str:
        """Create a key straight in the store; remember it under a label."""
        with self.store.session(write=True) as session:
            key, secret = repo.create_key(session, name=label, created_by="test", **definition)
        self.keys[label], self.key_ids[label] = secret, key.id
        return secret


ROLE_KEYS = {
    "admin": {"role": "admin", "tenant": "*"},
    "viewer": {"role": "viewer", "tenant": ""},
    "operator": {"role": "operator", "tenant": "", "usecases": ["waste"]},
    "partner": {"role": "partner", "tenant": "siteA"},
    "admin-siteA": {"role": "admin", "tenant": "siteA"},
    "reader": {"role": "operator", "tenant": "", "usecases": ["waste"], "scopes": ["read"]},
    "marseille": {"role": "partner", "tenant": "", "communes": ["13055"]},
}


def start_auth_server(
    backend: str, tmp: Path, provider: Provider, **overrides: Any
) -> tuple[AuthServer, Any]:
    """Start a server with auth on over a fresh store; return it and its LiveServer."""
    from calanque.app import create_app

    store = make_store(backend, tmp, f"auth{free_port()}")
    port = free_port()
    options: dict[str, Any] = dict(
        data_dir=Path("/nonexistent"),
        port=port,
        auth=True,
        oidc_issuer=provider.issuer,
        oidc_audience=AUDIENCE,
        rate_limit_per_minute=100_000,
        rate_limit_anonymous_per_minute=100_000,
    )
    options.update(overrides)
    live = LiveServer(create_app(Settings(**options), store=store), port).start()
    server = AuthServer(url=live.url, store=store, backend=backend)
    for label, definition in ROLE_KEYS.items():
        server.add_key(label, **definition)
    return server, live


def stop(live: Any, store: Any) -> None:
    """Stop a server started by start_auth_server and drop its store."""
    live.stop()
    store.close()
    if store.dialect == "postgres":
        drop_pg_database(store.url)


@pytest.fixture(scope="module", params=BACKENDS)
def auth_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, provider: Provider
) -> Iterator[AuthServer]:
    """A server with auth on, per backend, for the whole module."""
    server, live = start_auth_server(request.param, tmp_path_factory.mktemp("auth"), provider)
    yield server
    stop(live, server.store)

"""Who may see and do what: identities (API keys, local users, OpenID Connect), roles, tenants, audit.

* :mod:`calanque.auth.model`: the principal a request acts as, roles and scopes;
* :mod:`calanque.auth.repository`: API keys, users, sessions, login attempts and the audit log in the store;
* :mod:`calanque.auth.oidc`: bearer tokens of the city's identity provider, checked against its JWKS;
* :mod:`calanque.auth.policy`: which role may do what on which endpoint family;
* :mod:`calanque.auth.middleware`: the one ASGI middleware that authenticates, limits, authorises and
  audits every request;
* :mod:`calanque.auth.api` and :mod:`calanque.auth.cli`: /api/v1/auth, /api/v1/audit and
  ``calanque keys|users|audit``.

docs/security.md explains the model.
"""

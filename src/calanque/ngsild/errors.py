"""NGSI-LD errors as exceptions, rendered as ProblemDetails (RFC 7807) by the API layer."""

from __future__ import annotations

from typing import Any

ERROR_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class NgsiLdError(Exception):
    """Base class: an error with an NGSI-LD type URI, an HTTP status and an actionable detail."""

    kind = "InternalError"
    status = 500
    title = "Internal error"

    def __init__(self, detail: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.extra = extra

    @property
    def type_uri(self) -> str:
        """The standard type URI of this error."""
        return ERROR_BASE + self.kind

    def to_problem(self) -> dict[str, Any]:
        """Return the ProblemDetails body of this error."""
        body: dict[str, Any] = {"type": self.type_uri, "title": self.title, "status": self.status,
                                "detail": self.detail}
        body.update(self.extra)
        return body


class InvalidRequest(NgsiLdError):
    """The request is syntactically wrong (bad JSON, unknown parameter value...)."""

    kind, status, title = "InvalidRequest", 400, "Invalid request"


class BadRequestData(NgsiLdError):
    """The request is well-formed but its content is not acceptable."""

    kind, status, title = "BadRequestData", 400, "Bad request data"


class AlreadyExists(NgsiLdError):
    """The entity (or other resource) already exists."""

    kind, status, title = "AlreadyExists", 409, "Already exists"


class OperationNotSupported(NgsiLdError):
    """The operation is not supported on this resource."""

    kind, status, title = "OperationNotSupported", 422, "Operation not supported"


class ResourceNotFound(NgsiLdError):
    """The entity, attribute or other resource does not exist."""

    kind, status, title = "ResourceNotFound", 404, "Resource not found"


class TooComplexQuery(NgsiLdError):
    """The query is too expensive to run."""

    kind, status, title = "TooComplexQuery", 403, "Too complex query"


class TooManyResults(NgsiLdError):
    """The query would return more results than allowed."""

    kind, status, title = "TooManyResults", 403, "Too many results"


class LdContextNotAvailable(NgsiLdError):
    """A JSON-LD @context could not be obtained (fetch failed, timed out or was invalid JSON)."""

    kind, status, title = "LdContextNotAvailable", 503, "LD context not available"


class NonexistentTenant(NgsiLdError):
    """The tenant named in the NGSILD-Tenant header does not exist."""

    kind, status, title = "NonexistentTenant", 404, "Nonexistent tenant"

"""HTTP concerns of the NGSI-LD API: content negotiation, @context, tenants, errors, body limits."""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from calanque.ngsild.canonical import CORE_CONTEXT_URL
from calanque.ngsild.errors import BadRequestData, InvalidRequest, NgsiLdError

JSON = "application/json"
JSONLD = "application/ld+json"
GEOJSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
_LINK_RE = re.compile(r'<([^>]*)>\s*;(.*)')


class NotAcceptable(NgsiLdError):
    """No representation matches the Accept header."""

    kind, status, title = "InvalidRequest", 406, "Not acceptable"


class UnsupportedMediaType(NgsiLdError):
    """The request body has a media type the endpoint does not take."""

    kind, status, title = "InvalidRequest", 415, "Unsupported media type"


class PayloadTooLarge(NgsiLdError):
    """The request body is larger than the configured limit."""

    kind, status, title = "BadRequestData", 413, "Payload too large"


def problem_response(err: NgsiLdError) -> Response:
    """Render an NGSI-LD error as a ProblemDetails response."""
    return Response(orjson.dumps(err.to_problem()), status_code=err.status, media_type=JSON)


def json_response(body: Any, status: int = 200, media_type: str = JSON, headers: dict | None = None) -> Response:
    """Serialise a body with orjson."""
    return Response(orjson.dumps(body), status_code=status, media_type=media_type, headers=headers)


def tenant_of(request: Request) -> str:
    """The tenant named by the NGSILD-Tenant header ("" is the default tenant)."""
    tenant = request.headers.get("ngsild-tenant", "").strip()
    if tenant and not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", tenant):
        raise BadRequestData(
            f"invalid NGSILD-Tenant '{tenant[:80]}': use 1 to 64 letters, digits, '_', '-' or '.'"
        )
    return tenant


def link_context(request: Request) -> str | None:
    """The context URL of a JSON-LD Link header, if any."""
    links = request.headers.getlist("link") if hasattr(request.headers, "getlist") else []
    for header in links:
        for part in header.split(","):
            m = _LINK_RE.match(part.strip())
            if m and "json-ld#context" in m.group(2):
                url = m.group(1).strip()
                if not re.match(r"^https?://", url):
                    raise BadRequestData(f"the Link header context '{url[:200]}' is not an http(s) URL")
                return url
    return None


def media_type_of(request: Request) -> str:
    """The bare media type of the request body."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json(request: Request, *, allow_merge_patch: bool = False) -> tuple[Any, Any]:
    """Read and parse a JSON body; return (body, context value from Link header or body)."""
    media = media_type_of(request)
    allowed = {JSON, JSONLD} | ({MERGE_PATCH} if allow_merge_patch else set())
    if media not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type '{media or '(none)'}' is not supported here: send {' or '.join(sorted(allowed))}"
        )
    raw = await request.body()
    if not raw:
        raise InvalidRequest("the request body is empty: a JSON document is expected")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise InvalidRequest(f"the request body is not valid JSON: {err}") from None
    link = link_context(request)
    if media == JSONLD:
        if link is not None:
            raise BadRequestData("a Link header must not be sent with Content-Type application/ld+json")
        items = body if isinstance(body, list) else [body]
        contexts = [item.get("@context") for item in items if isinstance(item, dict)]
        if any(c is None for c in contexts):
            raise BadRequestData("with Content-Type application/ld+json every object must carry an @context")
        return body, contexts[0] if contexts else None
    return body, link


def accepted(request: Request, *, geojson: bool = False) -> str:
    """Pick the response media type from the Accept header (JSON by default)."""
    header = request.headers.get("accept", "").strip()
    if not header:
        return JSON
    offers = [JSON, JSONLD] + ([GEOJSON] if geojson else [])
    best, best_q = None, -1.0
    for part in header.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        candidates = offers if media in ("*/*", "application/*") else [m for m in offers if m == media]
        for c in candidates:
            if q > best_q or (q == best_q and media == c and best not in (media,)):
                best, best_q = c, q
    if best is None or best_q <= 0:
        raise NotAcceptable(f"cannot produce '{header[:200]}': this endpoint offers {', '.join(offers)}")
    return best


def with_context(request: Request, body: Any, media: str, context_source: Any) -> tuple[Any, dict[str, str]]:
    """Attach the @context to a JSON-LD body, or a Link header to a JSON/GeoJSON one.

    A Link header carries one URL: an inline or multi-part context is stored as an
    "ImplicitlyCreated" context and served by this broker under its own URL.
    """
    source = context_source if context_source is not None else CORE_CONTEXT_URL
    if media == JSONLD:
        if isinstance(body, list):
            return [{**item, "@context": source} for item in body], {}
        if isinstance(body, dict):
            return {**body, "@context": source}, {}
        return body, {}
    if isinstance(source, str):
        url = source
    else:
        state = request.app.state
        url = state.contexts.add_implicit(source, base_url=state.settings.public_base_url()).url
    return body, {"Link": f'<{url}>; {LINK_SUFFIX}'}


LINK_SUFFIX = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


def only_params(request: Request, allowed: set[str]) -> dict[str, str]:
    """Return the query parameters, refusing any this endpoint does not know."""
    params = dict(request.query_params)
    unknown = set(params) - allowed
    if unknown:
        raise InvalidRequest(
            f"unknown query parameter(s): {', '.join(sorted(unknown))}; "
            f"this endpoint accepts {', '.join(sorted(allowed)) or 'none'}"
        )
    return params

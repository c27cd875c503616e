"""Routes of the @context store: /jsonldContexts (list, get, add, delete)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from calanque.ngsild.api.http import JSONLD, accepted, json_response, only_params, read_json
from calanque.ngsild.errors import BadRequestData

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD @contexts"])


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false")
    if value not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false, got '{value[:20]}'")
    return value == "true"


@router.get("/jsonldContexts", summary="List @contexts")
async def list_contexts(request: Request) -> Response:
    """URLs of the @contexts this broker holds, or their details with details=true."""
    only_params(request, {"details", "kind"})
    accepted(request)
    resolver = request.app.state.contexts
    body = resolver.list_contexts(_flag(request, "details"), request.query_params.get("kind"))
    return json_response(body)


@router.post("/jsonldContexts", status_code=201, summary="Add a hosted @context")
async def add_context(request: Request) -> Response:
    """Store a client's @context; it is served back at the URL in the Location header."""
    only_params(request, set())
    body, _ = await read_json(request)
    state = request.app.state
    info = await run_in_threadpool(
        lambda: state.contexts.add_hosted(body, base_url=state.settings.public_base_url())
    )
    return Response(status_code=201, headers={"Location": info.url})


@router.get("/jsonldContexts/{context_id:path}", summary="Serve an @context")
async def get_context(request: Request, context_id: str) -> Response:
    """Serve a hosted @context document, or any stored context's details with details=true."""
    only_params(request, {"details"})
    accepted(request)
    details = _flag(request, "details")
    body = await run_in_threadpool(request.app.state.contexts.get_context, context_id, details)
    return json_response(body, media_type="application/json" if details else JSONLD)


@router.delete("/jsonldContexts/{context_id:path}", status_code=204, summary="Delete or reload an @context")
async def delete_context(request: Request, context_id: str) -> Response:
    """Delete a stored @context, or re-download a cached one with reload=true."""
    only_params(request, {"reload"})
    await run_in_threadpool(request.app.state.contexts.delete_context, context_id, _flag(request, "reload"))
    return Response(status_code=204)

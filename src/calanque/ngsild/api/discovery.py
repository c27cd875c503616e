"""Routes of NGSI-LD discovery: /types, /types/{type}, /attributes, /attributes/{attr}."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from calanque.ngsild.api.http import accepted, json_response, link_context, tenant_of, with_context
from calanque.ngsild.errors import BadRequestData, InvalidRequest, ResourceNotFound

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD discovery"])


def _details(request: Request) -> bool:
    unknown = set(request.query_params) - {"details", "local"}
    if unknown:
        raise InvalidRequest(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    value = request.query_params.get("details", "false")
    if value not in ("true", "false"):
        raise BadRequestData(f"details must be true or false, got '{value[:20]}'")
    return value == "true"


def _summaries(request: Request, tenant: str, *which: str) -> Any:
    """Read the requested summaries ("types", "attributes") in one store session."""
    state = request.app.state
    with state.store.session() as s:
        state.broker.check_tenant(s, tenant)
        found = [s.type_summary(tenant) if w == "types" else s.attribute_summary(tenant) for w in which]
    return found[0] if len(found) == 1 else found


def _reply(request: Request, body: Any, ctx: Any) -> Response:
    media = accepted(request)
    content, headers = with_context(request, body, media, ctx.source)
    return json_response(content, 200, media, headers)


@router.get("/types", summary="Available entity types")
async def list_types(request: Request) -> Response:
    """List entity types (EntityTypeList), or EntityType objects with details=true."""
    details = _details(request)
    tenant = tenant_of(request)
    ctx = await request.app.state.contexts.aresolve(link_context(request))
    summary = await run_in_threadpool(_summaries, request, tenant, "types")
    if details:
        body: Any = [
            {"id": iri, "type": "EntityType", "typeName": ctx.compact(iri),
             "attributeNames": sorted(ctx.compact(a) for a in attrs if a)}
            for iri, attrs in sorted(summary.items())
        ]
    else:
        body = {"id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}", "type": "EntityTypeList",
                "typeList": sorted(ctx.compact(iri) for iri in summary)}
    return _reply(request, body, ctx)


@router.get("/types/{type_name:path}", summary="Details of an entity type")
async def type_info(request: Request, type_name: str) -> Response:
    """EntityTypeInfo: entity count and the attributes used by entities of this type."""
    _details(request)
    tenant = tenant_of(request)
    ctx = await request.app.state.contexts.aresolve(link_context(request))
    iri = ctx.expand(type_name)
    summary, attrs_summary = await run_in_threadpool(_summaries, request, tenant, "types", "attributes")
    if iri not in summary:
        raise ResourceNotFound(f"no entity of type '{type_name}' exists")
    body = {
        "id": iri, "type": "EntityTypeInfo", "typeName": ctx.compact(iri), "entityCount": summary[iri].get("", 0),
        "attributeDetails": [
            {"id": a, "type": "Attribute", "attributeName": ctx.compact(a),
             "attributeTypes": sorted(attrs_summary.get(a, {}).get("attributeTypes", []))}
            for a in sorted(x for x in summary[iri] if x)
        ],
    }
    return _reply(request, body, ctx)


def _attribute(ctx: Any, iri: str, info: dict) -> dict:
    return {"id": iri, "type": "Attribute", "attributeName": ctx.compact(iri), "attributeCount": info["count"],
            "attributeTypes": sorted(info["attributeTypes"]), "typeNames": sorted(ctx.compact(t) for t in info["types"])}


@router.get("/attributes", summary="Available attributes")
async def list_attributes(request: Request) -> Response:
    """List attribute names (AttributeList), or Attribute objects with details=true."""
    details = _details(request)
    tenant = tenant_of(request)
    ctx = await request.app.state.contexts.aresolve(link_context(request))
    summary = await run_in_threadpool(_summaries, request, tenant, "attributes")
    if details:
        body: Any = [_attribute(ctx, iri, info) for iri, info in sorted(summary.items())]
    else:
        body = {"id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}", "type": "AttributeList",
                "attributeList": sorted(ctx.compact(iri) for iri in summary)}
    return _reply(request, body, ctx)


@router.get("/attributes/{attr_name:path}", summary="Details of an attribute")
async def attribute_info(request: Request, attr_name: str) -> Response:
    """One Attribute object: how many entities have it, its attribute types and entity types."""
    _details(request)
    tenant = tenant_of(request)
    ctx = await request.app.state.contexts.aresolve(link_context(request))
    summary = await run_in_threadpool(_summaries, request, tenant, "attributes")
    iri = ctx.expand(attr_name)
    if iri not in summary:
        raise ResourceNotFound(f"no entity has an attribute '{attr_name}'")
    return _reply(request, _attribute(ctx, iri, summary[iri]), ctx)

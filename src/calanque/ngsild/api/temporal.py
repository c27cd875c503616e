"""Routes of the NGSI-LD temporal API: /temporal/entities and /temporal/entityOperations/query."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from calanque.ngsild.api.http import accepted, json_response, link_context, read_json, tenant_of, with_context
from calanque.ngsild.errors import BadRequestData, TooManyResults
from calanque.ngsild.query import params_from_query_body
from calanque.ngsild.temporal import (
    TEMPORAL_PARAMS,
    TemporalService,
    check_temporal_params,
    parse_temporal_params,
)

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD temporal"])


def _service(request: Request) -> TemporalService:
    state = request.app.state
    if not hasattr(state, "temporal"):
        state.temporal = TemporalService(state.broker, max_rows=state.settings.max_history_rows)
    return state.temporal


def _page(params: dict, request: Request) -> tuple[int, int, bool]:
    settings = request.app.state.settings
    try:
        limit = int(params.get("limit", settings.default_limit))
        offset = int(params.get("offset", 0))
    except (TypeError, ValueError):
        raise BadRequestData("limit and offset must be integers") from None
    if limit < 0 or offset < 0:
        raise BadRequestData("limit and offset must not be negative")
    if limit > settings.max_limit:
        raise TooManyResults(f"limit {limit} is above the maximum of {settings.max_limit}: page with offset")
    count = params.get("count", "false")
    if count not in ("true", "false", True, False):
        raise BadRequestData("count must be true or false")
    legacy_count = "count" in [o.strip() for o in str(params.get("options") or "").split(",")]
    return limit, offset, count in ("true", True) or legacy_count


async def _query(request: Request, params: dict[str, Any], context_value: Any) -> Response:
    check_temporal_params(params, TEMPORAL_PARAMS)
    tenant = tenant_of(request)
    media = accepted(request)
    ctx = await request.app.state.contexts.aresolve(context_value)
    req = parse_temporal_params(params, ctx)
    limit, offset, count = _page(params, request)
    body, total = await run_in_threadpool(
        lambda: _service(request).query(tenant, params, req, ctx, limit=limit, offset=offset, count=count)
    )
    content, headers = with_context(request, body, media, ctx.source)
    if total is not None:
        headers["NGSILD-Results-Count"] = str(total)
    return json_response(content, 200, media, headers)


@router.get("/temporal/entities", summary="Query the temporal evolution of entities")
@router.get("/temporal/entities/", include_in_schema=False)
async def query_temporal(request: Request) -> Response:
    """Temporal query: timerel/timeAt/endTimeAt, lastN, attrs, q, type, geo, temporalValues, aggregation."""
    return await _query(request, dict(request.query_params), link_context(request))


@router.post("/temporal/entityOperations/query", summary="Temporal query with a Query object")
async def post_temporal_query(request: Request) -> Response:
    """POST form of the temporal query; temporalQ carries timerel, timeAt, endTimeAt, timeproperty, lastN."""
    body, context_value = await read_json(request)
    params = {k: v for k, v in request.query_params.items()}
    temporal_q = body.get("temporalQ") if isinstance(body, dict) else None
    core = params_from_query_body(body)
    if isinstance(temporal_q, dict):
        for key in ("timerel", "timeAt", "endTimeAt", "timeproperty", "lastN"):
            if key in temporal_q:
                core[key] = temporal_q[key]
    return await _query(request, {**core, **params}, context_value)


@router.get("/temporal/entities/{entity_id:path}", summary="Temporal evolution of one entity")
async def get_temporal(request: Request, entity_id: str) -> Response:
    """The temporal representation of one entity."""
    params = dict(request.query_params)
    check_temporal_params(params, TEMPORAL_PARAMS - {"id", "idPattern", "type", "q", "limit", "offset", "count"})
    tenant = tenant_of(request)
    media = accepted(request)
    ctx = await request.app.state.contexts.aresolve(link_context(request))
    req = parse_temporal_params(params, ctx)
    body = await run_in_threadpool(_service(request).entity, tenant, entity_id, req, ctx)
    content, headers = with_context(request, body, media, ctx.source)
    return json_response(content, 200, media, headers)


@router.post("/temporal/entities", summary="Create or add to a temporal entity")
@router.post("/temporal/entities/", include_in_schema=False)
async def post_temporal(request: Request) -> Response:
    """Add instances to an entity's history: 201 when the entity is new, 204 otherwise."""
    check_temporal_params(dict(request.query_params), set())
    tenant = tenant_of(request)
    body, context_value = await read_json(request)
    ctx = await request.app.state.contexts.aresolve(context_value)
    created = await run_in_threadpool(_service(request).upsert, tenant, body, ctx)
    if created:
        return Response(status_code=201, headers={"Location": f"/ngsi-ld/v1/temporal/entities/{body['id']}"})
    return Response(status_code=204)


@router.post("/temporal/entities/{entity_id:path}/attrs", summary="Add attribute instances")
async def append_temporal(request: Request, entity_id: str) -> Response:
    """Add attribute instances to an entity's history."""
    check_temporal_params(dict(request.query_params), set())
    tenant = tenant_of(request)
    body, context_value = await read_json(request)
    ctx = await request.app.state.contexts.aresolve(context_value)
    await run_in_threadpool(_service(request).append, tenant, entity_id, body, ctx)
    return Response(status_code=204)


@router.patch("/temporal/entities/{entity_id:path}/attrs/{attr}/{instance_id}", summary="Modify an instance")
async def patch_instance(request: Request, entity_id: str, attr: str, instance_id: str) -> Response:
    """Correct one stored attribute instance."""
    check_temporal_params(dict(request.query_params), set())
    tenant = tenant_of(request)
    body, context_value = await read_json(request)
    ctx = await request.app.state.contexts.aresolve(context_value)
    await run_in_threadpool(
        _service(request).modify_instance, tenant, entity_id, ctx.expand(attr), instance_id, body, ctx
    )
    return Response(status_code=204)


@router.delete("/temporal/entities/{entity_id:path}/attrs/{attr}/{instance_id}", summary="Delete an instance")
async def delete_instance(request: Request, entity_id: str, attr: str, instance_id: str) -> Response:
    """Delete one stored attribute instance."""
    check_temporal_params(dict(request.query_params), set())
    tenant = tenant_of(request)
    ctx = await request.app.state.contexts.aresolve(link_context(request))
    await run_in_threadpool(_service(request).delete_instance, tenant, entity_id, ctx.expand(attr), instance_id)
    return Response(status_code=204)


@router.delete("/temporal/entities/{entity_id:path}/attrs/{attr}", summary="Delete an attribute's history")
async def delete_temporal_attr(request: Request, entity_id: str, attr: str) -> Response:
    """Delete the history of one attribute (default instances, one datasetId, or all)."""
    params = dict(request.query_params)
    check_temporal_params(params, {"datasetId", "deleteAll"})
    tenant = tenant_of(request)
    ctx = await request.app.state.contexts.aresolve(link_context(request))
    await run_in_threadpool(
        lambda: _service(request).delete_attr(tenant, entity_id, ctx.expand(attr),
                                              dataset_id=params.get("datasetId"),
                                              delete_all=params.get("deleteAll") == "true")
    )
    return Response(status_code=204)


@router.delete("/temporal/entities/{entity_id:path}", summary="Delete a temporal entity")
async def delete_temporal(request: Request, entity_id: str) -> Response:
    """Delete an entity's whole history."""
    check_temporal_params(dict(request.query_params), set())
    tenant = tenant_of(request)
    await run_in_threadpool(_service(request).delete_entity, tenant, entity_id)
    return Response(status_code=204)

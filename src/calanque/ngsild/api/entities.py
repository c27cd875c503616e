"""Routes of the NGSI-LD entity API: /entities, /entities/{id}/attrs… and /entityOperations/*."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from calanque.ngsild.api.http import (
    GEOJSON,
    accepted,
    json_response,
    link_context,
    only_params,
    read_json,
    tenant_of,
    with_context,
)
from calanque.ngsild.errors import BadRequestData, InvalidRequest
from calanque.ngsild.query import build_query, parse_options, params_from_query_body
from calanque.ngsild.render import render_entity, render_geojson, render_geojson_feature
from calanque.ngsild.service import BatchOutcome

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD entities"])


def _state(request: Request) -> Any:
    return request.app.state


async def _actx(request: Request, context_value: Any) -> Any:
    """Resolve a context: inline when it is cached (no thread hop per request), else in a worker thread."""
    return await _state(request).contexts.aresolve(context_value)


def _check_id(entity_id: str) -> str:
    import re

    if not re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$", entity_id) or len(entity_id) > 2048:
        raise BadRequestData(f"'{entity_id[:100]}' is not a valid entity id: an absolute URI is expected")
    return entity_id


def _render_many(request: Request, entities: list[dict], ctx: Any, render: Any, media: str) -> Any:
    if media == GEOJSON:
        return render_geojson(entities, ctx, geoproperty=render.geoproperty, fmt=render.fmt,
                              sys_attrs=render.sys_attrs, attrs=render.attrs, pick=render.pick, omit=render.omit,
                              lang=render.lang, dataset_id=render.dataset_id)
    return [
        render_entity(e, ctx, fmt=render.fmt, sys_attrs=render.sys_attrs, attrs=render.attrs, pick=render.pick,
                      omit=render.omit, lang=render.lang, dataset_id=render.dataset_id)
        for e in entities
    ]


def _respond(request: Request, body: Any, media: str, ctx: Any, *, status: int = 200,
             headers: dict | None = None) -> Response:
    if media == GEOJSON:
        content, extra = body, with_context(request, {}, "application/json", ctx.source)[1]
    else:
        content, extra = with_context(request, body, media, ctx.source)
    return json_response(content, status, media, {**extra, **(headers or {})})


# entities -----------------------------------------------------------------------------------
@router.post("/entities", status_code=201, summary="Create an entity")
@router.post("/entities/", status_code=201, include_in_schema=False)
async def create_entity(request: Request) -> Response:
    """Create one entity (normalized or concise payload)."""
    only_params(request, set())
    tenant = tenant_of(request)
    body, context_value = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequestData("the body must be one JSON object describing an entity")
    ctx = await _actx(request, context_value)
    entity_id = await run_in_threadpool(_state(request).broker.create_entity, tenant, body, ctx)
    headers = {"Location": f"/ngsi-ld/v1/entities/{entity_id}"}
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    return Response(status_code=201, headers=headers)


@router.get("/entities", summary="Query entities")
@router.get("/entities/", include_in_schema=False)
async def query_entities(request: Request) -> Response:
    """Query entities by type, id, idPattern, attrs, q and geo-query, with paging and count."""
    return await _run_query(request, dict(request.query_params), link_context(request))


@router.post("/entityOperations/query", summary="Query entities with a Query object")
async def post_query(request: Request) -> Response:
    """The POST form of the entity query (for long queries)."""
    params = only_params(request, {"limit", "offset", "count", "options", "format", "local", "lang"})
    body, context_value = await read_json(request)
    merged = {**params_from_query_body(body), **params}
    return await _run_query(request, merged, context_value)


async def _run_query(request: Request, params: dict[str, Any], context_value: Any) -> Response:
    tenant = tenant_of(request)
    media = accepted(request, geojson=True)
    state = _state(request)
    ctx = await _actx(request, context_value)
    query, render = build_query(
        params, ctx, tenant=tenant, dialect=state.store.dialect, default_limit=state.settings.default_limit,
        max_limit=state.settings.max_limit,
    )
    entities, count = await run_in_threadpool(state.broker.query, tenant, query)
    body = _render_many(request, entities, ctx, render, media)
    headers = {"NGSILD-Results-Count": str(count)} if count is not None else None
    return _respond(request, body, media, ctx, headers=headers)


@router.get("/entities/{entity_id:path}", summary="Retrieve an entity")
async def get_entity(request: Request, entity_id: str) -> Response:
    """Retrieve one entity, with attrs/pick/omit projection, formats, sysAttrs, lang and GeoJSON."""
    if entity_id.endswith("/attrs") or "/attrs/" in entity_id:
        raise InvalidRequest("attributes are not retrievable one by one: GET the entity with attrs=…")
    params = only_params(request, {"attrs", "pick", "omit", "options", "format", "lang", "geoproperty", "local",
                             "datasetId"})
    _check_id(entity_id)
    tenant = tenant_of(request)
    media = accepted(request, geojson=True)
    state = _state(request)
    ctx = await _actx(request, link_context(request))
    _, render = build_query(
        {k: v for k, v in params.items() if k in {"attrs", "pick", "omit", "options", "format", "lang",
                                                  "geoproperty", "datasetId"}},
        ctx, tenant=tenant, dialect=state.store.dialect, default_limit=1, max_limit=1,
    )
    entity = await run_in_threadpool(state.broker.get_entity, tenant, entity_id)
    if media == GEOJSON:
        body = render_geojson_feature(entity, ctx, geoproperty=render.geoproperty, fmt=render.fmt,
                                      sys_attrs=render.sys_attrs, attrs=render.attrs, pick=render.pick,
                                      omit=render.omit, lang=render.lang, dataset_id=render.dataset_id)
    else:
        body = render_entity(entity, ctx, fmt=render.fmt, sys_attrs=render.sys_attrs, attrs=render.attrs,
                             pick=render.pick, omit=render.omit, lang=render.lang, dataset_id=render.dataset_id)
    return _respond(request, body, media, ctx)


def _update_response(result: Any) -> Response:
    if not result.not_updated:
        return Response(status_code=204)
    body = {
        "updated": [a for a, _ in result.updated],
        "notUpdated": [{"attributeName": a, "reason": reason} for a, _, reason in result.not_updated],
    }
    return json_response(body, 207)


def _compact_result(result: Any, ctx: Any) -> Any:
    result.updated = [(ctx.compact(a), d) for a, d in result.updated]
    result.not_updated = [(ctx.compact(a), d, r) for a, d, r in result.not_updated]
    return result


@router.post("/entities/{entity_id:path}/attrs", summary="Append attributes")
async def append_attrs(request: Request, entity_id: str) -> Response:
    """Add attributes to an entity (overwrite unless options=noOverwrite)."""
    params = only_params(request, {"options"})
    _, flags = parse_options(params.get("options"), None, {"noOverwrite"})
    _check_id(entity_id)
    tenant = tenant_of(request)
    body, context_value = await read_json(request)
    ctx = await _actx(request, context_value)
    result = await run_in_threadpool(
        _state(request).broker.append_attrs, tenant, entity_id, body, ctx, no_overwrite="noOverwrite" in flags
    )
    return _update_response(_compact_result(result, ctx))


@router.patch("/entities/{entity_id:path}/attrs", summary="Update attributes")
async def update_attrs(request: Request, entity_id: str) -> Response:
    """Update existing attributes of an entity; report those that do not exist."""
    only_params(request, set())
    _check_id(entity_id)
    tenant = tenant_of(request)
    body, context_value = await read_json(request)
    ctx = await _actx(request, context_value)
    result = await run_in_threadpool(_state(request).broker.update_attrs, tenant, entity_id, body, ctx)
    return _update_response(_compact_result(result, ctx))


@router.patch("/entities/{path:path}/attrs/{attr}", summary="Partially update one attribute")
async def partial_update_attr(request: Request, path: str, attr: str) -> Response:
    """Merge the given members into one attribute."""
    only_params(request, set())
    entity_id = _check_id(path)
    tenant = tenant_of(request)
    body, context_value = await read_json(request)
    ctx = await _actx(request, context_value)
    await run_in_threadpool(
        _state(request).broker.partial_update_attr, tenant, entity_id, ctx.expand(attr), body, ctx
    )
    return Response(status_code=204)


@router.put("/entities/{path:path}/attrs/{attr}", summary="Replace one attribute")
async def replace_attr(request: Request, path: str, attr: str) -> Response:
    """Replace one attribute of an entity."""
    only_params(request, set())
    entity_id = _check_id(path)
    tenant = tenant_of(request)
    body, context_value = await read_json(request)
    ctx = await _actx(request, context_value)
    await run_in_threadpool(_state(request).broker.replace_attr, tenant, entity_id, ctx.expand(attr), body, ctx)
    return Response(status_code=204)


@router.delete("/entities/{path:path}/attrs/{attr}", summary="Delete an attribute")
async def delete_attr(request: Request, path: str, attr: str) -> Response:
    """Delete the default instance, one datasetId instance, or all instances (deleteAll=true)."""
    params = only_params(request, {"datasetId", "deleteAll"})
    entity_id = _check_id(path)
    if params.get("deleteAll") not in (None, "true", "false"):
        raise BadRequestData("deleteAll must be true or false")
    tenant = tenant_of(request)
    ctx = await _actx(request, link_context(request))
    await run_in_threadpool(
        lambda: _state(request).broker.delete_attr(
            tenant, entity_id, ctx.expand(attr), dataset_id=params.get("datasetId"),
            delete_all=params.get("deleteAll") == "true",
        )
    )
    return Response(status_code=204)


@router.patch("/entities/{entity_id:path}", summary="Merge an entity")
async def merge_entity(request: Request, entity_id: str) -> Response:
    """Merge-patch an entity (urn:ngsi-ld:null deletes)."""
    only_params(request, {"options", "observedAt", "lang", "format"})
    _check_id(entity_id)
    tenant = tenant_of(request)
    body, context_value = await read_json(request, allow_merge_patch=True)
    ctx = await _actx(request, context_value)
    await run_in_threadpool(_state(request).broker.merge_entity, tenant, entity_id, body, ctx)
    return Response(status_code=204)


@router.put("/entities/{entity_id:path}", summary="Replace an entity")
async def replace_entity(request: Request, entity_id: str) -> Response:
    """Replace an entity's types and attributes."""
    only_params(request, {"options", "format", "lang"})
    _check_id(entity_id)
    tenant = tenant_of(request)
    body, context_value = await read_json(request)
    ctx = await _actx(request, context_value)
    await run_in_threadpool(_state(request).broker.replace_entity, tenant, entity_id, body, ctx)
    return Response(status_code=204)


@router.delete("/entities/{entity_id:path}", summary="Delete an entity")
async def delete_entity(request: Request, entity_id: str) -> Response:
    """Delete an entity."""
    only_params(request, {"type"})
    _check_id(entity_id)
    tenant = tenant_of(request)
    await run_in_threadpool(_state(request).broker.delete_entity, tenant, entity_id)
    return Response(status_code=204)


# batch operations --------------------------------------------------------------------------
def _batch_response(outcome: BatchOutcome, *, created_status: int) -> Response:
    if not outcome.errors:
        if created_status == 201:
            return json_response(outcome.success, 201)
        return Response(status_code=204)
    body = {
        "success": outcome.success,
        "errors": [
            {"entityId": entity_id, "error": err.to_problem()} for entity_id, err in outcome.errors
        ],
    }
    return json_response(body, 207)


async def _batch_input(request: Request) -> tuple[str, Any, Any]:
    tenant = tenant_of(request)
    body, context_value = await read_json(request)
    ctx = await _actx(request, context_value)
    return tenant, body, ctx


@router.post("/entityOperations/create", summary="Batch create")
async def batch_create(request: Request) -> Response:
    """Create several entities; 201 with ids, or 207 with one error per failed entity."""
    only_params(request, set())
    tenant, body, ctx = await _batch_input(request)
    outcome = await run_in_threadpool(_state(request).broker.batch_create, tenant, body, ctx)
    return _batch_response(outcome, created_status=201)


@router.post("/entityOperations/upsert", summary="Batch upsert")
async def batch_upsert(request: Request) -> Response:
    """Create or update several entities (options=replace, the default, or update)."""
    params = only_params(request, {"options"})
    _, flags = parse_options(params.get("options"), None, {"update", "replace"})
    if {"update", "replace"} <= flags:
        raise BadRequestData("options cannot be both update and replace")
    tenant, body, ctx = await _batch_input(request)
    outcome = await run_in_threadpool(
        lambda: _state(request).broker.batch_upsert(tenant, body, ctx, replace="update" not in flags)
    )
    if not outcome.errors:
        if outcome.created:
            return json_response(outcome.created, 201)
        return Response(status_code=204)
    return _batch_response(outcome, created_status=201)


@router.post("/entityOperations/update", summary="Batch update")
async def batch_update(request: Request) -> Response:
    """Update attributes of several entities (options=noOverwrite keeps existing ones)."""
    params = only_params(request, {"options"})
    _, flags = parse_options(params.get("options"), None, {"noOverwrite"})
    tenant, body, ctx = await _batch_input(request)
    outcome = await run_in_threadpool(
        lambda: _state(request).broker.batch_update(tenant, body, ctx, no_overwrite="noOverwrite" in flags)
    )
    return _batch_response(outcome, created_status=204)


@router.post("/entityOperations/merge", summary="Batch merge")
async def batch_merge(request: Request) -> Response:
    """Merge-patch several entities."""
    only_params(request, set())
    tenant, body, ctx = await _batch_input(request)
    outcome = await run_in_threadpool(_state(request).broker.batch_merge, tenant, body, ctx)
    return _batch_response(outcome, created_status=204)


@router.post("/entityOperations/delete", summary="Batch delete")
async def batch_delete(request: Request) -> Response:
    """Delete several entities by id."""
    only_params(request, set())
    tenant = tenant_of(request)
    body, _ = await read_json(request)
    outcome = await run_in_threadpool(_state(request).broker.batch_delete, tenant, body)
    return _batch_response(outcome, created_status=204)

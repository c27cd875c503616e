"""HTTP ingestion endpoints, integration keys and downlink commands (under /api/v1).

* ``POST /api/v1/ingest/chirpstack?event=up|status|join|ack|txack|log|location``: the ChirpStack v4
  HTTP integration (JSON marshaler);
* ``POST /api/v1/ingest/tts``: The Things Stack v3 webhook (uplink and downlink event messages);
* ``POST /api/v1/ingest/http``: generic push ``{"device", "observedAt", "measurements"}``.

Every push carries an integration key (``X-Calanque-Key`` or ``Authorization: Bearer``) whose
integration fixes the kind and the tenant. A message that cannot be parsed is a 400 (and is kept
as a dead letter); one that parses but cannot be stored (unknown device, decoding or mapping
failure) is accepted into the dead-letter store with a 202 that says why; a duplicate is a 200.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from calanque.devices import commands as cmd
from calanque.ngsild.api.http import json_response, tenant_of
from calanque.ngsild.errors import BadRequestData, InvalidRequest, NgsiLdError, ResourceNotFound
from calanque.pipeline import integrations as integ
from calanque.pipeline.ingest import Inbound, Ingestor

router = APIRouter(prefix="/api/v1")


class Unauthorized(NgsiLdError):
    """The request lacks a valid integration key (401)."""

    kind, status, title = "Unauthorized", 401, "Unauthorized"


def _integration(request: Request, kind: str) -> dict[str, Any]:
    key = request.headers.get("x-calanque-key")
    auth = request.headers.get("authorization", "")
    if not key and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    if not key:
        raise Unauthorized("missing integration key: send it in the X-Calanque-Key header "
                           "(create one with `calanque integrations create`)")
    store = request.app.state.store
    with store.session() as session:
        found = integ.resolve_key(session, key)
    if found is None:
        raise Unauthorized("unknown or revoked integration key")
    if found["kind"] != kind:
        raise Unauthorized(f"this key belongs to the '{found['name']}' integration of kind '{found['kind']}', "
                           f"not {kind}")
    return found


async def _ingest(request: Request, connector: str, event: str | None = None) -> Any:
    found = _integration(request, "http" if connector == "http" else connector)
    body = await request.body()
    if not body:
        raise BadRequestData("empty body: expected the integration's JSON message")
    msg = Inbound(connector=connector, tenant=found["tenant"], topic=request.url.path, payload=body,
                  received_at=datetime.now(UTC), event=event, transport="http")
    ingestor: Ingestor = request.app.state.ingestor
    report = await run_in_threadpool(ingestor.ingest, [msg])
    out = report.outcomes[0]
    body_out: dict[str, Any] = {"status": out.status, "deviceId": out.device_id, "entityId": out.entity_id}
    if out.status == "dead-letter":
        body_out.update(reason=out.reason, errorKind=out.error_kind, deadLetterId=out.dead_letter_id)
        if out.error_kind == "parse":
            raise BadRequestData(f"the message cannot be parsed: {out.reason} (kept as dead letter "
                                 f"{out.dead_letter_id})")
        return json_response(body_out, status=202)
    return json_response(body_out, status=200 if out.status == "duplicate" else 202)


@router.post("/ingest/chirpstack", tags=["ingestion"], status_code=202,
             summary="ChirpStack v4 HTTP integration endpoint (one event per request)")
async def ingest_chirpstack(request: Request, event: str = Query(
        ..., description="ChirpStack event type: up, status, join, ack, txack, log or location")) -> Any:
    """Ingest one ChirpStack event."""
    return await _ingest(request, "chirpstack", event)


@router.post("/ingest/tts", tags=["ingestion"], status_code=202,
             summary="The Things Stack v3 webhook endpoint (uplink and downlink event messages)")
async def ingest_tts(request: Request) -> Any:
    """Ingest one The Things Stack message."""
    return await _ingest(request, "tts")


@router.post("/ingest/http", tags=["ingestion"], status_code=202,
             summary="Generic HTTP push: {device, observedAt, measurements}")
async def ingest_http(request: Request) -> Any:
    """Ingest one generic push."""
    return await _ingest(request, "http")


# integrations -------------------------------------------------------------------------------
class IntegrationCreate(BaseModel):
    """A new integration: its name, kind and the tenant its data goes to."""

    name: str
    kind: str = Field(description="chirpstack, tts or http")


@router.post("/integrations", tags=["ingestion"], status_code=201,
             summary="Create an integration; the answer holds its key, shown only this once")
def create_integration(request: Request, body: IntegrationCreate) -> Any:
    """Create an integration for the request's tenant (NGSILD-Tenant)."""
    tenant = tenant_of(request)
    with request.app.state.store.session(write=True) as session:
        record, key = integ.create_integration(session, body.name, body.kind, tenant)
    return json_response({**record.model_dump(mode="json", by_alias=True), "key": key}, status=201)


@router.get("/integrations", tags=["ingestion"], summary="List integrations (never their keys)")
def list_integrations(request: Request) -> Any:
    """List every integration."""
    with request.app.state.store.session() as session:
        return json_response([i.model_dump(mode="json", by_alias=True) for i in integ.list_integrations(session)])


@router.delete("/integrations/{name}", tags=["ingestion"], status_code=204, summary="Revoke an integration's key")
def revoke_integration(request: Request, name: str) -> Response:
    """Revoke an integration."""
    with request.app.state.store.session(write=True) as session:
        if not integ.revoke_integration(session, name):
            raise ResourceNotFound(f"integration '{name}' does not exist")
    return Response(status_code=204)


# commands -------------------------------------------------------------------------------------
def _commands_within(request: Request, tenant: str) -> Any:
    """The condition keeping the commands of the devices the caller may see (its read scope), or None."""
    from calanque.devices.repository import registered_in

    scope = getattr(request.state, "read_scope", None)
    within = scope.device_predicate() if scope is not None else None
    return registered_in(tenant, within) if within is not None else None


@router.post("/commands", tags=["commands"], status_code=202,
             summary="Send a command (downlink) to a device, to the devices of an entity, or to a lighting group")
def send_command(request: Request, body: cmd.CommandRequest) -> Any:
    """Encode, record and enqueue a command; the answer lists one record per device."""
    tenant = tenant_of(request)
    settings = request.app.state.settings
    records = cmd.send_commands(request.app.state.store, tenant, body, request.app.state.publisher,
                                tts_tenant=settings.tts_tenant)
    return json_response([r.model_dump(mode="json", by_alias=True) for r in records], status=202)


@router.get("/commands", tags=["commands"], summary="List recorded commands, newest first")
def list_commands(request: Request, device: str | None = None, status: str | None = None,
                  limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)) -> Any:
    """List commands of the request's tenant."""
    if status is not None and status not in ("queued", "sent", "acknowledged", "failed"):
        raise InvalidRequest(f"unknown status '{status[:20]}': expected queued, sent, acknowledged or failed")
    tenant = tenant_of(request)
    with request.app.state.store.session() as session:
        found = cmd.list_commands(session, tenant, device_id=device, status=status, limit=limit,
                                  offset=offset, within=_commands_within(request, tenant))
    return json_response([c.model_dump(mode="json", by_alias=True) for c in found])


@router.get("/commands/{command_id}", tags=["commands"], summary="One recorded command and its outcome")
def get_command(request: Request, command_id: int) -> Any:
    """Return one command."""
    tenant = tenant_of(request)
    with request.app.state.store.session() as session:
        found = cmd.get_command(session, tenant, command_id, within=_commands_within(request, tenant))
    if found is None:
        raise ResourceNotFound(f"command {command_id} does not exist")
    return json_response(found.model_dump(mode="json", by_alias=True))

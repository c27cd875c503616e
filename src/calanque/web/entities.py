"""The entity page ``/entities/{id}``: an asset's attributes, their history, its device, its state and commands.

The page's script reads the entity, its history (NGSI-LD temporal API) and its device
(``/api/v1/devices?entityId=…``). Two things are decided here, on the server, from the principal:
its state on the map (the use case's ``map_state`` hook) and whether it may command the asset. The
command form is rendered, and its script loaded, only when the principal's role and reach allow the
command (the same rules :mod:`calanque.auth.policy` and :mod:`calanque.auth.targets` apply to
``POST /api/v1/commands``) and a device feeding the entity takes it; a viewer's page holds no
command control at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from calanque.auth import targets
from calanque.auth.model import ALL_TENANTS, Principal, term_of
from calanque.auth.policy import Endpoint, decide
from calanque.devices import repository as devrepo
from calanque.devices.models import LORAWAN_NETWORKS, Device
from calanque.field.codecs import CodecError, get_codec
from calanque.store.base import Session
from calanque.usecases.registry import MapContext
from calanque.web.app import principal_of, render, translator
from calanque.web.mapdata import MappedTypes, state_of

router = APIRouter(include_in_schema=False)
# The commands the page offers, each with the probe command its device's codec must accept.
COMMAND_PROBES = {"switch": {"powerState": "off"}, "dim": {"powerState": "on", "dimmingLevel": 50}}


def page_tenant(principal: Principal) -> str:
    """The tenant a page acts in: the principal's own, or the default one for an admin of every tenant."""
    return "" if principal.tenant == ALL_TENANTS else principal.tenant


def command_capabilities(devices: list[Device]) -> list[str]:
    """The commands (``switch``, ``dim``) one of the devices can be sent: a downlink path and a codec taking it."""
    found: set[str] = set()
    for device in devices:
        if device.network not in LORAWAN_NETWORKS or device.status != "active":
            continue
        try:
            codec = get_codec(device.codec, script=device.codec_script)
        except CodecError:
            continue
        for name, probe in COMMAND_PROBES.items():
            try:
                codec.encode_downlink(dict(probe))
                found.add(name)
            except (CodecError, NotImplementedError, TypeError, ValueError):
                continue
    return [name for name in COMMAND_PROBES if name in found]


def may_command(session: Session, request: Request, principal: Principal, tenant: str, entity_id: str) -> bool:
    """Whether POST /api/v1/commands for this entity would be allowed to the principal (role, scope, reach)."""
    if decide(principal, Endpoint("commands", "command"), tenant) is not None:
        return False
    endpoint = Endpoint("commands", "command")
    if not targets.needs_check(principal, endpoint):
        return True
    usecase_types = {uc.name: frozenset(uc.entity_types) for uc in request.app.state.usecases}
    refusal = targets.check(session, principal, "POST", "/api/v1/commands", tenant,
                            orjson.dumps({"entity": entity_id}), usecase_types)
    return refusal is None


def visible_to(request: Request, principal: Principal, tenant: str, entity: dict) -> bool:
    """Whether the principal's read scope (operators: their use cases' types; narrowed identities: their
    communes or sites) shows this entity; the page is rendered outside the API's scoped reads."""
    auth = getattr(request.app.state, "auth", None)
    scope = auth.narrowed_scope(principal, tenant) if auth is not None else None
    return scope is None or scope.visible(entity, tenant)


@dataclass(slots=True)
class EntityView:
    """What the server tells the page about an entity."""

    types: list[str]
    usecase: dict[str, str] | None
    state: dict[str, Any] | None
    commands: list[str]


def entity_view(session: Session, request: Request, principal: Principal, tenant: str, entity: dict) -> EntityView:
    """Types, use case, map state and the commands the principal may send for one entity."""
    _ = translator(request)
    types = [term_of(t) for t in entity.get("type", [])]
    found = MappedTypes.of(request.app.state.usecases).find(entity)
    usecase = state = None
    if found is not None:
        uc = found[1]
        usecase = {"name": uc.name, "title": _(uc.title)}
        ctx = MapContext(tenant=tenant, now=datetime.now(UTC), session=session)
        mapped = state_of(entity, uc.map_state, ctx) if uc.map_state else None
        if mapped is not None:
            state = {"level": mapped.level, "label": mapped.label, "params": mapped.params,
                     "attention": mapped.attention}
    devices, _total = devrepo.list_devices(session, tenant, entity_id=entity["id"], limit=100)
    commands = command_capabilities(devices)
    if commands and not may_command(session, request, principal, tenant, entity["id"]):
        commands = []
    return EntityView(types, usecase, state, commands)


@router.get("/entities/{entity_id:path}")
def entity_page(request: Request, entity_id: str) -> HTMLResponse:
    """One asset: attributes, history charts, device, state and (when allowed) commands."""
    _ = translator(request)
    principal = principal_of(request)
    tenant = page_tenant(principal)
    store = request.app.state.store
    with store.session() as session:
        entity = session.get_entity(tenant, entity_id)
        if entity is not None and not visible_to(request, principal, tenant, entity):
            entity = None  # out of the principal's read scope: as if it did not exist, like the API answers
        view = entity_view(session, request, principal, tenant, entity) if entity is not None else None
    if view is None:
        return render(request, "entity_missing.html", title=_("Not found"), status=404, entity_id=entity_id)
    page = {"id": entity_id, "types": view.types, "usecase": view.usecase, "state": view.state,
            "commands": view.commands}
    return render(request, "entity.html", title=entity_id.split(":")[-1], page=page, entity_id=entity_id,
                  types=view.types, usecase=view.usecase, commands=view.commands)

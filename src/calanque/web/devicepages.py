"""Device registry pages: ``/devices`` (search and filters), ``/devices/silent``, ``/devices/import`` and
``/devices/{id}``. Their scripts read ``/api/v1/devices`` (the caller's read scope applies there); the
import page previews a file with ``POST /api/v1/devices/import?dryRun=true`` before importing it, and
is offered only to roles that may change the registry.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from calanque.auth.policy import Endpoint, decide
from calanque.devices import repository as devrepo
from calanque.devices.importer import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from calanque.web.app import principal_of, render, translator
from calanque.web.entities import page_tenant

router = APIRouter(include_in_schema=False)


def may_change_devices(request: Request) -> bool:
    """Whether the principal's role may write to the device registry (reach is checked per row by the API)."""
    principal = principal_of(request)
    return decide(principal, Endpoint("devices", "write"), page_tenant(principal)) is None


def _entity_types(request: Request) -> list[str]:
    """Every entity type a use case declares, for the filters."""
    return sorted({t for uc in request.app.state.usecases for t in uc.entity_types})


@router.get("/devices")
def devices_page(request: Request) -> HTMLResponse:
    """Every device, with search and filters."""
    _ = translator(request)
    return render(request, "devices.html", title=_("Devices"), page={"mode": "all"}, mode="all",
                  entity_types=_entity_types(request), can_import=may_change_devices(request))


@router.get("/devices/silent")
def silent_page(request: Request) -> HTMLResponse:
    """The active devices silent for longer than a few expected periods."""
    _ = translator(request)
    return render(request, "devices.html", title=_("Silent devices"),
                  page={"mode": "silent", "defaultFactor": devrepo.DEFAULT_SILENT_FACTOR,
                        "defaultPeriod": devrepo.DEFAULT_EXPECTED_PERIOD_S},
                  mode="silent", entity_types=_entity_types(request), can_import=may_change_devices(request))


@router.get("/devices/import")
def import_page(request: Request) -> HTMLResponse:
    """Bulk import from a CSV or JSON file: a preview of every row's errors, then the import."""
    _ = translator(request)
    allowed = may_change_devices(request)
    return render(request, "device_import.html", title=_("Import devices"), page={"allowed": allowed},
                  allowed=allowed, required=REQUIRED_COLUMNS, optional=OPTIONAL_COLUMNS)


@router.get("/devices/{device_id}")
def device_page(request: Request, device_id: str) -> HTMLResponse:
    """One device: its configuration, link metadata, entity, commands and dead letters."""
    return render(request, "device.html", title=device_id, page={"id": device_id}, device_id=device_id)

"""REST API of the device registry (/api/v1/devices) and of the dead letters (/api/v1/deadletters).

The tenant comes from the NGSILD-Tenant header, like on the NGSI-LD API; errors are ProblemDetails.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from calanque.devices import deadletters as dl
from calanque.devices import importer
from calanque.devices import repository as repo
from calanque.devices.models import Device, DeviceConfig, DevicePatch, DeviceStatus
from calanque.ngsild.api.http import UnsupportedMediaType, tenant_of
from calanque.ngsild.errors import BadRequestData, NgsiLdError, ResourceNotFound
from calanque.store.base import SqlPredicate, Store

router = APIRouter(prefix="/api/v1")


class ServiceUnavailable(NgsiLdError):
    """A component the request needs is not running (e.g. no ingestion pipeline to retry through)."""

    kind, status, title = "InternalError", 503, "Service unavailable"


class DevicePage(BaseModel):
    """A page of devices with the total number matching the filters."""

    items: list[Device]
    total: int
    limit: int
    offset: int


class DeadLetterPage(BaseModel):
    """A page of dead letters with the total number matching the filters."""

    items: list[dl.DeadLetter]
    total: int
    limit: int
    offset: int


class RetryRequest(BaseModel):
    """Which dead letters to retry: explicit ids, or all not yet resolved (optionally filtered)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    ids: list[int] | None = Field(default=None, min_length=1, max_length=1000)
    all: bool = False
    error_kind: dl.ErrorKind | None = None
    connector: str | None = None
    limit: int = Field(default=1000, ge=1, le=1000, description="At most this many letters with all=true")

    @model_validator(mode="after")
    def _one_selector(self) -> RetryRequest:
        if (self.ids is None) == (not self.all):
            raise ValueError("give either 'ids' (a list of dead-letter ids) or 'all': true, not both or neither")
        return self


class RetryOutcome(BaseModel):
    """Result of a bulk retry."""

    attempted: int
    resolved: int
    failed: list[dict[str, Any]]
    not_found: list[int] = Field(default_factory=list, serialization_alias="notFound")


class _CamelOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ImportRowError(_CamelOut):
    """One rejected value of an import: the row's line (CSV) or item number (JSON), the field, why."""

    line: int
    field: str | None
    message: str


class ImportRow(_CamelOut):
    """One valid row of an import and what importing it does (create, or update an existing device)."""

    line: int
    id: str
    name: str
    entity_id: str
    entity_type: str
    action: str


class ImportResult(_CamelOut):
    """What an import did, or would do on a dry run: counts, every row error, and the valid rows."""

    dry_run: bool
    written: bool
    rows: int = Field(description="Rows read (valid and invalid)")
    valid: int
    created: int = Field(description="Devices created (to create, on a dry run)")
    updated: int = Field(description="Existing devices whose configuration is replaced (to replace, on a dry run)")
    errors: list[ImportRowError]
    devices: list[ImportRow]


_CSV_TYPES = ("text/csv", "application/csv")
_JSON_TYPES = ("application/json",)


def _store(request: Request) -> Store:
    return request.app.state.store


def _scope(request: Request) -> Any:
    """The request's read scope (calanque.store.scope), or None when the caller sees the whole tenant."""
    return getattr(request.state, "read_scope", None)


def _devices_within(request: Request) -> SqlPredicate | None:
    """The condition on the devices table keeping the devices the caller may see."""
    scope = _scope(request)
    return scope.device_predicate() if scope is not None else None


def _letters_within(request: Request, tenant: str) -> SqlPredicate | None:
    """The condition keeping the dead letters of the devices the caller may see."""
    within = _devices_within(request)
    return repo.registered_in(tenant, within) if within is not None else None


def _handler(request: Request) -> dl.RetryHandler:
    handler = getattr(request.app.state, "deadletter_retry", None)
    if handler is None:
        raise ServiceUnavailable(
            "no ingestion pipeline is running in this server, so dead letters cannot be retried; "
            "start the ingestion pipeline (it registers app.state.deadletter_retry) and try again"
        )
    return handler


# devices ---------------------------------------------------------------------------------
@router.post("/devices", status_code=201, response_model=Device, tags=["devices"],
             summary="Register a device", response_model_by_alias=True)
def create_device(request: Request, body: DeviceConfig) -> Device:
    """Register a device in the tenant; 409 if its id is already registered."""
    tenant = tenant_of(request)
    with _store(request).session(write=True) as session:
        session.ensure_tenant(tenant)
        return repo.create_device(session, tenant, body)


@router.get("/devices", response_model=DevicePage, tags=["devices"], summary="List devices")
def list_devices(
    request: Request,
    status: DeviceStatus | None = Query(default=None, description="Only devices with this status"),
    model: str | None = Query(default=None, description="Only this device model"),
    commune: str | None = Query(default=None, description="Only this INSEE commune code"),
    site: str | None = Query(default=None, description="Only this site"),
    entity_id: str | None = Query(default=None, alias="entityId", description="Only the devices feeding this entity"),
    entity_type: str | None = Query(default=None, alias="entityType", description="Only devices feeding this type"),
    q: str | None = Query(default=None, max_length=200,
                          description="Part of the id, name, site or entity id, in any case"),
    silent_since: datetime | None = Query(default=None, alias="silentSince",
                                          description="Only devices not seen since this time (ISO 8601)"),
    silent: bool = Query(default=False, description="Only active devices silent for longer than silentFactor × "
                         "their expectedPeriod (never seen counts as silent)"),
    silent_factor: float = Query(default=repo.DEFAULT_SILENT_FACTOR, alias="silentFactor", ge=1, le=1000,
                                 description="How many expected periods without an uplink make a device silent"),
    default_period: int = Query(default=repo.DEFAULT_EXPECTED_PERIOD_S, alias="defaultPeriod", ge=1,
                                le=30 * 86_400, description="Expected period (s) of devices whose record has none"),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> DevicePage:
    """List the tenant's devices ordered by id, filtered and paged."""
    tenant = tenant_of(request)
    rule = repo.SilentRule(datetime.now(UTC), silent_factor, default_period) if silent else None
    with _store(request).session() as session:
        items, total = repo.list_devices(session, tenant, status=status, model=model, commune=commune, site=site,
                                         entity_id=entity_id, entity_type=entity_type, search=q,
                                         silent_since=silent_since, silent=rule, limit=limit, offset=offset,
                                         within=_devices_within(request))
    return DevicePage(items=items, total=total, limit=limit, offset=offset)


@router.post(
    "/devices/import", response_model=ImportResult, response_model_by_alias=True, tags=["devices"],
    summary="Import many devices (CSV or JSON), all or nothing; dryRun=true previews the errors",
    openapi_extra={"requestBody": {"required": True, "content": {
        "text/csv": {"schema": {"type": "string"},
                     "example": "device_id,name,model,codec,entity_id,entity_type,network\n"},
        "application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/DeviceConfig"}}},
    }}},
)
async def import_devices(
    request: Request,
    dry_run: bool = Query(default=False, alias="dryRun",
                          description="Validate and report only (per-row errors, devices to create or update)"),
) -> ImportResult:
    """Validate every row (the CSV format of `calanque devices import --help`, or a JSON array of device
    bodies); with dryRun=true nothing is written, otherwise every row is written in one transaction or,
    when a row is invalid, none (400 listing the row errors)."""
    tenant = tenant_of(request)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in _CSV_TYPES + _JSON_TYPES:
        raise UnsupportedMediaType(
            f"send the devices as text/csv (one row per device, header first) or application/json "
            f"(an array of devices), not '{content_type or 'no Content-Type'}'")
    body = await request.body()
    return await run_in_threadpool(_import, _store(request), tenant, body, content_type in _JSON_TYPES, dry_run)


def _import(store: Store, tenant: str, body: bytes, is_json: bool, dry_run: bool) -> ImportResult:
    """Parse, validate, preview and (unless a dry run or an invalid row) write an import."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BadRequestData(f"the body is not UTF-8 text ({err.reason} at byte {err.start})") from None
    if is_json:
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as err:
            raise BadRequestData(f"the body is not valid JSON: {err}") from None
        if not isinstance(items, list):
            raise BadRequestData("the JSON body must be an array of devices, e.g. [{\"id\": \"70b3…\", …}]")
        if len(items) > importer.MAX_ROWS:
            raise BadRequestData(f"{len(items)} devices in one import: at most {importer.MAX_ROWS}, split the list")
        good, bad = importer.read_json_items(items)
        rows = len(items)
    else:
        try:
            good, bad = importer.read_csv_text(text, source="the CSV", max_rows=importer.MAX_ROWS)
        except importer.ImportFileError as err:
            raise BadRequestData(str(err)) from None
        rows = len(good) + len({e.line for e in bad})
    if rows == 0:
        raise BadRequestData("the import holds no device: give at least one row after the header")
    with store.session() as session:
        existing = repo.existing_ids(session, tenant, [c.id for _, c in good])
    errors = [ImportRowError(line=e.line, field=e.field, message=e.reason) for e in bad]
    preview = [ImportRow(line=line, id=c.id, name=c.name, entity_id=c.entity_id, entity_type=c.entity_type,
                         action="update" if c.id in existing else "create") for line, c in good]
    result = ImportResult(dry_run=dry_run, written=False, rows=rows, valid=len(good),
                          created=sum(r.action == "create" for r in preview),
                          updated=sum(r.action == "update" for r in preview), errors=errors, devices=preview)
    if dry_run:
        return result
    if errors:
        bad_rows = len({e.line for e in errors})
        raise BadRequestData(
            f"{bad_rows} of {rows} rows are invalid, so nothing was imported: fix them and send the file again "
            "(dryRun=true lists the errors without writing)",
            errors=[e.model_dump(by_alias=True) for e in errors],
        )
    with store.session(write=True) as session:
        session.ensure_tenant(tenant)
        created, updated = repo.upsert_devices(session, tenant, [c for _, c in good])
    return result.model_copy(update={"written": True, "created": created, "updated": updated})


@router.get("/devices/{device_id}", response_model=Device, tags=["devices"], summary="Get a device")
def get_device(request: Request, device_id: str) -> Device:
    """Return one device with its metadata (DevEUIs match in any case)."""
    tenant = tenant_of(request)
    with _store(request).session() as session:
        device = repo.get_device(session, tenant, device_id)
    scope = _scope(request)
    if device is None or (scope is not None and not scope.device_visible(device.entity_type, device.commune,
                                                                            device.site)):
        raise ResourceNotFound(f"no device '{device_id}' in this tenant")
    return device


@router.patch("/devices/{device_id}", response_model=Device, tags=["devices"], summary="Update a device")
def update_device(request: Request, device_id: str, body: DevicePatch) -> Device:
    """Change some configuration fields; the result is validated as a whole."""
    tenant = tenant_of(request)
    try:
        with _store(request).session(write=True) as session:
            device = repo.update_device(session, tenant, device_id, body)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise BadRequestData(f"the updated device is invalid at {where}: {first.get('msg', 'invalid')}") from err
    if device is None:
        raise ResourceNotFound(f"no device '{device_id}' in this tenant")
    return device


@router.delete("/devices/{device_id}", status_code=204, tags=["devices"], summary="Delete a device")
def delete_device(request: Request, device_id: str) -> Response:
    """Remove a device from the registry."""
    tenant = tenant_of(request)
    with _store(request).session(write=True) as session:
        deleted = repo.delete_device(session, tenant, device_id)
    if not deleted:
        raise ResourceNotFound(f"no device '{device_id}' in this tenant")
    return Response(status_code=204)


# dead letters ----------------------------------------------------------------------------
@router.get("/deadletters", response_model=DeadLetterPage, tags=["dead letters"], summary="List dead letters")
def list_dead_letters(
    request: Request,
    status: dl.DeadLetterStatus | None = Query(default=None),
    error_kind: dl.ErrorKind | None = Query(default=None, alias="errorKind"),
    connector: str | None = Query(default=None),
    device_id: str | None = Query(default=None, alias="deviceId"),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0),
) -> DeadLetterPage:
    """List the tenant's failed ingestion messages, oldest first."""
    tenant = tenant_of(request)
    with _store(request).session() as session:
        items, total = dl.list_dead_letters(session, tenant, status=status, error_kind=error_kind,
                                            connector=connector, device_id=device_id, limit=limit, offset=offset,
                                            within=_letters_within(request, tenant))
    return DeadLetterPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/deadletters/{letter_id}", response_model=dl.DeadLetter, tags=["dead letters"],
            summary="Get a dead letter")
def get_dead_letter(request: Request, letter_id: int) -> dl.DeadLetter:
    """Return one dead letter with its raw payload."""
    tenant = tenant_of(request)
    with _store(request).session() as session:
        letter = dl.get_dead_letter(session, tenant, letter_id, within=_letters_within(request, tenant))
    if letter is None:
        raise ResourceNotFound(f"no dead letter {letter_id} in this tenant")
    return letter


@router.post("/deadletters/retry", response_model=RetryOutcome, tags=["dead letters"],
             summary="Retry many dead letters")
def retry_dead_letters(request: Request, body: RetryRequest) -> RetryOutcome:
    """Retry the given ids, or every unresolved letter (optionally by kind/connector), through the pipeline."""
    handler = _handler(request)
    tenant = tenant_of(request)
    store = _store(request)
    not_found: list[int] = []
    within = _letters_within(request, tenant)
    with store.session() as session:
        if body.ids is not None:
            letters = []
            for letter_id in dict.fromkeys(body.ids):
                letter = dl.get_dead_letter(session, tenant, letter_id, within=within)
                if letter is None:
                    not_found.append(letter_id)
                else:
                    letters.append(letter)
        else:
            letters = []
            for status in ("pending", "retried"):
                page, _ = dl.list_dead_letters(session, tenant, status=status, error_kind=body.error_kind,
                                               connector=body.connector, limit=body.limit - len(letters),
                                               within=within)
                letters += page
                if len(letters) >= body.limit:
                    break
    result = dl.retry_many(store, handler, letters)
    return RetryOutcome(**result, not_found=not_found)


@router.post("/deadletters/{letter_id}/retry", response_model=dl.DeadLetter, tags=["dead letters"],
             summary="Retry a dead letter")
def retry_dead_letter(request: Request, letter_id: int) -> dl.DeadLetter:
    """Hand one dead letter back to the ingestion pipeline; the letter shows the outcome."""
    handler = _handler(request)
    tenant = tenant_of(request)
    store = _store(request)
    with store.session() as session:
        letter = dl.get_dead_letter(session, tenant, letter_id, within=_letters_within(request, tenant))
    if letter is None:
        raise ResourceNotFound(f"no dead letter {letter_id} in this tenant")
    return dl.retry_one(store, handler, letter)

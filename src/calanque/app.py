"""The ASGI application: one FastAPI app wiring the store, the broker and every router."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from calanque import __version__
from calanque.config import Settings
from calanque.ngsild.api.http import problem_response
from calanque.ngsild.api.limits import BodySizeLimit
from calanque.ngsild.errors import InvalidRequest, NgsiLdError, ResourceNotFound
from calanque.ngsild.service import Broker
from calanque.store.base import Store, open_store

log = logging.getLogger("calanque")


def build_context_resolver(settings: Settings, store: Store) -> Any:
    """The JSON-LD context resolver, with the store as a cache shared by worker processes."""
    from calanque.ngsild.jsonld import ContextResolver, load_preload_map
    from calanque.ngsild.context_cache import StoreContextCache

    preload = load_preload_map(settings.context_preload) if settings.context_preload else None
    return ContextResolver(
        fetch_timeout=settings.context_fetch_timeout, preload=preload, cache_backend=StoreContextCache(store)
    )


def create_app(settings: Settings | None = None, store: Store | None = None) -> Any:
    """Build the Calanque ASGI app (wrapped in the body-size guard)."""
    settings = settings or Settings()
    own_store = store is None
    store = store or open_store(settings.database_url, str(settings.data_dir), postgis=settings.postgis)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        yield
        if own_store:
            store.close()

    app = FastAPI(
        title="Calanque",
        version=__version__,
        description="Open smart-territory data platform: an ETSI NGSI-LD context broker with built-in "
        "domain analytics (noise, waste, water, mobility, lighting).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    _mount_offline_docs(app)
    app.state.settings = settings
    app.state.store = store
    app.state.contexts = build_context_resolver(settings, store)
    app.state.broker = Broker(store, max_batch=settings.max_batch)

    @app.exception_handler(NgsiLdError)
    async def ngsild_error(_: Request, err: NgsiLdError) -> Any:
        return problem_response(err)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, err: RequestValidationError) -> Any:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", []))
        return problem_response(InvalidRequest(f"invalid request at {where}: {first.get('msg', 'invalid')}"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Any:
        if err.status_code == 404:
            return problem_response(ResourceNotFound(f"no resource at {request.url.path}"))
        if err.status_code == 405:
            return problem_response(
                InvalidRequest(f"{request.method} is not allowed on {request.url.path}", status=405)
            )
        return problem_response(InvalidRequest(str(err.detail), status=err.status_code))

    from calanque.ngsild.api import contexts, discovery, entities, temporal

    app.include_router(entities.router)
    app.include_router(temporal.router)
    app.include_router(discovery.router)
    app.include_router(contexts.router)
    from calanque.devices.api import router as devices_router  # device registry and dead letters
    app.include_router(devices_router)
    _mount_usecases(app, settings)
    _mount_ingestion(app, settings, store)
    from calanque.web.app import mount_web  # the web UI: pages, map data, live changes, static files

    mount_web(app, settings)
    from calanque.auth.middleware import protect  # identities, roles, tenants, rate limits, audit

    return BodySizeLimit(protect(app, settings, store), settings.max_body_bytes)


def _mount_usecases(app: FastAPI, settings: Settings) -> None:
    """Mount every use case's API under /api/v1/<name> and list them at GET /api/v1/usecases."""
    from calanque.usecases.registry import discover, parse_paths

    usecases = discover(parse_paths(settings.usecase_paths))
    app.state.usecases = usecases
    for uc in usecases:
        if uc.router is not None:
            app.include_router(uc.router(), prefix=f"/api/v1/{uc.name}", tags=[uc.title])

    @app.get("/api/v1/usecases", tags=["use cases"], summary="List the use cases and what each declares")
    async def list_usecases() -> list[dict[str, Any]]:
        return [uc.describe() for uc in usecases]


def _mount_ingestion(app: FastAPI, settings: Settings, store: Store) -> None:
    """The HTTP ingestion endpoints, integration keys, downlink commands, and dead-letter retries."""
    from calanque.devices.commands import Publisher
    from calanque.pipeline.http_api import router
    from calanque.pipeline.ingest import Ingestor

    broker: Broker = app.state.broker
    app.state.ingestor = Ingestor(store, usecases=app.state.usecases, listeners=[broker.notify])
    app.state.publisher = Publisher(settings.mqtt_url)
    app.state.deadletter_retry = app.state.ingestor.retry_dead_letter
    app.include_router(router)


def _mount_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs from the swagger-ui-bundle package: no CDN, works offline."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/_static/swagger-ui", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Calanque API",
            swagger_js_url="/_static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/_static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/_static/swagger-ui/favicon-32x32.png",
        )


def app_from_env() -> Any:
    """Factory used by uvicorn worker processes: settings come from CALANQUE_* variables."""
    return create_app(Settings())

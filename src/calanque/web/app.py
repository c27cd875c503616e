"""The web UI: Jinja2 pages rendered by FastAPI, their static files, and the vendored JS/CSS libraries.

Pages are thin: the server renders the frame (header, navigation, translated labels, a JSON block of
configuration and messages for the page's script) and the page's script fetches its data from the JSON
APIs with the session cookie. ``mount_web`` is called by :func:`calanque.app.create_app`; a new page is
a route in one of the routers it includes (see ``src/calanque/web/README.md``).

Libraries come from installed PyPI packages, served from their own directories (never copied here):
Leaflet and Leaflet.markercluster (XStatic packages) and Plotly (``plotly/package_data``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from calanque import __version__
from calanque.auth.model import NO_AUTH, Principal
from calanque.config import Settings
from calanque.web import i18n

WEB_DIR = Path(__file__).parent
STATIC_PREFIX = "/_static/ui"
CSRF_COOKIE = "calanque_csrf"  # the same name as calanque.auth.middleware.CSRF_COOKIE
_ENV = Environment(
    loader=FileSystemLoader(str(WEB_DIR / "templates")),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def static_url(path: str) -> str:
    """The URL of one of the UI's files (``css/…``, ``js/…``) or vendored libraries (``vendor/…``)."""
    return f"{STATIC_PREFIX}/{path.lstrip('/')}?v={__version__}"


def content_security_policy(settings: Settings) -> str:
    """The UI pages' policy: scripts from this origin only (no inline script); map tiles' origin for images.

    Styles keep 'unsafe-inline': Leaflet and Plotly position and colour their elements with style
    attributes; scripts, the dangerous part, are strict.
    """
    images = ["'self'", "data:", "blob:"]
    tiles = settings.map_tile_url.strip()
    if tiles.startswith(("http://", "https://")):
        parts = urlsplit(tiles.replace("{s}", "SUBDOMAIN"))
        host = (parts.hostname or "").replace("subdomain", "*")
        images.append(f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else ""))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src {' '.join(images)}; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def principal_of(request: Request) -> Principal:
    """Who the request acts as (set by the auth middleware; NO_AUTH when the app runs without it)."""
    return getattr(request.state, "principal", NO_AUTH)


def language(request: Request) -> str:
    """The request's language: ?lang=, the language cookie, Accept-Language, or French."""
    return i18n.negotiate(
        request.query_params.get("lang"),
        request.cookies.get(i18n.LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def translator(request: Request) -> Any:
    """The ``_(message, **params)`` function of the request's language, for page titles in routes."""
    return i18n.load(language(request)).gettext


def _json_block(data: Any) -> Markup:
    """JSON safe inside a <script type="application/json"> element (no closing tag, no HTML comment)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)  # noqa: S704 - escaped above for the script element


def render(request: Request, template: str, *, title: str, page: dict[str, Any] | None = None,
           status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page: the template with ``_``, ``static_url``, the user, the use cases, a JSON config block.

    ``page`` goes to the page's script as ``Calanque.config.page``; ``title`` is already translated.
    """
    lang = language(request)
    catalogue = i18n.load(lang)
    settings: Settings = request.app.state.settings
    principal = principal_of(request)
    public = bool(context.pop("public", False))
    user = None
    if principal.kind != "anonymous" and not public:  # public pages are the same for everyone
        user = {"kind": principal.kind, "id": principal.id, "role": principal.role,
                "tenant": principal.tenant,
                "usecases": list(principal.usecases), "scopes": sorted(principal.scopes)}
    usecases = [{"name": uc.name, "title": catalogue.gettext(uc.title)} for uc in request.app.state.usecases]
    config = {
        "lang": lang,
        "messages": catalogue.messages,
        "user": user,
        "auth": settings.auth,
        "csrfCookie": CSRF_COOKIE,
        "usecases": usecases,
        "map": {"tileUrl": settings.map_tile_url, "attribution": settings.map_tile_attribution},
        "page": page or {},
        "public": public,
    }
    html = _ENV.get_template(template).render(
        request=request,
        lang=lang,
        languages=i18n.LANGUAGES,
        _=catalogue.gettext,
        static_url=static_url,
        title=title,
        user=user,
        usecases=usecases,
        path=request.url.path,
        config_json=_json_block(config),
        config_auth=settings.auth,
        public=public,
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["content-security-policy"] = content_security_policy(settings)
    response.headers["cache-control"] = "no-store"
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


def _mount_static(app: FastAPI) -> None:
    """The vendored libraries from their installed packages, then the UI's own files."""
    import plotly
    import xstatic.pkg.leaflet as leaflet
    import xstatic.pkg.leaflet_markercluster as markercluster

    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not plotly_js.is_file():
        raise RuntimeError(f"plotly.min.js is missing from the installed plotly package ({plotly_js})")

    @app.get(f"{STATIC_PREFIX}/vendor/plotly/plotly.min.js", include_in_schema=False)
    async def plotly_bundle() -> FileResponse:
        return FileResponse(plotly_js, media_type="text/javascript")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(WEB_DIR / "static" / "favicon.svg", media_type="image/svg+xml",
                            headers={"cache-control": "public, max-age=86400"})

    app.mount(f"{STATIC_PREFIX}/vendor/leaflet", StaticFiles(directory=leaflet.BASE_DIR), name="ui-leaflet")
    app.mount(f"{STATIC_PREFIX}/vendor/markercluster", StaticFiles(directory=markercluster.BASE_DIR),
              name="ui-markercluster")
    app.mount(STATIC_PREFIX, StaticFiles(directory=WEB_DIR / "static"), name="ui-static")


def mount_web(app: FastAPI, settings: Settings) -> None:
    """Add the web UI to the app: pages, their JSON endpoints (map, live changes, territory), static files."""
    from calanque.web import dashboards, devicepages, entities, home, live, mapdata, pages, public, territory

    territory.outlines(settings.territory_geojson)  # a bad territory file stops the start, saying why
    app.state.live = live.LiveHub(app.state.store, app.state.usecases)
    app.state.map_cache = mapdata.MapCache()
    for module in (pages, home, public, mapdata, live, territory, dashboards, entities, devicepages):
        app.include_router(module.router)
    _mount_static(app)

"""The use cases' dashboards at ``/usecases/<name>``, each declared by its use case (``UseCase.dashboard``).

A dashboard is a folder of the use case (:class:`calanque.usecases.registry.Dashboard`): a Jinja2
fragment rendered inside the UI's frame, a script served from ``/_static/usecases/<name>/``, optional
styles, and optional ``i18n/<lang>.po`` catalogues for its own words. A use case added outside the
package (``CALANQUE_USECASE_PATHS``, entry points) brings its dashboard the same way, without any
change here. The shared chart, table and map helpers are ``static/js/dashboards.js``
(``window.CalanqueDashboards``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, TemplateError, select_autoescape
from markupsafe import Markup

from calanque import __version__
from calanque.ngsild.errors import ResourceNotFound
from calanque.usecases.registry import Dashboard, UseCase
from calanque.web import i18n
from calanque.web.app import language, principal_of, render, static_url, translator

log = logging.getLogger("calanque.web")
router = APIRouter(include_in_schema=False)
ASSET_PREFIX = "/_static/usecases"


class DashboardError(RuntimeError):
    """A use case's dashboard folder is broken (missing template, bad Jinja2): the message names the file."""


def usecase_of(request: Request, name: str) -> UseCase | None:
    """The use case called ``name`` among those the application discovered, or None."""
    return next((uc for uc in request.app.state.usecases if uc.name == name), None)


def dashboard_messages(dashboard: Dashboard, lang: str) -> dict[str, str]:
    """The dashboard's own translations (its ``i18n/<lang>.po``), empty when it ships none."""
    folder = Path(dashboard.folder) / "i18n"
    return i18n.load(lang, folder).messages if folder.is_dir() else {}


def _gettext(own: dict[str, str], ui: Any) -> Any:
    """``_(message, **params)``: the dashboard's catalogue first, then the UI's, else the English id."""

    def gettext(message: str, **params: object) -> str:
        text = own.get(message) or ui.gettext(message)
        return text.format(**params) if params else text

    return gettext


def asset_url(usecase: UseCase, file: str) -> str:
    """The URL of one of a dashboard's files (its script or a stylesheet)."""
    return f"{ASSET_PREFIX}/{usecase.name}/{file}?v={__version__}"


def _fragment(usecase: UseCase, dashboard: Dashboard, context: dict[str, Any]) -> Markup:
    """Render the dashboard's own template (autoescaped) into the content of the page."""
    env = Environment(loader=FileSystemLoader(str(dashboard.folder)), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    try:
        html = env.get_template(dashboard.template).render(**context)
    except TemplateError as err:
        raise DashboardError(f"the dashboard of use case '{usecase.name}' ({dashboard.folder}/"
                             f"{dashboard.template}) cannot be rendered: {err}") from err
    return Markup(html)  # noqa: S704 - rendered by an autoescaping environment


@router.get("/usecases/{name}")
def dashboard_page(request: Request, name: str) -> HTMLResponse:
    """A use case's dashboard, or a page saying it has none."""
    _ = translator(request)
    usecase = usecase_of(request, name)
    if usecase is None:
        return render(request, "dashboard_missing.html", title=_("Not found"), status=404, name=name)
    if usecase.dashboard is None:
        return render(request, "dashboard_missing.html", title=_(usecase.title), usecase=usecase, name=name)
    lang = language(request)
    own = dashboard_messages(usecase.dashboard, lang)
    title = own.get(usecase.title) or _(usecase.title)
    principal = principal_of(request)
    page = {"usecase": usecase.name, "messages": own, "indicators": usecase.describe()["indicators"],
            "thresholds": usecase.describe()["thresholds"], "canCommand": "command" in principal.scopes
            and principal.role in ("admin", "operator", "partner")}
    try:
        fragment = _fragment(usecase, usecase.dashboard, {
            "_": _gettext(own, i18n.load(lang)), "usecase": {"name": usecase.name, "title": title},
            "lang": lang, "static_url": static_url,
        })
    except DashboardError as err:
        log.error("%s", err)
        return render(request, "dashboard_missing.html", title=title, usecase=usecase, name=name, error=str(err),
                      status=500)
    return render(
        request, "usecase_dashboard.html", title=title, page=page, dashboard_html=fragment,
        dashboard_script=asset_url(usecase, usecase.dashboard.script),
        dashboard_styles=[asset_url(usecase, s) for s in usecase.dashboard.styles],
    )


@router.get(ASSET_PREFIX + "/{name}/{file}")
def dashboard_asset(request: Request, name: str, file: str) -> FileResponse:
    """One of the files a dashboard declares (script, styles); nothing else of the folder is served."""
    usecase = usecase_of(request, name)
    dashboard = usecase.dashboard if usecase else None
    if dashboard is None or file not in dashboard.files():
        raise ResourceNotFound(f"use case '{name}' has no dashboard file '{file}'")
    path = Path(dashboard.folder) / file
    if not path.is_file():
        raise ResourceNotFound(f"the dashboard file {path} of use case '{name}' is missing")
    media = "text/javascript" if file.endswith(".js") else "text/css" if file.endswith(".css") else None
    return FileResponse(path, media_type=media)

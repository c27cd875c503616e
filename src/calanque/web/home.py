"""The department home (``/``): the map of every asset coloured by state, and what needs attention today.

The page draws the answer of ``GET /api/v1/map`` (:mod:`calanque.web.mapdata`) and follows
``GET /api/v1/live`` (:mod:`calanque.web.live`) to recolour assets without a reload. The map-state
labels of a use case added outside the package are translated by its dashboard's catalogues.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from calanque.web.app import language, render, translator
from calanque.web.dashboards import dashboard_messages

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request) -> HTMLResponse:
    """The department home page."""
    _ = translator(request)
    lang = language(request)
    messages: dict[str, str] = {}
    for usecase in request.app.state.usecases:
        if usecase.dashboard is not None:
            messages.update(dashboard_messages(usecase.dashboard, lang))
    return render(request, "home.html", title=_("Territory overview"), page={"messages": messages})

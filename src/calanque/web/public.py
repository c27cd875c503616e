"""The public pages (no login): the portal (``/public``) and the counters' street totems.

They read data only through anonymous API calls (``/api/v1/usecases``, the NGSI-LD API and the
use cases' public paths), so they show exactly what is published and nothing else: the server adds
no data to these pages.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from calanque.web.app import render, translator

router = APIRouter(include_in_schema=False)


@router.get("/public")
def portal(request: Request) -> HTMLResponse:
    """The public portal: published indicators of each use case, a map and the open data."""
    _ = translator(request)
    return render(request, "public.html", title=_("Open data of the metropolis"), public=True)


@router.get("/public/counters/{counter_id}/totem")
def totem(
    request: Request,
    counter_id: str,
    refresh: int = Query(60, ge=5, le=3600, description="seconds between two refreshes"),
) -> HTMLResponse:
    """A counter's street totem: today's and this year's passages in large type; it refreshes itself."""
    _ = translator(request)
    return render(
        request,
        "totem.html",
        title=_("Bike and pedestrian counter"),
        public=True,
        page={"counterId": counter_id, "refreshSeconds": refresh},
    )

"""The department home (``/``): the map of every asset coloured by state, and what needs attention today.

The page draws the answer of ``GET /api/v1/map`` (:mod:`calanque.web.mapdata`) and follows
``GET /api/v1/live`` (:mod:`calanque.web.live`) to recolour assets without a reload.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from calanque.web.app import render, translator

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request) -> HTMLResponse:
    """The department home page."""
    _ = translator(request)
    return render(request, "home.html", title=_("Territory overview"))

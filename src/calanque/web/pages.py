"""The login page (the session itself is opened by POST /api/v1/auth/login, which its script calls)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from calanque.web.app import render, translator

router = APIRouter(include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Where to go after login: a path of this site only (never another origin), else the home page."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query name
    """The login form; it posts to /api/v1/auth/login and then opens ``next`` (a path of this site)."""
    _ = translator(request)
    return render(
        request, "login.html", title=_("Log in"), page={"next": safe_next(next)}, next=safe_next(next)
    )

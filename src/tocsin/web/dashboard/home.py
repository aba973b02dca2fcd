"""``/``: where the server's address leads. A signed-in user goes to the dashboard,
anyone else to the public status page (which customers are meant to find); the sign-in
page is linked from the dashboard's address. And ``/favicon.ico``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

from tocsin.web.assets import favicon
from tocsin.web.dashboard.session import user_session
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, include_in_schema=False)


@router.get("/")
def home(request: Request) -> RedirectResponse:
    target = "/dashboard" if user_session(request) is not None else "/status"
    # The answer depends on the session cookie: never kept by a cache.
    return RedirectResponse(target, status_code=302, headers={"Cache-Control": "no-store"})


@router.get("/favicon.ico")
def favicon_ico() -> FileResponse:
    return favicon()

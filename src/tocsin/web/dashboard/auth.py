"""Signing in and out of the dashboard: ``GET/POST /login``, ``POST /logout``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tocsin.auth.users import SignInBusy, sign_in
from tocsin.web.dashboard.csrf import FormData, SignedForm, check_token, read_form
from tocsin.web.dashboard.session import (
    anonymous_session,
    clear_session,
    safe_next,
    send_session,
    start_session,
    user_session,
)
from tocsin.web.dashboard.views import page
from tocsin.web.deps import ContextDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, include_in_schema=False)

WRONG = "Wrong username or password"
BUSY = "Too many sign-in attempts right now; try again in a moment"
_MAX_FIELD = 1024


def _login_form(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    status_code: int | None = None,
) -> HTMLResponse:
    session, fresh = anonymous_session(request)
    response = page(
        request,
        "dashboard/login.html",
        user=None,
        csrf=session.csrf,
        status_code=status_code or (401 if error else 200),
        next_path=next_path,
        username=username,
        error=error,
    )
    if fresh:
        send_session(request, response, session)
    return response


@router.get("/login")
def login_page(
    request: Request, next_path: Annotated[str | None, Query(alias="next")] = None
) -> HTMLResponse:
    return _login_form(request, next_path=safe_next(next_path))


@router.post("/login")
def login(
    request: Request, context: ContextDep, form: Annotated[FormData, Depends(read_form)]
) -> Response:
    """Argon2 takes a tenth of a second on purpose: this runs in the thread pool."""
    check_token(request, form)

    def field(name: str) -> str:
        return (form.get(name) or [""])[0][:_MAX_FIELD]

    username, password = field("username").strip(), field("password")
    next_path = safe_next(field("next"))
    if username and password:
        try:
            user = sign_in(sessions=context.sessions, username=username, password=password)
        except SignInBusy:
            return _login_form(
                request, next_path=next_path, username=username, error=BUSY, status_code=429
            )
        if user is not None:
            response = RedirectResponse(next_path, status_code=303)
            start_session(request, response, user)
            return response
    return _login_form(request, next_path=next_path, username=username, error=WRONG)


@router.post("/logout")
def logout(request: Request, _form: SignedForm) -> RedirectResponse:
    response = RedirectResponse("/login", status_code=303)
    clear_session(request, response)
    return response


@router.get("/logout")
def logout_page(request: Request) -> RedirectResponse:
    """Signing out is a POST (a link must not sign anyone out); this only redirects."""
    target = "/dashboard" if user_session(request) is not None else "/login"
    return RedirectResponse(target, status_code=303)

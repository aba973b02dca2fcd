"""How the dashboard answers a visitor who is not signed in, lacks the role, or sent a
form without its CSRF token: a redirect to the sign-in page, or a 403 page."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tocsin.web.dashboard.csrf import CsrfRejected
from tocsin.web.dashboard.session import (
    DashboardForbidden,
    LoginRequired,
    login_url,
    user_session,
)
from tocsin.web.dashboard.views import page

__all__ = ["install_dashboard_errors"]


async def _login_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(login_url(exc.next_path), status_code=303)


def _refused(request: Request, heading: str, text: str) -> HTMLResponse:
    return page(
        request,
        "dashboard/message.html",
        user=user_session(request),
        status_code=403,
        heading=heading,
        text=text,
    )


def _forbidden(request: Request, exc: Exception) -> Response:
    return _refused(request, "Not allowed", str(exc))


def _csrf(request: Request, _exc: Exception) -> Response:
    return _refused(
        request,
        "Form refused",
        "This form's security token is missing or out of date, so nothing was changed. "
        "Go back, reload the page and try again.",
    )


def install_dashboard_errors(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(DashboardForbidden, _forbidden)
    app.add_exception_handler(CsrfRejected, _csrf)

"""How the dashboard answers a visitor who is not signed in, lacks the role, or sent a
form without its CSRF token: a redirect to the sign-in page, or a 403 page; and, when
the database fails (disk full, read-only, unreachable), a 503 page that says so, where
the API answers JSON (:func:`tocsin.web.errors.database_unavailable`)."""

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
from tocsin.web.errors import (
    DATABASE_FAULTS,
    RETRY_AFTER_SECONDS,
    database_fault,
    database_unavailable,
)

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


#: The pages people open in a browser; everything else (the API) answers JSON.
_PAGE_PREFIXES = ("/dashboard", "/login", "/logout")


async def _database_fault(request: Request, exc: Exception) -> Response:
    """A dashboard page or form the database failed: a 503 page naming the problem
    (nothing of the form was saved). The user is not looked up: that needs the
    database too."""
    reason = database_fault(exc)
    if reason is None or not request.url.path.startswith(_PAGE_PREFIXES):
        return await database_unavailable(request, exc)  # JSON, or re-raised
    response = page(
        request,
        "dashboard/message.html",
        user=None,
        status_code=503,
        heading="Database unavailable",
        text=f"Tocsin cannot use its database right now: {reason}. Nothing was changed; "
        "try again in a few seconds.",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def install_dashboard_errors(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(DashboardForbidden, _forbidden)
    app.add_exception_handler(CsrfRejected, _csrf)
    # Replaces the API's handlers of these (installed before), keeping their answer
    # for every path that is not a dashboard page.
    for fault in DATABASE_FAULTS:
        app.add_exception_handler(fault, _database_fault)

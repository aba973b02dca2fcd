"""Rendering dashboard pages: one Jinja2 environment (autoescaped), the page frame's
context (signed-in user, CSRF token, flash message, navigation) and safe headers.

Unlike the public pages, the dashboard runs its own script (``/static/dashboard.js``:
live updates over SSE, browser notifications): the Content-Security-Policy allows
scripts and connections to this server only, and nothing inline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from tocsin.timetext import duration_text
from tocsin.web.assets import asset_url
from tocsin.web.dashboard.csrf import CSRF_FIELD
from tocsin.web.dashboard.session import SignedIn, drop_flash, read_flash, set_flash

__all__ = [
    "HEADERS",
    "NAV",
    "REFRESH_HEADER",
    "age",
    "environment",
    "page",
    "redirect_with",
    "render_fragment",
]

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

NAV = (
    ("incidents", "Incidents", "/dashboard"),
    ("oncall", "On call", "/dashboard/oncall"),
    ("silences", "Silences", "/dashboard/silences"),
    ("metrics", "Metrics", "/dashboard/metrics"),
)


def age(value: datetime | None, now: datetime) -> str:
    """``45s``, ``3h 5m``, ``2d 4h``: how long ago ``value`` was."""
    return "" if value is None else duration_text(now - value)


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def _label(value: object) -> str:
    return str(value).replace("_", " ").capitalize()


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f} %"


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("tocsin.web", "templates"),
        # The templates ship with the package: no file is checked for changes on every
        # render (a stat per template and include, per request).
        auto_reload=False,
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, iso=_iso, label=_label, duration=duration_text, percent=_percent)
    env.globals.update(nav=NAV, csrf_field=CSRF_FIELD, asset=asset_url)
    return env


def render_fragment(template: str, **context: Any) -> Markup:
    """A piece of a page, rendered (and so escaped) here: safe to insert as HTML."""
    return Markup(environment().get_template(template).render(**context))


#: Sent by the dashboard's script when it fetches the page it shows, to refresh it.
REFRESH_HEADER = "x-tocsin-refresh"


def page(
    request: Request,
    template: str,
    *,
    user: SignedIn | None,
    active: str = "",
    status_code: int = 200,
    csrf: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """A full page inside the dashboard frame; shows (and clears) the flash message,
    unless the page's own script fetched it to refresh its live parts: that fetch may
    cross the redirect that brings the message, which belongs to the page it leads to."""
    refresh = request.headers.get(REFRESH_HEADER) == "1"
    html = (
        environment()
        .get_template(template)
        .render(
            user=user,
            csrf=csrf if csrf is not None else (user.csrf if user else ""),
            flash=None if refresh else read_flash(request),
            active=active,
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=HEADERS)
    if not refresh:
        drop_flash(request, response)
    return response


def redirect_with(request: Request, location: str, kind: str, message: str) -> RedirectResponse:
    """303 to ``location`` carrying a one-time message (Post/Redirect/Get)."""
    response = RedirectResponse(location, status_code=303)
    set_flash(request, response, kind, message)
    return response

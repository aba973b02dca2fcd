"""Server-rendered pages: one Jinja2 environment, and responses with safe headers.

Autoescaping is on for every template, so text from the database is always shown as
text. Undefined variables are errors (a typo fails the test suite instead of rendering
an empty string). Responses carry a Content-Security-Policy that allows no script at all
(the pages need none), only this server's style sheet, and forms that post back here;
``Referrer-Policy: no-referrer`` keeps tokens in confirmation and unsubscribe URLs from
leaking to other sites.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from tocsin.web.assets import STATIC_DIR, asset_url

__all__ = ["SECURITY_HEADERS", "STATIC_DIR", "environment", "render"]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _when(value: datetime | None, tz: tzinfo = UTC, fmt: str = "%b %d, %Y %H:%M") -> str:
    """``Mar 02, 2026 09:00 UTC`` in the page's zone."""
    if value is None:
        return ""
    local = value.astimezone(tz)
    return f"{local.strftime(fmt)} {local.tzname() or ''}".rstrip()


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def _label(value: object) -> str:
    """``partial_outage`` -> ``Partial outage``."""
    return str(value).replace("_", " ").capitalize()


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
    env.filters["when"] = _when
    env.filters["iso"] = _iso
    env.filters["label"] = _label
    env.globals["asset"] = asset_url
    return env


def render(
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    return HTMLResponse(
        html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})}
    )

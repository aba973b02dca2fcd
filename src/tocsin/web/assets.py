"""The server's static files (style sheets, the dashboard's script, the icon), sent with
Cache-Control.

Pages link them with their content's hash (``/static/dashboard.css?v=1f2e3d4c5b6a``,
see :func:`asset_url`): such a URL always means the same bytes, so browsers keep it for a
year without asking again. A URL without the current hash (an old page, a hand-typed
link) is answered with the current file and ``no-cache``: the browser asks again next
time (a 304 while the file is unchanged).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs

from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = [
    "IMMUTABLE",
    "REVALIDATE",
    "STATIC_DIR",
    "VersionedStaticFiles",
    "asset_url",
    "favicon",
]

STATIC_DIR = Path(__file__).parent / "static"

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, no-cache"


@lru_cache(maxsize=32)
def _version(name: str) -> str:
    path = STATIC_DIR / name
    try:
        content = path.read_bytes()
    except OSError:
        return ""
    return hashlib.sha256(content).hexdigest()[:12]


def asset_url(name: str) -> str:
    """``/static/NAME?v=HASH`` for a file of the static directory."""
    return f"/static/{name}?v={_version(name)}"


class VersionedStaticFiles(StaticFiles):
    """:class:`StaticFiles` that says how long its answers may be kept."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [])
            current = _version(path)
            fixed = bool(current) and asked == [current]
            response.headers["Cache-Control"] = IMMUTABLE if fixed else REVALIDATE
        return response


def favicon() -> FileResponse:
    """``/favicon.ico``, which browsers ask for on every site whatever a page links."""
    return FileResponse(
        STATIC_DIR / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=86400"},
    )

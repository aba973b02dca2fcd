"""Links back to Tocsin in messages sent to outside systems."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

__all__ = ["PUBLIC_URL_ENV", "incident_url"]

#: The same variable as ``Settings.public_url``: where people reach this server.
PUBLIC_URL_ENV = "TOCSIN_PUBLIC_URL"


def incident_url(environ: Mapping[str, str], incident_id: str) -> str | None:
    """The incident's dashboard page, if the server's public URL is configured."""
    base = environ.get(PUBLIC_URL_ENV, "").strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        return None
    return f"{base}/dashboard/incidents/{quote(incident_id, safe='')}"

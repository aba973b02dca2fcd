"""Where the server is and how to authenticate.

:func:`load_client_config`: the environment variables ``TOCSIN_URL`` and
``TOCSIN_TOKEN`` win; what they leave unset comes from the nearest
``.tocsin/credentials.json`` in the current directory or one of its parents (written by
``tocsin init``); the URL defaults to ``http://127.0.0.1:8080``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from tocsin.client.errors import ConfigError

__all__ = [
    "CREDENTIALS_PATH",
    "DEFAULT_URL",
    "ClientConfig",
    "find_credentials_file",
    "load_client_config",
]

DEFAULT_URL = "http://127.0.0.1:8080"
CREDENTIALS_PATH = Path(".tocsin") / "credentials.json"


@dataclass(frozen=True)
class ClientConfig:
    """Where the server is and how to authenticate; ``token`` stays out of ``repr``."""

    url: str = DEFAULT_URL
    token: str | None = field(default=None, repr=False)


def find_credentials_file(start: Path) -> Path | None:
    """The nearest ``.tocsin/credentials.json`` in ``start`` or one of its parents."""
    for directory in (start, *start.parents):
        candidate = directory / CREDENTIALS_PATH
        if candidate.is_file():
            return candidate
    return None


def _read_credentials(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object with 'url' and 'token'")
    values: dict[str, str] = {}
    for key in ("url", "token"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"{path}: '{key}' must be a string")
        values[key] = value
    return values


def load_client_config(start: Path | None = None) -> ClientConfig:
    """Build the client configuration: environment, then credentials file, then defaults."""
    url = os.environ.get("TOCSIN_URL") or None
    token = os.environ.get("TOCSIN_TOKEN") or None
    if url is None or token is None:
        path = find_credentials_file((start or Path.cwd()).resolve())
        if path is not None:
            stored = _read_credentials(path)
            url = url or stored.get("url") or None
            token = token or stored.get("token") or None
    return ClientConfig(url=(url or DEFAULT_URL).rstrip("/"), token=token)

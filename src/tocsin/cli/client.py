"""HTTP client the CLI uses to talk to a Tocsin server's REST API.

Configuration (`load_client_config`): the environment variables ``TOCSIN_URL`` and
``TOCSIN_TOKEN`` win; what they leave unset comes from the nearest
``.tocsin/credentials.json`` in the current directory or one of its parents (written by
``tocsin init``); the URL defaults to ``http://127.0.0.1:8080``.

Exceptions, all raised from this module::

    ClientError               base class; ``str(exc)`` is a message fit for the user
    ├── ConfigError           the credentials file cannot be read or is malformed
    ├── ApiUnreachable        no answer: connection refused, DNS failure, timeout
    └── ApiError              the server answered with an error status (4xx/5xx)

The token is never part of a message, a ``repr`` or a log line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

__all__ = [
    "CREDENTIALS_PATH",
    "DEFAULT_URL",
    "ApiClient",
    "ApiError",
    "ApiUnreachable",
    "ClientConfig",
    "ClientError",
    "ConfigError",
    "load_client_config",
]

DEFAULT_URL = "http://127.0.0.1:8080"
CREDENTIALS_PATH = Path(".tocsin") / "credentials.json"
DEFAULT_TIMEOUT = 10.0


class ClientError(Exception):
    """Base class of every error the API client raises."""


class ConfigError(ClientError):
    """The client configuration (credentials file) cannot be used."""


class ApiUnreachable(ClientError):
    """The server could not be reached, or did not answer in time."""


class ApiError(ClientError):
    """The server answered with an error status.

    ``detail`` is the server's human sentence; ``errors`` the per-field list it sends
    with validation failures (``[{"field": ..., "message": ...}]``), else empty.
    """

    def __init__(self, status_code: int, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.errors = errors


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


def _error_from_response(response: httpx.Response) -> ApiError:
    """Turn an error response into an `ApiError`, whatever shape its body has."""
    try:
        body = response.json()
    except ValueError:
        body = None
    detail: Any = body.get("detail") if isinstance(body, dict) else None
    raw_errors: Any = body.get("errors") if isinstance(body, dict) else None
    if isinstance(detail, list) and raw_errors is None:
        # FastAPI's default validation shape: detail = [{"loc": [...], "msg": ...}]
        raw_errors = [
            {"field": ".".join(str(p) for p in item.get("loc", ())[1:]), "message": item["msg"]}
            for item in detail
            if isinstance(item, dict) and "msg" in item
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in raw_errors) or None
    errors = [e for e in raw_errors if isinstance(e, dict)] if isinstance(raw_errors, list) else []
    if not isinstance(detail, str) or not detail:
        detail = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return ApiError(response.status_code, detail, errors)


class ApiClient:
    """A thin synchronous client for ``/api/v1``; use it as a context manager.

    ``get``/``post``/``patch``/``delete`` take a path relative to the server root
    (``/api/v1/...``) and return the parsed JSON object of a 2xx answer.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = config.url
        self.timeout = timeout
        headers = {"Accept": "application/json", "User-Agent": "tocsin-cli"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        # Paths are relative to the base URL, so a plain-HTTP server is only ever asked
        # over plain HTTP; certificate checks are built just for https:// (loading the
        # CA bundle would cost every command 60 ms).
        self._http = httpx.Client(
            base_url=config.url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=config.url.lower().startswith("https://"),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Sequence[tuple[str, str | int]] = ()) -> dict[str, Any]:
        """GET ``path``; ``params`` is a list of pairs so that a name may repeat."""
        return self._request("GET", path, params=httpx.QueryParams(tuple(params)))

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._request("POST", path, body={} if body is None else body)

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("PATCH", path, body=body)

    def delete(self, path: str) -> dict[str, Any]:
        """DELETE ``path``; a ``204 No Content`` answer gives ``{}``."""
        return self._request("DELETE", path)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: httpx.QueryParams | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, params=params, json=body)
        except httpx.TimeoutException:
            raise self._unreachable(f"no answer within {self.timeout:g} s") from None
        except httpx.TransportError as exc:
            raise self._unreachable(str(exc) or type(exc).__name__) from None
        if response.is_error:
            raise _error_from_response(response)
        if response.status_code == 204:
            return {}
        try:
            data = response.json()
        except ValueError:
            msg = "the server sent a response that is not JSON"
            raise ApiError(response.status_code, msg, []) from None
        if not isinstance(data, dict):
            raise ApiError(response.status_code, "the server sent an unexpected JSON value", [])
        return data

    def _unreachable(self, reason: str) -> ApiUnreachable:
        return ApiUnreachable(
            f"cannot reach Tocsin at {self.url}: {reason} (is `tocsin serve` running?)"
        )

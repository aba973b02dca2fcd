"""The exceptions of the SDK. Every error of the API answers with one body shape,
``{"detail": "...", "errors": [{"field": ..., "message": ...}]}``; the client turns
it into the exception of its status, so a caller catches what it can handle::

    ClientError                 base class; ``str(exc)`` is a message fit for a person
    ├── ConfigError             the credentials file cannot be read or is malformed
    ├── ApiUnreachable          no answer: connection refused, DNS failure, timeout
    └── ApiError                the server answered with an error status
        ├── BadRequest          400 (a body or parameter that cannot be read)
        ├── Unauthorized        401 (no token, or an unknown or revoked one)
        ├── Forbidden           403 (the token's role may not do this)
        ├── NotFoundError       404
        ├── ConflictError       409 (the state does not allow it, e.g. closing twice)
        ├── ValidationFailed    422 (``errors`` names each field)
        ├── RateLimited         429 (after the retries; ``retry_after`` in seconds)
        └── ServiceUnavailable  503 (after the retries; ``retry_after`` in seconds)

The token is never part of a message, a ``repr`` or a log line.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "ApiError",
    "ApiUnreachable",
    "BadRequest",
    "ClientError",
    "ConfigError",
    "ConflictError",
    "Forbidden",
    "NotFoundError",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthorized",
    "ValidationFailed",
    "error_from_response",
    "retry_after_seconds",
]


class ClientError(Exception):
    """Base class of every error the client raises."""


class ConfigError(ClientError):
    """The client configuration (credentials file) cannot be used."""


class ApiUnreachable(ClientError):
    """The server could not be reached, or did not answer in time."""


class ApiError(ClientError):
    """The server answered with an error status.

    ``detail`` is the server's sentence; ``errors`` the per-field list it sends with
    validation failures (``[{"field": ..., "message": ...}]``), else empty;
    ``retry_after`` the seconds its ``Retry-After`` header asked for, if any.
    """

    def __init__(
        self,
        status_code: int,
        detail: str,
        errors: list[dict[str, Any]],
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.errors = errors
        self.retry_after = retry_after

    def field_errors(self) -> dict[str, str]:
        """``field -> message`` for each named field."""
        return {
            str(e.get("field")): str(e.get("message"))
            for e in self.errors
            if e.get("field") is not None
        }


class BadRequest(ApiError):
    """400."""


class Unauthorized(ApiError):
    """401."""


class Forbidden(ApiError):
    """403."""


class NotFoundError(ApiError):
    """404."""


class ConflictError(ApiError):
    """409."""


class ValidationFailed(ApiError):
    """422."""


class RateLimited(ApiError):
    """429."""


class ServiceUnavailable(ApiError):
    """503."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationFailed,
    429: RateLimited,
    503: ServiceUnavailable,
}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (a number of seconds; dates are not sent)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error response, whatever shape its body has."""
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
    kind = _BY_STATUS.get(response.status_code, ApiError)
    return kind(response.status_code, detail, errors, retry_after_seconds(response))

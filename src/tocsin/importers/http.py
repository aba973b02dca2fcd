"""Reading a source product's REST API: credentials, authentication, back-off on 429.

The token is read once (from an environment variable or a file) and only ever placed in
the request's ``Authorization`` header: error messages name the product, the path and
the status, never the header. httpx logs requests at INFO with their URL only; no query
parameter here carries a secret.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "ImportFailed",
    "SourceApi",
    "read_token",
    "retry_delay",
]

#: How often one request is retried after a 429 before the import gives up.
MAX_RETRIES = 6
#: Longest single wait, whatever the source asks for.
MAX_WAIT = 60.0


class ImportFailed(Exception):
    """The import cannot go on; the message says why and what to do."""


def read_token(env: str | None, file: Path | None, product: str) -> str:
    """The API token from the file (first line, stripped) or else the variable ``env``."""
    if file is not None:
        try:
            token = file.read_text(encoding="utf-8").strip().splitlines()
        except OSError as exc:
            raise ImportFailed(f"cannot read the token file {file}: {exc.strerror}") from None
        if not token or not token[0].strip():
            raise ImportFailed(f"the token file {file} is empty")
        return token[0].strip()
    if env is None:
        raise ImportFailed(f"give the {product} API token with --token-env or --token-file")
    value = os.environ.get(env, "").strip()
    if not value:
        raise ImportFailed(
            f"the environment variable {env} holding the {product} API token is not set "
            "(or use --token-file)"
        )
    return value


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retry_delay(headers: Mapping[str, str], attempt: int) -> float:
    """How long to wait after a 429: ``Retry-After`` (seconds or an HTTP date), else
    PagerDuty's ``ratelimit-reset`` (seconds until the window resets), else Opsgenie's
    ``X-RateLimit-Period-In-Sec`` (the throttled period), else an exponential back-off
    from half a second."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name in ("retry-after", "ratelimit-reset", "x-ratelimit-period-in-sec"):
        seconds = _seconds(lowered.get(name))
        if seconds is not None:
            return min(seconds, MAX_WAIT)
    return min(0.5 * 2.0**attempt, MAX_WAIT)


def _error_text(response: httpx.Response) -> str:
    """The source's own explanation, from the error shapes the three products use."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        for key in ("message", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return response.reason_phrase


@dataclass
class SourceApi:
    """GET requests to one product's API with its authentication header."""

    product: str
    base_url: str
    auth_header: str
    accept: str = "application/json"
    sleep: Callable[[float], None] = time.sleep
    timeout: float = 30.0
    waits: list[float] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        self._client = httpx.Client(
            base_url=self.base_url.rstrip("/"),
            headers={"Authorization": self.auth_header, "Accept": self.accept},
            timeout=self.timeout,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SourceApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The JSON body of ``GET path`` (a path under the base URL, or a full URL the
        source gave as the next page)."""
        attempt = 0
        while True:
            self.requests += 1
            try:
                response = self._client.get(path, params=params)
            except httpx.HTTPError as exc:
                raise ImportFailed(
                    f"cannot reach {self.product} at {self.base_url}: {type(exc).__name__}"
                ) from None
            if response.status_code == 429 and attempt < MAX_RETRIES:
                delay = retry_delay(response.headers, attempt)
                self.waits.append(delay)
                self.sleep(delay)
                attempt += 1
                continue
            return self._body(response, path)

    def _body(self, response: httpx.Response, path: str) -> Any:
        where = response.request.url.path
        if response.status_code in (401, 403):
            raise ImportFailed(
                f"{self.product} refused the API token ({response.status_code} on {where}: "
                f"{_error_text(response)}); check the token and that it may read this"
            )
        if response.status_code == 429:
            raise ImportFailed(
                f"{self.product} kept answering 429 (too many requests) on {where}; try again later"
            )
        if response.status_code >= 400:
            raise ImportFailed(
                f"{self.product} answered {response.status_code} on {where}: "
                f"{_error_text(response)}"
            )
        try:
            return response.json()
        except ValueError:
            message = f"{self.product} answered {where} with a body that is not JSON"
            raise ImportFailed(message) from None

    def pages(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        items: Callable[[Any], list[Any]],
        next_page: Callable[[Any, Mapping[str, Any]], tuple[str, Mapping[str, Any] | None] | None],
    ) -> Iterator[Any]:
        """Every item of a paginated list: ``items`` takes them out of a page,
        ``next_page`` says where the next page is (``None`` at the end)."""
        current: tuple[str, Mapping[str, Any] | None] | None = (path, params)
        seen = 0
        while current is not None:
            body = self.get(current[0], current[1])
            found = items(body)
            yield from found
            seen += 1
            if seen > 10_000:
                raise ImportFailed(f"{self.product}: {path} never stops paging")
            current = next_page(body, current[1] or {}) if found else None

"""The HTTP layer of the SDK: one request (:class:`Call`), sent by a synchronous
:class:`ApiClient` or an asynchronous :class:`AsyncApiClient` (both on httpx), with
retries and pagination.

Retries: a 429 or a 503 is asked again after the ``Retry-After`` the server sent
(Tocsin's 503 means nothing was stored, so asking again is safe for every method),
or else after an exponential back-off with jitter, at most ``Retry.attempts`` times in
all and never waiting longer than ``Retry.max_wait`` at once; then the error is raised.

Pagination: the list endpoints take ``limit`` and ``offset`` and answer ``items`` and
``total``; :meth:`ApiClient.paginate` walks the pages and yields each item once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from tocsin import __version__
from tocsin.client.config import ClientConfig
from tocsin.client.errors import ApiError, ApiUnreachable, error_from_response

__all__ = ["ApiClient", "AsyncApiClient", "Call", "JsonObject", "Params", "Retry"]

JsonObject = dict[str, Any]
Params = Sequence[tuple[str, str | int]]
DEFAULT_TIMEOUT = 10.0
#: Statuses asked again: the server is busy (429) or cannot store now (503).
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Call:
    """One request: ``path`` from the server root (``/api/v1/...``); ``params`` as
    pairs, so that a name may repeat; ``answer`` says how to read a 2xx body."""

    method: Literal["GET", "POST", "PATCH", "DELETE"]
    path: str
    params: Params = ()
    body: Mapping[str, Any] | None = None
    answer: Literal["json", "text"] = "json"

    def page(self, limit: int, offset: int) -> Call:
        kept = [(k, v) for k, v in self.params if k not in ("limit", "offset")]
        return replace(self, params=(*kept, ("limit", limit), ("offset", offset)))


@dataclass(frozen=True)
class Retry:
    """How 429 and 503 answers are retried (``attempts`` counts the first request)."""

    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` from 1)."""
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        return min(self.backoff * 2.0 ** (attempt - 1) * (1 + random.random() / 2), self.max_wait)


NO_RETRY = Retry(attempts=1)


def _headers(config: ClientConfig, agent: str) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": agent}
    if config.token:
        headers["Authorization"] = f"Bearer {config.token}"
    return headers


def _verify(config: ClientConfig) -> bool:
    # Paths are relative to the base URL, so a plain-HTTP server is only ever asked over
    # plain HTTP; certificate checks are built just for https:// (loading the CA bundle
    # would cost every CLI command 60 ms).
    return config.url.lower().startswith("https://")


def _decode(call: Call, response: httpx.Response) -> Any:
    if response.is_error:
        raise error_from_response(response)
    if call.answer == "text":
        return response.text
    if response.status_code == 204:
        return {}
    try:
        data = response.json()
    except ValueError:
        raise ApiError(
            response.status_code, "the server sent a response that is not JSON", []
        ) from None
    if not isinstance(data, dict):
        raise ApiError(response.status_code, "the server sent an unexpected JSON value", [])
    return data


def _page_done(page: JsonObject, offset: int, size: int) -> bool:
    total = page.get("total")
    return size == 0 or (isinstance(total, int) and offset >= total)


class _Base:
    def __init__(self, config: ClientConfig, timeout: float, retry: Retry) -> None:
        self.url = config.url
        self.timeout = timeout
        self.retry = retry

    def _unreachable(self, reason: str) -> ApiUnreachable:
        return ApiUnreachable(
            f"cannot reach Tocsin at {self.url}: {reason} (is `tocsin serve` running?)"
        )

    def _failed(self, exc: httpx.TransportError) -> ApiUnreachable:
        if isinstance(exc, httpx.TimeoutException):
            return self._unreachable(f"no answer within {self.timeout:g} s")
        return self._unreachable(str(exc) or type(exc).__name__)


class ApiClient(_Base):
    """A synchronous client for the REST API; use it as a context manager.

    ``get``/``post``/``patch``/``delete`` take a path from the server root
    (``/api/v1/...``) and return the JSON object of a 2xx answer.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: Retry = NO_RETRY,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = f"tocsin-client/{__version__}",
    ) -> None:
        super().__init__(config, timeout, retry)
        self._http = httpx.Client(
            base_url=config.url,
            headers=_headers(config, user_agent),
            timeout=timeout,
            transport=transport,
            verify=_verify(config),
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

    def get(self, path: str, params: Params = ()) -> JsonObject:
        result: JsonObject = self.call(Call("GET", path, tuple(params)))
        return result

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> JsonObject:
        result: JsonObject = self.call(Call("POST", path, body={} if body is None else body))
        return result

    def patch(self, path: str, body: Mapping[str, Any]) -> JsonObject:
        result: JsonObject = self.call(Call("PATCH", path, body=body))
        return result

    def delete(self, path: str) -> JsonObject:
        """DELETE ``path``; a ``204 No Content`` answer gives ``{}``."""
        result: JsonObject = self.call(Call("DELETE", path))
        return result

    def call(self, call: Call) -> Any:
        """Send ``call`` (retrying 429 and 503 as :class:`Retry` says); the decoded answer."""
        attempt = 1
        while True:
            try:
                response = self._http.request(
                    call.method,
                    call.path,
                    params=httpx.QueryParams(tuple(call.params)),
                    json=None if call.body is None else dict(call.body),
                )
            except httpx.TransportError as exc:
                raise self._failed(exc) from None
            if response.status_code in RETRY_STATUSES and attempt < self.retry.attempts:
                error = error_from_response(response)
                self.retry.sleep(self.retry.wait(attempt, error.retry_after))
                attempt += 1
                continue
            return _decode(call, response)

    def paginate(self, call: Call, *, page_size: int = 100) -> Iterator[JsonObject]:
        """Every item of a list endpoint, page after page."""
        offset = 0
        while True:
            page: JsonObject = self.call(call.page(page_size, offset))
            items = page.get("items") or []
            yield from items
            offset += len(items)
            if _page_done(page, offset, len(items)):
                return


class AsyncApiClient(_Base):
    """The asynchronous twin of :class:`ApiClient` (``async with``; every call awaited)."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: Retry = NO_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = f"tocsin-client/{__version__}",
    ) -> None:
        super().__init__(config, timeout, retry)
        self._http = httpx.AsyncClient(
            base_url=config.url,
            headers=_headers(config, user_agent),
            timeout=timeout,
            transport=transport,
            verify=_verify(config),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, call: Call) -> Any:
        attempt = 1
        while True:
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    params=httpx.QueryParams(tuple(call.params)),
                    json=None if call.body is None else dict(call.body),
                )
            except httpx.TransportError as exc:
                raise self._failed(exc) from None
            if response.status_code in RETRY_STATUSES and attempt < self.retry.attempts:
                error = error_from_response(response)
                await asyncio.sleep(self.retry.wait(attempt, error.retry_after))
                attempt += 1
                continue
            return _decode(call, response)

    async def paginate(self, call: Call, *, page_size: int = 100) -> AsyncIterator[JsonObject]:
        offset = 0
        while True:
            page: JsonObject = await self.call(call.page(page_size, offset))
            items = page.get("items") or []
            for item in items:
                yield item
            offset += len(items)
            if _page_done(page, offset, len(items)):
                return

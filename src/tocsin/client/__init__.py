"""The Python SDK of Tocsin's REST API, synchronous and asynchronous, on httpx::

    from tocsin.client import Tocsin

    with Tocsin("http://127.0.0.1:8080", token="tcs_...") as tocsin:
        incident = tocsin.incidents.declare("Checkout 5xx", "sev2", services=["checkout-api"])
        tocsin.incidents.acknowledge(incident["id"])
        for alert in tocsin.alerts.iterate(status="firing"):
            print(alert["title"])

``AsyncTocsin`` has the same resources with awaitable calls and ``async for``.
Errors are exceptions (:mod:`tocsin.client.errors`); 429 and 503 answers are retried
after the server's ``Retry-After`` (:class:`Retry`). The ``tocsin`` command is a
client of this package.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from types import TracebackType
from typing import Any, Self

import httpx

from tocsin.client.config import (
    CREDENTIALS_PATH,
    DEFAULT_URL,
    ClientConfig,
    find_credentials_file,
    load_client_config,
)
from tocsin.client.errors import (
    ApiError,
    ApiUnreachable,
    BadRequest,
    ClientError,
    ConfigError,
    ConflictError,
    Forbidden,
    NotFoundError,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)
from tocsin.client.resources import (
    ActionItems,
    Alerts,
    Changes,
    Incidents,
    Integrations,
    Metrics,
    OnCall,
    Postmortems,
    Silences,
    StatusPage,
)
from tocsin.client.transport import (
    DEFAULT_TIMEOUT,
    ApiClient,
    AsyncApiClient,
    Call,
    JsonObject,
    Retry,
)

__all__ = [
    "CREDENTIALS_PATH",
    "DEFAULT_URL",
    "ApiClient",
    "ApiError",
    "ApiUnreachable",
    "AsyncApiClient",
    "AsyncTocsin",
    "BadRequest",
    "Call",
    "ClientConfig",
    "ClientError",
    "ConfigError",
    "ConflictError",
    "Forbidden",
    "JsonObject",
    "NotFoundError",
    "RateLimited",
    "Retry",
    "ServiceUnavailable",
    "Tocsin",
    "Unauthorized",
    "ValidationFailed",
    "find_credentials_file",
    "load_client_config",
]

#: What the resource classes of a synchronous client give back.
SyncAnswer = JsonObject
SyncItems = Iterator[JsonObject]
AsyncAnswer = Awaitable[JsonObject]
AsyncItems = AsyncIterator[JsonObject]


def _config(url: str | None, token: str | None) -> ClientConfig:
    if url is None and token is None:
        return load_client_config()
    loaded = load_client_config() if url is None or token is None else None
    return ClientConfig(
        url=(url or (loaded.url if loaded else DEFAULT_URL)).rstrip("/"),
        token=token if token is not None else (loaded.token if loaded else None),
    )


class _SyncRun:
    def __init__(self, http: ApiClient) -> None:
        self.http = http

    def call(self, call: Call) -> JsonObject:
        answer: JsonObject = self.http.call(call)
        return answer

    def pages(self, call: Call, page_size: int) -> Iterator[JsonObject]:
        return self.http.paginate(call, page_size=page_size)


class _AsyncRun:
    def __init__(self, http: AsyncApiClient) -> None:
        self.http = http

    async def call(self, call: Call) -> JsonObject:
        answer: JsonObject = await self.http.call(call)
        return answer

    def pages(self, call: Call, page_size: int) -> AsyncIterator[JsonObject]:
        return self.http.paginate(call, page_size=page_size)


class Tocsin:
    """A synchronous client. ``url`` and ``token`` default to ``TOCSIN_URL`` and
    ``TOCSIN_TOKEN``, then the nearest ``.tocsin/credentials.json``."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.http = ApiClient(
            _config(url, token), timeout=timeout, retry=retry or Retry(), transport=transport
        )
        run = _SyncRun(self.http)
        self.incidents: Incidents[SyncAnswer, SyncItems] = Incidents(run)
        self.alerts: Alerts[SyncAnswer, SyncItems] = Alerts(run)
        self.integrations: Integrations[SyncAnswer, SyncItems] = Integrations(run)
        self.silences: Silences[SyncAnswer, SyncItems] = Silences(run)
        self.oncall: OnCall[SyncAnswer, SyncItems] = OnCall(run)
        self.changes: Changes[SyncAnswer, SyncItems] = Changes(run)
        self.postmortems: Postmortems[SyncAnswer, SyncItems] = Postmortems(run)
        self.action_items: ActionItems[SyncAnswer, SyncItems] = ActionItems(run)
        self.metrics: Metrics[SyncAnswer, SyncItems] = Metrics(run)
        self.status_page: StatusPage[SyncAnswer, SyncItems] = StatusPage(run)

    def me(self) -> JsonObject:
        """Who the token belongs to, and its role."""
        return self.http.get("/api/v1/me")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()


class AsyncTocsin:
    """The asynchronous client: the same resources, every call awaited."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: Retry | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = AsyncApiClient(
            _config(url, token), timeout=timeout, retry=retry or Retry(), transport=transport
        )
        run = _AsyncRun(self.http)
        self.incidents: Incidents[AsyncAnswer, AsyncItems] = Incidents(run)
        self.alerts: Alerts[AsyncAnswer, AsyncItems] = Alerts(run)
        self.integrations: Integrations[AsyncAnswer, AsyncItems] = Integrations(run)
        self.silences: Silences[AsyncAnswer, AsyncItems] = Silences(run)
        self.oncall: OnCall[AsyncAnswer, AsyncItems] = OnCall(run)
        self.changes: Changes[AsyncAnswer, AsyncItems] = Changes(run)
        self.postmortems: Postmortems[AsyncAnswer, AsyncItems] = Postmortems(run)
        self.action_items: ActionItems[AsyncAnswer, AsyncItems] = ActionItems(run)
        self.metrics: Metrics[AsyncAnswer, AsyncItems] = Metrics(run)
        self.status_page: StatusPage[AsyncAnswer, AsyncItems] = StatusPage(run)

    async def me(self) -> JsonObject:
        answer: JsonObject = await self.http.call(Call("GET", "/api/v1/me"))
        return answer

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
        await self.http.aclose()

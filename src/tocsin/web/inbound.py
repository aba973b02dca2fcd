"""The inbound alert endpoints' handlers, and the lane that serves them.

:class:`Inbound` takes a request body as bytes and returns an :class:`Answer`: the body
is decoded once, checked by the hand-written parsers of :mod:`tocsin.ingest`, stored
through the application's :class:`~tocsin.web.groupcommit.GroupCommitter` and the
answer rendered directly, with no pydantic model on the way. Refusals keep the shape of
:mod:`tocsin.web.errors` (``/v2/*``: PagerDuty's, see :mod:`tocsin.web.inbound_pagerduty`).

:class:`InboundLane` serves these endpoints ahead of FastAPI's router; the routes in
:mod:`tocsin.web.routes.integrations` declare them for the OpenAPI document and serve
them the same way when an application has no lane.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from secrets import token_hex
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from tocsin.errors import InvalidInput, NotFound, TocsinError
from tocsin.ingest import (
    PARSERS,
    PD_MAX_BODY_BYTES,
    AlertEvent,
    IngestError,
    parse_alertmanager,
    pd_error_for,
)
from tocsin.ingest.memo import ParseMemo
from tocsin.ingest.opsgenie import og_error_body
from tocsin.web.groupcommit import (
    DatabaseUnavailable,
    Delivery,
    GroupCommitter,
    Pinged,
    Queued,
)
from tocsin.web.inbound_opsgenie import OG_MAX_BODY_BYTES, OpsgenieAlerts, genie_key
from tocsin.web.inbound_pagerduty import PagerDutyEvents, Reply

__all__ = ["RETRY_AFTER_SECONDS", "SOURCES", "Answer", "Inbound", "InboundLane", "inbound_for"]

#: What a 503 asks clients to wait before retrying.
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self) -> bytes:
        try:
            return orjson.dumps(self.body)
        except TypeError:  # a field path may quote a client's lone surrogate: escape it
            return json.dumps(self.body, separators=(",", ":")).encode()


_RETRY = (("Retry-After", str(RETRY_AFTER_SECONDS)),)
#: The parser behind each ``/api/v1/integrations/{key}/<source>`` endpoint.
SOURCES: dict[str, Callable[[Any], list[AlertEvent]]] = dict(PARSERS)


def _decode(body: bytes) -> Any:
    """The body as JSON, parsed once; IngestError naming ``body`` when it is not."""
    if not body.strip():
        raise IngestError("body", "is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # orjson refuses a few things the JSON spec allows (lone surrogate escapes,
        # integers beyond 64 bits): the standard parser decides, and words the error
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise IngestError("body", f"malformed JSON: {reason}") from None


def _refusal(exc: Exception) -> Answer:
    """The answer to a refused request (the shape of :mod:`tocsin.web.errors`)."""
    if isinstance(exc, DatabaseUnavailable):
        return Answer(
            503, {"detail": "database unavailable; nothing was stored, retry later"}, _RETRY
        )
    if isinstance(exc, IngestError):
        return Answer(
            400, {"detail": str(exc), "errors": [{"field": exc.field, "message": exc.message}]}
        )
    if isinstance(exc, InvalidInput):
        return Answer(
            422, {"detail": str(exc), "errors": [{"field": exc.field, "message": exc.message}]}
        )
    if isinstance(exc, NotFound):
        return Answer(404, {"detail": str(exc)})
    return Answer(500, {"detail": f"internal error; nothing was stored ({exc})"})


class Inbound:
    """The inbound endpoints of one application, whatever serves them (the lane below,
    or the routes of :mod:`tocsin.web.routes.integrations`); each stores through the
    application's :class:`GroupCommitter`."""

    def __init__(self, committer: GroupCommitter, memo: ParseMemo | None = None) -> None:
        self.committer = committer
        #: Alertmanager's alerts parsed before (it sends firing alerts again and again).
        self.memo = memo if memo is not None else ParseMemo()
        self.pagerduty_events = PagerDutyEvents(committer)
        self.opsgenie_alerts = OpsgenieAlerts(committer)

    async def alerts(self, source: str, key: str, body: bytes) -> Answer:
        memo = self.memo if source == "alertmanager" else None
        try:
            data = _decode(body)
            if memo is not None:
                events = parse_alertmanager(data, reuse=memo.lookup(source, key))
            else:
                events = SOURCES[source](data)
            results = await self.committer.submit(Delivery(key, events, source, data))
        except TocsinError as exc:
            return _refusal(exc)
        if memo is not None:  # stored (decided, or queued to be): worth parsing once only
            memo.keep(source, key, data["alerts"], events)
        if isinstance(results, Queued):
            return Answer(
                202,
                {
                    "status": "success",
                    "accepted": results.accepted,
                    "queued": results.accepted,
                    "batch": results.batch,
                    "alerts": [],
                },
            )
        assert isinstance(results, list)
        return Answer(
            202,
            {
                "status": "success",
                "accepted": len(results),
                "alerts": [
                    # str() of the outcome (a StrEnum) is its value, without the
                    # enum's property lookup: this runs for every alert
                    {
                        "id": r.alert_id,
                        "dedup_key": r.dedup_key,
                        "outcome": str(r.outcome),
                        "incident": r.incident,
                    }
                    for r in results
                ],
            },
        )

    async def pagerduty(self, body: bytes) -> Answer:
        """``POST /v2/enqueue`` in PagerDuty's shapes (:mod:`tocsin.web.inbound_pagerduty`)."""
        return await self._pagerduty(self.pagerduty_events.enqueue, body)

    async def pagerduty_change(self, body: bytes) -> Answer:
        """``POST /v2/change/enqueue``: a change event, stored on the key's service."""
        return await self._pagerduty(self.pagerduty_events.change, body)

    @staticmethod
    async def _pagerduty(handler: Callable[[object, int], Awaitable[Reply]], body: bytes) -> Answer:
        try:
            data = _decode(body) if len(body) <= PD_MAX_BODY_BYTES else None
        except IngestError as exc:
            return Answer(400, pd_error_for(exc))
        status, answer, headers = await handler(data, len(body))
        return Answer(status, answer, headers)

    async def opsgenie(
        self,
        authorization: str | None,
        body: bytes,
        identifier: str | None = None,
        action: str = "create",
        identifier_type: str | None = None,
    ) -> Answer:
        """Opsgenie's ``POST /v2/alerts`` (``action`` create) and its ``close`` and
        ``acknowledge`` (:mod:`tocsin.web.inbound_opsgenie`)."""
        key = genie_key(authorization)
        handler = self.opsgenie_alerts
        try:
            if not body.strip() and action != "create":
                data: Any = None  # close and acknowledge may come without a body
            else:
                data = _decode(body) if len(body) <= OG_MAX_BODY_BYTES else None
        except IngestError as exc:
            return Answer(
                400, og_error_body(f"Invalid JSON body: {exc.message}", token_hex(16), 0.0)
            )
        if identifier is None:
            reply = await handler.create(key, data, len(body))
        else:
            verb: Any = "resolve" if action == "close" else "acknowledge"
            reply = await handler.act(key, identifier, identifier_type, verb, data, len(body))
        return Answer(*reply)

    async def opsgenie_status(self, authorization: str | None, request_id: str) -> Answer:
        """``GET /v2/alerts/requests/{requestId}``."""
        return Answer(
            *await self.opsgenie_alerts.request_status(genie_key(authorization), request_id)
        )

    async def ping(self, key: str) -> Answer:
        try:
            pinged = await self.committer.submit(Delivery(key, None))
        except TocsinError as exc:
            return _refusal(exc)
        assert isinstance(pinged, Pinged)
        return Answer(
            202,
            {
                "status": "success",
                "integration": pinged.integration,
                "next_due_at": pinged.next_due_at.isoformat(),
            },
        )


def inbound_for(app: Any) -> Inbound:
    """The application's :class:`Inbound` (made on first use; ``app.state.context``)."""
    state = app.state
    inbound: Inbound | None = getattr(state, "inbound", None)
    if inbound is None:
        inbound = Inbound(GroupCommitter(state.context))
        state.inbound = inbound
    return inbound


# -- the lane ------------------------------------------------------------------------------

_INTEGRATIONS = "/api/v1/integrations/"
_HEARTBEATS = "/api/v1/heartbeats/"
_OG_ALERTS = "/v2/alerts"
_OG_REQUESTS = "/v2/alerts/requests/"
_Handler = Callable[[Inbound, bytes, Scope], Awaitable[Answer]]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _query(scope: Scope, name: str) -> str | None:
    values = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1")).get(name)
    return values[-1] if values else None


def _opsgenie_target(method: str, path: str) -> _Handler | None:
    """Opsgenie's alert endpoints (see :mod:`tocsin.web.inbound_opsgenie`)."""
    if method == "GET":
        request_id = path[len(_OG_REQUESTS) :] if path.startswith(_OG_REQUESTS) else ""
        if request_id and "/" not in request_id:
            return lambda inbound, _body, scope: inbound.opsgenie_status(
                _header(scope, b"authorization"), request_id
            )
        return None
    if path == _OG_ALERTS:
        return lambda inbound, body, scope: inbound.opsgenie(_header(scope, b"authorization"), body)
    identifier, slash, action = path[len(_OG_ALERTS) + 1 :].rpartition("/")
    if slash and identifier and "/" not in identifier and action in ("close", "acknowledge"):
        name = identifier  # ASGI's path is already percent-decoded
        return lambda inbound, body, scope: inbound.opsgenie(
            _header(scope, b"authorization"),
            body,
            name,
            action,
            _query(scope, "identifierType"),
        )
    return None


def _lane_target(method: str, path: str) -> _Handler | None:
    """The inbound handler for ``path``, or None for every other path."""
    if path.startswith(_OG_ALERTS):
        return _opsgenie_target(method, path)
    if method != "POST":
        return None
    if path == "/v2/enqueue":
        return lambda inbound, body, _scope: inbound.pagerduty(body)
    if path == "/v2/change/enqueue":
        return lambda inbound, body, _scope: inbound.pagerduty_change(body)
    if path.startswith(_INTEGRATIONS):
        key, slash, source = path[len(_INTEGRATIONS) :].partition("/")
        if key and slash and source in SOURCES:
            return lambda inbound, body, _scope: inbound.alerts(source, key, body)
        return None
    if path.startswith(_HEARTBEATS):
        key = path[len(_HEARTBEATS) :]
        if key and "/" not in key:
            return lambda inbound, _body, _scope: inbound.ping(key)
    return None


class InboundLane:
    """ASGI middleware that serves the inbound endpoints before the router does.

    Routing, dependency injection and the exception middleware cost several times
    what storing one alert costs (measured with ``bench/ingest.py``), and monitoring
    sends alerts one request at a time. This lane answers ``POST`` to the inbound
    paths with the same :class:`Inbound` handlers the routes below use; everything
    else goes on to the application. It sits inside :class:`~tocsin.web.limits.BodyGuard`
    (413/415 still apply) and uvicorn's access log still records each request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = None
        if scope["type"] == "http" and scope["method"] in ("POST", "GET"):
            handler = _lane_target(scope["method"], scope["path"])
        if handler is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        answer = await handler(inbound_for(scope["app"]), b"".join(chunks), scope)
        payload = answer.encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *((name.lower().encode(), value.encode()) for name, value in answer.headers),
        ]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

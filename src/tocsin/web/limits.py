"""Request-size, content-type and body-time guards, applied before any route reads a
body."""

from __future__ import annotations

import asyncio
import json

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tocsin.ingest import pd_error_body
from tocsin.web.timeouts import BODY_TIMEOUT_SECONDS

__all__ = ["BodyGuard", "set_body_timeout"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: PagerDuty's Events API: refusals there are answered in PagerDuty's shape.
_PAGERDUTY = "/v2/"


def set_body_timeout(app: Starlette, seconds: float) -> None:
    """How long :class:`BodyGuard` in ``app`` waits for each chunk of a request body
    (``tocsin serve --body-timeout``)."""
    app.state.body_timeout = float(seconds)


class BodyGuard:
    """Answers 413 for bodies over `max_bytes`, 415 for non-JSON bodies under `/api/`
    (under `/v2/`: PagerDuty's 400 for both), and 408 when the next chunk of a body
    does not arrive within the body timeout.

    The body is read here (it is at most `max_bytes`) and replayed to the app, so a
    chunked upload without Content-Length is bounded too, and a client that sends its
    headers and then trickles (or nothing) cannot hold a request open for ever. The
    timeout is ``body_timeout``, else the application's (:func:`set_body_timeout`),
    else 30 s.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        form_paths: tuple[str, ...] = (),
        body_timeout: float | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.form_paths = form_paths
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        path: str = scope["path"]
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _reply(send, 413, self._too_large(), path=path)
            return
        chunks: list[bytes] = []
        size = 0
        timeout = self._timeout(scope)
        while True:
            try:
                message = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                detail = f"the request body did not arrive within {timeout:g} s"
                await _reply(send, 408, detail, close=True, path=path)
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reply(send, 413, self._too_large(), path=path)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _needs_json(path, self.form_paths) and not _is_json(headers):
            got = headers.get("content-type", "none")
            detail = f"unsupported content type {got!r}: send application/json"
            await _reply(send, 415, detail, path=path)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _timeout(self, scope: Scope) -> float:
        if self.body_timeout is not None:
            return self.body_timeout
        state = getattr(scope.get("app"), "state", None)
        seconds = getattr(state, "body_timeout", None)
        return BODY_TIMEOUT_SECONDS if seconds is None else float(seconds)

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes} bytes"


def _needs_json(path: str, form_paths: tuple[str, ...]) -> bool:
    return (path.startswith("/api/") or path.startswith("/v2/")) and not path.startswith(
        form_paths or ("\0",)
    )


def _is_json(headers: dict[str, str]) -> bool:
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def _reply(
    send: Send, status: int, detail: str, *, close: bool = False, path: str = ""
) -> None:
    """A JSON ``{"detail": ...}`` answer; ``close`` ends the connection after it (the
    rest of an unread body must not be taken for the next request). Under ``/v2/``
    (PagerDuty's Events API) the answer is PagerDuty's instead: 400 "invalid event"
    for a body too large or not JSON, as PagerDuty's clients expect."""
    body: dict[str, object] = {"detail": detail}
    if path.startswith(_PAGERDUTY):
        status = 400 if status in (413, 415) else status
        body = pd_error_body([f"body: {detail}"])
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})

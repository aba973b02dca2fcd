"""Request-size and content-type guards, applied before any route reads a body."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyGuard"]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyGuard:
    """Answers 413 for bodies over `max_bytes` and 415 for non-JSON bodies under `/api/`.

    The body is read here (it is at most `max_bytes`) and replayed to the app, so a
    chunked upload without Content-Length is bounded too.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, form_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.form_paths = form_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _reply(send, 413, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reply(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        path: str = scope["path"]
        if body and _needs_json(path, self.form_paths) and not _is_json(headers):
            got = headers.get("content-type", "none")
            await _reply(send, 415, f"unsupported content type {got!r}: send application/json")
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes} bytes"


def _needs_json(path: str, form_paths: tuple[str, ...]) -> bool:
    return (path.startswith("/api/") or path.startswith("/v2/")) and not path.startswith(
        form_paths or ("\0",)
    )


def _is_json(headers: dict[str, str]) -> bool:
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def _reply(send: Send, status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

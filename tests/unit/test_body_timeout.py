"""BodyGuard's body deadline: a body whose next chunk does not come in time gets a 408
with a JSON detail and a closed connection; one that keeps coming is passed on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from tocsin.web.limits import BodyGuard

SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "POST",
    "path": "/api/v1/incidents",
    "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    body = json.dumps({"got": len(message["body"])}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def run(guard: BodyGuard, chunks: list[tuple[float, Message]]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        if not chunks:
            await asyncio.sleep(3600)  # a client that sends nothing more
        delay, message = chunks.pop(0)
        await asyncio.sleep(delay)
        return message

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(guard(dict(SCOPE), receive, send))
    return sent


def test_a_body_that_stops_coming_gets_408_and_the_connection_closes() -> None:
    guard = BodyGuard(app, max_bytes=10_000, body_timeout=0.05)
    first = {"type": "http.request", "body": b'{"title": "sl', "more_body": True}
    start, body = run(guard, [(0, first)])
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert json.loads(body["body"]) == {"detail": "the request body did not arrive within 0.05 s"}


def test_a_body_that_keeps_coming_is_passed_on() -> None:
    guard = BodyGuard(app, max_bytes=10_000, body_timeout=0.5)
    chunks: list[tuple[float, Message]] = [
        (0.01, {"type": "http.request", "body": b"{" * 10, "more_body": True}) for _ in range(5)
    ]
    chunks.append((0.01, {"type": "http.request", "body": b"}", "more_body": False}))
    start, body = run(guard, chunks)
    assert start["status"] == 200
    assert json.loads(body["body"]) == {"got": 51}

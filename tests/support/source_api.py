"""The plumbing shared by the local on-call product APIs (``opsgenie_rest.py``,
``pagerduty_rest.py``): a threaded HTTP server on 127.0.0.1 that checks the
``Authorization`` header, answers 429 in the product's shape while ``throttle`` says so,
and records every request (path, query, headers) it was sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.receivers import free_port

Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@dataclass
class SourceApiServer:
    """Subclasses give ``authorized(header)``, ``unauthorized()``, ``throttled()`` and
    ``answer(path, query)``."""

    port: int = field(default_factory=free_port)
    #: The next this many requests are answered 429.
    throttle: int = 0
    requests: list[Request] = field(default_factory=list)
    #: Changes an answer's body before it is sent: ``edit(path, body) -> body``.
    edit: Callable[[str, Any], Any] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def authorized(self, header: str | None) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> Answer:
        raise NotImplementedError

    def throttled(self) -> Answer:
        raise NotImplementedError

    def answer(self, path: str, query: dict[str, list[str]]) -> Answer:
        raise NotImplementedError

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        self.requests.append(Request(parts.path, query, dict(handler.headers.items())))
        if not self.authorized(handler.headers.get("Authorization")):
            status, body, headers = self.unauthorized()
        elif self.throttle > 0:
            self.throttle -= 1
            status, body, headers = self.throttled()
        else:
            status, body, headers = self.answer(parts.path, query)
            if self.edit is not None and status == 200:
                body = self.edit(parts.path, body)
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    @contextmanager
    def running(self) -> Iterator[SourceApiServer]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = _Server(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def page(items: list[Any], offset: int, limit: int) -> tuple[list[Any], bool]:
    return items[offset : offset + limit], offset + limit < len(items)


def first(query: dict[str, list[str]], key: str, default: str) -> str:
    return query.get(key, [default])[0]

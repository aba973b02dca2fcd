"""Small HTTP servers on 127.0.0.1 for diagnostics and playbooks: an exporter whose
gauges the test sets (for a real Prometheus to scrape), and an endpoint that records
every request and answers what the test says (a health check, a webhook).

``with Exporter() as exporter: exporter.set("queue_depth", 42)``;
``with Recorder(status=503, body=b"...") as web: ... web.requests``.
"""

from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

__all__ = ["Exporter", "Recorded", "Recorder"]


class _Server:
    def __init__(self) -> None:
        self._server: http.server.ThreadingHTTPServer | None = None

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def __enter__(self) -> Any:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class Exporter(_Server):
    """Serves ``/metrics`` with the gauges the test sets."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, float] = {}
        self._lock = threading.Lock()

    def set(self, name: str, value: float | None) -> None:
        with self._lock:
            if value is None:
                self.values.pop(name, None)
            else:
                self.values[name] = value

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        exporter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with exporter._lock:
                    lines = [f"# TYPE {n} gauge\n{n} {v}\n" for n, v in exporter.values.items()]
                body = "".join(lines).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    body: bytes


class Recorder(_Server):
    """Answers every request with ``status`` and ``body`` and records it."""

    def __init__(self, *, status: int = 200, body: bytes = b"{}") -> None:
        super().__init__()
        self.status = status
        self.body = body
        self.requests: list[Recorded] = []

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.requests.append(Recorded(self.command, self.path, body))
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(recorder.body)))
                self.end_headers()
                self.wfile.write(recorder.body)

            do_GET = do_POST = _answer

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler

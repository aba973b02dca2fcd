"""A local PagerDuty Events API v2 over HTTPS (PagerDuty's client takes https:// only),
with a throwaway certificate, recording every event it is sent.

``POST /v2/enqueue`` answers like PagerDuty: 202 ``{"status": "success", "message":
"Event processed", "dedup_key": ...}``, 400 for an invalid event, 400 "invalid routing
key" for a key it does not know. ``script`` holds statuses to answer instead, in order
(e.g. ``[500]`` or ``[(429, {"Retry-After": "30"})]``); a scripted answer processes
nothing.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.receivers import free_port
from tests.support.servers import TlsFiles, write_tls_files


@dataclass
class PagerDutyEvent:
    status: int
    body: dict[str, Any]

    @property
    def action(self) -> str:
        return str(self.body.get("event_action"))

    @property
    def dedup_key(self) -> str | None:
        value = self.body.get("dedup_key")
        return str(value) if value is not None else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True


@dataclass
class PagerDutyApi:
    tls_dir: Path
    routing_keys: set[str] = field(default_factory=set)
    script: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    events: list[PagerDutyEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tls: TlsFiles = write_tls_files(self.tls_dir)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def accepted(self) -> list[tuple[str, str | None]]:
        """(action, dedup_key) of every event processed, in order."""
        return [(e.action, e.dedup_key) for e in self.events if e.status == 202]

    def start(self) -> PagerDutyApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                status, headers, answer = api._answer(self.path, raw)
                body = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = _Server(("127.0.0.1", self.port), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.tls.cert), str(self.tls.key))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _answer(self, path: str, raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {}, {"status": "invalid event", "message": "Event object is invalid"}
        with self._lock:
            status, headers, answer = self._decide(path, body)
            self.events.append(PagerDutyEvent(status, body))
        return status, headers, answer

    def _decide(
        self, path: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if path != "/v2/enqueue":
            return 404, {}, {"status": "not found"}
        if self.script:
            step = self.script.pop(0)
            status, headers = (step, {}) if isinstance(step, int) else step
            return status, headers, {"status": "error", "message": "scripted"}
        if body.get("routing_key") not in self.routing_keys:
            return 400, {}, {"status": "invalid event", "errors": ["Invalid routing key"]}
        action = body.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            return 400, {}, {"status": "invalid event", "errors": ["'event_action' is invalid"]}
        payload = body.get("payload") or {}
        if action == "trigger" and not (payload.get("summary") and payload.get("source")):
            return 400, {}, {"status": "invalid event", "errors": ["'payload' is invalid"]}
        if action != "trigger" and not body.get("dedup_key"):
            return 400, {}, {"status": "invalid event", "errors": ["'dedup_key' is missing"]}
        key = body.get("dedup_key") or "generated-key"
        return 202, {}, {"status": "success", "message": "Event processed", "dedup_key": key}

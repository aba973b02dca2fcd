"""A local server that speaks Slack's Web API wire format, for the real ``slack_sdk``.

``POST|GET /api/<method>`` takes form, JSON or query parameters as Slack does, checks
the bearer token, records every call (method, parameters, Authorization header) and
answers ``{"ok": true, ...}`` from a small in-memory workspace: channels, members,
messages with their metadata, pins. Failures on demand: :meth:`SlackApi.fail` answers
the next calls of a method with an HTTP status (429 with Retry-After) or a Slack error
(``name_taken``...), and :meth:`SlackApi.drop` performs a call and then closes the
connection without answering (the sender cannot tell whether it worked).

``POST /response/<id>`` stands in for the ``response_url`` of interactivity payloads
and records what Tocsin posts there.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.receivers import free_port

BOT_USER = "UBOT00001"


@dataclass
class SlackCall:
    method: str
    params: dict[str, Any]
    authorization: str | None


@dataclass
class _Failure:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    drop: bool = False


@dataclass
class Channel:
    id: str
    name: str
    members: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)
    is_im: bool = False
    archived: bool = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class SlackApi:
    """Start with :meth:`start` (or as a context manager); ``base_url`` goes into the
    policy's slack channel."""

    def __init__(self, token: str = "xoxb-test-token") -> None:
        self.token = token
        self.port = free_port()
        self.calls: list[SlackCall] = []
        self.responses: list[dict[str, Any]] = []
        self.channels: dict[str, Channel] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    # ------------------------------------------------------------ control

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error."""
        with self._lock:
            self._failures.setdefault(method, []).extend(
                _Failure(status, error, retry_after) for _ in range(times)
            )

    def drop(self, method: str) -> None:
        """Perform the next call of ``method``, then hang up without an answer."""
        with self._lock:
            self._failures.setdefault(method, []).append(_Failure(drop=True))

    def add_channel(self, name: str, *, member: bool = True) -> Channel:
        with self._lock:
            return self._new_channel(name, member=member)

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def calls_of(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def channel_named(self, name: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.name == name), None)

    # ------------------------------------------------------------ server

    def start(self) -> SlackApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                params: dict[str, Any] = {k: v[0] for k, v in parse_qs(url.query).items()}
                kind = self.headers.get("Content-Type", "")
                if body and "json" in kind:
                    params.update(json.loads(body))
                elif body:
                    params.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
                if url.path.startswith("/response/"):
                    with api._lock:
                        api.responses.append(params)
                    self._send(200, {}, b"ok")
                    return
                method = url.path.removeprefix("/api/")
                status, headers, answer = api._call(
                    method, params, self.headers.get("Authorization")
                )
                if status < 0:  # drop: the call happened, the answer never comes
                    self.close_connection = True
                    self.connection.close()
                    return
                self._send(status, headers, json.dumps(answer).encode())

            def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SlackApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ the workspace

    def _call(
        self, method: str, params: dict[str, Any], authorization: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self._lock:
            self.calls.append(SlackCall(method, dict(params), authorization))
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
            if failure is not None and not failure.drop:
                headers = {}
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                error = failure.error or ("ratelimited" if failure.status == 429 else "error")
                return failure.status, headers, {"ok": False, "error": error}
            if authorization != f"Bearer {self.token}":
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            handler = getattr(self, "_api_" + method.replace(".", "_"), None)
            if handler is None:
                return 200, {}, {"ok": False, "error": "unknown_method"}
            answer: dict[str, Any] = handler(params)
            if failure is not None and failure.drop:
                return -1, {}, answer
            return 200, {}, answer

    def _new_channel(self, name: str, *, member: bool, is_im: bool = False) -> Channel:
        prefix = "D" if is_im else "C"
        channel = Channel(f"{prefix}{next(self._ids):08d}", name, is_im=is_im)
        if member:
            channel.members.add(BOT_USER)
        self.channels[channel.id] = channel
        return channel

    def _find(self, ref: str) -> Channel | None:
        if ref.startswith("#"):
            return next((c for c in self.channels.values() if c.name == ref[1:]), None)
        if ref[:1] in {"U", "W"}:
            return self._im(ref)
        return self.channels.get(ref)

    def _im(self, user: str) -> Channel:
        found = next((c for c in self.channels.values() if c.is_im and c.name == user), None)
        return found or self._new_channel(user, member=True, is_im=True)

    @staticmethod
    def _truthy(value: Any) -> bool:
        return value is True or str(value) in {"1", "true", "True"}

    def _api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": BOT_USER}

    def _api_conversations_create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["name"])
        if any(c.name == name for c in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        channel = self._new_channel(name, member=True)
        return {"ok": True, "channel": {"id": channel.id, "name": name}}

    def _api_conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        channels = [
            {
                "id": c.id,
                "name": c.name,
                "is_member": BOT_USER in c.members,
                "is_archived": c.archived,
            }
            for c in self.channels.values()
            if not c.is_im and not (c.archived and self._truthy(params.get("exclude_archived")))
        ]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

    def _api_conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(params["channel"]))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        channel.members.add(BOT_USER)
        return {"ok": True, "channel": {"id": channel.id}}

    def _api_conversations_invite(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(params["channel"]))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        users = [u for u in str(params["users"]).split(",") if u]
        if all(u in channel.members for u in users):
            return {"ok": False, "error": "already_in_channel"}
        channel.members.update(users)
        return {"ok": True, "channel": {"id": channel.id}}

    def _api_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": self._im(str(params["users"])).id}}

    def _api_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(params["channel"]))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        with_metadata = self._truthy(params.get("include_all_metadata"))
        messages = []
        for message in reversed(channel.messages):  # newest first, as Slack answers
            shown = {k: v for k, v in message.items() if k != "metadata" or with_metadata}
            messages.append(shown)
        return {"ok": True, "messages": messages, "has_more": False}

    def _api_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._find(str(params["channel"]))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if BOT_USER not in channel.members:
            return {"ok": False, "error": "not_in_channel"}
        number = next(self._ts)
        message = {
            "type": "message",
            "user": BOT_USER,
            "ts": f"{1772442000 + number}.{number:06d}",
            "text": params.get("text", ""),
            "blocks": params.get("blocks"),
            "metadata": params.get("metadata"),
        }
        channel.messages.append(message)
        return {"ok": True, "channel": channel.id, "ts": message["ts"], "message": message}

    def _api_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(params["channel"]))
        message = next(
            (m for m in channel.messages if m["ts"] == params["ts"]) if channel else iter(()),
            None,
        )
        if channel is None or message is None:
            return {"ok": False, "error": "message_not_found"}
        message["text"] = params.get("text", message["text"])
        message["blocks"] = params.get("blocks", message["blocks"])
        return {"ok": True, "channel": channel.id, "ts": message["ts"]}

    def _api_pins_add(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(params["channel"]))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = str(params["timestamp"])
        if ts in channel.pins:
            return {"ok": False, "error": "already_pinned"}
        channel.pins.append(ts)
        return {"ok": True}

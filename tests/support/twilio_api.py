"""A local server speaking Twilio's REST wire format, for the official client to call.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` and ``.../Calls.json`` take
form-encoded parameters with HTTP basic auth (account SID and auth token), and answer
201 with the JSON Twilio answers (``sid``, ``status``, ``to``, ``from`` ...). ``script``
makes the next requests fail as Twilio fails: ``429`` (with ``Retry-After``), ``400``
(error 21211, invalid 'To' number), ``500``, or ``"drop"`` (the connection closes once
the request has arrived, without an answer).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs

from tests.support.receivers import free_port

Failure = Literal[429, 400, 401, 500, 503, "drop"]

_ERRORS: dict[int, tuple[int, str]] = {
    400: (21211, "The 'To' number {to} is not a valid phone number."),
    401: (20003, "Authenticate"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


@dataclass
class TwilioRequest:
    """One request as it arrived: which resource, the form, who authenticated."""

    method: str
    path: str
    resource: str  # "Messages" or "Calls"
    account_sid: str
    form: dict[str, str]
    user: str | None
    password: str | None
    user_agent: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@dataclass
class TwilioApi:
    """Accounts and their auth tokens in ``accounts``; what arrived in ``requests``; what
    Twilio accepted (a 201 answer) in ``accepted``."""

    accounts: dict[str, str]
    script: list[Failure] = field(default_factory=list)
    retry_after: int = 30
    port: int = field(default_factory=free_port)
    requests: list[TwilioRequest] = field(default_factory=list)
    accepted: list[TwilioRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._sids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def messages(self) -> list[dict[str, str]]:
        return [r.form for r in self.accepted if r.resource == "Messages"]

    def calls(self) -> list[dict[str, str]]:
        return [r.form for r in self.accepted if r.resource == "Calls"]

    def __enter__(self) -> TwilioApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                api._handle(self)

            def do_GET(self) -> None:
                api._answer(self, 405, {"code": 20004, "message": "Method not allowed"})

        self._server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # ---------------------------------------------------------------- handling

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode()
        parts = handler.path.split("?")[0].strip("/").split("/")
        resource = parts[-1].removesuffix(".json") if parts else ""
        ok_path = (
            len(parts) == 4
            and parts[:2] == ["2010-04-01", "Accounts"]
            and resource in ("Messages", "Calls")
        )
        user, password = _basic_auth(handler.headers.get("Authorization"))
        request = TwilioRequest(
            method="POST",
            path=handler.path,
            resource=resource,
            account_sid=parts[2] if len(parts) > 2 else "",
            form={k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()},
            user=user,
            password=password,
            user_agent=handler.headers.get("User-Agent", ""),
        )
        with self._lock:
            self.requests.append(request)
            failure = self.script.pop(0) if self.script else None
        if not ok_path:
            self._answer(handler, 404, {"code": 20404, "message": "Not found", "status": 404})
            return
        if self.accounts.get(request.account_sid) != password or user != request.account_sid:
            self._error(handler, 401, request)
            return
        if failure == "drop":
            handler.close_connection = True
            handler.connection.shutdown(2)
            return
        if failure is not None:
            self._error(handler, failure, request)
            return
        with self._lock:
            self.accepted.append(request)
        self._answer(handler, 201, self._resource(request))

    def _resource(self, request: TwilioRequest) -> dict[str, Any]:
        form = request.form
        prefix = "SM" if request.resource == "Messages" else "CA"
        sid = f"{prefix}{next(self._sids):032x}"
        document: dict[str, Any] = {
            "sid": sid,
            "account_sid": request.account_sid,
            "to": form.get("To"),
            "from": form.get("From"),
            "status": "queued",
            "date_created": "Mon, 02 Mar 2026 09:00:00 +0000",
            "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{request.account_sid}/{request.resource}/{sid}.json",
        }
        if request.resource == "Messages":
            body = form.get("Body", "")
            document.update(body=body, num_segments=str(max(1, -(-len(body) // 153))))
            document.update(direction="outbound-api", price=None, error_code=None)
        else:
            document.update(direction="outbound-api", duration=None, parent_call_sid=None)
        return document

    def _error(self, handler: BaseHTTPRequestHandler, status: int, request: TwilioRequest) -> None:
        code, message = _ERRORS[status]
        headers = {"Retry-After": str(self.retry_after)} if status == 429 else {}
        document = {
            "code": code,
            "message": message.format(to=request.form.get("To", "")),
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        self._answer(handler, status, document, headers)

    @staticmethod
    def _answer(
        handler: BaseHTTPRequestHandler,
        status: int,
        document: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        payload = json.dumps(document).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)


def _basic_auth(header: str | None) -> tuple[str | None, str | None]:
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    user, _, password = base64.b64decode(value).decode().partition(":")
    return user, password

"""Real receivers for delivery tests: an SMTP server (aiosmtpd) and a webhook receiver
(a threaded http.server) on 127.0.0.1, both recording what they got."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------- SMTP


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None
    tls: bool


class _MailHandler:
    def __init__(self, sink: list[ReceivedMail]) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = str(session.auth_data) if session.authenticated else None
        self.sink.append(
            ReceivedMail(
                mail_from=str(envelope.mail_from),
                rcpt_tos=[str(r) for r in envelope.rcpt_tos],
                message=message,
                authenticated_as=login,
                tls=session.ssl is not None,
            )
        )
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 with optional AUTH (``users``) and STARTTLS (``tls_context``)."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        tls_context: Any = None,
        require_starttls: bool = False,
    ) -> None:
        self.messages: list[ReceivedMail] = []
        self.port = free_port()
        self.users = users or {}

        def authenticate(
            server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            if isinstance(data, LoginPassword):
                login, password = data.login.decode(), data.password.decode()
                if self.users.get(login) == password:
                    return AuthResult(success=True, auth_data=login)
            return AuthResult(success=False, handled=False)

        kwargs: dict[str, Any] = {}
        if self.users:
            kwargs.update(authenticator=authenticate, auth_require_tls=tls_context is not None)
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=require_starttls)
        self.controller = Controller(
            _MailHandler(self.messages),
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="localhost",
            **kwargs,
        )

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.controller.stop()


# ---------------------------------------------------------------- webhooks


@dataclass
class ReceivedRequest:
    headers: dict[str, str]
    body: bytes
    status: int
    signature_ok: bool | None

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # restarted on the same port ("down for 20 minutes")
    daemon_threads = True


@dataclass
class WebhookReceiver:
    """POSTs are answered from ``script`` (status codes, in order; then 200) after an
    optional ``delay``. The receiver keeps the ``Idempotency-Key`` of every message it
    processed and acknowledges a repeat without processing it again, as the README
    advises; ``processed`` lists what it processed, once each."""

    secret: str | None = None
    script: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0
    port: int = field(default_factory=free_port)
    requests: list[ReceivedRequest] = field(default_factory=list)
    processed: list[dict[str, Any]] = field(default_factory=list)
    on_request: Callable[[ReceivedRequest], None] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status, extra = receiver._answer(dict(self.headers.items()), body)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _verify(self, headers: dict[str, str], body: bytes) -> bool | None:
        if self.secret is None:
            return None
        timestamp = headers.get("X-Tocsin-Timestamp", "")
        given = headers.get("X-Tocsin-Signature", "")
        mac = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        return hmac.compare_digest(given, "v1=" + mac.hexdigest())

    def _answer(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        if self.delay:
            time.sleep(self.delay)
        signature_ok = self._verify(headers, body)
        with self._lock:
            extra: dict[str, str] = {}
            if signature_ok is False:
                status = 401
            elif self.script:
                step = self.script.pop(0)
                status, extra = (step, {}) if isinstance(step, int) else step
            else:
                status = 200
            request = ReceivedRequest(headers, body, status, signature_ok)
            self.requests.append(request)
            key = headers.get("Idempotency-Key", "")
            if 200 <= status < 300 and key not in self._seen:
                self._seen.add(key)
                self.processed.append(json.loads(body))
        if self.on_request is not None:
            self.on_request(request)
        return status, extra

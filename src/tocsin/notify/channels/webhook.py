"""Signed webhooks (``type: webhook``): one HTTP POST of a JSON document per message.

Headers (verification is described in the README, "Webhooks")::

    Content-Type: application/json
    Idempotency-Key: <the delivery key, the same on every attempt>
    X-Tocsin-Timestamp: <unix seconds>
    X-Tocsin-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

The channel honours an idempotency key, so a send whose outcome is unknown (a timeout
after the request went out, a dropped connection) is retried: a receiver that keeps the
keys it has processed drops the second copy. 2xx is delivered; 408, 425, 429 and 5xx are
temporary (429/503 honour ``Retry-After``); other answers are permanent. Redirects are
not followed. Error messages never contain the URL, which may carry a token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from tocsin import __version__
from tocsin.notify.channels.base import (
    OutboundMessage,
    OutcomeUnknown,
    PermanentError,
    Recipient,
    SendReceipt,
    TemporaryError,
)
from tocsin.notify.channels.http import HttpOutcome, classify
from tocsin.notify.channels.tls import tls_context
from tocsin.policy.channels import WebhookChannel

__all__ = ["WebhookAdapter", "sign", "webhook_payload"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Tocsin-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def webhook_payload(message: OutboundMessage) -> dict[str, Any]:
    person = message.person
    incident = message.incident
    return {
        "id": message.key,
        "channel": message.channel,
        "kind": message.kind,
        "attempt": message.attempt,
        "created_at": message.created_at.isoformat(),
        "target": message.target,
        "subject": message.subject,
        "text": message.text,
        "reason": message.reason,
        "recipient": None
        if person is None
        else {
            "name": person.name,
            "display_name": person.display_name,
            "email": person.email,
            "chat": person.chat,
            "phone": person.phone,
        },
        "incident": None
        if incident is None
        else {
            "id": incident.id,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
        },
        "data": dict(message.data),
    }


class WebhookAdapter:
    """One configured webhook channel."""

    idempotent = True

    def __init__(
        self,
        name: str,
        config: WebhookChannel,
        environ: Mapping[str, str] | None = None,
        *,
        wall_clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._environ = os.environ if environ is None else environ
        self._wall_clock = wall_clock
        self._transport = transport

    def address(self, person: Recipient) -> str | None:
        return person.name

    def _secret(self) -> str | None:
        env = self.config.secret_env
        if env is None:
            return None
        value = self._environ.get(env)
        if not value:
            raise PermanentError(f"environment variable {env} (the signing secret) is not set")
        return value

    def request(self, message: OutboundMessage) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the POST for ``message``."""
        body = json.dumps(
            webhook_payload(message), separators=(",", ":"), ensure_ascii=False, default=str
        ).encode()
        timestamp = str(int(self._wall_clock()))
        headers = {
            **self.config.headers,
            "Content-Type": "application/json",
            "User-Agent": f"tocsin/{__version__}",
            "Idempotency-Key": message.key,
            "X-Tocsin-Timestamp": timestamp,
            "X-Tocsin-Event": message.kind,
        }
        secret = self._secret()
        if secret is not None:
            headers["X-Tocsin-Signature"] = sign(secret, timestamp, body)
        return body, headers

    def send(self, message: OutboundMessage) -> SendReceipt:
        body, headers = self.request(message)
        timeout = self.config.timeout.total_seconds()
        try:
            with httpx.Client(
                timeout=timeout,
                follow_redirects=False,
                verify=tls_context(self.config.verify_tls),
                transport=self._transport,
            ) as client:
                response = client.post(self.config.url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TemporaryError(f"cannot connect ({_reason(exc, self.config.url)})") from None
        except httpx.TimeoutException:
            raise OutcomeUnknown(f"no answer within {timeout:g}s") from None
        except httpx.TransportError as exc:
            raise OutcomeUnknown(f"connection lost ({_reason(exc, self.config.url)})") from None
        status = response.status_code
        answer = classify(status, response.headers)
        if answer.delivered:
            return SendReceipt(detail=f"HTTP {status}")
        if answer.outcome is HttpOutcome.rate_limited:
            raise answer.error(
                f"HTTP 429 Too Many Requests (Retry-After {answer.retry_after:g}s)"
                if answer.told
                else "HTTP 429 Too Many Requests"
            )
        if answer.outcome is HttpOutcome.permanent and 300 <= status < 400:
            raise PermanentError(f"HTTP {status}: redirects are not followed")
        raise answer.error(f"HTTP {status}")


def _reason(exc: Exception, url: str) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace(url, "<url>")

"""Microsoft Teams (``type: teams``): one Adaptive Card per message, POSTed to an
incoming webhook or a Workflows ("When a Teams webhook request is received") URL.

The URL carries its own credential, so it comes from the environment (``url_env``, or
for a broadcast target listed in ``url_envs`` that target's variable) and never appears
in an error. Body::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "content": {"type": "AdaptiveCard", "version": "1.4", ...}}]}

The card shows the subject, the incident's id, severity and status, the message text,
and an "Open incident" button when the server's public URL is known
(``TOCSIN_PUBLIC_URL``). 2xx is delivered; 429 pauses the channel (``Retry-After``);
408 and 5xx are retried; other answers are final. Teams drops no repeats, so a send
whose outcome is unknown is not sent again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
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
from tocsin.notify.channels.links import incident_url
from tocsin.notify.channels.tls import tls_context
from tocsin.policy.channels import TeamsChannel

__all__ = ["TeamsAdapter", "adaptive_card"]

_URGENT = {"SEV1", "SEV2"}
#: Server errors after which the card may have been posted anyway.
_MAYBE_DONE = frozenset({500, 502, 504})
#: Legacy incoming webhooks answer 200 with this text when Teams refused the card.
_FAILED_INSIDE = re.compile(r"delivery failed.*?HTTP error (\d{3})", re.IGNORECASE | re.DOTALL)


def adaptive_card(message: OutboundMessage, link: str | None) -> dict[str, Any]:
    """The Teams message for ``message``: an Adaptive Card 1.4 attachment."""
    incident = message.incident
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": message.subject,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": "Attention" if incident and incident.severity in _URGENT else "Default",
        }
    ]
    if incident is not None:
        body.append(
            {
                "type": "FactSet",
                "facts": [
                    {"title": "Incident", "value": incident.id},
                    {"title": "Title", "value": incident.title},
                    {"title": "Severity", "value": incident.severity},
                    {"title": "Status", "value": incident.status},
                ],
            }
        )
    body.append({"type": "TextBlock", "text": message.text, "wrap": True})
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open incident", "url": link}]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": content,
            }
        ],
    }


class TeamsAdapter:
    """One configured Teams channel."""

    idempotent = False

    def __init__(
        self,
        name: str,
        config: TeamsChannel,
        environ: Mapping[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._environ = os.environ if environ is None else environ
        self._transport = transport

    def address(self, person: Recipient) -> str | None:
        return person.name

    def _url(self, target: str | None) -> str:
        env = self.config.url_envs.get(target or "", self.config.url_env)
        value = self._environ.get(env, "").strip()
        if not value.startswith(("https://", "http://")):
            raise PermanentError(f"environment variable {env} (the Teams webhook URL) is not set")
        return value

    def send(self, message: OutboundMessage) -> SendReceipt:
        url = self._url(message.target)
        link = incident_url(self._environ, message.incident.id) if message.incident else None
        timeout = self.config.timeout.total_seconds()
        try:
            with httpx.Client(
                timeout=timeout,
                follow_redirects=False,
                verify=tls_context(self.config.verify_tls),
                transport=self._transport,
            ) as client:
                response = client.post(
                    url,
                    json=adaptive_card(message, link),
                    headers={"User-Agent": f"tocsin/{__version__}"},
                )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise TemporaryError(f"cannot connect to Teams ({type(exc).__name__})") from None
        except httpx.TimeoutException:
            raise OutcomeUnknown(f"no answer from Teams within {timeout:g}s") from None
        except httpx.TransportError as exc:
            raise OutcomeUnknown(f"connection to Teams lost ({type(exc).__name__})") from None
        answer = classify(
            response.status_code,
            response.headers,
            body=response.text,
            body_status=_failure_inside,
            maybe_done=_MAYBE_DONE,
        )
        status = answer.status
        match answer.outcome:
            case HttpOutcome.delivered:
                return SendReceipt(detail=f"HTTP {status}")
            case HttpOutcome.unknown:
                raise answer.error(f"HTTP {status} from Teams (the card may have been posted)")
            case HttpOutcome.rate_limited:
                raise answer.error("HTTP 429 Too Many Requests")
            case HttpOutcome.temporary:
                raise answer.error(f"HTTP {status}")
        raise answer.error(f"HTTP {status}{_reason(response)}")


def _failure_inside(body: str) -> int | None:
    """The status Teams reports inside a 200 answer ("Webhook message delivery failed
    with error: Microsoft Teams endpoint returned HTTP error 429 ..."), if it does."""
    found = _FAILED_INSIDE.search(body[:2000])
    if found is not None:
        return int(found.group(1))
    if "delivery failed" in body[:2000].lower():
        return 400
    return None


def _reason(response: httpx.Response) -> str:
    """Teams explains a refused card in a short text body; never echo a URL."""
    text = response.text.strip().splitlines()[0] if response.text.strip() else ""
    if not text or "://" in text:
        return ""
    return f": {text[:200]}"

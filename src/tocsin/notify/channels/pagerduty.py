"""PagerDuty forwarding (``type: pagerduty``) through the Events API v2, with PagerDuty's
official client (``pagerduty.EventsApiV2Client``).

Every event of an incident goes out under one ``dedup_key`` (``tocsin-INC-7``), so
PagerDuty keeps one alert per incident, and the Events API drops repeats by that key:
the channel is idempotent, and a send whose outcome is unknown is simply sent again.

**How acknowledgements and resolutions get here.** Through broadcasts, which already
turn each timeline event of an incident into one durable, retried message per
destination. A broadcast names the events to forward::

    broadcasts:
      - name: pagerduty
        severities: [SEV1, SEV2]
        events: {declared: initial_announcement, acknowledged: update,
                 resolved: resolution, reopened: initial_announcement}
        to: [{channel: pagerduty, target: ops}]

``declared``, ``reopened``, ``severity_changed`` and ``update_posted`` trigger (an update
lands in the open alert's log), ``acknowledged`` acknowledges and ``resolved`` resolves.
Pages routed to the channel by a person's notification rules (kind ``page``) trigger
too, so a team can also hand only paging to PagerDuty; its acknowledgement and
resolution still come from the broadcast. Other kinds of message are refused, visibly.

**Order.** The channel sends one message at a time by default (``concurrency: 1``),
oldest first, yet a retried trigger can come back after a later acknowledgement. So
each send also looks at the incident's status when it was claimed and never moves
PagerDuty backwards: a trigger for an incident already acknowledged is followed by an
acknowledge, one for an incident already resolved is not sent, and an acknowledgement or
resolution the incident has since moved past (it was reopened) is not sent either.
Such a message is recorded as sent with nothing forwarded.

The routing key comes from ``routing_key_env`` (or, for a broadcast target listed in
``routing_key_envs``, from that variable). The client's own retries, which sleep, are
off: the delivery worker retries with backoff. Errors never contain the key.
"""

from __future__ import annotations

import logging
import math
import os
import ssl
from collections.abc import Mapping
from typing import Any

import httpx2
import pagerduty

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
from tocsin.policy.channels import PagerDutyChannel

__all__ = ["PagerDutyAdapter", "dedup_key", "plan_actions"]

_TRIGGERING = {"declared", "reopened", "severity_changed", "update_posted"}
_DONE = {"resolved", "closed"}
_CLIENT_LOG = logging.getLogger("tocsin.delivery.pagerduty_client")
_CLIENT_LOG.setLevel(logging.CRITICAL)


def dedup_key(incident_id: str) -> str:
    return f"tocsin-{incident_id}"


def plan_actions(*, kind: str, event: str | None, status: str) -> tuple[str, ...]:
    """The Events API actions for a message, given the incident's current ``status``.

    Raises :class:`PermanentError` for a message PagerDuty has no action for.
    """
    if kind == "page" or (kind == "broadcast" and event in _TRIGGERING):
        if status in _DONE:
            return ()
        return ("trigger", "acknowledge") if status == "acknowledged" else ("trigger",)
    if kind == "broadcast" and event == "acknowledged":
        return ("acknowledge",) if status == "acknowledged" else ()
    if kind == "broadcast" and event == "resolved":
        return ("resolve",) if status in _DONE else ()
    what = f"the {event} event" if kind == "broadcast" else f"{kind} messages"
    raise PermanentError(
        f"PagerDuty forwards pages and the incident events declared, acknowledged, "
        f"resolved, reopened, severity_changed and update_posted, not {what}"
    )


class PagerDutyAdapter:
    """One configured PagerDuty channel."""

    idempotent = True

    def __init__(
        self, name: str, config: PagerDutyChannel, environ: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.config = config
        self._environ = os.environ if environ is None else environ

    def address(self, person: Recipient) -> str | None:
        return person.name

    def _routing_key(self, target: str | None) -> str:
        env = self.config.routing_key_envs.get(target or "", self.config.routing_key_env)
        value = self._environ.get(env, "").strip()
        if not value:
            raise PermanentError(f"environment variable {env} (the routing key) is not set")
        return value

    def _verify(self) -> ssl.SSLContext | bool:
        if not self.config.verify_tls:
            return False
        return tls_context(True, self.config.ca_file)

    def _client(self, routing_key: str) -> pagerduty.EventsApiV2Client:
        client = pagerduty.EventsApiV2Client(
            routing_key, base_url=self.config.base_url.rstrip("/"), verify=self._verify()
        )
        client.timeout = max(1, math.ceil(self.config.timeout.total_seconds()))
        # One attempt per send: no status is retried (a 429, which the client would retry
        # forever, comes straight back), and a network error is raised at once. What the
        # client would log about giving up is the delivery's recorded error instead.
        client.retry = {429: 1}
        client.max_http_attempts = -1
        client.max_network_attempts = 0
        client.log = _CLIENT_LOG
        return client

    def event(self, message: OutboundMessage, action: str) -> dict[str, Any]:
        """The keyword arguments of the client call for ``action``."""
        incident = message.incident
        assert incident is not None
        key = dedup_key(incident.id)
        if action != "trigger":
            return {"dedup_key": key}
        details: dict[str, Any] = {
            "incident": incident.id,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "message": message.text,
        }
        if message.kind == "page" and message.person is not None:
            details["paged"] = message.person.name
            details["reason"] = message.reason
        url = incident_url(self._environ, incident.id)
        return {
            "summary": f"[{incident.severity}] {incident.id}: {incident.title}"[:1024],
            "source": self.config.source,
            "dedup_key": key,
            "severity": self.config.severities.get(incident.severity, "error"),
            "custom_details": details,
            "links": [{"href": url, "text": f"{incident.id} in Tocsin"}] if url else None,
        }

    def send(self, message: OutboundMessage) -> SendReceipt:
        incident = message.incident
        if incident is None:
            raise PermanentError("PagerDuty forwards incidents; this message has none")
        event = message.data.get("event") if message.kind == "broadcast" else None
        actions = plan_actions(kind=message.kind, event=event, status=incident.status)
        if not actions:
            return SendReceipt(f"nothing to forward: {incident.id} is {incident.status} now")
        with self._client(self._routing_key(message.target)) as client:
            for action in actions:
                kwargs = self.event(message, action)
                try:
                    if action == "trigger":
                        client.trigger(**kwargs)
                    else:
                        client.send_event(action, **kwargs)
                except pagerduty.Error as exc:
                    raise _send_error(exc, action) from None
        return SendReceipt(f"PagerDuty: {' + '.join(actions)} {dedup_key(incident.id)}")


def _send_error(exc: pagerduty.Error, action: str) -> Exception:
    response = exc.response
    if response is None:
        cause: BaseException | None = exc.__cause__
        reason = type(cause).__name__ if cause is not None else "network error"
        if "CERTIFICATE_VERIFY_FAILED" in str(cause):
            return PermanentError("TLS certificate of the Events API not trusted")
        if isinstance(cause, httpx2.ConnectError | httpx2.ConnectTimeout):
            return TemporaryError(f"cannot connect to the Events API ({reason})")
        return OutcomeUnknown(f"{action}: connection lost ({reason})")
    status = response.status_code
    answer = classify(status, response.headers)
    if answer.delivered:
        return OutcomeUnknown(f"{action}: HTTP {status} without a dedup_key in the answer")
    if answer.outcome is HttpOutcome.rate_limited:
        return answer.error(f"{action}: HTTP 429 Too Many Requests")
    if answer.outcome is not HttpOutcome.permanent:
        return answer.error(f"{action}: HTTP {status}")
    if status in (401, 403, 404):
        return PermanentError(f"{action}: HTTP {status}: the routing key was refused")
    return PermanentError(f"{action}: HTTP {status}{_problem(response)}")


def _problem(response: httpx2.Response) -> str:
    """PagerDuty's explanation of a refused event ("Event object is invalid: ...")."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get("message") or body.get("status") or "")]
    errors = body.get("errors")
    if isinstance(errors, list):
        parts += [str(e) for e in errors[:3]]
    text = "; ".join(p for p in parts if p)
    return f": {text[:300]}" if text else ""

"""SMS and voice calls through Twilio (``type: twilio``, ``mode: sms | voice``).

Sends go through Twilio's official client (``twilio.rest.Client``) given
:class:`BaseUrlHttpClient`, which sends what the client would send to
``https://api.twilio.com`` (or a regional host) to the channel's ``base_url`` instead,
with httpx, bounded by the channel's ``timeout``.

- **sms**: ``messages.create(to=<the person's phone>, from_=from_number, body=...)``;
  the body is the message's subject and, while the incident waits for someone, "Reply
  'ack 4711' to acknowledge", kept within two SMS segments.
- **voice**: ``calls.create(twiml=...)``: the call reads the page out and gathers one
  digit; 1 acknowledges. The digit goes to ``<public URL>/api/v1/chatops/twilio/voice``
  (the server's ``TOCSIN_PUBLIC_URL``); without a public URL the call only reads the
  page out, twice.

Replies ("ack 4711") and digits come back through Tocsin's Twilio webhooks
(``tocsin.web.routes.chatops_twilio``), whose signatures are checked with the same auth
token.

Twilio honours no idempotency key, so the channel is not idempotent: a request whose
answer never came (timeout, dropped connection) fails as "outcome unknown" instead of
risking a second text or call; the escalation covers the person. Errors: 429 is
:class:`RateLimited` (``Retry-After``, or a minute); 500, 502 and 504 are outcome
unknown (a gateway may answer so after the message or call was made); 408, 425 and other
5xx are temporary; any other 4xx (21211 "invalid 'To' number", 20003 authentication) is
permanent (see :mod:`tocsin.notify.channels.http`). Error messages never
carry the auth token.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree

import httpx
from twilio.base import values
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from tocsin import __version__
from tocsin.notify.channels.base import (
    OutboundMessage,
    OutcomeUnknown,
    PermanentError,
    Recipient,
    SendError,
    SendReceipt,
    TemporaryError,
)
from tocsin.notify.channels.http import HttpOutcome, classify
from tocsin.notify.channels.links import PUBLIC_URL_ENV
from tocsin.notify.channels.tls import tls_context
from tocsin.policy.channels import TwilioChannel

__all__ = [
    "SMS_PATH",
    "VOICE_PATH",
    "BaseUrlHttpClient",
    "TwilioAdapter",
    "ack_hint",
    "incident_number",
    "sms_body",
    "sms_units",
    "voice_action_url",
    "voice_twiml",
]

log = logging.getLogger("tocsin.twilio")

#: Where Tocsin takes Twilio's inbound SMS and the digits gathered in a call.
SMS_PATH = "/api/v1/chatops/twilio/sms"
VOICE_PATH = "/api/v1/chatops/twilio/voice"

#: Two concatenated segments: 153 GSM-7 characters each, or 67 UCS-2 ones.
_GSM_LIMIT = 306
_UCS2_LIMIT = 134
#: A call reads at most this much of the page out (TwiML is limited to 4,000 bytes).
_SPOKEN_LIMIT = 600
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")  # two septets each
_TWILIO_HOST = re.compile(r"(^|\.)twilio\.com$")

#: Server errors after which the message may exist anyway (503 and 408 mean it does not).
_MAYBE_DONE = frozenset({500, 502, 504})


def incident_number(incident_id: str) -> int | None:
    """4711 for "INC-4711"."""
    _, _, digits = incident_id.rpartition("-")
    return int(digits) if digits.isdigit() else None


def ack_hint(message: OutboundMessage) -> str | None:
    """The line "Reply 'ack 4711' to acknowledge", while the incident waits for someone."""
    incident = message.incident
    if incident is None or incident.status != "triggered":
        return None
    number = incident_number(incident.id)
    return None if number is None else f"Reply 'ack {number}' to acknowledge"


def sms_units(text: str) -> tuple[int, int]:
    """How much of two segments ``text`` takes, and how much two segments hold: GSM-7
    septets (an extension character takes two), or UTF-16 units when any character is
    outside GSM-7 (the whole message is then sent as UCS-2)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        return len(text) + sum(c in _GSM_EXTENDED for c in text), _GSM_LIMIT
    return len(text.encode("utf-16-le")) // 2, _UCS2_LIMIT


def sms_body(message: OutboundMessage) -> str:
    """The subject (with the incident's id) and the ack hint, within two segments."""
    headline = " ".join(message.subject.split()) or " ".join(message.text.split())
    incident = message.incident
    if incident is not None and incident.id not in headline:
        headline = f"{incident.id}: {headline}"
    hint = ack_hint(message)
    tail = f"\n{hint}" if hint else ""
    used, room = sms_units(headline + tail)
    if used <= room:
        return headline + tail
    headline = headline[:room]
    while sms_units(headline + "..." + tail)[0] > room:
        headline = headline[:-1]
    return headline + "..." + tail


def _spoken(message: OutboundMessage) -> str:
    incident = message.incident
    if incident is None:
        text = message.subject
    else:
        number = incident_number(incident.id)
        title = message.subject.partition(f"{incident.id}: ")[2] or incident.title
        text = f"{incident.severity} incident {number}: {title}."
    text = " ".join(text.split())
    if len(text) > _SPOKEN_LIMIT:
        text = text[:_SPOKEN_LIMIT].rsplit(" ", 1)[0] + "."
    return f"This is Tocsin. {text}"


def voice_twiml(message: OutboundMessage, *, action_url: str | None, language: str) -> str:
    """The call's TwiML: read the page out; with an action URL, gather 1 to acknowledge."""
    response = ElementTree.Element("Response")
    spoken = _spoken(message)

    def say(parent: ElementTree.Element, text: str, loop: int | None = None) -> None:
        element = ElementTree.SubElement(parent, "Say", language=language)
        if loop is not None:
            element.set("loop", str(loop))
        element.text = text

    if action_url is not None and ack_hint(message) is not None:
        gather = ElementTree.SubElement(
            response, "Gather", numDigits="1", action=action_url, method="POST", timeout="10"
        )
        say(gather, spoken)
        say(gather, "Press 1 to acknowledge.")
        say(gather, spoken)
        say(gather, "Press 1 to acknowledge.")
        say(response, "No key was pressed. The incident is not acknowledged. Goodbye.")
    else:
        say(response, spoken, loop=2)
    return ElementTree.tostring(response, encoding="unicode")


def voice_action_url(public_url: str, message: OutboundMessage) -> str | None:
    if message.incident is None:
        return None
    number = incident_number(message.incident.id)
    return None if number is None else f"{public_url.rstrip('/')}{VOICE_PATH}?incident={number}"


class BaseUrlHttpClient(HttpClient):
    """Twilio's HTTP client interface over httpx, pointed at ``base_url``.

    Requests for ``https://api.twilio.com`` or any other ``*.twilio.com`` host (regions,
    edges) go to ``base_url`` with the same path and query. Every request is bounded by
    ``timeout``, whatever the caller asks. What goes wrong on the wire is raised as a
    send error: no connection is temporary (nothing was sent); a timeout or a dropped
    connection once the request was on its way is :class:`OutcomeUnknown`.
    """

    def __init__(
        self, base_url: str, *, timeout: float, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(logger=log, is_async=False, timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.limit = timeout
        self.last_response: Response | None = None
        self._transport = transport

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        if not _TWILIO_HOST.search(parts.hostname or ""):
            return url
        return self.base_url + urlunsplit(("", "", parts.path, parts.query, ""))

    def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, object] | None = None,
        data: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        limit = self.limit
        if timeout is not None:
            limit = min(limit, timeout)
        sent_headers = {**(headers or {}), "User-Agent": f"tocsin/{__version__}"}
        try:
            with httpx.Client(
                timeout=limit,
                follow_redirects=False,
                verify=tls_context(),
                transport=self._transport,
            ) as client:
                answer = client.request(
                    method.upper(),
                    self.rewrite(url),
                    params=_fields(params),
                    data=_fields(data),
                    headers=sent_headers,
                    auth=auth,
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TemporaryError(f"cannot connect to Twilio ({type(exc).__name__})") from None
        except httpx.TimeoutException:
            raise OutcomeUnknown(f"no answer from Twilio within {limit:g}s") from None
        except httpx.TransportError as exc:
            raise OutcomeUnknown(f"connection to Twilio lost ({type(exc).__name__})") from None
        self.last_response = Response(answer.status_code, answer.text, answer.headers)
        return self.last_response


class TwilioAdapter:
    """One configured Twilio channel (SMS or voice)."""

    idempotent = False

    def __init__(
        self,
        name: str,
        config: TwilioChannel,
        environ: Mapping[str, str] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._environ = os.environ if environ is None else environ
        self._transport = transport

    def address(self, person: Recipient) -> str | None:
        return person.phone

    def credentials(self) -> tuple[str, str]:
        """The account SID and auth token; a variable that is not set is a permanent
        error naming every one missing (never their values)."""
        config = self.config
        wanted = [(config.auth_token_env, "the Twilio auth token")]
        if config.account_sid_env is not None:
            wanted.insert(0, (config.account_sid_env, "the Twilio account SID"))
        missing = [f"{env} ({what})" for env, what in wanted if not self._environ.get(env)]
        if missing:
            noun = "variable" if len(missing) == 1 else "variables"
            verb = "is" if len(missing) == 1 else "are"
            raise PermanentError(f"environment {noun} {' and '.join(missing)} {verb} not set")
        sid = config.account_sid or self._environ[config.account_sid_env or ""]
        return sid, self._environ[config.auth_token_env]

    def public_url(self) -> str | None:
        value = self._environ.get(PUBLIC_URL_ENV, "").strip()
        return value if value.startswith(("http://", "https://")) else None

    def send(self, message: OutboundMessage) -> SendReceipt:
        if not message.target:
            raise PermanentError("no phone number to send to")
        sid, token = self.credentials()
        http = BaseUrlHttpClient(
            self.config.base_url,
            timeout=self.config.timeout.total_seconds(),
            transport=self._transport,
        )
        client = Client(  # type: ignore[no-untyped-call]
            sid, token, account_sid=sid, http_client=http, environment={"TWILIO_ACCOUNT_SID": sid}
        )
        try:
            what, sid_made, status = self._create(client, message)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _send_error(exc, http.last_response) from None
        return SendReceipt(detail=f"Twilio {what} {sid_made} {status}")

    def _create(self, client: Client, message: OutboundMessage) -> tuple[str, str, str]:
        """Create the message or the call; returns what, its SID and its status."""
        assert message.target is not None
        callback: object = self.config.status_callback or values.unset
        if self.config.mode == "sms":
            sms = client.messages.create(
                to=message.target,
                from_=self.config.from_number,
                body=sms_body(message),
                status_callback=callback,
            )
            return "message", str(sms.sid), str(sms.status)
        public_url = self.public_url()
        action = voice_action_url(public_url, message) if public_url else None
        call = client.calls.create(
            to=message.target,
            from_=self.config.from_number,
            twiml=voice_twiml(message, action_url=action, language=self.config.language),
            status_callback=callback,
        )
        return "call", str(call.sid), str(call.status)


def _send_error(
    exc: TwilioRestException | TwilioServiceException, response: Response | None
) -> SendError:
    status = int(exc.status)
    code = exc.code
    if isinstance(exc, TwilioServiceException):
        text = exc.detail or exc.title
    else:
        text = str(exc.msg).removeprefix("Unable to create record: ")
    detail = f"Twilio HTTP {status}" + (f", error {code}" if code and code != status else "")
    detail += f": {text}" if text else ""
    headers = response.headers if response is not None and response.headers else {}
    # A gateway's 500, 502 or 504 can come after Twilio made the message or call: never
    # a blind second text or call (the escalation covers the person instead).
    answer = classify(status, headers, maybe_done=_MAYBE_DONE)
    if answer.outcome is HttpOutcome.rate_limited:
        return answer.error(f"{detail} (retry after {answer.retry_after:g}s)")
    if answer.delivered:  # the client raised on a 2xx: take it as refused
        return PermanentError(detail)
    return answer.error(detail)


def _fields(fields: Mapping[str, object] | None) -> dict[str, Any] | None:
    return dict(fields) if fields else None

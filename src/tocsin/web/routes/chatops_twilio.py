"""Twilio's webhooks: replies to a page by SMS ("ack 4711") and the digit pressed in a
page call (1 acknowledges).

Point the Twilio number's "A message comes in" webhook at
``<public URL>/api/v1/chatops/twilio/sms``; calls made by a ``mode: voice`` channel send
their digit to ``/api/v1/chatops/twilio/voice`` by themselves.

Every request must carry a valid ``X-Twilio-Signature``, computed by Twilio with the
auth token of a ``type: twilio`` channel over the URL it called and the form fields.
That URL is the server's public URL (``TOCSIN_PUBLIC_URL``) followed by the path and
query, or, without one, the URL the request arrived at. A missing or wrong signature is
refused with 403 and changes nothing.

The sender is the person whose ``phone`` in the policy is the SMS's ``From`` (for the
digit of a call Tocsin made, the ``To`` it called); what they asked for is done by
:mod:`tocsin.chatops.twilio_commands`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from twilio.request_validator import RequestValidator

from tocsin.chatops.twilio_commands import (
    HELP,
    UNKNOWN_SENDER,
    SmsCommand,
    parse_sms,
    person_by_phone,
    run_command,
)
from tocsin.notify.channels.twilio import SMS_PATH, VOICE_PATH
from tocsin.policy import Policy
from tocsin.policy.channels import TwilioChannel
from tocsin.web.deps import ContextDep, CurrentPolicy, NowClock, SessionDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router", "signed_form"]

router = APIRouter(route_class=RequestThreadRoute, tags=["chatops"])

_FORM = "application/x-www-form-urlencoded"


# ---------------------------------------------------------------- signatures


def _auth_tokens(policy: Policy, environ: Mapping[str, str]) -> list[str]:
    tokens = (
        environ.get(config.auth_token_env)
        for config in policy.channels.values()
        if isinstance(config, TwilioChannel)
    )
    return list(dict.fromkeys(t for t in tokens if t))


def _called_url(request: Request, public_url: str | None) -> str:
    if public_url is None:
        return str(request.url)
    query = request.url.query
    return public_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


async def signed_form(request: Request, context: ContextDep) -> dict[str, str]:
    """The form Twilio posted, once its signature checks out (403 otherwise)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise HTTPException(415, f"Twilio webhooks are {_FORM}, not {content_type or 'empty'}")
    body = (await request.body()).decode("utf-8", "replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    signature = request.headers.get("x-twilio-signature", "")
    tokens = _auth_tokens(context.policy.current, os.environ)
    url = _called_url(request, context.settings.public_url)
    if not signature or not any(
        RequestValidator(token).validate(url, form, signature)  # type: ignore[no-untyped-call]
        for token in tokens
    ):
        why = "missing" if not signature else "invalid"
        if not tokens:
            why += " (no twilio channel has its auth token set)"
        raise HTTPException(403, f"X-Twilio-Signature {why}: request refused")
    return form


SignedForm = Annotated[dict[str, str], Depends(signed_form)]


def _described(fields: dict[str, str]) -> dict[str, Any]:
    """The OpenAPI description of a signed Twilio form post."""
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    form = {"type": "object", "properties": properties}
    return {
        "requestBody": {
            "required": True,
            "content": {_FORM: {"schema": form}},
        },
        "security": [{"TwilioSignature": []}],
    }


_REFUSED: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/xml": {"schema": {"type": "string"}}}},
    403: {"description": "X-Twilio-Signature is missing or wrong."},
    415: {"description": "The body is not a form."},
}


def _twiml(root: ElementTree.Element) -> Response:
    xml = '<?xml version="1.0" encoding="UTF-8"?>' + ElementTree.tostring(root, "unicode")
    return Response(content=xml, media_type="application/xml")


def _message(text: str) -> Response:
    root = ElementTree.Element("Response")
    ElementTree.SubElement(root, "Message").text = text
    return _twiml(root)


def _say(policy: Policy, text: str) -> Response:
    language = next(
        (c.language for c in policy.channels.values() if isinstance(c, TwilioChannel)), "en-US"
    )
    root = ElementTree.Element("Response")
    ElementTree.SubElement(root, "Say", language=language).text = text
    ElementTree.SubElement(root, "Hangup")
    return _twiml(root)


@router.post(
    SMS_PATH,
    response_class=Response,
    summary="Twilio: an SMS came in",
    responses=_REFUSED,
    openapi_extra=_described(
        {"From": "The sender's number.", "To": "Tocsin's number.", "Body": "The text."}
    ),
)
def inbound_sms(
    form: SignedForm, session: SessionDep, policy: CurrentPolicy, clock: NowClock
) -> Response:
    """Answers TwiML (``<Response><Message>``) that Twilio sends back as an SMS."""
    person = person_by_phone(policy, form.get("From", ""))
    if person is None:
        return _message(UNKNOWN_SENDER)
    text = " ".join(form.get("Body", "").split())
    command = parse_sms(text)
    if command.action == "help":
        return _message(HELP)
    reply = run_command(
        session=session,
        policy=policy,
        person=person,
        command=command,
        via="sms",
        summary=f"{person.name} replied by SMS: {text[:160]}",
        now=clock.now(),
    )
    return _message(f"Tocsin: {reply}")


@router.post(
    VOICE_PATH,
    response_class=Response,
    summary="Twilio: a key pressed in a page call",
    responses=_REFUSED,
    openapi_extra=_described(
        {
            "Digits": "The key pressed.",
            "From": "The caller.",
            "To": "The number called.",
            "Direction": "outbound-api for the calls Tocsin makes.",
        }
    ),
)
def inbound_digits(
    form: SignedForm,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    incident: int | None = None,
) -> Response:
    """The ``<Gather>`` action of a page call; 1 acknowledges ``incident``."""
    outbound = form.get("Direction", "").startswith("outbound")
    person = person_by_phone(policy, form.get("To" if outbound else "From", ""))
    if person is None:
        return _say(policy, "This phone number is not known to Tocsin. Nothing was changed.")
    if incident is None or form.get("Digits") != "1":
        return _say(policy, "The incident was not acknowledged. Goodbye.")
    reply = run_command(
        session=session,
        policy=policy,
        person=person,
        command=SmsCommand("ack", incident),
        via="voice",
        summary=f"{person.name} pressed 1 in the page call",
        now=clock.now(),
    )
    return _say(policy, reply.replace("INC-", "incident ").rstrip(".") + ". Goodbye.")

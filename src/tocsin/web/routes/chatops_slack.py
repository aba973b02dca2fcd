"""Slack's requests to Tocsin: interactivity (button clicks) and the ``/incident`` slash
command. Both are form-encoded and signed with the app's signing secret (a Slack channel
in the policy with ``signing_secret_env``); a missing, forged or stale signature is
answered 401 and changes nothing."""

from __future__ import annotations

import json
import logging
import os
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request
from slack_sdk.webhook import WebhookClient
from starlette.concurrency import run_in_threadpool

from tocsin.chatops.slack_actions import run_action
from tocsin.chatops.slack_channels import slack_settings
from tocsin.chatops.slack_commands import SlashCommand, run_command
from tocsin.chatops.slack_signature import verify
from tocsin.web.context import AppContext
from tocsin.web.deps import ContextDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

log = logging.getLogger("tocsin.chatops")

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1/chatops/slack", tags=["chatops"])

_REPLY_TIMEOUT = 5


def _form(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    """The OpenAPI description of a signed Slack form post."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": required,
                        "properties": {
                            name: {"type": "string", "description": text}
                            for name, text in fields.items()
                        },
                    }
                }
            },
        },
        "security": [{"SlackSignature": []}],
    }


_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"description": "The form or its payload cannot be read."},
    401: {"description": "The Slack signature is missing, wrong or stale."},
}


def _verified_form(context: AppContext, request: Request, body: bytes) -> dict[str, str]:
    secrets = [
        secret
        for _, settings in slack_settings(context.policy.current)
        if settings.signing_secret_env and (secret := os.environ.get(settings.signing_secret_env))
    ]
    if not secrets:
        raise HTTPException(
            status_code=401,
            detail="Slack requests are refused: no Slack channel has a signing secret "
            "(signing_secret_env) set",
        )
    headers = dict(request.headers)
    if not any(verify(s, body=body, headers=headers, clock=context.clock) for s in secrets):
        raise HTTPException(
            status_code=401,
            detail="invalid Slack signature: X-Slack-Signature and X-Slack-Request-Timestamp "
            "must be present, match the body and be less than 5 minutes old",
        )
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise HTTPException(status_code=400, detail="body: not UTF-8 form data") from None
    return {name: values[0] for name, values in fields.items() if values}


@router.post(
    "/interactions",
    responses=_REFUSED,
    openapi_extra=_form({"payload": "The interaction, as JSON."}, ["payload"]),
)
async def slack_interactions(
    request: Request, context: ContextDep, background: BackgroundTasks
) -> dict[str, Any]:
    """A button click (``payload=`` JSON, as Slack sends it)."""
    form = _verified_form(context, request, await request.body())
    raw = form.get("payload")
    if raw is None:
        raise HTTPException(status_code=400, detail="payload: missing form field")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise HTTPException(status_code=400, detail="payload: not valid JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(status_code=400, detail="payload: must be a JSON object")
    text = await run_in_threadpool(
        run_action,
        sessions=context.sessions,
        policy=context.policy.current,
        clock=context.clock,
        payload=payload,
    )
    response_url = payload.get("response_url")
    if isinstance(response_url, str) and response_url.startswith(("https://", "http://")):
        # After the answer: Slack gives up on a button after 3 s and shows an error.
        background.add_task(run_in_threadpool, _reply, response_url, text)
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


def _reply(response_url: str, text: str) -> None:
    """Slack shows a button's answer only when it is posted to the payload's response_url."""
    try:
        WebhookClient(response_url, timeout=_REPLY_TIMEOUT).send(
            text=text, response_type="ephemeral", replace_original=False
        )
    except Exception as exc:  # the action is done; only the confirmation is lost
        log.warning("slack: could not post the reply to response_url (%s)", type(exc).__name__)


@router.post(
    "/commands",
    responses=_REFUSED,
    openapi_extra=_form(
        {
            "command": "/incident",
            "text": "What follows the command.",
            "user_id": "Slack's id of the user.",
            "channel_id": "Slack's id of the channel.",
        },
        [],
    ),
)
async def slack_commands(request: Request, context: ContextDep) -> dict[str, Any]:
    """The ``/incident`` slash command; the answer is shown in Slack as is."""
    form = _verified_form(context, request, await request.body())
    command = SlashCommand(
        text=form.get("text", ""),
        user_id=form.get("user_id", ""),
        channel_id=form.get("channel_id", ""),
    )
    reply = await run_in_threadpool(
        run_command,
        sessions=context.sessions,
        policy=context.policy.current,
        clock=context.clock,
        command=command,
    )
    return reply.as_json()

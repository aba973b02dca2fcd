"""Changes to services (deploys, configuration updates, feature flags, migrations).

- ``GET /api/v1/changes`` lists them (filters: service, since; paginated);
- ``POST /api/v1/changes`` records one, sent by a responder's token or by the key of an
  integration of kind ``changes`` (then the change is to the integration's service);
- ``POST /api/v1/integrations/{key}/github`` takes GitHub's ``deployment_status``
  webhooks for a ``changes`` integration, signed with the secret the policy names
  (``changes.github_secret_env``); a successful deployment is a change.

Each recorded change computes again the hints of the open incidents it may explain
(:func:`tocsin.hints.service.on_change_recorded`), in the same transaction.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from tocsin.alerts.integrations import find_integration
from tocsin.auth import Role, authenticate
from tocsin.changes import service as changes
from tocsin.changes.models import Change, ChangeList, ChangeRead
from tocsin.db import session_scope
from tocsin.errors import InvalidInput
from tocsin.hints import service as hints
from tocsin.ingest import IngestError, github
from tocsin.policy import Policy
from tocsin.schemas import Instant, OneOf, PlainText, aware_utc
from tocsin.web.deps import ContextDep, CurrentPolicy, NowClock, SessionDep, Viewer
from tocsin.web.openapi import answers
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1", tags=["changes"])

#: What a change can be.
CHANGE_KINDS = ("deploy", "config", "feature_flag", "migration", "other")
_BEARER = HTTPBearer(
    auto_error=False,
    description="An API token with the responder role, or a `changes` integration's key.",
)


@router.get("/changes")
def list_changes(
    session: SessionDep,
    _principal: Viewer,
    service: Annotated[str | None, Query(max_length=100, description="Only this service.")] = None,
    since: Annotated[
        Instant | None,
        Query(description="Only changes that happened at or after this time (RFC 3339)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ChangeList:
    """Changes, the most recent first (by when they happened)."""
    rows, total = changes.list_changes(
        session=session,
        service=service,
        since=None if since is None else _instant("since", since),
        limit=limit,
        offset=offset,
    )
    return ChangeList(
        items=[changes.change_to_read(row) for row in rows], total=total, limit=limit, offset=offset
    )


def _instant(field: str, value: datetime) -> datetime:
    try:
        return aware_utc(value)
    except ValueError as exc:  # no offset, or beyond the dates UTC can hold
        raise InvalidInput(field, str(exc)) from None


class ChangeLink(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    href: PlainText = Field(min_length=1, max_length=2000, pattern=r"^https?://\S+$")
    text: PlainText = Field(default="", max_length=300)


class ChangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    service: PlainText | None = Field(
        default=None,
        max_length=100,
        description="A service of the policy; with a `changes` integration's key, its "
        "service (the default).",
    )
    summary: PlainText = Field(min_length=1, max_length=1024)
    kind: Annotated[str, OneOf(CHANGE_KINDS, "kind")] = Field(
        default="deploy", description=f"One of {', '.join(CHANGE_KINDS)}."
    )
    source: PlainText | None = Field(default=None, max_length=200, description="e.g. ci.")
    timestamp: Instant | None = Field(
        default=None, description="When it happened (default: when it is received)."
    )
    links: list[ChangeLink] = Field(default_factory=list, max_length=20)
    details: dict[str, Any] | None = Field(default=None, description="Kept as sent.")


@dataclass(frozen=True)
class Sender:
    """Who sends a change: a responder, or a ``changes`` integration (its service)."""

    actor: str
    integration: str | None = None
    service: str | None = None


@answers(401, 403, 503)
def change_sender(
    request: Request,
    context: ContextDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)] = None,
) -> Sender:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            status_code=401,
            detail="missing bearer token: send 'Authorization: Bearer <token or integration key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    with session_scope(context.sessions, write=False) as session:
        principal = authenticate(session=session, token=token)
        if principal is not None:
            if not principal.role.allows(Role.responder):
                raise HTTPException(
                    status_code=403,
                    detail=f"permission denied: recording a change needs the responder role; "
                    f"token {principal.name!r} has {principal.role}",
                )
            return Sender(actor=principal.actor)
        integration = find_integration(session=session, key=token)
        if integration is not None and integration.kind == "changes":
            return Sender(
                actor=integration.name, integration=integration.name, service=integration.service
            )
    raise HTTPException(
        status_code=401,
        detail="invalid token: use an API token with the responder role or the key of a "
        "'changes' integration",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _recorded(session: Session, policy: Policy, change: Change, now: datetime) -> ChangeRead:
    hints.on_change_recorded(session=session, policy=policy, change=change, now=now)
    return changes.change_to_read(change)


@router.post("/changes", status_code=201)
def record_change(
    body: ChangeCreate,
    sender: Annotated[Sender, Depends(change_sender)],
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
) -> ChangeRead:
    """Record a change to a service: it shows among the incident's recent changes and
    may become a root-cause hint for incidents that began after it."""
    service = body.service or sender.service
    if service is None:
        raise InvalidInput("service", "is required (name a service of the policy)")
    if sender.service is not None and service != sender.service:
        raise InvalidInput(
            "service", f"this integration records changes to {sender.service!r} only"
        )
    if policy.service(service) is None:
        known = ", ".join(s.name for s in policy.services) or "none"
        raise InvalidInput("service", f"unknown service {service!r}; known: {known}")
    now = clock.now()
    timestamp = None if body.timestamp is None else _instant("timestamp", body.timestamp)
    change = changes.record_change(
        session=session,
        service=service,
        integration=sender.integration,
        summary=body.summary,
        kind=body.kind,
        source=body.source or sender.actor,
        timestamp=timestamp,
        links=[{"href": link.href, "text": link.text} for link in body.links],
        custom_details=body.details,
        now=now,
    )
    return _recorded(session, policy, change, now)


async def _raw_body(request: Request) -> bytes:
    """The body as sent: the signature is over these very bytes."""
    return await request.body()


class GitHubAnswer(BaseModel):
    recorded: bool = Field(description="Whether the delivery recorded a change.")
    reason: str
    change: ChangeRead | None = None


@router.post(
    "/integrations/{key}/github",
    responses={401: {"description": "The signature is missing or wrong, or no secret is set."}},
)
def github_webhook(
    key: str,
    request: Request,
    body: Annotated[bytes, Depends(_raw_body)],
    context: ContextDep,
    session: SessionDep,
) -> GitHubAnswer:
    """GitHub webhooks (``deployment_status``; ``ping`` is answered) for a ``changes``
    integration, verified with ``X-Hub-Signature-256``."""
    policy = context.policy.current
    secret = os.environ.get(policy.changes.github_secret_env)
    if not secret:
        raise HTTPException(
            status_code=401,
            detail=f"GitHub deliveries are refused: {policy.changes.github_secret_env} "
            "(changes.github_secret_env) is not set",
        )
    if not github.verify(secret, body, request.headers.get("x-hub-signature-256")):
        raise HTTPException(
            status_code=401,
            detail="invalid signature: X-Hub-Signature-256 must be sha256= and the HMAC of "
            "the body with the webhook's secret",
        )
    integration = find_integration(session=session, key=key)
    if integration is None or integration.kind != "changes":
        raise InvalidInput("key", "no enabled 'changes' integration has this key")
    event = request.headers.get("x-github-event", "")
    if event == "ping":
        return GitHubAnswer(recorded=False, reason="ping")
    if event != "deployment_status":
        return GitHubAnswer(recorded=False, reason=f"event {event or 'none'!r} is not recorded")
    try:
        state, parsed = github.parse_deployment_status(json.loads(body))
    except json.JSONDecodeError:
        raise IngestError("body", "is not JSON") from None
    if parsed is None:
        return GitHubAnswer(recorded=False, reason=f"deployment state {state!r} is not a change")
    now = context.clock.now()
    change = changes.record_change(
        session=session,
        service=integration.service,
        integration=integration.name,
        summary=parsed.summary,
        kind="deploy",
        source=parsed.source,
        timestamp=parsed.timestamp,
        links=parsed.links,
        custom_details=parsed.custom_details,
        now=now,
    )
    integration.last_seen_at = now
    return GitHubAnswer(
        recorded=True, reason="deployed", change=_recorded(session, policy, change, now)
    )

"""Schedules as iCalendar feeds, and the subscriptions whose tokens open them.

A calendar service fetches a feed by its URL alone, and that URL gets pasted into
third-party services, synced to phones and shared. So the feed takes its own token:

- ``POST /api/v1/schedules/{name}/subscriptions`` (any role) makes the caller's
  subscription to ``name`` and answers its URL once (``.../{name}.ics?token=tcsc_...``);
  a second call replaces it, and the old URL stops working. ``tocsin schedule
  subscribe NAME`` prints the URL.
- ``GET|HEAD /api/v1/schedules/{name}.ics`` takes that token, in the URL or as a bearer
  header. It opens that schedule's feed and nothing else: no other schedule's feed, no
  other endpoint. An API token does not open a feed (a URL with an admin token in it
  would carry every privilege to wherever the calendar URL travels).
- ``GET /api/v1/calendar-subscriptions`` lists the caller's live subscriptions (an
  admin's: everyone's); ``DELETE /api/v1/schedules/{name}/subscriptions`` revokes the
  caller's own, ``DELETE /api/v1/calendar-subscriptions/{id}`` one by id (its owner, or
  an admin).

The feed's events are whole shifts with stable UIDs (:mod:`tocsin.oncall.ical`), and
the answer carries an ``ETag``: a calendar app that sends ``If-None-Match`` gets 304
while nothing changed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from tocsin.auth import Role
from tocsin.auth.calendar import (
    feed_schedule,
    list_subscriptions,
    revoke_subscriptions,
    subscribe,
)
from tocsin.auth.models import CalendarSubscription
from tocsin.auth.rules import TOKEN_PREFIX
from tocsin.db import session_scope
from tocsin.errors import NotFound
from tocsin.oncall.service import require_schedule, schedule_calendar
from tocsin.web.deps import ContextDep, CurrentPolicy, NowClock, SessionDep, Viewer
from tocsin.web.openapi import answers
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1", tags=["calendars"])

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


class SubscriptionRead(BaseModel):
    id: int
    schedule: str
    owner: str = Field(description="The person (or token name) it belongs to.")
    token_prefix: str = Field(description="The start of its token, to tell it apart.")
    created_by: str = Field(description="The API token that made it.")
    created_at: datetime


class SubscriptionCreated(SubscriptionRead):
    token: str = Field(description="Shown once; opens this schedule's feed, nothing else.")
    url: str = Field(description="The feed's URL, token included: give it to a calendar app.")
    replaced: int = Field(description="Earlier subscriptions of the owner it replaced (0 or 1).")


class SubscriptionList(BaseModel):
    items: list[SubscriptionRead]


def _read(row: CalendarSubscription) -> SubscriptionRead:
    return SubscriptionRead(
        id=row.id,
        schedule=row.schedule,
        owner=row.owner,
        token_prefix=row.token_prefix,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _feed_url(request: Request, context: ContextDep, name: str, token: str) -> str:
    public = context.settings.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    return f"{base}/api/v1/schedules/{quote(name, safe='')}.ics?token={token}"


# -- the feed ------------------------------------------------------------------------------


@answers(401, 403, 503)
def feed_access(
    name: str,
    request: Request,
    context: ContextDep,
    token: Annotated[
        str | None,
        Query(description="The subscription token (tcsc_...), for apps that send no header."),
    ] = None,
) -> str:
    """The schedule the request may read: the one its subscription token opens."""
    supplied = (token or "").strip()
    if not supplied:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        supplied = value.strip() if scheme.lower() == "bearer" else ""
    if not supplied:
        raise HTTPException(
            status_code=401,
            detail="missing subscription token: get this feed's URL with "
            f"'tocsin schedule subscribe {name}' (POST /api/v1/schedules/{name}/subscriptions)",
            headers=_UNAUTHORIZED,
        )
    with session_scope(context.sessions, write=False) as session:
        schedule = feed_schedule(session=session, token=supplied)
    if schedule is None:
        if supplied.startswith(TOKEN_PREFIX):
            detail = (
                "API tokens do not open calendar feeds (a calendar URL travels to calendar "
                f"services): get a read-only URL with 'tocsin schedule subscribe {name}'"
            )
        else:
            detail = "invalid or revoked subscription token"
        raise HTTPException(status_code=401, detail=detail, headers=_UNAUTHORIZED)
    if schedule != name:
        raise HTTPException(
            status_code=403, detail="this subscription token opens another schedule's feed"
        )
    return schedule


@router.get(
    "/schedules/{name}.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}, "description": "iCalendar feed"},
        304: {"description": "Not modified since the ETag sent in If-None-Match."},
    },
)
def schedule_feed(
    request: Request,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    name: Annotated[str, Depends(feed_access)],
) -> Response:
    """The schedule's shifts from a week ago to 8 weeks ahead, as iCalendar. Takes the
    schedule's subscription token (``?token=`` or a bearer header), not an API token."""
    body = schedule_calendar(session=session, policy=policy, schedule=name, now=clock.now())
    tag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": tag, "Cache-Control": "private, max-age=300"}
    if tag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(
        content=body,
        media_type="text/calendar; charset=utf-8",
        headers={**headers, "Content-Disposition": f'inline; filename="{name}.ics"'},
    )


# Some calendar apps check the feed with HEAD first; one operation in the OpenAPI schema.
router.head("/schedules/{name}.ics", include_in_schema=False, response_class=Response)(
    schedule_feed
)


# -- subscriptions ---------------------------------------------------------------------------


@router.post("/schedules/{name}/subscriptions", status_code=201)
def create_subscription(
    name: str,
    request: Request,
    context: ContextDep,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Viewer,
) -> SubscriptionCreated:
    """A read-only URL of the schedule's calendar feed for the caller, shown once. It
    replaces the caller's earlier one for this schedule (whose URL stops working)."""
    schedule = require_schedule(policy, name).name
    made = subscribe(
        session=session,
        schedule=schedule,
        owner=principal.actor,
        created_by=principal.name,
        now=clock.now(),
    )
    return SubscriptionCreated(
        **_read(made.subscription).model_dump(),
        token=made.token,
        url=_feed_url(request, context, schedule, made.token),
        replaced=made.replaced,
    )


@router.get("/calendar-subscriptions")
def read_subscriptions(
    session: SessionDep,
    principal: Viewer,
    schedule: Annotated[str | None, Query(description="Only this schedule's.")] = None,
) -> SubscriptionList:
    """The caller's live calendar subscriptions; an admin's call lists everyone's."""
    owner = None if principal.role.allows(Role.admin) else principal.actor
    rows = list_subscriptions(session=session, owner=owner, schedule=schedule)
    return SubscriptionList(items=[_read(r) for r in rows])


@router.delete("/schedules/{name}/subscriptions", status_code=204)
def revoke_own_subscription(
    name: str, session: SessionDep, clock: NowClock, principal: Viewer
) -> Response:
    """Revoke the caller's subscription to the schedule: its URL stops working."""
    revoked = revoke_subscriptions(
        session=session, owner=principal.actor, schedule=name, now=clock.now()
    )
    if not revoked:
        raise NotFound(f"{principal.actor} has no calendar subscription to {name!r}")
    return Response(status_code=204)


@router.delete("/calendar-subscriptions/{subscription_id}", status_code=204)
def revoke_subscription(
    subscription_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    clock: NowClock,
    principal: Viewer,
) -> Response:
    """Revoke a subscription by id: the caller's own, or anyone's for an admin."""
    owner = None if principal.role.allows(Role.admin) else principal.actor
    revoked = revoke_subscriptions(
        session=session, subscription_id=subscription_id, owner=owner, now=clock.now()
    )
    if not revoked:
        whose = "" if owner is None else f" of {owner}"
        raise NotFound(f"no live calendar subscription {subscription_id}{whose}")
    return Response(status_code=204)

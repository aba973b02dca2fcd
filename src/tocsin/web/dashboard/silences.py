"""``/dashboard/silences``: the silences in force and soon to start; responders add one
(matchers, a duration, a comment) or end one early, through the alerts service."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.exc import DataError

from tocsin.alerts import service as alerts
from tocsin.auth import Role
from tocsin.db import session_scope
from tocsin.errors import InvalidInput, TocsinError
from tocsin.policy import parse_duration
from tocsin.web.dashboard.csrf import SignedForm
from tocsin.web.dashboard.session import Responder, Viewer
from tocsin.web.dashboard.views import page, redirect_with
from tocsin.web.deps import ContextDep, NowClock, SessionDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(
    route_class=RequestThreadRoute, prefix="/dashboard/silences", include_in_schema=False
)

HERE = "/dashboard/silences"
MAX_COMMENT = 2000


@router.get("")
def silences(request: Request, session: SessionDep, clock: NowClock, user: Viewer) -> HTMLResponse:
    now = clock.now()
    rows = [
        alerts.silence_to_read(r, now)
        for state in ("active", "pending")
        for r in alerts.list_silences(session=session, state=state, now=now)
    ]
    return page(
        request,
        "dashboard/silences.html",
        user=user,
        active="silences",
        silences=rows,
        can_act=user.role.allows(Role.responder),
    )


def _ends_at(text: str, now: datetime) -> datetime:
    try:
        duration = parse_duration(text.strip())
        ends_at = now + duration
    except ValueError as exc:
        raise InvalidInput("duration", str(exc)) from None
    except OverflowError:
        raise InvalidInput("duration", "is too long") from None
    if duration <= timedelta(0):
        raise InvalidInput("duration", "must be longer than zero, e.g. 2h or 30m")
    return ends_at


@router.post("")
def add_silence(
    request: Request, context: ContextDep, user: Responder, form: SignedForm
) -> RedirectResponse:
    matchers = [
        line.strip()
        for value in form.get("matchers", [])
        for line in value.splitlines()
        if line.strip()
    ]
    comment = (form.get("comment") or [""])[0].strip()
    now = context.clock.now()
    try:
        if len(comment) > MAX_COMMENT:
            raise InvalidInput("comment", f"must be at most {MAX_COMMENT} characters")
        ends_at = _ends_at((form.get("duration") or [""])[0], now)
        with session_scope(context.sessions) as session:
            record = alerts.add_silence(
                session=session,
                matchers=matchers,
                starts_at=None,
                ends_at=ends_at,
                created_by=user.principal.actor,
                comment=comment,
                now=now,
            )
            silence_id = record.id
    except TocsinError as exc:
        return redirect_with(request, HERE, "error", str(exc))
    except DataError:
        return redirect_with(request, HERE, "error", "a value cannot be stored: invalid text")
    return redirect_with(request, HERE, "ok", f"Silence {silence_id} added.")


@router.post("/{silence_id}/expire")
def expire_silence(
    request: Request,
    silence_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    context: ContextDep,
    _user: Responder,
    _form: SignedForm,
) -> RedirectResponse:
    try:
        with session_scope(context.sessions) as session:
            alerts.expire_silence(session=session, silence_id=silence_id, now=context.clock.now())
    except TocsinError as exc:
        return redirect_with(request, HERE, "error", str(exc))
    return redirect_with(request, HERE, "ok", f"Silence {silence_id} expired.")

"""``GET /dashboard/events``: incident changes as Server-Sent Events.

Each change is ``event: incident`` with JSON ``{id, title, severity, severity_rank,
status, services, updated_at, new, url, html}`` (``html`` is the incident's row of the
list, ``new`` is true for the event of its declaration) and an ``id:`` that a
reconnecting browser sends back as ``Last-Event-ID`` to resume without losing a change.

Changes are found on the timeline, to which every change of an incident appends: the
stream polls for timeline rows newer than the last it saw every
:data:`POLL_SECONDS` (one indexed query, so changes made by other processes show within
a second) and wakes at once when a transaction of this process commits one
(:mod:`~tocsin.web.dashboard.changes`). Rows re-read a little behind the newest id
(:data:`LOOKBACK`) catch PostgreSQL transactions that commit out of id order. A comment
every :data:`HEARTBEAT_SECONDS` keeps proxies from closing an idle stream. The stream
ends when the client goes away, when the user's session ends (signed out everywhere,
disabled), and when the server shuts down (:mod:`~tocsin.web.dashboard.shutdown`).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from sqlalchemy import func, select

from tocsin.auth.users import session_user
from tocsin.db import session_scope
from tocsin.incidents import service
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.web.context import AppContext
from tocsin.web.dashboard.changes import BELL
from tocsin.web.dashboard.incidents import incident_row
from tocsin.web.dashboard.session import SESSION_LIFETIME, read_session
from tocsin.web.dashboard.shutdown import generation, shutting_down
from tocsin.web.routing import RequestThreadRoute

__all__ = ["HEARTBEAT_SECONDS", "POLL_SECONDS", "router"]

router = APIRouter(route_class=RequestThreadRoute, include_in_schema=False)

POLL_SECONDS = 0.4
HEARTBEAT_SECONDS = 15.0
#: Live views one user may have open at once in this process (a browser opens one per
#: tab; a script that opens hundreds would cost a poll each every POLL_SECONDS).
MAX_STREAMS_PER_USER = 10
LOOKBACK = 50
_BATCH = 500
_MAX_ID = 2**63 - 1
#: Open streams per user id (only the event loop's thread touches it).
_open: Counter[int] = Counter()


@dataclass
class _Cursor:
    """The newest timeline id sent, and the ids just below it already sent."""

    last: int
    seen: set[int] = field(default_factory=set)

    @classmethod
    def starting_at(cls, last: int) -> _Cursor:
        """Everything up to ``last`` counts as sent."""
        return cls(last=last, seen=set(range(max(last - LOOKBACK + 1, 1), last + 1)))

    def advance(self, ids: list[int]) -> None:
        self.seen.update(ids)
        self.last = max([self.last, *ids])
        self.seen = {i for i in self.seen if i > self.last - LOOKBACK}


def _newest_id(context: AppContext) -> int:
    with session_scope(context.sessions, write=False) as session:
        return session.scalar(select(func.max(TimelineEvent.id))) or 0


def _changes(
    context: AppContext, cursor: _Cursor, user_id: int, epoch: int, expires_at: float
) -> list[dict[str, Any]] | None:
    """The incidents changed since ``cursor`` (advanced), or None if the session ended
    (expired, signed out everywhere, user disabled)."""
    if context.clock.now().timestamp() >= expires_at:
        return None
    with session_scope(context.sessions, write=False) as session:
        if session_user(session=session, user_id=user_id, epoch=epoch) is None:
            return None
        rows = session.execute(
            select(TimelineEvent.id, TimelineEvent.incident_id, TimelineEvent.kind)
            .where(TimelineEvent.id > max(cursor.last - LOOKBACK, 0))
            .order_by(TimelineEvent.id)
            .limit(_BATCH)
        ).all()
        fresh = [row for row in rows if row.id not in cursor.seen]
        if not fresh:
            return []
        cursor.advance([row.id for row in fresh])
        changed = list(dict.fromkeys(row.incident_id for row in fresh))
        declared = {row.incident_id for row in fresh if row.kind == "declared"}
        incidents = {
            i.id: i for i in session.scalars(select(Incident).where(Incident.id.in_(changed)))
        }
        now = context.clock.now()
        payloads = []
        for incident_id in changed:
            incident = incidents.get(incident_id)
            if incident is None:
                continue
            read = service.to_read(incident)
            payloads.append(
                {
                    "id": read.id,
                    "number": read.number,
                    "title": read.title,
                    "severity": read.severity,
                    "severity_rank": read.severity_rank,
                    "status": read.status,
                    "services": read.services,
                    "updated_at": read.updated_at.isoformat(),
                    "new": incident_id in declared,
                    "url": f"/dashboard/incidents/{read.id}",
                    "html": incident_row(read, now),
                }
            )
        return payloads


def _message(payload: dict[str, Any], cursor: int | None) -> str:
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    event_id = "" if cursor is None else f"id: {cursor}\n"
    return f"{event_id}event: incident\ndata: {data}\n\n"


async def _stream(
    context: AppContext, cursor: _Cursor, user_id: int, epoch: int, expires_at: float
) -> AsyncIterator[str]:
    since = generation()
    loop = asyncio.get_running_loop()
    _open[user_id] += 1
    try:
        yield f"retry: 1000\nid: {cursor.last}\n\n"
        beat = loop.time()
        with BELL.listen() as rung:
            while not shutting_down(since):
                payloads = await anyio.to_thread.run_sync(
                    _changes, context, cursor, user_id, epoch, expires_at
                )
                if payloads is None:
                    yield "event: signedout\ndata: {}\n\n"
                    return
                for index, payload in enumerate(payloads, start=1):
                    # The id (where to resume) goes on the batch's last message only.
                    yield _message(payload, cursor.last if index == len(payloads) else None)
                if loop.time() - beat >= HEARTBEAT_SECONDS:
                    beat = loop.time()
                    yield ": heartbeat\n\n"
                with suppress(TimeoutError):
                    await asyncio.wait_for(rung.wait(), POLL_SECONDS)
                rung.clear()
    finally:
        _open[user_id] -= 1


def _last_event_id(request: Request) -> int | None:
    value = request.headers.get("last-event-id", "").strip()
    if value.isascii() and value.isdigit() and len(value) < 20 and int(value) <= _MAX_ID:
        return int(value)
    return None


@router.get("/dashboard/events")
async def events(request: Request) -> Response:
    cookie = read_session(request)
    context: AppContext = request.app.state.context
    user = None
    expires_at = 0.0
    if cookie is not None and cookie.user_id is not None:
        expires_at = cookie.issued_at + SESSION_LIFETIME.total_seconds()
        user_id, epoch = cookie.user_id, cookie.epoch

        def check() -> bool:
            with session_scope(context.sessions, write=False) as session:
                return session_user(session=session, user_id=user_id, epoch=epoch) is not None

        user = (user_id, epoch) if await anyio.to_thread.run_sync(check) else None
    if user is None:
        return PlainTextResponse("sign in first", status_code=401)
    if _open[user[0]] >= MAX_STREAMS_PER_USER:
        return PlainTextResponse(
            f"at most {MAX_STREAMS_PER_USER} live views at once; close one", status_code=429
        )
    resume = _last_event_id(request)
    start = resume if resume is not None else await anyio.to_thread.run_sync(_newest_id, context)
    return StreamingResponse(
        _stream(context, _Cursor.starting_at(start), *user, expires_at),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )

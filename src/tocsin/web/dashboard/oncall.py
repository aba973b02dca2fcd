"""``/dashboard/oncall``: who is on call now in each schedule, and the next handoffs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tocsin.oncall.rules import Shift
from tocsin.oncall.service import OnCallStatus, on_call_status, upcoming_shifts
from tocsin.web.dashboard.session import Viewer
from tocsin.web.dashboard.views import page
from tocsin.web.deps import CurrentPolicy, NowClock, SessionDep
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, prefix="/dashboard", include_in_schema=False)

#: How far ahead handoffs are listed, and how many per schedule.
AHEAD = timedelta(days=14)
HANDOFFS = 5


@dataclass(frozen=True)
class ScheduleNow:
    name: str
    description: str
    team: str | None
    timezone: str
    status: OnCallStatus
    handoffs: list[Shift]


@router.get("/oncall")
def on_call(
    request: Request, session: SessionDep, policy: CurrentPolicy, clock: NowClock, user: Viewer
) -> HTMLResponse:
    now: datetime = clock.now()
    statuses = {s.schedule: s for s in on_call_status(session=session, policy=policy, at=now)}
    schedules = []
    for schedule in policy.schedules:
        shifts = upcoming_shifts(
            session=session, policy=policy, schedule=schedule.name, start=now, end=now + AHEAD
        )
        schedules.append(
            ScheduleNow(
                name=schedule.name,
                description=schedule.description,
                team=schedule.team,
                timezone=schedule.timezone or "UTC",
                status=statuses[schedule.name],
                handoffs=[s for s in shifts if s.start > now][:HANDOFFS],
            )
        )
    return page(
        request, "dashboard/oncall.html", user=user, active="oncall", schedules=schedules, now=now
    )

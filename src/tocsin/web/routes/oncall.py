"""On call: who is on call, schedules, overrides, policy warnings.

Thin handlers over :mod:`tocsin.oncall.service` and the pure rules it calls. The
schedules' iCalendar feeds and their subscriptions are in
:mod:`tocsin.web.routes.calendars`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from tocsin.oncall.models import OverrideCreate, OverrideRead
from tocsin.oncall.rules import Shift
from tocsin.oncall.service import (
    OnCallStatus,
    add_override,
    delete_override,
    on_call_status,
    override_to_read,
    require_schedule,
    schedule_overrides,
    upcoming_shifts,
)
from tocsin.oncall.warnings import policy_warnings
from tocsin.policy import format_duration
from tocsin.policy.oncall import Schedule
from tocsin.schemas import Instant
from tocsin.web.deps import (
    CurrentPolicy,
    NowClock,
    Responder,
    SessionDep,
    Viewer,
)
from tocsin.web.routing import RequestThreadRoute

__all__ = ["router"]

router = APIRouter(route_class=RequestThreadRoute, prefix="/api/v1", tags=["oncall"])

MAX_DAYS = 90


# -- response schemas -------------------------------------------------------------------


class Handoff(BaseModel):
    at: datetime
    incoming: str | None = Field(description="Who takes over; null: nobody (a gap starts).")


class OnCallItem(BaseModel):
    schedule: str
    people: list[str] = Field(description="Empty in a gap.")
    shift_start: datetime | None = Field(description="When the current person took over.")
    shift_end: datetime | None = Field(description="The next handoff (null: none in 4 weeks).")
    next_handoff: Handoff | None


class OnCallList(BaseModel):
    at: datetime
    items: list[OnCallItem]


class RestrictionRead(BaseModel):
    days: list[str]
    from_: str = Field(alias="from")
    to: str


class LayerRead(BaseModel):
    name: str
    rotation: str
    length: str | None
    start: str = Field(description="Local date and time of the first handoff.")
    participants: list[str]
    restrictions: list[RestrictionRead]


class ScheduleRead(BaseModel):
    name: str
    description: str
    team: str | None
    timezone: str
    layers: list[LayerRead]


class ScheduleList(BaseModel):
    items: list[ScheduleRead]


class ShiftRead(BaseModel):
    person: str
    start: datetime
    end: datetime
    layer: str = Field(description="The layer's name, or 'override'.")


class ScheduleShifts(ScheduleRead):
    start: datetime
    end: datetime
    shifts: list[ShiftRead]


class OverrideList(BaseModel):
    items: list[OverrideRead]


class WarningRead(BaseModel):
    path: str
    message: str


class WarningList(BaseModel):
    items: list[WarningRead]


def _on_call_item(status: OnCallStatus) -> OnCallItem:
    handoff = Handoff(at=status.until, incoming=status.incoming) if status.until else None
    return OnCallItem(
        schedule=status.schedule,
        people=status.people,
        shift_start=status.since,
        shift_end=status.until,
        next_handoff=handoff,
    )


def _schedule_read(schedule: Schedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "description": schedule.description,
        "team": schedule.team,
        "timezone": schedule.timezone or "UTC",
        "layers": [
            {
                "name": layer.name,
                "rotation": layer.rotation,
                "length": format_duration(layer.length) if layer.length else None,
                "start": layer.start.isoformat(timespec="minutes"),
                "participants": list(layer.participants),
                "restrictions": [
                    {
                        "days": list(r.days),
                        "from": r.from_.strftime("%H:%M"),
                        "to": r.to.strftime("%H:%M"),
                    }
                    for r in layer.restrictions
                ],
            }
            for layer in schedule.layers
        ],
    }


def _shift_read(shift: Shift) -> ShiftRead:
    return ShiftRead(person=shift.person, start=shift.start, end=shift.end, layer=shift.layer)


# -- who is on call -------------------------------------------------------------------------


@router.get("/oncall")
def who_is_on_call(
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _principal: Viewer,
    schedule: Annotated[str | None, Query(description="One schedule; default: all.")] = None,
    at: Annotated[
        Instant | None, Query(description="RFC 3339 instant with an offset; default: now.")
    ] = None,
) -> OnCallList:
    """Who is on call now (or at ``at``), since when, and who takes over next."""
    instant = at or clock.now()
    found = on_call_status(session=session, policy=policy, at=instant, schedule=schedule)
    return OnCallList(at=instant, items=[_on_call_item(s) for s in found])


# -- schedules ------------------------------------------------------------------------------


@router.get("/schedules")
def list_schedules(policy: CurrentPolicy, _principal: Viewer) -> ScheduleList:
    """Every schedule of the policy, with its layers."""
    return ScheduleList.model_validate({"items": [_schedule_read(s) for s in policy.schedules]})


@router.get("/schedules/{name}")
def show_schedule(
    name: str,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _principal: Viewer,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="How many days ahead.")] = 14,
) -> ScheduleShifts:
    """The schedule and its shifts from now for ``days`` days, overrides applied."""
    schedule = require_schedule(policy, name)
    start = clock.now()
    end = start + timedelta(days=days)
    found = upcoming_shifts(session=session, policy=policy, schedule=name, start=start, end=end)
    return ScheduleShifts.model_validate(
        {
            **_schedule_read(schedule),
            "start": start,
            "end": end,
            "shifts": [_shift_read(s) for s in found],
        }
    )


# -- overrides --------------------------------------------------------------------------------


@router.post("/schedules/{name}/overrides", status_code=201)
def create_override(
    name: str,
    body: OverrideCreate,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    principal: Responder,
) -> OverrideRead:
    """Someone covers the schedule from ``start`` to ``end``, whatever the layers say."""
    row = add_override(
        session=session,
        policy=policy,
        schedule=name,
        data=body,
        actor=principal.actor,
        now=clock.now(),
    )
    return override_to_read(row)


@router.get("/schedules/{name}/overrides")
def list_schedule_overrides(
    name: str,
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _principal: Viewer,
    from_: Annotated[Instant | None, Query(alias="from", description="Default: now.")] = None,
    to: Annotated[Instant | None, Query(description="Default: no end.")] = None,
) -> OverrideList:
    """Overrides overlapping [from, to): by default every one that has not ended."""
    rows = schedule_overrides(
        session=session, policy=policy, schedule=name, start=from_ or clock.now(), end=to
    )
    return OverrideList(items=[override_to_read(r) for r in rows])


@router.delete("/schedules/{name}/overrides/{override_id}", status_code=204)
def remove_override(
    name: str,
    override_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    policy: CurrentPolicy,
    clock: NowClock,
    _principal: Responder,
) -> Response:
    require_schedule(policy, name)
    delete_override(
        session=session, policy=policy, override_id=override_id, now=clock.now(), schedule=name
    )
    return Response(status_code=204)


# -- warnings ---------------------------------------------------------------------------------


@router.get("/policy/warnings")
def read_policy_warnings(policy: CurrentPolicy, clock: NowClock, _principal: Viewer) -> WarningList:
    """What in the running policy can make a page go nowhere or go late, including the
    channels this server cannot send by (their settings are not in its environment)."""
    found = policy_warnings(policy, clock.now(), os.environ)
    return WarningList(items=[WarningRead(path=w.path, message=w.message) for w in found])

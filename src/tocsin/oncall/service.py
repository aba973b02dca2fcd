"""On-call use cases that need the database: overrides and "who is on call now"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.errors import InvalidInput, NotFound
from tocsin.oncall.models import OverrideCreate, OverrideRead, ScheduleOverride
from tocsin.oncall.rules import Override, on_call
from tocsin.policy import Policy
from tocsin.policy.oncall import Schedule

__all__ = [
    "add_override",
    "delete_override",
    "list_overrides",
    "overrides_by_schedule",
    "require_schedule",
    "who_is_on_call",
]


def require_schedule(policy: Policy, name: str) -> Schedule:
    schedule = policy.schedule(name)
    if schedule is None:
        known = ", ".join(s.name for s in policy.schedules) or "none defined in the policy"
        raise NotFound(f"schedule {name!r} not found; known: {known}")
    return schedule


def add_override(
    *,
    session: Session,
    policy: Policy,
    schedule: str,
    data: OverrideCreate,
    actor: str,
    now: datetime,
) -> ScheduleOverride:
    require_schedule(policy, schedule)
    if policy.person(data.person) is None:
        raise InvalidInput("person", f"unknown person {data.person!r}")
    row = ScheduleOverride(
        schedule=schedule,
        person=data.person,
        start_at=data.start,
        end_at=data.end,
        reason=data.reason,
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def delete_override(*, session: Session, override_id: int) -> None:
    result = session.execute(delete(ScheduleOverride).where(ScheduleOverride.id == override_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"override {override_id} not found")


def list_overrides(
    *, session: Session, schedule: str | None, start: datetime, end: datetime
) -> list[ScheduleOverride]:
    query = select(ScheduleOverride).where(
        ScheduleOverride.end_at > start, ScheduleOverride.start_at < end
    )
    if schedule is not None:
        query = query.where(ScheduleOverride.schedule == schedule)
    return list(session.scalars(query.order_by(ScheduleOverride.start_at, ScheduleOverride.id)))


def overrides_by_schedule(
    *, session: Session, start: datetime, end: datetime
) -> dict[str, list[Override]]:
    """Run-time overrides overlapping [start, end), keyed by schedule name."""
    result: dict[str, list[Override]] = {}
    for row in list_overrides(session=session, schedule=None, start=start, end=end):
        result.setdefault(row.schedule, []).append(
            Override(person=row.person, start=row.start_at, end=row.end_at)
        )
    return result


def who_is_on_call(*, session: Session, policy: Policy, schedule: str, at: datetime) -> list[str]:
    definition = require_schedule(policy, schedule)
    overrides: Sequence[Override] = overrides_by_schedule(
        session=session, start=at, end=at + timedelta(microseconds=1)
    ).get(schedule, [])
    return on_call(definition, at, overrides)


def override_to_read(row: ScheduleOverride) -> OverrideRead:
    return OverrideRead(
        id=row.id,
        schedule=row.schedule,
        person=row.person,
        start=row.start_at,
        end=row.end_at,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
    )

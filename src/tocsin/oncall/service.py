"""On-call use cases that need the database: overrides and "who is on call now"."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.db.jobs import cancel_jobs
from tocsin.db.jobs import schedule as job_schedule
from tocsin.errors import InvalidInput, NotFound
from tocsin.oncall.ical import feed_window, schedule_ical
from tocsin.oncall.models import OverrideCreate, OverrideRead, ScheduleOverride
from tocsin.oncall.rules import (
    MAX_INSTANT,
    MIN_INSTANT,
    Override,
    Shift,
    handoffs,
    on_call,
    shifts,
)
from tocsin.policy import Policy
from tocsin.policy.oncall import Schedule

__all__ = [
    "LOOKAROUND",
    "MAX_INSTANT",
    "MIN_INSTANT",
    "OnCallStatus",
    "add_override",
    "check_instant",
    "delete_override",
    "feed_events",
    "list_overrides",
    "on_call_status",
    "override_to_read",
    "overrides_by_schedule",
    "require_schedule",
    "schedule_calendar",
    "schedule_overrides",
    "upcoming_shifts",
    "who_is_on_call",
]

#: How far before and after an instant the start and end of its shift are looked for.
LOOKAROUND = timedelta(days=28)


@dataclass(frozen=True)
class OnCallStatus:
    """Who is on call for ``schedule`` at an instant, and since/until when.

    ``since`` and ``until`` are the handoffs around the instant (a change of person,
    including to or from nobody), ``None`` when none is within :data:`LOOKAROUND`;
    ``incoming`` is who takes over at ``until`` (``None``: nobody, a gap starts).
    """

    schedule: str
    people: list[str]
    since: datetime | None
    until: datetime | None
    incoming: str | None


def check_instant(value: datetime, field: str) -> datetime:
    """``value`` in UTC if it is within [MIN_INSTANT, MAX_INSTANT], else InvalidInput."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "must include a time zone offset, e.g. 2026-01-05T09:00:00Z")
    value = value.astimezone(UTC)
    if not MIN_INSTANT <= value <= MAX_INSTANT:
        raise InvalidInput(
            field, f"must be between {MIN_INSTANT:%Y-%m-%d} and {MAX_INSTANT:%Y-%m-%d}"
        )
    return value


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
    check_instant(data.start, "start")
    check_instant(data.end, "end")
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
    reschedule_handoff(session=session, policy=policy, schedule=schedule, now=now)
    return row


def delete_override(
    *,
    session: Session,
    policy: Policy,
    override_id: int,
    now: datetime,
    schedule: str | None = None,
) -> None:
    """Delete one override; with ``schedule``, only if it belongs to that schedule (so a
    URL naming the wrong schedule deletes nothing). As with adding one, the schedule's
    handoff timer is re-set: without the override the next handoff may come sooner."""
    where = [ScheduleOverride.id == override_id]
    if schedule is not None:
        where.append(ScheduleOverride.schedule == schedule)
    name = session.scalar(select(ScheduleOverride.schedule).where(*where))
    result = session.execute(delete(ScheduleOverride).where(*where))
    if name is None or not result.rowcount:  # type: ignore[attr-defined]
        within = f" in schedule {schedule!r}" if schedule is not None else ""
        raise NotFound(f"override {override_id} not found{within}")
    reschedule_handoff(session=session, policy=policy, schedule=name, now=now)


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


def schedule_overrides(
    *,
    session: Session,
    policy: Policy,
    schedule: str,
    start: datetime,
    end: datetime | None = None,
) -> list[ScheduleOverride]:
    """The run-time overrides of ``schedule`` overlapping [start, end); no ``end``: every
    one that has not ended by ``start``."""
    require_schedule(policy, schedule)
    start = check_instant(start, "from")
    end = MAX_INSTANT if end is None else check_instant(end, "to")
    if end <= start:
        raise InvalidInput("to", "must be after from")
    return list_overrides(session=session, schedule=schedule, start=start, end=end)


def on_call_status(
    *, session: Session, policy: Policy, at: datetime, schedule: str | None = None
) -> list[OnCallStatus]:
    """Who is on call at ``at`` in ``schedule`` (or in every schedule, in policy order),
    with run-time overrides applied."""
    at = check_instant(at, "at")
    chosen = [require_schedule(policy, schedule)] if schedule is not None else policy.schedules
    start, end = at - LOOKAROUND, at + LOOKAROUND
    overrides = overrides_by_schedule(session=session, start=start, end=end)
    result: list[OnCallStatus] = []
    for definition in chosen:
        extra = overrides.get(definition.name, [])
        changes = handoffs(definition, start, end, extra)
        before = [h for h in changes if h.at <= at]
        after = [h for h in changes if h.at > at]
        result.append(
            OnCallStatus(
                schedule=definition.name,
                people=on_call(definition, at, extra),
                since=before[-1].at if before else None,
                until=after[0].at if after else None,
                incoming=after[0].incoming if after else None,
            )
        )
    return result


def upcoming_shifts(
    *, session: Session, policy: Policy, schedule: str, start: datetime, end: datetime
) -> list[Shift]:
    """The shifts of ``schedule`` overlapping [start, end), overrides applied.

    The shift running at ``start`` is given from its real beginning (looked for up to
    :data:`LOOKAROUND` before the start of its UTC day), not cut at ``start``: a person
    reads "alice since Monday 09:00". The last one is cut at ``end`` (the calendar feed
    uses :func:`feed_events`, whose events are never cut).
    """
    definition = require_schedule(policy, schedule)
    start, end = check_instant(start, "start"), check_instant(end, "end")
    since = datetime.combine(start.date(), datetime.min.time(), UTC) - LOOKAROUND
    overrides = overrides_by_schedule(session=session, start=since, end=end).get(schedule, [])
    return [s for s in shifts(definition, since, end, overrides) if s.end > start]


def feed_events(*, session: Session, policy: Policy, schedule: str, now: datetime) -> list[Shift]:
    """The events of ``schedule``'s calendar feed at ``now`` (see
    :func:`tocsin.oncall.ical.feed_window`), run-time overrides applied."""
    definition = require_schedule(policy, schedule)

    def overrides(start: datetime, end: datetime) -> list[Override]:
        found = overrides_by_schedule(session=session, start=start, end=end)
        return found.get(schedule, [])

    return feed_window(definition, check_instant(now, "now"), overrides)


def schedule_calendar(*, session: Session, policy: Policy, schedule: str, now: datetime) -> bytes:
    """The iCalendar feed of ``schedule`` (:func:`feed_events`)."""
    definition = require_schedule(policy, schedule)
    events = feed_events(session=session, policy=policy, schedule=schedule, now=now)
    return schedule_ical(definition, events)


# ---------------------------------------------------------------- handoff timers

#: Job kind of a schedule's next handoff (handled by the engine, which writes the report).
HANDOFF = "handoff"
_LOOKAHEAD = timedelta(days=35)
_TICK = timedelta(microseconds=1)


def handoff_key(schedule: str, at: datetime) -> str:
    return f"handoff:{schedule}/{at.isoformat()}"


def next_handoff_at(*, session: Session, schedule: Schedule, after: datetime) -> datetime | None:
    overrides = overrides_by_schedule(session=session, start=after, end=after + _LOOKAHEAD)
    changes = handoffs(
        schedule, after + _TICK, after + _LOOKAHEAD, overrides.get(schedule.name, ())
    )
    return changes[0].at if changes else None


def reschedule_handoff(
    *, session: Session, policy: Policy, schedule: str, now: datetime, after: datetime | None = None
) -> datetime | None:
    """Replace the schedule's standing handoff job with one for its next handoff."""
    cancel_jobs(session=session, key_prefix=f"handoff:{schedule}/", now=now)
    definition = policy.schedule(schedule)
    if definition is None:
        return None
    at = next_handoff_at(session=session, schedule=definition, after=after or now)
    if at is not None:
        job_schedule(
            session=session,
            kind=HANDOFF,
            due_at=at,
            now=now,
            key=handoff_key(schedule, at),
            payload={"schedule": schedule, "at": at.isoformat()},
        )
    return at


def ensure_handoff_jobs(*, session: Session, policy: Policy, now: datetime) -> int:
    """Make sure each schedule has a job for its next handoff; returns how many were added."""
    added = 0
    for item in policy.schedules:
        at = next_handoff_at(session=session, schedule=item, after=now)
        if at is not None and job_schedule(
            session=session,
            kind=HANDOFF,
            due_at=at,
            now=now,
            key=handoff_key(item.name, at),
            payload={"schedule": item.name, "at": at.isoformat()},
        ):
            added += 1
    return added

"""Checklist use cases: attach the policy's lists to an incident, tick or skip an item
(by a person, or by the event that satisfies it), read them, and refuse a resolve while
a required list is open. Every function works in the caller's transaction; every tick
and skip is a timeline entry naming who (or which event) did it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, Update, bindparam, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import ClauseElement

from tocsin.checklists import rules
from tocsin.checklists.facts import facts_now
from tocsin.checklists.models import (
    ChecklistItem,
    ChecklistItemRead,
    ChecklistRead,
    ItemState,
    TaskList,
)
from tocsin.checklists.reminders import cancel_reminder, schedule_reminder
from tocsin.db.direct import DirectStatement
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.incidents.models import Incident, TimelineEvent
from tocsin.incidents.rules import format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.policy import Policy, UnknownSeverity
from tocsin.policy.checklists import AutoTick, Checklist

__all__ = [
    "attach_for_roles",
    "attach_when_declared",
    "auto_tick",
    "check_resolve",
    "item_to_read",
    "item_views",
    "items_of",
    "postmortem_markdown",
    "refresh",
    "role_holders",
    "settle",
    "task_list",
]


def items_of(session: Session, incident_id: int) -> list[ChecklistItem]:
    return list(
        session.scalars(
            select(ChecklistItem)
            .where(ChecklistItem.incident_id == incident_id)
            .order_by(ChecklistItem.number)
        )
    )


# ---------------------------------------------------------------- attaching


def _labels(policy: Policy, incident: Incident) -> tuple[str, ...]:
    try:
        return policy.severity(incident.severity).labels
    except UnknownSeverity:
        return (incident.severity,)


def role_holders(incident: Incident) -> dict[str, list[str]]:
    """Who holds each of the incident's roles."""
    held: dict[str, list[str]] = {}
    for assignment in incident.roles:
        held.setdefault(assignment.role, []).append(assignment.person)
    return held


def _attach(
    session: Session,
    incident: Incident,
    wanted: Sequence[tuple[Checklist, str]],
    now: datetime,
    *,
    new: bool = False,
) -> set[AutoTick]:
    """Attach each (list, scope) the incident does not have yet; the events its new
    items wait for. ``new``: the incident was declared in this transaction and has
    nothing attached yet (nothing to read first)."""
    if not wanted:
        return set()
    present: set[tuple[str, str]] = set()
    last = 0
    if not new:
        if session.get_bind().dialect.name == "postgresql":
            # Two role changes of one incident at once: the second sees what the first
            # attached, and numbers its items after them.
            locked = select(Incident.id).where(Incident.id == incident.id).with_for_update()
            session.execute(locked)
        present = {
            (name, scope)
            for name, scope in session.execute(
                select(ChecklistItem.checklist, ChecklistItem.scope)
                .where(ChecklistItem.incident_id == incident.id)
                .distinct()
            )
        }
        last = (
            session.scalar(
                select(func.max(ChecklistItem.number)).where(
                    ChecklistItem.incident_id == incident.id
                )
            )
            or 0
        )
    fresh = [(c, scope) for c, scope in wanted if (c.name, scope) not in present]
    rows: list[dict[str, Any]] = []
    for checklist, scope in fresh:
        for position, item in enumerate(checklist.items, start=1):
            rows.append(
                {
                    "incident_id": incident.id,
                    "number": last + len(rows) + 1,
                    "checklist": checklist.name,
                    "heading": checklist.heading,
                    "role": checklist.role,
                    "scope": scope,
                    "position": position,
                    "text": item.text,
                    "done_when": item.done_when.value if item.done_when else None,
                    "attached_at": now,
                    "due_at": rules.due_at(now, item.within),
                    "state": ItemState.open.value,
                }
            )
    if not rows:
        return set()
    _INSERT.execute_many(session, rows)
    for row in rows:
        if row["due_at"] is not None:
            schedule_reminder(
                session, incident.id, row["number"], row["due_at"], now, lane=incident.lane
            )
    return {AutoTick(row["done_when"]) for row in rows if row["done_when"]}


def _insert(_dialect: str) -> ClauseElement:
    table = cast(Table, ChecklistItem.__table__)
    return insert(table).values(
        {
            column.name: bindparam(column.name, type_=column.type)
            for column in table.columns
            if column.name in _ROW_COLUMNS
        }
    )


_ROW_COLUMNS = (
    "incident_id",
    "number",
    "checklist",
    "heading",
    "role",
    "scope",
    "position",
    "text",
    "done_when",
    "attached_at",
    "due_at",
    "state",
)
#: Attaching runs in every declaration: its items go in on the driver's cursor.
_INSERT = DirectStatement(_insert)


def attach_when_declared(
    *, session: Session, policy: Policy, incident: Incident, now: datetime, new: bool = False
) -> set[AutoTick]:
    """The lists attached on declaration that the incident's severity calls for, and
    those of the roles it holds (a new incident's commander); the events they wait for.
    ``new``: it is being declared now."""
    labels = _labels(policy, incident)
    holders = role_holders(incident)
    wanted = [(c, "") for c in rules.lists_when_declared(policy.checklists, labels)]
    wanted += rules.lists_for_roles(policy.checklists, labels, holders, holders)
    return _attach(session, incident, wanted, now, new=new)


def _first_holders(session: Session, incident: Incident) -> dict[str, list[str]]:
    """Who each role was first given to, from the incident's timeline."""
    first: dict[str, list[str]] = {}
    for data in session.scalars(
        select(TimelineEvent.data)
        .where(TimelineEvent.incident_id == incident.id, TimelineEvent.kind == "role_assigned")
        .order_by(TimelineEvent.id)
    ):
        role, people = data.get("role"), data.get("people")
        if isinstance(role, str) and isinstance(people, list) and role not in first:
            first[role] = [str(p) for p in people]
    return first


def attach_for_roles(
    *, session: Session, policy: Policy, incident: Incident, now: datetime
) -> set[AutoTick]:
    """The lists the roles held now call for (first assignments and handoffs)."""
    if not any(c.role for c in policy.checklists):
        return set()
    wanted = rules.lists_for_roles(
        policy.checklists,
        _labels(policy, incident),
        role_holders(incident),
        _first_holders(session, incident),
    )
    return _attach(session, incident, wanted, now)


# ---------------------------------------------------------------- ticking


def _find(session: Session, incident: Incident, number: int) -> ChecklistItem:
    item = session.scalar(
        select(ChecklistItem).where(
            ChecklistItem.incident_id == incident.id, ChecklistItem.number == number
        )
    )
    if item is None:
        ref = format_incident_id(incident.number)
        last = session.scalar(
            select(func.max(ChecklistItem.number)).where(ChecklistItem.incident_id == incident.id)
        )
        known = f"its items are 1 to {last}" if last else "it has no checklist"
        raise NotFound(f"{ref} has no checklist item {number}: {known}")
    return item


def _mark(
    session: Session, item: ChecklistItem, state: ItemState, actor: str, now: datetime, reason: str
) -> bool:
    """Settle ``item`` if it is still open; False if someone (or something) was first."""
    values = dict(zip(_SETTLED, (state.value, now, actor, reason or None), strict=True))
    bound = {f"new_{name}": value for name, value in values.items()}
    changed = session.execute(_settle_open(), {"item": item.id, **bound})
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    for name, value in values.items():  # what the row holds now, without writing it again
        set_committed_value(item, name, value)
    return True


#: What settling an item writes (:func:`_mark`).
_SETTLED = ("state", "settled_at", "settled_by", "reason")


@functools.cache
def _settle_open() -> Update:
    """:func:`_mark`'s statement, built once (a declaration ticks several items)."""
    return (
        update(ChecklistItem)
        .where(ChecklistItem.id == bindparam("item"), ChecklistItem.state == ItemState.open.value)
        .values(
            # Not the columns' own names: those are reserved for the SET clause.
            {name: bindparam(f"new_{name}") for name in _SETTLED}
        )
        .execution_options(synchronize_session=False)
    )


@functools.cache
def _open_for_events() -> Select[ChecklistItem]:
    """:func:`auto_tick`'s candidates, built once (every declaration asks)."""
    return (
        select(ChecklistItem)
        .where(
            ChecklistItem.incident_id == bindparam("incident"),
            ChecklistItem.state == ItemState.open.value,
            ChecklistItem.done_when.in_(bindparam("events", expanding=True)),
        )
        .order_by(ChecklistItem.number)
    )


def settle(
    *,
    session: Session,
    incident: Incident,
    number: int,
    actor: str,
    now: datetime,
    skip_reason: str | None = None,
) -> ChecklistItem:
    """Tick item ``number`` (or skip it, with ``skip_reason``) as ``actor``."""
    item = _find(session, incident, number)
    ref = format_incident_id(incident.number)
    state = ItemState.skipped if skip_reason is not None else ItemState.done
    if skip_reason is not None and not skip_reason.strip():
        raise InvalidInput("reason", "say why the item is skipped")
    if not _mark(session, item, state, actor, now, (skip_reason or "").strip()):
        session.refresh(item)
        by = f" by {item.settled_by}" if item.settled_by else ""
        raise Conflict(f"{ref} item {number} is already {item.state}{by}: {item.text}")
    cancel_reminder(session, item, now)
    if state is ItemState.done:
        kind, summary = "checklist_ticked", f"Ticked {number}. {item.text}"
    else:
        kind, summary = "checklist_skipped", f"Skipped {number}. {item.text}: {item.reason}"
    record(
        session=session,
        incident=incident,
        now=now,
        actor=actor,
        kind=kind,
        summary=summary,
        data={"number": number, "checklist": item.checklist, "reason": item.reason},
    )
    return item


def auto_tick(
    *, session: Session, incident: Incident, events: Iterable[AutoTick], now: datetime
) -> list[ChecklistItem]:
    """Tick the open items that any of ``events`` satisfies; the ones ticked now."""
    names = [e.value for e in events]
    if not names:
        return []
    candidates = session.scalars(_open_for_events(), {"incident": incident.id, "events": names})
    ticked = []
    for item in list(candidates):
        if not _mark(session, item, ItemState.done, SYSTEM_ACTOR, now, ""):
            continue
        cancel_reminder(session, item, now)
        event = (item.done_when or "").replace("_", " ")
        record(
            session=session,
            incident=incident,
            now=now,
            actor=SYSTEM_ACTOR,
            kind="checklist_ticked",
            summary=f"Ticked {item.number}. {item.text} ({event})",
            data={"number": item.number, "checklist": item.checklist, "event": item.done_when},
        )
        ticked.append(item)
    return ticked


def refresh(
    *,
    session: Session,
    incident: Incident,
    now: datetime,
    waiting: set[AutoTick] | None = None,
    new: bool = False,
) -> list[ChecklistItem]:
    """Tick every open item whose event has happened by now. ``waiting``: the events
    the open items wait for, when the caller knows them; ``new``: the incident is
    being declared now."""
    if waiting is None:
        waiting = {
            AutoTick(event)
            for event in session.scalars(
                select(ChecklistItem.done_when)
                .where(
                    ChecklistItem.incident_id == incident.id,
                    ChecklistItem.state == ItemState.open.value,
                    ChecklistItem.done_when.is_not(None),
                )
                .distinct()
            )
            if event
        }
    if not waiting:
        return []
    happened = facts_now(session, incident, waiting, new=new)
    return auto_tick(session=session, incident=incident, events=happened, now=now)


# ---------------------------------------------------------------- reading


def _view(item: ChecklistItem) -> rules.ItemView:
    return rules.ItemView(
        number=item.number,
        checklist=item.checklist,
        heading=item.heading,
        role=item.role,
        text=item.text,
        state=item.state,
        settled_by=item.settled_by,
        settled_at=item.settled_at,
        reason=item.reason,
        due_at=item.due_at,
    )


def item_views(session: Session, incident: Incident) -> list[rules.ItemView]:
    return [_view(i) for i in items_of(session, incident.id)]


def item_to_read(item: ChecklistItem, now: datetime) -> ChecklistItemRead:
    return ChecklistItemRead(
        number=item.number,
        text=item.text,
        state=ItemState(item.state),
        due_at=item.due_at,
        overdue=item.state == ItemState.open and item.due_at is not None and item.due_at <= now,
        done_when=item.done_when,
        settled_at=item.settled_at,
        settled_by=item.settled_by,
        reason=item.reason,
    )


def task_list(*, session: Session, policy: Policy, incident: Incident, now: datetime) -> TaskList:
    """The incident's lists, in the order they were attached."""
    groups: dict[tuple[str, str], list[ChecklistItem]] = {}
    for item in items_of(session, incident.id):
        groups.setdefault((item.checklist, item.scope), []).append(item)
    lists = []
    for (name, scope), rows in groups.items():
        definition = policy.checklist(name)
        lists.append(
            ChecklistRead(
                name=name,
                heading=rows[0].heading,
                role=rows[0].role,
                holder=scope or None,
                required_to_resolve=bool(definition and definition.required_to_resolve),
                items=[item_to_read(r, now) for r in rows],
            )
        )
    still = sum(i.state == ItemState.open for rows in groups.values() for i in rows)
    return TaskList(incident=format_incident_id(incident.number), open=still, checklists=lists)


def postmortem_markdown(*, session: Session, incident: Incident) -> str:
    return rules.markdown(item_views(session, incident))


# ---------------------------------------------------------------- resolving


def check_resolve(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """Refuse a person's resolve while a list marked ``required_to_resolve`` has open
    items. Tocsin's own resolves (a heartbeat back, an incident merged into a storm)
    are never held."""
    if actor == SYSTEM_ACTOR:
        return
    required = [c.name for c in policy.checklists if c.required_to_resolve]
    if not required:
        return
    blocking = session.scalars(
        select(ChecklistItem)
        .where(
            ChecklistItem.incident_id == incident.id,
            ChecklistItem.checklist.in_(required),
            ChecklistItem.state == ItemState.open.value,
        )
        .order_by(ChecklistItem.number)
    ).all()
    if blocking:
        ref = format_incident_id(incident.number)
        raise Conflict(rules.blocking_message(ref, [_view(i) for i in blocking]))

"""Pure decisions about checklists: which lists an incident gets, when items are due,
which open items keep it from being resolved, who is reminded, and how the lists read
in a post-mortem. No database here; ``now`` is an argument."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.policy.checklists import AttachOn, Checklist

__all__ = [
    "COMMANDER",
    "ItemView",
    "blocking_message",
    "due_at",
    "lists_for_roles",
    "lists_when_declared",
    "markdown",
    "reminder_targets",
]

COMMANDER = "commander"


def lists_when_declared(
    checklists: Iterable[Checklist], severity_labels: tuple[str, ...]
) -> list[Checklist]:
    """The lists an incident of this severity gets when it is declared."""
    return [
        c for c in checklists if c.attach is AttachOn.declared and c.applies_to(severity_labels)
    ]


def lists_for_roles(
    checklists: Iterable[Checklist],
    severity_labels: tuple[str, ...],
    holders: Mapping[str, Sequence[str]],
    first_holders: Mapping[str, Sequence[str]],
) -> list[tuple[Checklist, str]]:
    """The (list, scope) pairs the roles held now call for: an ``assigned`` list for
    every role that has a holder (scope ""), a ``handoff`` list for every holder of a
    role who was not among its first holders (scope: that holder). ``first_holders``:
    who the role was first given to in this incident. Already attached pairs are the
    caller's to skip."""
    wanted: list[tuple[Checklist, str]] = []
    for checklist in checklists:
        if checklist.role is None or not checklist.applies_to(severity_labels):
            continue
        people = holders.get(checklist.role, ())
        if checklist.attach is AttachOn.assigned and people:
            wanted.append((checklist, ""))
        elif checklist.attach is AttachOn.handoff:
            first = first_holders.get(checklist.role, ())
            wanted += [(checklist, p) for p in people if first and p not in first]
    return wanted


def due_at(attached_at: datetime, within: timedelta | None) -> datetime | None:
    return attached_at + within if within is not None else None


def reminder_targets(
    role: str | None, scope: str, holders: Mapping[str, Sequence[str]]
) -> tuple[list[str], str]:
    """Who is reminded of an overdue item, and as what: the holder a handoff list was
    attached for, else the holders of its role, else the commander."""
    if scope:
        return [scope], role or COMMANDER
    if role and holders.get(role):
        return list(holders[role]), role
    return list(holders.get(COMMANDER, ())), COMMANDER


@dataclass(frozen=True)
class ItemView:
    """An item as the documents show it."""

    number: int
    checklist: str
    heading: str
    role: str | None
    text: str
    state: str
    settled_by: str | None
    settled_at: datetime | None
    reason: str | None
    due_at: datetime | None


def blocking_message(ref: str, items: Sequence[ItemView]) -> str:
    """The refusal of a resolve that open required items hold back."""
    headings = list(dict.fromkeys(i.heading for i in items))
    listed = "; ".join(f"{i.number}. {i.text}" for i in items)
    noun = "item" if len(items) == 1 else "items"
    return (
        f"{ref} cannot be resolved yet: the {' and '.join(headings)} checklist has "
        f"{len(items)} open {noun}: {listed}. Tick each one (tocsin task done {ref} N) "
        "or skip it with a reason first."
    )


def _at(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _line(item: ItemView) -> str:
    if item.state == "done":
        who = f" ({item.settled_by}, {_at(item.settled_at)})" if item.settled_at else ""
        return f"- [x] {item.number}. {item.text}{who}"
    if item.state == "skipped":
        return f"- [x] {item.number}. ~~{item.text}~~ skipped by {item.settled_by}: {item.reason}"
    late = " (was due " + _at(item.due_at) + ")" if item.due_at else ""
    return f"- [ ] {item.number}. {item.text}{late}"


def markdown(items: Sequence[ItemView]) -> str:
    """The incident's checklists, list by list, for the post-mortem."""
    if not items:
        return "*[No checklists were attached]*"
    parts: list[str] = []
    groups: dict[tuple[str, str], list[ItemView]] = {}
    for item in items:
        groups.setdefault((item.checklist, item.heading), []).append(item)
    for (_, heading), rows in groups.items():
        done = sum(r.state == "done" for r in rows)
        skipped = sum(r.state == "skipped" for r in rows)
        still = len(rows) - done - skipped
        owner = f" ({rows[0].role})" if rows[0].role else ""
        parts.append(
            f"**{heading}**{owner}: {done} done, {skipped} skipped, {still} open\n\n"
            + "\n".join(_line(r) for r in rows)
        )
    return "\n\n".join(parts)

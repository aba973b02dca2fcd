"""Downstream incidents: one whose service depends (directly or not, per the policy's
``depends_on``) on a service of another open incident is linked to it, "downstream
of INC-n", and both timelines say so.

Links are made when an incident is declared, both ways: the new incident is linked
below every open incident of its dependencies, and every open incident of the services
that depend on it is linked below it. With ``hints.hold_downstream_pages`` a new
downstream incident's pages are held (:mod:`tocsin.incidents.paging.holds`) while an
upstream incident is open; when the last of them resolves and the downstream incident
is still open, it pages. A hold is a delay, never a drop.

Drills neither link nor are linked. The work is per incident (one query over the open
incidents of a few services), never per alert. The links of an incident declared in the
current transaction are known without asking the database again: its other hooks (the
hints, the chat channel's summary) ask for them several times.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, bindparam, event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from tocsin.incidents.findings import IncidentLink
from tocsin.incidents.models import Incident, IncidentService
from tocsin.incidents.paging import holds
from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus, format_incident_id
from tocsin.incidents.timeline import SYSTEM_ACTOR, record
from tocsin.policy import Policy

__all__ = [
    "depends_map",
    "downstream_of",
    "link_new_incident",
    "on_declared",
    "on_resolved",
    "reachable",
    "upstream_of",
]

_ACTIVE = [s.value for s in ACTIVE_STATUSES]

#: ``Session.info`` key: the links of the incidents declared in the transaction.
_NEW = "tocsin.links_of_new_incidents"

Linked = tuple[Incident, IncidentLink]


@dataclass
class _Links:
    """Every link of an incident declared in this transaction, oldest first."""

    up: list[Linked] = field(default_factory=list)
    down: list[Linked] = field(default_factory=list)


def _new_links(session: Session) -> dict[int, _Links]:
    known: dict[int, _Links] = session.info.setdefault(_NEW, {})
    return known


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    """A rollback, of a savepoint too, may undo links: ask the database again."""
    session.info.pop(_NEW, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_the_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_NEW, None)


def depends_map(policy: Policy) -> dict[str, tuple[str, ...]]:
    return {s.name: tuple(s.depends_on) for s in policy.services}


def reachable(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    """Every service reached from ``start`` along ``edges`` (``start`` left out)."""
    origin = set(start)
    seen: set[str] = set()
    stack = list(origin)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen and nxt not in origin:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _open_of() -> tuple[ColumnElement[bool], ...]:
    """The open incidents (drills left out) of the bound ``services`` other than the
    bound ``exclude``."""
    return (
        IncidentService.service.in_(bindparam("services", expanding=True)),
        Incident.status.in_(_ACTIVE),
        Incident.drill.is_(False),
        Incident.id != bindparam("exclude"),
    )


@functools.cache
def _open_statements() -> tuple[Select[int, str], Select[int, str]]:
    """:func:`_open_on`'s and :func:`_first_open_on`'s queries, built once: every
    declaration asks both, and building them anew cost more than the answers."""
    every = (
        select(Incident.id, IncidentService.service)
        .join(IncidentService, IncidentService.incident_id == Incident.id)
        .where(*_open_of())
        .order_by(Incident.id)
    )
    first = (
        select(func.min(Incident.id), IncidentService.service)
        .join(IncidentService, IncidentService.incident_id == Incident.id)
        .where(*_open_of())
        .group_by(IncidentService.service)
    )
    return every, first


def _open_on(session: Session, services: set[str], exclude: int) -> list[tuple[int, str]]:
    """``(incident id, service)`` of the open incidents (drills left out) of
    ``services``: columns only, as a new incident usually finds none."""
    if not services:
        return []
    values = {"services": sorted(services), "exclude": exclude}
    rows = session.execute(_open_statements()[0], values).all()
    return [(row[0], row[1]) for row in rows]


def _first_open_on(session: Session, services: set[str], exclude: int) -> list[tuple[int, str]]:
    """``(incident id, service)`` of the oldest open incident (drills left out) of each
    of ``services``: the one a new downstream incident is linked to. Linking every open
    incident of a busy upstream would make each declaration cost more than the last."""
    if not services:
        return []
    values = {"services": sorted(services), "exclude": exclude}
    rows = session.execute(_open_statements()[1], values).all()
    return sorted((row[0], row[1]) for row in rows)


def _below_an_open_incident(session: Session, ids: Sequence[int]) -> set[int]:
    """Which of incidents ``ids`` are already downstream of an open incident."""
    if not ids:
        return set()
    return set(
        session.scalars(
            select(IncidentLink.downstream_id)
            .join(Incident, Incident.id == IncidentLink.upstream_id)
            .where(IncidentLink.downstream_id.in_(ids), Incident.status.in_(_ACTIVE))
        )
    )


def _linked(session: Session, downstream: int, upstream: int) -> bool:
    return (
        session.scalar(
            select(IncidentLink.id).where(
                IncidentLink.downstream_id == downstream, IncidentLink.upstream_id == upstream
            )
        )
        is not None
    )


def _link(
    session: Session,
    *,
    downstream: Incident,
    upstream: Incident,
    reason: str,
    held: bool,
    now: datetime,
) -> IncidentLink:
    link = IncidentLink(
        downstream_id=downstream.id,
        upstream_id=upstream.id,
        reason=reason,
        held=held,
        created_at=now,
    )
    session.add(link)
    known = session.info.get(_NEW, {})
    if downstream.id in known:
        known[downstream.id].up.append((upstream, link))
    if upstream.id in known:
        known[upstream.id].down.append((downstream, link))
    down_ref, up_ref = format_incident_id(downstream.number), format_incident_id(upstream.number)
    record(
        session=session,
        incident=downstream,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="downstream_of",
        summary=f"Downstream of {up_ref} ({reason})",
        data={"upstream": up_ref, "reason": reason},
    )
    record(
        session=session,
        incident=upstream,
        now=now,
        actor=SYSTEM_ACTOR,
        kind="upstream_of",
        summary=f"{down_ref} is downstream of this incident ({reason})",
        data={"downstream": down_ref, "reason": reason},
    )
    return link


def link_new_incident(
    *, session: Session, policy: Policy, incident: Incident, now: datetime
) -> list[IncidentLink]:
    """Link a just-declared incident to the open incidents above and below it; hold its
    pages if the policy says so and an upstream incident is open."""
    edges = depends_map(policy)
    mine = {s.service for s in incident.services}
    _new_links(session)[incident.id] = _Links()  # it is new: no link yet
    if not mine:
        return []
    made: list[IncidentLink] = []
    hold = policy.hints.hold_downstream_pages and incident.status == IncidentStatus.triggered
    seen: set[int] = set()
    for upstream_id, service in _first_open_on(session, reachable(mine, edges), incident.id):
        if upstream_id in seen or _linked(session, incident.id, upstream_id):
            continue
        seen.add(upstream_id)
        upstream = session.get(Incident, upstream_id)
        if upstream is None:
            continue
        reason = f"{', '.join(sorted(mine))} depends on {service}"
        made.append(
            _link(
                session, downstream=incident, upstream=upstream, reason=reason, held=hold, now=now
            )
        )
    if made and hold and holds.hold(session=session, incident=incident, now=now):
        refs = ", ".join(format_incident_id(u.number) for u in _uppers(session, made))
        record(
            session=session,
            incident=incident,
            now=now,
            actor=SYSTEM_ACTOR,
            kind="pages_held",
            summary=f"Pages held while {refs} is open: it pages when that resolves",
            data={"upstream": refs},
        )
    dependents = {name for name in edges if name not in mine and mine & reachable([name], edges)}
    seen.clear()
    below = _open_on(session, dependents, incident.id)
    # An incident already downstream of an open one stays with it: the first upstream
    # incident gathers the open downstream ones, later ones do not gather them again.
    seen.update(_below_an_open_incident(session, sorted({i for i, _ in below})))
    for downstream_id, service in below:
        if downstream_id in seen or _linked(session, downstream_id, incident.id):
            continue
        seen.add(downstream_id)
        downstream = session.get(Incident, downstream_id)
        if downstream is None:
            continue
        reason = f"{service} depends on {', '.join(sorted(mine))}"
        made.append(
            _link(
                session,
                downstream=downstream,
                upstream=incident,
                reason=reason,
                held=False,
                now=now,
            )
        )
    return made


def _uppers(session: Session, links: Iterable[IncidentLink]) -> list[Incident]:
    found = [session.get(Incident, link.upstream_id) for link in links]
    return [i for i in found if i is not None]


def upstream_of(*, session: Session, incident: Incident) -> list[Linked]:
    """The incidents this one is downstream of, oldest link first."""
    known = session.info.get(_NEW, {}).get(incident.id)
    if known is not None:
        return list(known.up)
    rows = session.execute(
        select(Incident, IncidentLink)
        .join(IncidentLink, IncidentLink.upstream_id == Incident.id)
        .where(IncidentLink.downstream_id == incident.id)
        .order_by(IncidentLink.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def downstream_of(*, session: Session, incident: Incident) -> list[Linked]:
    """The incidents downstream of this one, oldest link first."""
    known = session.info.get(_NEW, {}).get(incident.id)
    if known is not None:
        return list(known.down)
    rows = session.execute(
        select(Incident, IncidentLink)
        .join(IncidentLink, IncidentLink.downstream_id == Incident.id)
        .where(IncidentLink.upstream_id == incident.id)
        .order_by(IncidentLink.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


# ---------------------------------------------------------------- the hooks


def on_declared(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    link_new_incident(session=session, policy=policy, incident=incident, now=now)


def on_resolved(
    *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """An upstream incident resolved: every downstream incident it held that is still
    open, and that no other open upstream incident holds, pages now."""
    ref = format_incident_id(incident.number)
    for downstream, link in downstream_of(session=session, incident=incident):
        if not link.held or link.released_at is not None:
            continue
        link.released_at = now
        if downstream.status not in _ACTIVE:
            continue
        still = [
            up
            for up, other in upstream_of(session=session, incident=downstream)
            if other.held and other.released_at is None and up.status in _ACTIVE
        ]
        if still:
            continue
        if holds.release(session=session, policy=policy, incident=downstream, now=now):
            record(
                session=session,
                incident=downstream,
                now=now,
                actor=SYSTEM_ACTOR,
                kind="pages_released",
                summary=f"Upstream {ref} resolved while this incident is open: paging now",
                data={"upstream": ref},
            )

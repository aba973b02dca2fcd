"""Callbacks that packages above incidents register to react to an incident's lifecycle.

Layering runs bottom-up (incidents must not import post-mortems, the status page...), yet
some of their work has to happen in the very transaction of a lifecycle change: a
post-mortem draft is due the moment a required incident is resolved. Such packages
append a callback here when they are imported; `service` calls every callback inside the
caller's transaction, so the work commits (or rolls back) with the change itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.policy import Policy

__all__ = [
    "IncidentHook",
    "ResolvedHook",
    "UpdateHook",
    "on_acknowledged",
    "on_declared",
    "on_resolved",
    "on_severity_changed",
    "on_update_posted",
    "register_on_acknowledged",
    "register_on_declared",
    "register_on_resolved",
    "register_on_severity_changed",
    "register_on_update_posted",
    "run_on_acknowledged",
    "run_on_declared",
    "run_on_resolved",
    "run_on_severity_changed",
    "run_on_update_posted",
]


class ResolvedHook(Protocol):
    def __call__(
        self, *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
    ) -> None: ...


#: Called, in order, after an incident moved to resolved (not again when it is closed).
on_resolved: list[ResolvedHook] = []


def register_on_resolved(hook: ResolvedHook) -> None:
    """Add `hook` once (importing a module twice must not run its work twice)."""
    if hook not in on_resolved:
        on_resolved.append(hook)


def run_on_resolved(
    session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    """Run every registered hook (positional, so that the call site stays one line)."""
    for hook in tuple(on_resolved):
        hook(session=session, policy=policy, incident=incident, actor=actor, now=now)


# The status page (and whatever else needs them) reacts to more of the lifecycle.

#: The same call shape as a resolved hook.
IncidentHook = ResolvedHook


class UpdateHook(Protocol):
    def __call__(
        self,
        *,
        session: Session,
        policy: Policy,
        incident: Incident,
        update: StatusUpdate,
        actor: str,
        now: datetime,
    ) -> None: ...


#: Called after an incident was declared (its first timeline event and paging are done).
on_declared: list[IncidentHook] = []
#: Called after an incident's severity changed (`incident.severity` is the new one).
on_severity_changed: list[IncidentHook] = []
#: Called after a status update was posted, internal or public (`update.public` says).
on_update_posted: list[UpdateHook] = []
#: Called after an incident left `triggered` for an open status (acknowledged, or moved
#: straight on); `actor` is who took it.
on_acknowledged: list[IncidentHook] = []


def register_on_declared(hook: IncidentHook) -> None:
    if hook not in on_declared:
        on_declared.append(hook)


def register_on_severity_changed(hook: IncidentHook) -> None:
    if hook not in on_severity_changed:
        on_severity_changed.append(hook)


def register_on_update_posted(hook: UpdateHook) -> None:
    if hook not in on_update_posted:
        on_update_posted.append(hook)


def register_on_acknowledged(hook: IncidentHook) -> None:
    if hook not in on_acknowledged:
        on_acknowledged.append(hook)


def run_on_acknowledged(
    session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    for hook in tuple(on_acknowledged):
        hook(session=session, policy=policy, incident=incident, actor=actor, now=now)


def run_on_declared(
    session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    for hook in tuple(on_declared):
        hook(session=session, policy=policy, incident=incident, actor=actor, now=now)


def run_on_severity_changed(
    session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
) -> None:
    for hook in tuple(on_severity_changed):
        hook(session=session, policy=policy, incident=incident, actor=actor, now=now)


def run_on_update_posted(
    session: Session,
    policy: Policy,
    incident: Incident,
    update: StatusUpdate,
    actor: str,
    now: datetime,
) -> None:
    for hook in tuple(on_update_posted):
        hook(session=session, policy=policy, incident=incident, update=update, actor=actor, now=now)

"""The registry of callbacks that packages above incidents hook into an incident's lifecycle.

Layering runs bottom-up (incidents must not import post-mortems, the status page...), yet
some of their work has to happen in the very transaction of a lifecycle change: a
post-mortem draft is due the moment a required incident is resolved. `service` runs the
hooks of each :class:`IncidentEvent` inside the caller's transaction, so their work
commits (or rolls back) with the change itself.

Nothing registers itself on import: :func:`tocsin.wiring.wire` registers every hook, in
one place, and each process that changes incidents (the web app, the worker, the test
harness) calls it. :data:`REGISTRY` is the process's registry; a fresh
:class:`HookRegistry` serves tests.

A drill (:mod:`tocsin.incidents.drills`) runs only the hooks registered with
``drills=True``: whatever reaches beyond the people in the drill (the status page, chat
channels, post-mortems) stays out of it unless it says it is safe.
"""

from __future__ import annotations

import threading
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol, TypeAlias, cast, overload

from sqlalchemy.orm import Session

from tocsin.incidents.drills import is_drill
from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.policy import Policy

__all__ = [
    "REGISTRY",
    "HookRegistry",
    "IncidentEvent",
    "IncidentHook",
    "LifecycleEvent",
    "ResolvedHook",
    "UpdateHook",
]


class IncidentEvent(StrEnum):
    """A lifecycle change that hooks may react to."""

    #: An incident was declared (its first timeline event and paging are done).
    declared = "declared"
    #: An incident left `triggered` for an open status (acknowledged, or moved straight
    #: on); `actor` is who took it.
    acknowledged = "acknowledged"
    #: An incident's severity changed (`incident.severity` is the new one).
    severity_changed = "severity_changed"
    #: A status update was posted, internal or public (`update.public` says).
    update_posted = "update_posted"
    #: An incident moved to resolved (not again when it is closed).
    resolved = "resolved"
    #: An incident's first acknowledgement was recorded (`incident.acknowledged_at`):
    #: someone acknowledged it, or a person moved it past triggered (resolved it at
    #: once). Once per incident: a reopened incident keeps its first acknowledgement.
    first_acknowledged = "first_acknowledged"
    #: The escalation moved on: a responder escalated, or a tier did not acknowledge in
    #: time and the next was paged (`actor` is the responder, or the system).
    escalated = "escalated"
    #: A person assigned or changed the incident's roles (`incident.roles` holds them).
    role_assigned = "role_assigned"
    #: An alert joined an open incident. Runs once per attached alert, inside the alert
    #: pipeline: a hook must be cheap (debounce, and leave the work to a timer).
    alert_attached = "alert_attached"


#: The events whose hooks take no status update (:class:`IncidentHook`).
LifecycleEvent: TypeAlias = Literal[
    IncidentEvent.declared,
    IncidentEvent.acknowledged,
    IncidentEvent.severity_changed,
    IncidentEvent.resolved,
    IncidentEvent.first_acknowledged,
    IncidentEvent.escalated,
    IncidentEvent.role_assigned,
    IncidentEvent.alert_attached,
]


class IncidentHook(Protocol):
    def __call__(
        self, *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
    ) -> None: ...


#: The former name of :class:`IncidentHook`.
ResolvedHook = IncidentHook


class UpdateHook(Protocol):
    """A hook of :attr:`IncidentEvent.update_posted`."""

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


class HookRegistry:
    """The hooks of each event, run in the order they were registered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._incident: dict[IncidentEvent, tuple[IncidentHook, ...]] = {
            event: () for event in IncidentEvent if event is not IncidentEvent.update_posted
        }
        self._update: tuple[UpdateHook, ...] = ()
        self._drill_safe: frozenset[object] = frozenset()
        self._before_resolve: tuple[IncidentHook, ...] = ()

    def guard_resolve(self, check: IncidentHook) -> None:
        """Add `check`, run before an incident is resolved, once. It refuses the change
        by raising :class:`tocsin.errors.Conflict` (nothing is written then)."""
        with self._lock:
            if check not in self._before_resolve:
                self._before_resolve = (*self._before_resolve, check)

    @property
    def resolve_guards(self) -> tuple[IncidentHook, ...]:
        """The checks of :meth:`guard_resolve`, in the order they run."""
        return self._before_resolve

    def check_resolve(
        self, *, session: Session, policy: Policy, incident: Incident, actor: str, now: datetime
    ) -> None:
        """Run the checks of :meth:`guard_resolve`; the first refusal propagates."""
        for check in self._before_resolve:
            check(session=session, policy=policy, incident=incident, actor=actor, now=now)

    @overload
    def register(
        self,
        event: Literal[IncidentEvent.update_posted],
        hook: UpdateHook,
        *,
        drills: bool = False,
    ) -> None: ...
    @overload
    def register(
        self, event: LifecycleEvent, hook: IncidentHook, *, drills: bool = False
    ) -> None: ...
    def register(
        self, event: IncidentEvent, hook: IncidentHook | UpdateHook, *, drills: bool = False
    ) -> None:
        """Add `hook` to `event`'s hooks, once: registering it again changes nothing.
        ``drills``: it also runs for drills (by default a drill skips it)."""
        with self._lock:
            if drills:
                self._drill_safe = self._drill_safe | {hook}
            if event is IncidentEvent.update_posted:
                if hook not in self._update:
                    self._update = (*self._update, cast(UpdateHook, hook))
            elif hook not in self._incident[event]:
                self._incident[event] = (*self._incident[event], cast(IncidentHook, hook))

    def hooks(self, event: IncidentEvent) -> tuple[IncidentHook | UpdateHook, ...]:
        """`event`'s hooks, in the order they run."""
        if event is IncidentEvent.update_posted:
            return self._update
        return self._incident[event]

    @overload
    def run(
        self,
        event: Literal[IncidentEvent.update_posted],
        *,
        session: Session,
        policy: Policy,
        incident: Incident,
        update: StatusUpdate,
        actor: str,
        now: datetime,
    ) -> None: ...
    @overload
    def run(
        self,
        event: LifecycleEvent,
        *,
        session: Session,
        policy: Policy,
        incident: Incident,
        actor: str,
        now: datetime,
    ) -> None: ...
    def run(
        self,
        event: IncidentEvent,
        *,
        session: Session,
        policy: Policy,
        incident: Incident,
        actor: str,
        now: datetime,
        update: StatusUpdate | None = None,
    ) -> None:
        """Run every hook of `event`, in order, in the caller's transaction (for a
        drill, only the drill-safe ones)."""
        drill = is_drill(incident)
        if event is IncidentEvent.update_posted:
            if update is None:
                raise TypeError("update_posted hooks need the status update")
            for update_hook in self._update:
                if drill and update_hook not in self._drill_safe:
                    continue
                update_hook(
                    session=session,
                    policy=policy,
                    incident=incident,
                    update=update,
                    actor=actor,
                    now=now,
                )
            return
        for hook in self._incident[event]:
            if drill and hook not in self._drill_safe:
                continue
            hook(session=session, policy=policy, incident=incident, actor=actor, now=now)


#: The process's registry: `service` runs it, :func:`tocsin.wiring.wire` fills it.
REGISTRY = HookRegistry()

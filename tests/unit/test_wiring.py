"""The one wiring point: `tocsin.wiring.wire` registers every incident hook and metrics
source, exactly once, and importing a module registers nothing."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from tocsin.chatops import slack_channels
from tocsin.checklists import events as checklists
from tocsin.checklists import service as checklist_service
from tocsin.checklists.facts import FactSources
from tocsin.hints import service as hints
from tocsin.incidents import downstream
from tocsin.incidents.hooks import HookRegistry, IncidentEvent
from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.metrics import event_metrics
from tocsin.metrics.service import MetricsSources, postmortem_inputs
from tocsin.notify.observers import OutboxObservers
from tocsin.policy import Policy
from tocsin.postmortems import reporting as postmortem_reporting
from tocsin.postmortems import service as postmortems
from tocsin.runbooks import service as runbooks
from tocsin.statuspage import automation as statuspage
from tocsin.wiring import wire

EXPECTED: dict[IncidentEvent, list[object]] = {
    IncidentEvent.declared: [
        downstream.on_declared,
        hints.on_declared,
        slack_channels.on_declared,
        statuspage.on_declared,
        runbooks.on_declared,
        event_metrics.on_declared,
        checklists.on_declared,
    ],
    IncidentEvent.acknowledged: [slack_channels.on_acknowledged, checklists.on_event],
    IncidentEvent.severity_changed: [
        slack_channels.on_severity_changed,
        statuspage.on_severity_changed,
        event_metrics.on_severity_changed,
        checklists.on_severity_changed,
    ],
    IncidentEvent.update_posted: [
        slack_channels.on_update_posted,
        statuspage.on_update_posted,
        checklists.on_update_posted,
    ],
    IncidentEvent.resolved: [
        postmortems.on_incident_resolved,
        hints.on_resolved,
        downstream.on_resolved,
        slack_channels.on_resolved,
        statuspage.on_resolved,
        event_metrics.on_resolved,
    ],
    IncidentEvent.first_acknowledged: [event_metrics.on_first_acknowledged],
    IncidentEvent.escalated: [event_metrics.on_escalated],
    IncidentEvent.role_assigned: [checklists.on_role_assigned],
    IncidentEvent.alert_attached: [hints.on_alert_attached],
}
EXPECTED_OUTBOX = (
    (event_metrics.on_delivery, checklists.on_delivery),
    (event_metrics.on_queued,),
)


def _wired() -> tuple[HookRegistry, MetricsSources, OutboxObservers]:
    registry, sources, outbox = HookRegistry(), MetricsSources(), OutboxObservers()
    wire(registry, sources, outbox, FactSources())
    return registry, sources, outbox


def test_wire_guards_resolving_with_the_checklists_and_tells_them_of_the_status_page() -> None:
    registry, facts = HookRegistry(), FactSources()
    wire(registry, MetricsSources(), OutboxObservers(), facts)
    assert registry.resolve_guards == (checklist_service.check_resolve,)
    assert facts.status_page_published is not None


def test_a_fresh_registry_starts_empty() -> None:
    registry, sources = HookRegistry(), MetricsSources()
    assert all(registry.hooks(event) == () for event in IncidentEvent)
    assert sources.postmortem_inputs is None
    assert OutboxObservers().observers == ((), ())


def test_wire_registers_exactly_the_expected_hooks_of_each_event() -> None:
    registry, sources, outbox = _wired()
    assert set(EXPECTED) == set(IncidentEvent)
    for event in IncidentEvent:
        assert list(registry.hooks(event)) == EXPECTED[event], event
    assert sources.postmortem_inputs is postmortem_reporting.metrics_inputs
    assert outbox.observers == EXPECTED_OUTBOX


def test_wiring_twice_changes_nothing() -> None:
    registry, sources, outbox = _wired()
    before = {event: registry.hooks(event) for event in IncidentEvent}
    wire(registry, sources, outbox, FactSources())
    wire(registry, sources, outbox, FactSources())
    assert {event: registry.hooks(event) for event in IncidentEvent} == before
    assert sources.postmortem_inputs is postmortem_reporting.metrics_inputs
    assert outbox.observers == EXPECTED_OUTBOX


def test_the_registry_runs_each_events_hooks_in_order_with_their_arguments() -> None:
    registry = HookRegistry()
    calls: list[tuple[str, dict[str, Any]]] = []

    def first(**kwargs: Any) -> None:
        calls.append(("first", kwargs))

    def second(**kwargs: Any) -> None:
        calls.append(("second", kwargs))

    registry.register(IncidentEvent.resolved, first)
    registry.register(IncidentEvent.resolved, second)
    registry.register(IncidentEvent.resolved, first)  # once is enough
    registry.register(IncidentEvent.update_posted, second)
    session: Any = object()
    policy, incident = cast(Policy, object()), cast(Incident, SimpleNamespace(drill=False))
    update = cast(StatusUpdate, object())
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    registry.run(
        IncidentEvent.declared,
        session=session,
        policy=policy,
        incident=incident,
        actor="a",
        now=now,
    )
    assert calls == []
    registry.run(
        IncidentEvent.resolved,
        session=session,
        policy=policy,
        incident=incident,
        actor="a",
        now=now,
    )
    base = {"session": session, "policy": policy, "incident": incident, "actor": "a", "now": now}
    assert calls == [("first", base), ("second", base)]
    calls.clear()
    registry.run(
        IncidentEvent.update_posted,
        session=session,
        policy=policy,
        incident=incident,
        update=update,
        actor="a",
        now=now,
    )
    assert calls == [("second", {**base, "update": update})]


def test_a_drill_runs_only_the_hooks_registered_as_safe_for_drills() -> None:
    registry = HookRegistry()
    calls: list[str] = []
    registry.register(IncidentEvent.declared, lambda **_: calls.append("status page"))
    registry.register(IncidentEvent.declared, lambda **_: calls.append("log"), drills=True)
    registry.register(IncidentEvent.update_posted, lambda **_: calls.append("public update"))
    session: Any = object()
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for drill in (True, False):
        incident = cast(Incident, SimpleNamespace(drill=drill))
        args: dict[str, Any] = {"session": session, "policy": cast(Policy, object())}
        registry.run(IncidentEvent.declared, incident=incident, actor="a", now=now, **args)
        update = cast(StatusUpdate, object())
        registry.run(
            IncidentEvent.update_posted,
            incident=incident,
            update=update,
            actor="a",
            now=now,
            **args,
        )
    assert calls == ["log", "status page", "log", "public update"]


def test_every_wired_hook_stays_out_of_drills() -> None:
    registry, _, _ = _wired()
    incident = cast(Incident, SimpleNamespace(drill=True))
    session: Any = object()  # any hook that ran would fail on it
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for event in IncidentEvent:
        if event is IncidentEvent.update_posted:
            update = cast(StatusUpdate, object())
            registry.run(
                event,
                session=session,
                policy=cast(Policy, object()),
                incident=incident,
                update=update,
                actor="a",
                now=now,
            )
        else:
            registry.run(
                event,
                session=session,
                policy=cast(Policy, object()),
                incident=incident,
                actor="a",
                now=now,
            )


def test_metrics_without_a_post_mortem_source_say_n_a() -> None:
    session: Any = object()
    assert postmortem_inputs(session=session, incident_ids=[1], sources=MetricsSources()) is None


def test_importing_every_package_registers_nothing() -> None:
    """Only `wire()` registers: a process that imports the whole application (web app,
    engine, CLI, every domain) has no hook and no metrics source until it wires."""
    script = """
import tocsin.chatops, tocsin.chatops.slack_channels, tocsin.statuspage
import tocsin.statuspage.automation, tocsin.postmortems, tocsin.postmortems.service
import tocsin.metrics.service, tocsin.engine.handlers, tocsin.engine.worker
import tocsin.web.app, tocsin.cli.main, tocsin.cli.admin, tocsin.tables, tocsin.wiring
from tocsin.incidents.hooks import REGISTRY, IncidentEvent
from tocsin.metrics.service import SOURCES
from tocsin.notify.observers import OBSERVERS
left = {e.value: REGISTRY.hooks(e) for e in IncidentEvent if REGISTRY.hooks(e)}
assert not left, left
assert SOURCES.postmortem_inputs is None
assert OBSERVERS.observers == ((), ())
tocsin.wiring.wire()
assert all(REGISTRY.hooks(e) for e in IncidentEvent)
assert SOURCES.postmortem_inputs is not None
assert all(OBSERVERS.observers)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr

"""The one place where the domains above incidents are hooked into each other.

Lower layers offer slots and never import what fills them: the incident lifecycle runs
the hooks of :data:`tocsin.incidents.hooks.REGISTRY`, the outbox tells
:data:`tocsin.notify.observers.OBSERVERS` of its messages and deliveries, and metrics
read post-mortem facts through :data:`tocsin.metrics.service.SOURCES`. :func:`wire`
fills them all. It sits at the top of the layers, beside the web app, the engine and
the CLI, which call it: the app factory (:func:`tocsin.web.app.create_app`), ``tocsin
serve`` and ``tocsin worker`` (:mod:`tocsin.cli.admin`) and the test harness. Importing
a module registers nothing.

The hooks of each event run in the order below: a post-mortem is drafted before chat
and the status page hear of the resolution; the Slack channel is told before the status
page changes.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from tocsin.chatops import slack_channels
from tocsin.checklists import events as checklists
from tocsin.checklists import service as checklist_service
from tocsin.checklists.facts import FACTS, FactSources
from tocsin.db.session import WAIT_OBSERVERS
from tocsin.hints import service as hints
from tocsin.incidents import downstream
from tocsin.incidents.hooks import REGISTRY, HookRegistry, IncidentEvent
from tocsin.incidents.models import Incident
from tocsin.metrics import event_metrics
from tocsin.metrics.service import SOURCES, MetricsSources
from tocsin.notify.observers import OBSERVERS, OutboxObservers
from tocsin.postmortems import reporting as postmortem_reporting
from tocsin.postmortems import service as postmortems
from tocsin.runbooks import service as runbooks
from tocsin.statuspage import automation as statuspage
from tocsin.statuspage import service as statuspage_service

__all__ = ["wire"]


def wire(
    registry: HookRegistry = REGISTRY,
    sources: MetricsSources = SOURCES,
    outbox: OutboxObservers = OBSERVERS,
    facts: FactSources = FACTS,
    writer_waits: list[Callable[[Session, str, float], None]] = WAIT_OBSERVERS,
) -> None:
    """Register every incident hook in `registry`, every metrics source in `sources` and
    every outbox observer in `outbox` (the process's own by default). Idempotent: wiring
    twice registers each hook once."""
    # Post-mortems: a resolved incident that requires one gets its draft and due date.
    registry.register(IncidentEvent.resolved, postmortems.on_incident_resolved)

    # Downstream links and root-cause hints, before chat and the status page hear of
    # the incident (its pinned summary shows them). An upstream incident's resolution
    # releases the pages it held back; the post-mortem drafted at resolution (above)
    # takes the confirmed hint's category.
    registry.register(IncidentEvent.declared, downstream.on_declared)
    registry.register(IncidentEvent.declared, hints.on_declared)
    registry.register(IncidentEvent.alert_attached, hints.on_alert_attached)
    registry.register(IncidentEvent.resolved, hints.on_resolved)
    registry.register(IncidentEvent.resolved, downstream.on_resolved)

    # Chat-ops: the incident's own Slack channel follows its lifecycle.
    registry.register(IncidentEvent.declared, slack_channels.on_declared)
    registry.register(IncidentEvent.severity_changed, slack_channels.on_severity_changed)
    registry.register(IncidentEvent.update_posted, slack_channels.on_update_posted)
    registry.register(IncidentEvent.acknowledged, slack_channels.on_acknowledged)
    registry.register(IncidentEvent.resolved, slack_channels.on_resolved)
    hints.DECISION_HOOKS.register(slack_channels.on_hint_decided)

    # Status page automation: public incidents opened, updated and resolved.
    registry.register(IncidentEvent.declared, statuspage.on_declared)
    registry.register(IncidentEvent.severity_changed, statuspage.on_severity_changed)
    registry.register(IncidentEvent.update_posted, statuspage.on_update_posted)
    registry.register(IncidentEvent.resolved, statuspage.on_resolved)

    # Diagnostics and playbooks: collectors and proposals for a new incident (a job).
    registry.register(IncidentEvent.declared, runbooks.on_declared)
    if slack_channels.on_playbook_proposed not in runbooks.PROPOSAL_HOOKS:
        runbooks.PROPOSAL_HOOKS.append(slack_channels.on_playbook_proposed)

    # Metrics: completion, root-cause categories and action items come from post-mortems.
    sources.postmortem_inputs = postmortem_reporting.metrics_inputs

    # Prometheus: counters and histograms observe the events as they happen.
    registry.register(IncidentEvent.declared, event_metrics.on_declared)
    registry.register(IncidentEvent.severity_changed, event_metrics.on_severity_changed)
    registry.register(IncidentEvent.first_acknowledged, event_metrics.on_first_acknowledged)
    registry.register(IncidentEvent.resolved, event_metrics.on_resolved)
    registry.register(IncidentEvent.escalated, event_metrics.on_escalated)
    outbox.on_queued(event_metrics.on_queued)
    outbox.on_delivery(event_metrics.on_delivery)
    if event_metrics.on_writer_wait not in writer_waits:
        writer_waits.append(event_metrics.on_writer_wait)

    # Checklists: attached on declaration and role changes, ticked by the events that
    # satisfy their items (after chat and the status page above have done their part);
    # a required list holds a person's resolve back.
    registry.register(IncidentEvent.declared, checklists.on_declared)
    registry.register(IncidentEvent.severity_changed, checklists.on_severity_changed)
    registry.register(IncidentEvent.role_assigned, checklists.on_role_assigned)
    registry.register(IncidentEvent.acknowledged, checklists.on_event)
    registry.register(IncidentEvent.update_posted, checklists.on_update_posted)
    registry.guard_resolve(checklist_service.check_resolve)
    outbox.on_delivery(checklists.on_delivery)
    facts.status_page_published = _on_status_page


def _on_status_page(session: Session, incident: Incident) -> bool:
    """Whether the incident's status-page incident is published (for checklists)."""
    linked = statuspage_service.linked_incident(session=session, incident=incident)
    return linked is not None and linked.published_at is not None

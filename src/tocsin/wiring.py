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

from tocsin.chatops import slack_channels
from tocsin.incidents.hooks import REGISTRY, HookRegistry, IncidentEvent
from tocsin.metrics import event_metrics
from tocsin.metrics.service import SOURCES, MetricsSources
from tocsin.notify.observers import OBSERVERS, OutboxObservers
from tocsin.postmortems import reporting as postmortem_reporting
from tocsin.postmortems import service as postmortems
from tocsin.runbooks import service as runbooks
from tocsin.statuspage import automation as statuspage

__all__ = ["wire"]


def wire(
    registry: HookRegistry = REGISTRY,
    sources: MetricsSources = SOURCES,
    outbox: OutboxObservers = OBSERVERS,
) -> None:
    """Register every incident hook in `registry`, every metrics source in `sources` and
    every outbox observer in `outbox` (the process's own by default). Idempotent: wiring
    twice registers each hook once."""
    # Post-mortems: a resolved incident that requires one gets its draft and due date.
    registry.register(IncidentEvent.resolved, postmortems.on_incident_resolved)

    # Chat-ops: the incident's own Slack channel follows its lifecycle.
    registry.register(IncidentEvent.declared, slack_channels.on_declared)
    registry.register(IncidentEvent.severity_changed, slack_channels.on_severity_changed)
    registry.register(IncidentEvent.update_posted, slack_channels.on_update_posted)
    registry.register(IncidentEvent.acknowledged, slack_channels.on_acknowledged)
    registry.register(IncidentEvent.resolved, slack_channels.on_resolved)

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

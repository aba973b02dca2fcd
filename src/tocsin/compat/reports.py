"""The script interface's documents: the incident report, the time-to-resolve figures
and the post-incident review — Tocsin's facts, metrics and post-mortem, laid out as
the interface's callers expect them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tocsin.compat.objects import Incident, SeverityLevel
from tocsin.metrics.rules import MetricsSummary
from tocsin.policy import Policy
from tocsin.postmortems.document import SECTION_TITLES
from tocsin.timetext import duration_text

if TYPE_CHECKING:
    from tocsin.compat.system import IncidentResponseSystem

__all__ = ["PostIncidentReviewGenerator", "incident_report", "mttr_metrics"]

_STAMP = "%Y-%m-%d %H:%M:%S UTC"


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 2)


def incident_report(incident: Incident, now: datetime) -> str:
    """The incident as it stands: summary, services, timeline, updates, key figures."""
    created = incident.created_at
    resolved = incident.resolved_at
    acknowledged = incident.acknowledged_at
    mttr = incident.mttr_minutes
    timeline = incident.timeline
    updates = incident.communication_log
    lines = [
        f"# Incident Report: {incident.title}",
        "",
        "## Incident Summary",
        f"- **Incident ID**: {incident.id}",
        f"- **Severity**: {incident.severity.value.upper()}",
        f"- **Status**: {incident.status.value.title()}",
        f"- **Created**: {created.strftime(_STAMP)}",
        f"- **Resolved**: {resolved.strftime(_STAMP) if resolved else 'Not resolved'}",
        f"- **Duration**: {f'{mttr:.1f} minutes' if mttr is not None else 'Ongoing'}",
        f"- **Assignee**: {incident.assignee or 'Unassigned'}",
        "",
        "## Description",
        incident.description or "None given",
        "",
        "## Affected Services",
        *([f"- {s}" for s in incident.affected_services] or ["None specified"]),
        "",
        "## Timeline",
        *[
            f"- **{e.timestamp.strftime('%H:%M:%S')}** [{e.actor}] {e.event}: {e.details}"
            for e in timeline
        ],
        "",
        "## Communication Log",
        *[
            f"- **{datetime.fromisoformat(u['timestamp']).strftime('%H:%M:%S')}** "
            f"[{u['actor']}] {u['channel']}: {u['message']}"
            for u in updates
        ],
        "",
        "## Key Metrics",
        "- **Time to Acknowledge**: "
        + (duration_text(acknowledged - created) if acknowledged else "Not acknowledged"),
        "- **Time to Resolution**: "
        + (f"{mttr:.1f} minutes" if mttr is not None else "Not resolved"),
        f"- **Escalations**: {sum(1 for e in timeline if e.event == 'escalated')}",
        f"- **Communications**: {len(updates)}",
        "",
        "## Tags",
        ", ".join(incident.tags) or "None",
        "",
        "---",
        f"*Report generated at {now.strftime(_STAMP)}*",
    ]
    return "\n".join(lines) + "\n"


def mttr_metrics(summary: MetricsSummary, policy: Policy, days: int) -> dict[str, Any]:
    """Time to resolve in minutes, overall and by severity, with each severity's
    resolution target from the policy and the resolution SLA compliance."""
    overall = summary.mttr.overall
    if overall.count == 0 or overall.mean is None:
        return {"error": "No resolved incidents in time period"}
    by_severity: dict[str, Any] = {}
    for level in SeverityLevel:
        severity = policy.severity(level.policy_name)
        stats = summary.mttr.by_severity.get(severity.name if severity else level.name)
        if stats is None or stats.count == 0 or stats.mean is None:
            continue
        target = severity.resolve_target.total_seconds() if severity else None
        by_severity[level.value] = {
            "average_mttr_minutes": _minutes(stats.mean),
            "incident_count": stats.count,
            "target_met": None if target is None else stats.mean <= target,
        }
    sla = summary.resolution_sla.overall
    return {
        "time_period_days": days,
        "total_incidents": overall.count,
        "overall_mttr_minutes": _minutes(overall.mean),
        "mttr_by_severity": by_severity,
        "slo_compliance": {
            "met": sla.met,
            "breached": sla.breached,
            "pending": sla.pending,
            "rate": sla.rate,
        },
    }


class PostIncidentReviewGenerator:
    """The post-incident review of a resolved or closed incident: Tocsin's post-mortem
    (drafted when the incident resolved, or now), with its generated sections."""

    def __init__(self, incident_system: IncidentResponseSystem) -> None:
        self.incident_system = incident_system

    def generate_pir(self, incident_id: str) -> str:
        system = self.incident_system
        if system.find(incident_id) is None:
            return "Incident not found"
        incident = system.incidents[incident_id]
        if incident.resolved_at is None:
            return "Incident must be resolved before generating PIR"
        review = system.postmortem_of(incident.id)
        mttr = incident.mttr_minutes
        titles = dict(SECTION_TITLES) | {"timeline": "Timeline of Events"}
        lines = [
            f"# Post-Incident Review: {incident.title}",
            "",
            f"**Incident**: {incident.id}  ",
            f"**Post-mortem**: {review.id} ({review.status})  ",
            f"**Duration**: {f'{mttr:.1f} minutes' if mttr is not None else 'Ongoing'}  ",
            f"**Severity**: {incident.severity.value.upper()}  ",
            f"**Services Affected**: {', '.join(incident.affected_services) or 'Unknown'}",
        ]
        for key, title in titles.items():
            if key == "action_items":
                body = _action_items(review.action_items)
            else:
                body = review.sections.get(key, "").strip() or "*[To be written in review]*"
            lines += ["", f"## {title.title() if key == 'action_items' else title}", "", body]
        return "\n".join(lines) + "\n"


def _action_items(items: Any) -> str:
    rows = ["| Action | Owner | Due Date | Status |", "|--------|-------|----------|--------|"]
    for item in items:
        due = item.due_date.isoformat() if item.due_date else "TBD"
        rows.append(f"| {item.title} | {item.owner or 'TBD'} | {due} | {item.status} |")
    if len(rows) == 2:
        rows.append("| *[To be agreed in review]* | TBD | TBD | Open |")
    return "\n".join(rows)

"""On-call handoffs: at each change of the person on call, the outgoing and incoming
engineers get the handoff report (open incidents, alerts of the last 24 h,
ongoing investigations, scheduled maintenance).

One job per schedule stands for its next handoff; handling it queues the next one, and
the worker makes sure one exists for every schedule whenever the policy (re)loads.
Handoffs are recomputed when the job fires, so an override added meanwhile is honoured.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tocsin.alerts.service import recent_alerts
from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus, format_incident_id
from tocsin.incidents.service import list_incidents
from tocsin.notify.models import NotificationKind
from tocsin.notify.service import enqueue
from tocsin.oncall.rules import handoffs
from tocsin.oncall.service import (
    HANDOFF,
    ensure_handoff_jobs,
    handoff_key,
    overrides_by_schedule,
    reschedule_handoff,
)
from tocsin.policy import Policy
from tocsin.statuspage.service import upcoming_maintenances

__all__ = ["HANDOFF", "ensure_handoff_jobs", "handle_handoff", "handoff_report"]

_TICK = timedelta(microseconds=1)
_INVESTIGATING = {
    IncidentStatus.investigating,
    IncidentStatus.identified,
    IncidentStatus.monitoring,
}


def handoff_report(*, session: Session, policy: Policy, now: datetime) -> str:
    """The handoff checklist with what the next person on call needs to know."""
    active, _ = list_incidents(
        session=session,
        policy=policy,
        statuses=[s.value for s in ACTIVE_STATUSES],
        limit=50,
        with_total=False,
    )
    lines = ["On-call handoff report", "", "Open incidents:"]
    lines += [
        f"  - {format_incident_id(i.number)} [{i.severity}] {i.status}: {i.title}" for i in active
    ] or ["  none"]
    lines += ["", "Ongoing investigations:"]
    lines += [
        f"  - {format_incident_id(i.number)}: {i.title}"
        for i in active
        if IncidentStatus(i.status) in _INVESTIGATING
    ] or ["  none"]
    lines += ["", "Alerts in the last 24 hours:", f"  {_recent_alert_summary(session, now)}"]
    lines += ["", "Scheduled maintenance (next 7 days):"]
    upcoming = [
        w
        for w in policy.alerting.maintenance_windows
        if w.end > now and w.start < now + timedelta(days=7)
    ]
    planned = [
        f"  - {w.service}: {w.start.isoformat()} to {w.end.isoformat()} {w.comment}".rstrip()
        for w in upcoming
    ]
    planned += [
        f"  - {', '.join(m.components) or 'all components'}: {m.scheduled_for.isoformat()} "
        f"to {m.scheduled_until.isoformat()} {m.name} (status page)"
        for m in upcoming_maintenances(session=session, start=now, end=now + timedelta(days=7))
    ]
    lines += planned or ["  none"]
    lines += [
        "",
        "Checklist:",
        "  [ ] Review open incidents",
        "  [ ] Review recent alerts (last 24h)",
        "  [ ] Check ongoing investigations",
        "  [ ] Verify your contact details in Tocsin",
        "  [ ] Test alerting (if changed)",
        "  [ ] Review any scheduled maintenance",
        "  [ ] Brief on known issues",
    ]
    return "\n".join(lines)


def _recent_alert_summary(session: Session, now: datetime) -> str:
    alerts = recent_alerts(session=session, since=now - timedelta(hours=24))
    firing = sum(1 for a in alerts if a.status == "firing")
    return f"{len(alerts)} alert(s), {firing} still firing"


def handle_handoff(
    *, session: Session, policy: Policy, payload: Mapping[str, Any], now: datetime
) -> str:
    name = str(payload["schedule"])
    definition = policy.schedule(name)
    if definition is None:
        return "gone"
    at = datetime.fromisoformat(str(payload["at"]))
    overrides = overrides_by_schedule(session=session, start=at - _TICK, end=at + _TICK)
    changes = [
        h for h in handoffs(definition, at, at + _TICK, overrides.get(name, ())) if h.at == at
    ]
    outcome = "moved"
    if changes:
        change = changes[0]
        report = handoff_report(session=session, policy=policy, now=now)
        people = [p for p in (change.outgoing, change.incoming) if p]
        for person in people:
            role = "incoming" if person == change.incoming else "outgoing"
            enqueue(
                session=session,
                key=f"{handoff_key(name, at)}/{person}",
                person=person,
                kind=NotificationKind.handoff,
                subject=f"On-call handoff for {name}: {change.outgoing or 'nobody'} → "
                f"{change.incoming or 'nobody'}",
                body=report,
                reason=f"{role} on call for {name} at {at.isoformat()}",
                now=now,
                data={"schedule": name, "at": at.isoformat(), "role": role},
            )
        outcome = "reported"
    reschedule_handoff(
        session=session, policy=policy, schedule=name, now=now, after=max(at, now - _TICK)
    )
    return outcome

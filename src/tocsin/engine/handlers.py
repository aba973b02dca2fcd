"""One handler per job kind. Each runs inside the transaction that completes its job."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from tocsin.alerts import heartbeats
from tocsin.checklists import overdue as checklist_overdue
from tocsin.checklists.reminders import DUE_JOB as CHECKLIST_DUE
from tocsin.engine.game_days import GAME_DAY_ALERT, handle_game_day_alert
from tocsin.engine.handoffs import HANDOFF, handle_handoff
from tocsin.hints import service as hints
from tocsin.incidents import paging
from tocsin.incidents.models import Incident
from tocsin.incidents.service import get_by_id
from tocsin.metrics import burn_alerts
from tocsin.policy import Policy
from tocsin.postmortems import deadlines as postmortem_deadlines
from tocsin.runbooks import service as runbooks
from tocsin.statuspage import subscribers as statuspage_subscribers

__all__ = ["HANDLERS", "EngineContext", "JobHandler"]


@dataclass(frozen=True)
class EngineContext:
    policy: Policy
    now: datetime


class JobHandler(Protocol):
    def __call__(
        self, session: Session, context: EngineContext, payload: Mapping[str, Any]
    ) -> str: ...


IncidentStep = Callable[..., str]


def _for_incident(step: IncidentStep) -> JobHandler:
    """Load the job's incident and hand it to a paging step; a deleted incident is a no-op."""

    def handle(session: Session, context: EngineContext, payload: Mapping[str, Any]) -> str:
        incident: Incident | None = get_by_id(
            session=session, incident_id=int(payload["incident_id"])
        )
        if incident is None:
            return "gone"
        return step(
            session=session,
            policy=context.policy,
            incident=incident,
            payload=payload,
            now=context.now,
        )

    return handle


def _handoff(session: Session, context: EngineContext, payload: Mapping[str, Any]) -> str:
    return handle_handoff(session=session, policy=context.policy, payload=payload, now=context.now)


HANDLERS: dict[str, JobHandler] = {
    HANDOFF: _handoff,
    hints.REFRESH: lambda session, context, payload: hints.handle_refresh(
        session=session, policy=context.policy, payload=payload, now=context.now
    ),
    paging.ESCALATE: _for_incident(paging.handle_escalate),
    paging.STAKEHOLDER: _for_incident(paging.handle_stakeholder),
    paging.ACK_SLA: _for_incident(paging.handle_ack_sla),
    paging.UPDATE_REMINDER: _for_incident(paging.handle_update_reminder),
    burn_alerts.SLO_EVALUATE: burn_alerts.handle_slo_evaluate,
    burn_alerts.SLO_BURN: burn_alerts.handle_slo_burn,
    postmortem_deadlines.DUE_JOB: postmortem_deadlines.handle_due_job,
    heartbeats.HEARTBEAT_MISSED: heartbeats.handle_heartbeat_missed,
    runbooks.INCIDENT_OPENED: _for_incident(runbooks.handle_incident_opened),
    GAME_DAY_ALERT: lambda session, context, payload: handle_game_day_alert(
        session=session, policy=context.policy, payload=payload, now=context.now
    ),
    CHECKLIST_DUE: lambda session, context, payload: checklist_overdue.handle_due(
        session=session, policy=context.policy, payload=payload, now=context.now
    ),
    statuspage_subscribers.NOTIFY: lambda session, context, payload: (
        statuspage_subscribers.handle_notify(
            session=session, policy=context.policy, payload=payload, now=context.now
        )
    ),
}

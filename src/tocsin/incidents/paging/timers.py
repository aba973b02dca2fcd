"""An incident's paging timers: their job kinds, their keys, and setting them.

Every key of an incident's jobs and pages is built by :class:`JobKeys`, here and nowhere
else: the keys of jobs already in a database must keep matching, so their shape is
fixed. The timers are jobs (`tocsin.db.jobs`) scheduled in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from tocsin.db.jobs import cancel_jobs, schedule
from tocsin.incidents.drills import is_drill
from tocsin.incidents.models import Incident, IncidentEscalation
from tocsin.oncall.escalation import stakeholder_steps
from tocsin.policy import Policy

__all__ = [
    "ACK_SLA",
    "ESCALATE",
    "STAKEHOLDER",
    "UPDATE_REMINDER",
    "JobKeys",
    "schedule_ack_sla",
    "schedule_escalation",
    "schedule_stakeholders",
    "schedule_update_reminder",
]

#: The job kinds of an incident's timers.
ESCALATE = "escalate"
STAKEHOLDER = "stakeholder"
ACK_SLA = "ack_sla"
UPDATE_REMINDER = "update_reminder"


@dataclass(frozen=True, slots=True)
class JobKeys:
    """The keys (and key prefixes) of one incident's jobs and pages.

    ``inc:{id}/`` starts every one of them; those of one escalation go on with
    ``e{epoch}/`` (a restarted escalation has a new epoch, so its keys never collide with
    the last one's). The update reminder's job is the incident's, whatever the epoch.
    """

    incident_id: int
    #: The escalation's epoch; only the incident-wide keys can do without it.
    epoch: int | None = None

    # -- the incident's, whatever the epoch

    @property
    def incident(self) -> str:
        """The prefix of every job and page of the incident."""
        return f"inc:{self.incident_id}/"

    @property
    def update_reminders(self) -> str:
        return f"{self.incident}update-reminder/"

    def update_reminder(self, due: datetime) -> str:
        return f"{self.update_reminders}{due.isoformat()}"

    # -- the current escalation's

    @property
    def escalation(self) -> str:
        """The prefix of every job and page of this escalation (epoch)."""
        if self.epoch is None:
            raise ValueError("the keys of an escalation need its epoch")
        return f"{self.incident}e{self.epoch}/"

    @property
    def escalations(self) -> str:
        return f"{self.escalation}escalate/"

    def escalate(self, step: int, repages: int) -> str:
        return f"{self.escalations}{step}/r{repages}"

    @property
    def ack_slas(self) -> str:
        return f"{self.escalation}ack-sla/"

    def ack_sla(self, severity: str) -> str:
        return f"{self.ack_slas}{severity}"

    @property
    def stakeholders(self) -> str:
        return f"{self.escalation}stakeholder/"

    def stakeholder(self, severity: str, index: int) -> str:
        """A stakeholder timer's job key, and the base of the pages it sends."""
        return f"{self.stakeholders}{severity}/{index}"

    # -- the bases of page keys (``{base}/{person}``)

    def page(self, step: int, repages: int) -> str:
        return f"{self.escalation}page/{step}/r{repages}"

    def reassign(self, repages: int) -> str:
        return f"{self.escalation}reassign/{repages}"

    def reminder(self, at: datetime) -> str:
        """The base of the reminder pages sent at ``at`` (not the reminder's job key)."""
        return f"{self.escalation}update-reminder/{at.isoformat()}"


def schedule_escalation(
    session: Session,
    incident: Incident,
    esc: IncidentEscalation,
    number: int,
    due: datetime,
    now: datetime,
) -> None:
    esc.next_escalation_at = due
    schedule(
        session=session,
        kind=ESCALATE,
        due_at=due,
        now=now,
        payload={"incident_id": incident.id, "epoch": esc.epoch, "step": number},
        key=JobKeys(incident.id, esc.epoch).escalate(number, esc.repages),
        lane=incident.lane,
    )


def schedule_stakeholders(
    session: Session, policy: Policy, incident: Incident, esc: IncidentEscalation, now: datetime
) -> None:
    """The stakeholder matrix's timers (none for a drill: it tells no stakeholder)."""
    if is_drill(incident):
        return
    keys = JobKeys(incident.id, esc.epoch)
    for index, step in enumerate(stakeholder_steps(policy, incident.severity)):
        schedule(
            session=session,
            kind=STAKEHOLDER,
            due_at=max(esc.started_at + step.after, now),
            now=now,
            payload={
                "incident_id": incident.id,
                "epoch": esc.epoch,
                "severity": incident.severity,
                "index": index,
            },
            key=keys.stakeholder(incident.severity, index),
            lane=incident.lane,
        )


def schedule_ack_sla(
    session: Session, policy: Policy, incident: Incident, esc: IncidentEscalation, now: datetime
) -> None:
    within = policy.severity(incident.severity).respond_within
    schedule(
        session=session,
        kind=ACK_SLA,
        due_at=max(esc.started_at + within, now),
        now=now,
        payload={"incident_id": incident.id, "epoch": esc.epoch, "severity": incident.severity},
        key=JobKeys(incident.id, esc.epoch).ack_sla(incident.severity),
        lane=incident.lane,
    )


def schedule_update_reminder(
    session: Session,
    policy: Policy,
    incident: Incident,
    *,
    since: datetime,
    now: datetime,
    fresh: bool = False,
) -> None:
    """``fresh``: the incident was just declared and has no reminder to replace."""
    keys = JobKeys(incident.id)
    if not fresh:
        cancel_jobs(session=session, key_prefix=keys.update_reminders, now=now)
    due = since + policy.severity(incident.severity).update_every
    schedule(
        session=session,
        kind=UPDATE_REMINDER,
        due_at=due,
        now=now,
        payload={"incident_id": incident.id},
        key=keys.update_reminder(due),
        lane=incident.lane,
    )

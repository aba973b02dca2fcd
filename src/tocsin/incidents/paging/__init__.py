"""Paging and escalation of one incident: who is paged, when, and why.

Every function runs inside the caller's transaction and leaves its timers as jobs
(`tocsin.db.jobs`) and its messages in the outbox (`tocsin.notify`), so a page that was
decided commits with the state change that decided it. Job keys carry the incident id and
the escalation's epoch; a timer from an earlier epoch, or for a step that is no longer
next, is stale and does nothing when it fires.

- :mod:`.lifecycle` — how paging reacts to the incident's lifecycle (``on_*``);
- :mod:`.responder_controls` — escalate now, re-page, reassign;
- :mod:`.escalation` — starting an escalation and paging a tier;
- :mod:`.timers` — the timers' job kinds, their keys (:class:`JobKeys`), scheduling;
- :mod:`.timer_handlers` — what a timer does when it fires (:class:`TimerOutcome`);
- :mod:`.staleness` — is this timer stale? (pure).
"""

from __future__ import annotations

from tocsin.incidents.paging.lifecycle import (
    on_acknowledged,
    on_declared,
    on_reopened,
    on_resolved,
    on_severity_changed,
    on_status_update,
)
from tocsin.incidents.paging.responder_controls import escalate_now, reassign, repage
from tocsin.incidents.paging.timer_handlers import (
    TimerOutcome,
    handle_ack_sla,
    handle_escalate,
    handle_stakeholder,
    handle_update_reminder,
)
from tocsin.incidents.paging.timers import ACK_SLA, ESCALATE, STAKEHOLDER, UPDATE_REMINDER

__all__ = [
    "ACK_SLA",
    "ESCALATE",
    "STAKEHOLDER",
    "UPDATE_REMINDER",
    "TimerOutcome",
    "escalate_now",
    "handle_ack_sla",
    "handle_escalate",
    "handle_stakeholder",
    "handle_update_reminder",
    "on_acknowledged",
    "on_declared",
    "on_reopened",
    "on_resolved",
    "on_severity_changed",
    "on_status_update",
    "reassign",
    "repage",
]

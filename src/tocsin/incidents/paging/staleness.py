"""Is this timer stale? Pure checks over plain values, no database.

A timer is scheduled for one escalation (its epoch) and what was true when it was set
(the step it pages, the severity whose matrix or SLA it carries); when it fires, it acts
only if that is still so. Otherwise it is stale and does nothing: a restarted (reopened)
escalation, an acknowledgement, a resolution or a changed severity has overtaken it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tocsin.incidents.rules import ACTIVE_STATUSES, IncidentStatus

__all__ = [
    "Escalation",
    "EscalationState",
    "ack_sla_is_stale",
    "escalate_is_stale",
    "is_active",
    "stakeholder_is_stale",
]

_ACTIVE = frozenset(s.value for s in ACTIVE_STATUSES)


class EscalationState:
    """The values of ``IncidentEscalation.state``."""

    active = "active"
    acknowledged = "acknowledged"
    exhausted = "exhausted"
    stopped = "stopped"
    unrouted = "unrouted"


@dataclass(frozen=True, slots=True)
class Escalation:
    """An incident's escalation as it stands when a timer fires."""

    epoch: int
    state: str
    #: The step paged last (-1: none yet).
    step: int


def is_active(status: str) -> bool:
    """An incident still open (not resolved or closed): its reminders and matrix go on."""
    return status in _ACTIVE


def escalate_is_stale(
    timer: Mapping[str, Any], *, escalation: Escalation | None, status: str
) -> bool:
    """An escalation timer pages only the next step of a live, unacknowledged climb."""
    return (
        escalation is None
        or escalation.epoch != timer.get("epoch")
        or escalation.state != EscalationState.active
        or status != IncidentStatus.triggered
        or timer.get("step") != escalation.step + 1
    )


def stakeholder_is_stale(
    timer: Mapping[str, Any], *, epoch: int | None, status: str, severity: str
) -> bool:
    """A stakeholder timer informs only while the incident is open at the same severity.

    ``epoch``: the incident's escalation epoch (None: it has no escalation).
    """
    return (
        epoch is None
        or epoch != timer.get("epoch")
        or not is_active(status)
        or severity != timer.get("severity")
    )


def ack_sla_is_stale(
    timer: Mapping[str, Any], *, epoch: int | None, status: str, severity: str
) -> bool:
    """A response-SLA timer is breached only if nobody acknowledged at that severity."""
    return (
        epoch is None
        or epoch != timer.get("epoch")
        or status != IncidentStatus.triggered
        or severity != timer.get("severity")
    )

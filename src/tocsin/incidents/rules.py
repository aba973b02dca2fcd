"""The incident lifecycle as a pure state machine.

triggered → acknowledged → investigating → identified → monitoring → resolved → closed,
with reopen from resolved. Work may move forward past a stage (a responder may resolve
straight from triggered) and back between the working stages (identified → investigating
when the hypothesis was wrong), but never out of closed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

__all__ = [
    "ACTIVE_STATUSES",
    "PEOPLE_LANE",
    "IllegalTransition",
    "IncidentStatus",
    "Milestones",
    "allowed_transitions",
    "check_transition",
    "format_incident_id",
    "incident_lane",
    "parse_incident_id",
    "record_milestones",
]


class IncidentStatus(StrEnum):
    triggered = "triggered"
    acknowledged = "acknowledged"
    investigating = "investigating"
    identified = "identified"
    monitoring = "monitoring"
    resolved = "resolved"
    closed = "closed"


S = IncidentStatus
_WORKING = (S.acknowledged, S.investigating, S.identified, S.monitoring)

_TRANSITIONS: dict[IncidentStatus, tuple[IncidentStatus, ...]] = {
    S.triggered: (*_WORKING, S.resolved),
    S.acknowledged: (S.investigating, S.identified, S.monitoring, S.resolved),
    S.investigating: (S.identified, S.monitoring, S.resolved),
    S.identified: (S.investigating, S.monitoring, S.resolved),
    S.monitoring: (S.investigating, S.identified, S.resolved),
    S.resolved: (S.closed, S.triggered),
    S.closed: (),
}

ACTIVE_STATUSES: tuple[IncidentStatus, ...] = (S.triggered, *_WORKING)


class IllegalTransition(Exception):
    def __init__(self, current: IncidentStatus, target: IncidentStatus) -> None:
        self.current = current
        self.target = target
        self.allowed = allowed_transitions(current)
        allowed = ", ".join(self.allowed) if self.allowed else "none (closed is final)"
        super().__init__(
            f"cannot move from {current} to {target}; allowed from {current}: {allowed}"
        )


def allowed_transitions(current: IncidentStatus) -> tuple[IncidentStatus, ...]:
    return _TRANSITIONS[current]


def check_transition(current: IncidentStatus, target: IncidentStatus) -> None:
    if target not in _TRANSITIONS[current]:
        raise IllegalTransition(current, target)


@dataclass(frozen=True)
class Milestones:
    """The lifecycle timestamps that metrics (MTTA, MTTM, MTTR) are computed from."""

    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None


def record_milestones(
    milestones: Milestones,
    current: IncidentStatus,
    target: IncidentStatus,
    now: datetime,
    *,
    by_person: bool = True,
) -> Milestones:
    """Timestamps set by moving from `current` to `target` at `now`.

    The first acknowledgement and first mitigation are kept (they measure the response);
    a person moving past a stage implies it (resolving an unacknowledged incident
    acknowledges it). A move Tocsin makes by itself (all alerts resolved) acknowledges
    nothing: nobody responded, and time to acknowledge must not say otherwise.
    Reopening clears resolution so that the incident counts as open again.
    """
    m = milestones
    if current is S.resolved and target is S.triggered:
        return replace(m, resolved_at=None, closed_at=None)
    if target is S.closed:
        return replace(m, closed_at=now)
    implied = target in (*_WORKING, S.resolved) and (by_person or target is S.acknowledged)
    if implied and m.acknowledged_at is None:
        m = replace(m, acknowledged_at=now)
    if target in (S.monitoring, S.resolved) and m.mitigated_at is None:
        m = replace(m, mitigated_at=now)
    if target is S.resolved:
        m = replace(m, resolved_at=now)
    return m


#: Incident numbers are stored as 32-bit integers; a larger one cannot exist.
_MAX_NUMBER = 2**31 - 1
_ID = re.compile(r"^(?:inc-)?(\d{1,12})$", re.IGNORECASE)


def parse_incident_id(value: str) -> int | None:
    """'INC-12', 'inc-12' and '12' all name incident number 12."""
    match = _ID.match(value.strip())
    if match is None:
        return None
    number = int(match.group(1))
    return number if number <= _MAX_NUMBER else None


def format_incident_id(number: int) -> str:
    return f"INC-{number}"


#: The lane of incidents people declared (see :func:`incident_lane`).
PEOPLE_LANE = "people"


def incident_lane(opened_by_monitoring: bool, services: Sequence[str], *, drill: bool) -> str:
    """Whose turn an incident's timers and pages share (:mod:`tocsin.db.lanes`): those
    monitoring opened take turns per service (a flood on one service cannot hold
    another's pages), the few a person declared share one lane of their own, drills
    another."""
    if drill:
        return "drill"
    if not opened_by_monitoring:
        return PEOPLE_LANE
    return f"service:{services[0]}"[:100] if services else "service:"

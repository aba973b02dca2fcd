"""The plain objects of the script interface: severities and statuses as enums, an
incident as a live view of Tocsin's incident, its timeline entries.

An :class:`Incident` holds only its reference: every read asks the database, so it
always shows what Tocsin holds, and every write goes through Tocsin's services —
setting ``status`` moves the incident through the lifecycle; setting one of its times
corrects that time through the audited timestamp correction (or, for a milestone not
reached yet, reaches it at that time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from tocsin.incidents.rules import IncidentStatus as LifecycleStatus

if TYPE_CHECKING:
    from tocsin.compat.system import IncidentResponseSystem

__all__ = ["Incident", "IncidentStatus", "IncidentTimeline", "SeverityLevel"]


class SeverityLevel(Enum):
    """The four severities; the values are aliases the example policy knows."""

    SEV1 = "sev1_critical"
    SEV2 = "sev2_high"
    SEV3 = "sev3_medium"
    SEV4 = "sev4_low"

    @property
    def policy_name(self) -> str:
        return self.name.lower()


class IncidentStatus(Enum):
    """The script interface's statuses, each one of Tocsin's lifecycle stages."""

    DETECTED = "detected"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def lifecycle(self) -> LifecycleStatus:
        return _LIFECYCLE[self]

    @classmethod
    def of(cls, status: str) -> IncidentStatus:
        """The script status of a Tocsin status (acknowledged reads as investigating)."""
        return _SCRIPT[LifecycleStatus(status)]


_LIFECYCLE = {
    IncidentStatus.DETECTED: LifecycleStatus.triggered,
    IncidentStatus.INVESTIGATING: LifecycleStatus.investigating,
    IncidentStatus.IDENTIFIED: LifecycleStatus.identified,
    IncidentStatus.MONITORING: LifecycleStatus.monitoring,
    IncidentStatus.RESOLVED: LifecycleStatus.resolved,
    IncidentStatus.CLOSED: LifecycleStatus.closed,
}
_SCRIPT = {lifecycle: script for script, lifecycle in _LIFECYCLE.items()}
_SCRIPT[LifecycleStatus.acknowledged] = IncidentStatus.INVESTIGATING


@dataclass(frozen=True)
class IncidentTimeline:
    """One timeline entry: ``event`` is Tocsin's kind (declared, paged, escalated, ...)."""

    timestamp: datetime
    event: str
    actor: str
    details: str


class Incident:
    """A live view of one incident (``id`` is its ``INC-n``)."""

    def __init__(self, system: IncidentResponseSystem, ref: str) -> None:
        object.__setattr__(self, "_system", system)
        object.__setattr__(self, "id", ref)

    _system: IncidentResponseSystem
    id: str

    def __repr__(self) -> str:
        return f"Incident({self.id!r}, {self.title!r}, {self.status})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Incident) and other._system is self._system and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def _read(self) -> Any:
        return self._system.read_incident(self.id)

    # -- what Tocsin holds ---------------------------------------------------------------

    @property
    def title(self) -> str:
        return str(self._read().title)

    @property
    def description(self) -> str:
        return str(self._read().description)

    @property
    def severity(self) -> SeverityLevel:
        return SeverityLevel[self._read().severity.upper()]

    @property
    def status(self) -> IncidentStatus:
        return IncidentStatus.of(self._read().status)

    @status.setter
    def status(self, value: IncidentStatus) -> None:
        self._system.move(self.id, value, actor="script", notes="")

    @property
    def created_at(self) -> datetime:
        """When it was detected (what its time to resolve counts from)."""
        value: datetime = self._read().detected_at
        return value

    @created_at.setter
    def created_at(self, value: datetime) -> None:
        self._system.set_time(self.id, "detected_at", value)

    @property
    def started_at(self) -> datetime | None:
        value: datetime | None = self._read().started_at
        return value

    @started_at.setter
    def started_at(self, value: datetime) -> None:
        self._system.set_time(self.id, "started_at", value)

    @property
    def acknowledged_at(self) -> datetime | None:
        value: datetime | None = self._read().acknowledged_at
        return value

    @acknowledged_at.setter
    def acknowledged_at(self, value: datetime) -> None:
        self._system.set_time(self.id, "acknowledged_at", value)

    @property
    def mitigated_at(self) -> datetime | None:
        value: datetime | None = self._read().mitigated_at
        return value

    @mitigated_at.setter
    def mitigated_at(self, value: datetime) -> None:
        self._system.set_time(self.id, "mitigated_at", value)

    @property
    def resolved_at(self) -> datetime | None:
        value: datetime | None = self._read().resolved_at
        return value

    @resolved_at.setter
    def resolved_at(self, value: datetime) -> None:
        self._system.set_time(self.id, "resolved_at", value)

    @property
    def closed_at(self) -> datetime | None:
        value: datetime | None = self._read().closed_at
        return value

    @property
    def assignee(self) -> str | None:
        """The people paged last (escalating changes them), else the commander."""
        return self._system.assignee_of(self.id)

    @property
    def affected_services(self) -> list[str]:
        return list(self._read().services)

    @property
    def tags(self) -> list[str]:
        return list(self._read().tags)

    @property
    def timeline(self) -> list[IncidentTimeline]:
        return self._system.timeline_of(self.id)

    @property
    def communication_log(self) -> list[dict[str, str]]:
        return self._system.communications_of(self.id)

    @property
    def duration(self) -> timedelta | None:
        read = self._read()
        if read.resolved_at is None:
            return None
        value: timedelta = read.resolved_at - read.detected_at
        return value

    @property
    def mttr_minutes(self) -> float | None:
        duration = self.duration
        return None if duration is None else duration.total_seconds() / 60

    def __setattr__(self, name: str, value: Any) -> None:
        prop = getattr(type(self), name, None)
        if isinstance(prop, property) and prop.fset is not None:
            prop.fset(self, value)
            return
        raise AttributeError(
            f"{name} is not something a script sets; it follows from Tocsin's incident"
        )

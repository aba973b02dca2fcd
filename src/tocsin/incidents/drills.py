"""Drills: incidents declared as rehearsals (``drill: true``, at declaration only).

A drill runs like a real incident for the people taking part — paging, acknowledging,
escalating, updates, the timeline — and reaches nobody else: never the public status
page or its subscribers, never stakeholders, never an outside system (PagerDuty, Jira,
broadcasts), and no metric, SLO or report but the drills section counts it. It pages
the people it names (``drill_responders``), or the normal on-call when it says so
(``drill_pages_oncall``), and every message about it carries :data:`DRILL_MARK`.

:func:`is_drill` is the one predicate every boundary asks: the hook registry runs only
the hooks registered as drill-safe, the stakeholder timers, broadcasts and outside
channels skip a drill, and the metrics leave it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "DRILL_MARK",
    "OUTSIDE_CHANNEL_TYPES",
    "DrillPlan",
    "is_drill",
    "mark_subject",
    "pages_only_its_responders",
]

#: The mark at the start of every message subject about a drill.
DRILL_MARK = "[DRILL]"

#: Channel types that forward to a system outside the team's own tools: a drill's
#: messages never go through them.
OUTSIDE_CHANNEL_TYPES = frozenset({"pagerduty", "jira"})


@dataclass(frozen=True)
class DrillPlan:
    """Who a drill pages, for incidents a game day's alerts open (``name``: the
    scenario's)."""

    name: str
    responders: tuple[str, ...] = ()
    pages_oncall: bool = False

    def fields(self) -> dict[str, Any]:
        """The declaration fields that make an incident this drill."""
        return {
            "drill": True,
            "drill_responders": list(self.responders),
            "drill_pages_oncall": self.pages_oncall,
        }


class _MaybeDrill(Protocol):
    @property
    def drill(self) -> bool: ...

    @property
    def drill_pages_oncall(self) -> bool: ...


def is_drill(incident: _MaybeDrill | None) -> bool:
    """Whether ``incident`` is a drill (None: a message about no incident is not)."""
    return incident is not None and bool(incident.drill)


def pages_only_its_responders(incident: _MaybeDrill) -> bool:
    """A drill that does not page the on-call pages only the people it names: no
    escalation policy, no automatic commander."""
    return is_drill(incident) and not incident.drill_pages_oncall


def mark_subject(subject: str) -> str:
    """``subject`` with the drill mark in front (once)."""
    if subject.startswith(DRILL_MARK):
        return subject
    return f"{DRILL_MARK} {subject}"

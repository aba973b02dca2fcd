"""The plain records the metrics are computed from, and the constants that define them.

No database, no clock: incidents, post-mortem facts and the policy's targets as small
frozen dataclasses. :mod:`tocsin.metrics.rules` re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

__all__ = [
    "DRILL_TAG",
    "REPEAT_WITHIN",
    "SIMILAR_TITLE",
    "SLACK",
    "ActionItemFacts",
    "IncidentFacts",
    "PostmortemInputs",
    "SlaTarget",
    "span",
]

#: The tag that marked drills before they were declared as such; left out of tag counts.
DRILL_TAG = "drill"
#: A repeat incident follows a similar one on the same service within this time.
REPEAT_WITHIN = timedelta(days=7)
#: Titles whose word sets overlap at least this much (Jaccard index) are similar.
SIMILAR_TITLE = 0.5
#: Durations computed by SQLite may be off by some microseconds (see
#: :mod:`tocsin.metrics.sql`); a target is met within this many seconds of slack.
SLACK = 0.0005


def span(start: float | None, end: float | None) -> float | None:
    """Seconds from ``start`` to ``end`` (epoch seconds), rounded to the millisecond so
    that the database's float arithmetic cannot move a value across a target; None if
    either is unknown, 0 if ``end`` comes first."""
    if start is None or end is None:
        return None
    return max(round(end - start, 3), 0.0)


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What metrics need to know about one incident.

    Times are plain numbers: ``detected`` is epoch seconds (UTC) and the four ``to_*``
    fields are the measures' durations in seconds (see :mod:`tocsin.metrics.rules`),
    None while unknown. :meth:`from_times` builds one from datetimes. The rules compute
    on these as columns (:class:`tocsin.metrics.table.IncidentTable`), which is also
    what the database loader builds directly.
    """

    id: int
    number: int
    title: str
    severity: str
    severity_rank: int
    detected: float
    to_detect: float | None = None
    to_acknowledge: float | None = None
    to_mitigate: float | None = None
    #: None while the incident is open.
    to_resolve: float | None = None
    drill: bool = False
    services: tuple[str, ...] = ()
    #: An "escalated" timeline event, or a "paged" event for tier 2 or later.
    escalated: bool = False
    tags: tuple[str, ...] = ()

    @classmethod
    def from_times(
        cls,
        *,
        id: int,
        number: int,
        title: str,
        severity: str,
        severity_rank: int,
        started_at: datetime | None,
        detected_at: datetime,
        acknowledged_at: datetime | None = None,
        mitigated_at: datetime | None = None,
        resolved_at: datetime | None = None,
        services: tuple[str, ...] = (),
        escalated: bool = False,
        drill: bool = False,
        tags: tuple[str, ...] = (),
    ) -> IncidentFacts:
        def epoch(value: datetime | None) -> float | None:
            return None if value is None else value.timestamp()

        detected = detected_at.timestamp()
        return cls(
            id=id,
            number=number,
            title=title,
            severity=severity,
            severity_rank=severity_rank,
            detected=detected,
            to_detect=span(epoch(started_at), detected),
            to_acknowledge=span(detected, epoch(acknowledged_at)),
            to_mitigate=span(detected, epoch(mitigated_at)),
            to_resolve=span(detected, epoch(resolved_at)),
            services=services,
            escalated=escalated,
            drill=drill,
            tags=tags,
        )

    @property
    def detected_at(self) -> datetime:
        return datetime.fromtimestamp(self.detected, UTC)

    @property
    def open(self) -> bool:
        return self.to_resolve is None


@dataclass(frozen=True, slots=True)
class ActionItemFacts:
    """A post-mortem action item, as the post-mortems module reports it."""

    incident_id: int
    title: str
    owner: str | None
    status: str
    due_at: datetime | None
    completed_at: datetime | None


@dataclass(frozen=True)
class PostmortemInputs:
    """What only post-mortems know. Absent (None) until that module provides it, and
    then the metrics that need it are "n/a" rather than a misleading 0 %.

    ``required``: incidents that need a post-mortem; ``completed``: those whose
    post-mortem is done (published); ``categories``: incident id → root-cause category.
    """

    required: frozenset[int] = frozenset()
    completed: frozenset[int] = frozenset()
    categories: Mapping[int, str] = field(default_factory=dict)
    action_items: tuple[ActionItemFacts, ...] = ()


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """A severity's targets from the policy."""

    respond_within: timedelta
    resolve_target: timedelta

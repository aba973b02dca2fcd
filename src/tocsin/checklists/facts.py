"""What has already happened to an incident, for the items that tick themselves.

Each :class:`~tocsin.policy.checklists.AutoTick` event is read from the incident's own
state, so an item attached after its event (a list attached when a role is assigned,
long after the acknowledgement) is ticked at once, and the order in which hooks run
does not matter. The status page sits above this package: whether an incident is on it
is answered by the function :func:`tocsin.wiring.wire` puts in :data:`FACTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.incidents.models import Incident, StatusUpdate
from tocsin.notify.channels.slack import CHANNEL_REF, SYSTEM
from tocsin.notify.refs import find_ref, incident_subject
from tocsin.policy.checklists import AutoTick

__all__ = ["FACTS", "FactSources", "facts_now"]

StatusPageCheck = Callable[[Session, Incident], bool]


@dataclass
class FactSources:
    """Facts that packages above this one know; :func:`tocsin.wiring.wire` fills them."""

    #: Whether the incident has a published status-page incident.
    status_page_published: StatusPageCheck | None = None


#: The process's sources.
FACTS = FactSources()


def _holds(session: Session, incident: Incident, event: AutoTick) -> bool:
    if event is AutoTick.acknowledged:
        return incident.acknowledged_at is not None
    if event is AutoTick.commander_assigned:
        return any(r.role == "commander" for r in incident.roles)
    if event is AutoTick.update_posted:
        first = select(StatusUpdate.id).where(StatusUpdate.incident_id == incident.id).limit(1)
        return session.scalar(first) is not None
    if event is AutoTick.channel_created:
        subject = incident_subject(incident.id)
        return (
            find_ref(session=session, system=SYSTEM, kind=CHANNEL_REF, subject=subject) is not None
        )
    check = FACTS.status_page_published
    return check is not None and check(session, incident)


#: What an incident being declared cannot have yet: an update, a channel (the chat
#: adapter creates it after the declaration commits).
_NOT_YET = frozenset({AutoTick.update_posted, AutoTick.channel_created})


def facts_now(
    session: Session, incident: Incident, wanted: Iterable[AutoTick], *, new: bool = False
) -> set[AutoTick]:
    """Which of the `wanted` events have happened to `incident` (one query at most each);
    ``new``: it is being declared now."""
    return {
        event
        for event in set(wanted)
        if not (new and event in _NOT_YET) and _holds(session, incident, event)
    }

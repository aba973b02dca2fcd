"""The two moves a responder makes from a chat button or a text reply: acknowledge or
resolve, as a person, through the incident service (the same as the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from tocsin.incidents import service
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import IncidentStatus
from tocsin.policy import Policy

__all__ = ["Move", "make_move"]

Move = Literal["acknowledge", "resolve"]


def make_move(
    *, session: Session, policy: Policy, incident: Incident, actor: str, move: Move, now: datetime
) -> str:
    """Acknowledge or resolve ``incident`` as ``actor``; the past tense of what was done."""
    if move == "acknowledge":
        service.acknowledge(session=session, policy=policy, incident=incident, actor=actor, now=now)
        return "acknowledged"
    service.transition(
        session=session,
        policy=policy,
        incident=incident,
        actor=actor,
        target=IncidentStatus.resolved,
        now=now,
    )
    return "resolved"

"""Commands by phone: "ack 4711" or "resolve 4711" replied to an SMS page, and 1
pressed in a page call, performed as the person whose policy ``phone`` it came from.

The changes go through :mod:`tocsin.incidents.service`, as the REST API's do, in that
person's name; the timeline shows the reply or the key press (``chatops_command``) just
before the change it made. A command that changes nothing writes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from tocsin.chatops.incident_moves import make_move
from tocsin.errors import Conflict, NotFound
from tocsin.incidents import service
from tocsin.incidents.rules import IncidentStatus, format_incident_id
from tocsin.incidents.timeline import record
from tocsin.policy import Person, Policy

__all__ = [
    "HELP",
    "UNKNOWN_SENDER",
    "SmsCommand",
    "parse_sms",
    "person_by_phone",
    "run_command",
]

HELP = "Tocsin: reply 'ack 4711' to acknowledge incident INC-4711, or 'resolve 4711' to resolve it."
UNKNOWN_SENDER = (
    "Tocsin: this phone number does not belong to anyone in the Tocsin policy, so nothing "
    "was changed. Ask an admin to add it to your entry."
)
_COMMAND = re.compile(
    r"^\s*(?P<verb>ack|acknowledge|resolve)\b[\s:#-]*(?:inc[\s#-]*)?(?P<number>\d{1,12})?"
    r"\s*[.!]*\s*$",
    re.IGNORECASE,
)
_TITLE_LIMIT = 80


@dataclass(frozen=True)
class SmsCommand:
    action: Literal["ack", "resolve", "help"]
    number: int | None = None


def parse_sms(body: str) -> SmsCommand:
    """'ack 4711', 'ACK INC-4711', 'resolve #12'; anything else asks for help."""
    match = _COMMAND.match(body)
    if match is None or match.group("number") is None:
        return SmsCommand("help")
    verb = match.group("verb").lower()
    return SmsCommand("resolve" if verb == "resolve" else "ack", int(match.group("number")))


def _digits(phone: str) -> str:
    return re.sub(r"[^\d+]", "", phone)


def person_by_phone(policy: Policy, phone: str) -> Person | None:
    """The person with this phone number, however it is punctuated."""
    wanted = _digits(phone)
    if not wanted:
        return None
    return next((p for p in policy.people if p.phone and _digits(p.phone) == wanted), None)


def run_command(
    *,
    session: Session,
    policy: Policy,
    person: Person,
    command: SmsCommand,
    via: Literal["sms", "voice"],
    summary: str,
    now: datetime,
) -> str:
    """Acknowledge or resolve as ``person``; returns the reply (one short sentence)."""
    if command.number is None:
        return HELP
    ref = format_incident_id(command.number)
    try:
        incident = service.get(session=session, ref=ref)
    except NotFound:
        return f"{ref} does not exist; nothing was changed."
    if command.action == "ack" and incident.status != IncidentStatus.triggered:
        return f"{ref} is already {incident.status}; nothing was changed."
    try:
        with session.begin_nested():
            record(
                session=session,
                incident=incident,
                now=now,
                actor=person.name,
                kind="chatops_command",
                summary=summary,
                data={"via": via, "command": command.action},
            )
            done = make_move(
                session=session,
                policy=policy,
                incident=incident,
                actor=person.name,
                move="acknowledge" if command.action == "ack" else "resolve",
                now=now,
            )
    except Conflict as exc:
        return f"{exc}; nothing was changed."
    title = incident.title
    if len(title) > _TITLE_LIMIT:
        title = title[: _TITLE_LIMIT - 3] + "..."
    return f"{ref} {done} by {person.name}: {title}"

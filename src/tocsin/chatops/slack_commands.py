"""``/incident`` in Slack: parse the command text, act as the Slack user's Tocsin person
through the same services the REST API uses, and answer in Slack's format.

Inside an incident's channel the incident is that channel's; elsewhere a command that
needs one takes ``INC-n`` as its first argument. Bad input gets a reply that says what
to type instead, never an error page.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from tocsin.chatops.slack_channels import NAME_REF
from tocsin.chatops.slack_people import LINK_ACCOUNT, mentioned_person, person_for_slack_user
from tocsin.chatops.slack_tasks import TASK_USAGE, task_list_reply
from tocsin.checklists import service as checklists
from tocsin.clock import Clock
from tocsin.db import SessionFactory, session_scope
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.incidents import paging, service
from tocsin.incidents.models import Incident, IncidentCreate, StatusUpdateCreate
from tocsin.incidents.rules import IncidentStatus, format_incident_id
from tocsin.notify.channels.slack import CHANNEL_REF, SYSTEM
from tocsin.notify.refs import find_ref, find_subject, incident_subject
from tocsin.policy import Person, Policy, format_duration
from tocsin.runbooks import service as runbooks

__all__ = ["HELP", "Reply", "SlashCommand", "run_command"]

HELP = "\n".join(
    [
        "*Tocsin* `/incident` commands:",
        '• `/incident create "title" sev2 [service ...]`: declare an incident '
        "(`--drill [--responder NAME] [--page-oncall]` for a drill)",
        "• `/incident status`: where it stands",
        "• `/incident update <text>`: post a status update",
        "• `/incident escalate`: page the next tier now",
        "• `/incident resolve [text]`: resolve it",
        "• `/incident timeline`: what happened so far",
        "• `/incident runbook [name]`: a runbook's steps (without a name: the runbooks)",
        "• `/incident task [list]`, `/incident task done N`, `/incident task skip N <why>`: "
        "the incident's checklists",
        "• `/incident diagnose [collector]`: run the policy's diagnostics for the incident",
        "• `/incident page @person <message>`: page someone for this incident",
        "In an incident's channel the commands act on its incident; elsewhere name it "
        "first: `/incident status INC-7`.",
    ]
)
_TIMELINE_ROWS = 20
_INCIDENT_ARG = re.compile(r"^inc-\d{1,12}$", re.IGNORECASE)


@dataclass(frozen=True)
class SlashCommand:
    """The fields of Slack's slash-command request that matter here."""

    text: str
    user_id: str
    channel_id: str


@dataclass(frozen=True)
class Reply:
    text: str
    in_channel: bool = False
    blocks: tuple[dict[str, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "response_type": "in_channel" if self.in_channel else "ephemeral",
            "text": self.text,
        }
        if self.blocks:
            answer["blocks"] = list(self.blocks)
        return answer


class CommandError(Exception):
    """Input the command cannot use; ``str()`` is the reply."""


@dataclass(frozen=True)
class _Call:
    session: Session
    policy: Policy
    now: datetime
    person: Person
    command: SlashCommand

    def incident(self, rest: str) -> tuple[Incident, str]:
        """The incident named first in ``rest``, else the channel's; and what is left."""
        first, _, remaining = rest.partition(" ")
        if _INCIDENT_ARG.match(first):
            return service.get(session=self.session, ref=first), remaining.strip()
        subject = find_subject(
            session=self.session,
            system=SYSTEM,
            kind=CHANNEL_REF,
            external_id=self.command.channel_id,
        )
        if subject is not None and subject.startswith("incident:"):
            found = service.get_by_id(session=self.session, incident_id=int(subject[9:]))
            if found is not None:
                return found, rest
        raise CommandError(
            "Which incident? Run the command in the incident's channel, or name it first: "
            "`/incident status INC-7`."
        )


def run_command(
    *, sessions: SessionFactory, policy: Policy, clock: Clock, command: SlashCommand
) -> Reply:
    parts = command.text.strip().split(maxsplit=1)
    name = parts[0].lower() if parts else ""
    rest = parts[1].strip() if len(parts) > 1 else ""
    if name in {"", "help"}:
        return Reply(HELP)
    handler = _COMMANDS.get(name)
    if handler is None:
        return Reply(f"I don't know `{name}`.\n{HELP}")
    person = person_for_slack_user(policy, command.user_id)
    if person is None:
        return Reply(LINK_ACCOUNT.format(user=command.user_id))
    try:
        with session_scope(sessions) as session:
            return handler(_Call(session, policy, clock.now(), person, command), rest)
    except CommandError as exc:
        return Reply(str(exc))
    except (NotFound, Conflict, InvalidInput) as exc:
        return Reply(f"That did not work: {exc}")


# ---------------------------------------------------------------- the commands


_CREATE_USAGE = (
    '`/incident create "title" sev2 [service ...] [--drill [--responder NAME ...] [--page-oncall]]`'
)


def _drill_options(words: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Take ``--drill``, ``--responder NAME`` (repeatable) and ``--page-oncall`` out of
    ``words``; the rest, and the drill's fields (none unless ``--drill``)."""
    rest: list[str] = []
    responders: list[str] = []
    drill = page_oncall = False
    items = iter(words)
    for word in items:
        if word == "--drill":
            drill = True
        elif word == "--page-oncall":
            page_oncall = True
        elif word == "--responder":
            name = next(items, None)
            if name is None:
                raise CommandError("--responder needs a person's name")
            responders.append(name.lstrip("@"))
        elif word.startswith("--"):
            raise CommandError(f"unknown option {word}; usage: {_CREATE_USAGE}")
        else:
            rest.append(word)
    if not drill:
        if responders or page_oncall:
            raise CommandError("--responder and --page-oncall are for drills: add --drill")
        return rest, {}
    fields = {"drill": True, "drill_responders": responders, "drill_pages_oncall": page_oncall}
    return rest, fields


def _create(call: _Call, rest: str) -> Reply:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise CommandError(f'I could not read that ({exc}); put the title in "quotes".') from None
    words, drill = _drill_options(words)
    if len(words) < 2:
        raise CommandError(f"Usage: {_CREATE_USAGE}")
    title, severity, services = words[0], words[1], words[2:]
    try:
        data = IncidentCreate(title=title, severity=severity, services=services, **drill)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        raise CommandError(f"{field}: {problem['msg']}") from None
    incident = service.declare(
        session=call.session, policy=call.policy, actor=call.person.name, data=data, now=call.now
    )
    ref = format_incident_id(incident.number)
    what = "a drill, " if incident.drill else ""
    lines = [
        f"{call.person.display_name} declared {what}*{ref}* [{incident.severity}] {incident.title}"
    ]
    if services:
        lines.append(f"Services: {', '.join(sorted(services))}")
    reserved = find_ref(
        session=call.session, system=SYSTEM, kind=NAME_REF, subject=incident_subject(incident.id)
    )
    if reserved is not None:
        lines.append(f"Incident channel: #{reserved.external_id}")
    return Reply("\n".join(lines), in_channel=True)


def _status(call: _Call, rest: str) -> Reply:
    incident, _ = call.incident(rest)
    ref = format_incident_id(incident.number)
    commanders = [r.person for r in incident.roles if r.role == "commander"]
    services = ", ".join(sorted(s.service for s in incident.services)) or "none"
    age = format_duration(
        timedelta(minutes=int((call.now - incident.created_at).total_seconds() // 60))
    )
    lines = [
        f"*{ref}* [{incident.severity}] {incident.title}",
        f"Status: *{incident.status}* · Commander: {', '.join(commanders) or 'not assigned'}"
        f" · Services: {services}",
        f"Declared {incident.created_at:%Y-%m-%d %H:%M} UTC ({age} ago)",
    ]
    updates = service.list_updates(session=call.session, incident=incident)
    if updates:
        latest = updates[-1]
        lines.append(
            f"Latest update ({latest.created_at:%H:%M} UTC, {latest.actor}): {latest.message}"
        )
    return Reply("\n".join(lines))


def _update(call: _Call, rest: str) -> Reply:
    incident, text = call.incident(rest)
    if not text:
        raise CommandError("Usage: `/incident update <what changed>`")
    service.post_update(
        session=call.session,
        policy=call.policy,
        incident=incident,
        actor=call.person.name,
        data=StatusUpdateCreate(message=text),
        now=call.now,
    )
    ref = format_incident_id(incident.number)
    return Reply(f"Update on *{ref}* from {call.person.display_name}: {text}", in_channel=True)


def _escalate(call: _Call, rest: str) -> Reply:
    incident, _ = call.incident(rest)
    paged = paging.escalate_now(
        session=call.session,
        policy=call.policy,
        incident=incident,
        now=call.now,
        actor=call.person.name,
        reason=f"requested in Slack by {call.person.name}",
    )
    ref = format_incident_id(incident.number)
    who = ", ".join(paged) if paged else "nobody (no escalation policy applies)"
    return Reply(f"{call.person.display_name} escalated *{ref}*: paging {who}", in_channel=True)


def _resolve(call: _Call, rest: str) -> Reply:
    incident, text = call.incident(rest)
    service.transition(
        session=call.session,
        policy=call.policy,
        incident=incident,
        actor=call.person.name,
        target=IncidentStatus.resolved,
        now=call.now,
        message=text or None,
    )
    ref = format_incident_id(incident.number)
    note = f": {text}" if text else ""
    return Reply(f"{call.person.display_name} resolved *{ref}*{note}", in_channel=True)


def _timeline(call: _Call, rest: str) -> Reply:
    incident, _ = call.incident(rest)
    events = service.timeline(session=call.session, incident=incident)
    shown = events[-_TIMELINE_ROWS:]
    lines = [f"*{format_incident_id(incident.number)}* timeline (UTC):"]
    if len(events) > len(shown):
        lines.append(f"… {len(events) - len(shown)} earlier events")
    lines += [f"`{e.at:%m-%d %H:%M}` *{e.kind}* ({e.actor}) {e.summary}" for e in shown]
    return Reply("\n".join(lines))


def _runbook(call: _Call, rest: str) -> Reply:
    runbooks = call.policy.runbooks
    name = rest.split(maxsplit=1)[0] if rest else ""
    if not name:
        if not runbooks:
            return Reply("The policy has no runbooks yet (the `runbooks` section).")
        listed = [
            f"• `{n}`: {r.description}" if r.description else f"• `{n}`"
            for n, r in sorted(runbooks.items())
        ]
        return Reply("Runbooks:\n" + "\n".join(listed))
    runbook = runbooks.get(name)
    if runbook is None:
        known = ", ".join(f"`{n}`" for n in sorted(runbooks)) or "none"
        raise CommandError(f"No runbook called `{name}`. Known: {known}")
    lines = [f"*Runbook {name}*" + (f": {runbook.description}" if runbook.description else "")]
    for number, step in enumerate(runbook.steps, start=1):
        lines.append(f"{number}. {step.title}")
        if step.command:
            lines.append(f"    `{step.command}`")
        if step.details:
            lines.append(f"    {step.details}")
    return Reply("\n".join(lines))


def _diagnose(call: _Call, rest: str) -> Reply:
    incident, name = call.incident(rest)
    runs = runbooks.request_diagnostics(
        session=call.session,
        policy=call.policy,
        incident=incident,
        actor=call.person.name,
        collector=name.split()[0] if name else None,
        now=call.now,
    )
    ref = format_incident_id(incident.number)
    names = ", ".join(f"`{r.name}`" for r in runs)
    return Reply(
        f"{call.person.display_name} asked for diagnostics on *{ref}*: {names}; the results "
        "attach to the incident (`/incident timeline`, the incident page).",
        in_channel=True,
    )


def _page(call: _Call, rest: str) -> Reply:
    who, _, remaining = rest.partition(" ")
    if not who:
        raise CommandError("Usage: `/incident page @person <message>`")
    target = mentioned_person(call.policy, who)
    if target is None:
        raise CommandError(f"I don't know {who}: name a person of the Tocsin policy (`@alice`).")
    incident, message = call.incident(remaining.strip())
    paging.reassign(
        session=call.session,
        policy=call.policy,
        incident=incident,
        person=target.name,
        now=call.now,
        actor=call.person.name,
        note=message or None,
    )
    ref = format_incident_id(incident.number)
    note = f": {message}" if message else ""
    return Reply(
        f"{call.person.display_name} paged {target.display_name} for *{ref}*{note}",
        in_channel=True,
    )


def _task(call: _Call, rest: str) -> Reply:
    incident, text = call.incident(rest)
    words = text.split(maxsplit=2)
    action = words[0].lower() if words else "list"
    if action == "list":
        text, blocks = task_list_reply(call.session, call.policy, incident, call.now)
        return Reply(text, blocks=blocks)
    if action not in {"done", "skip"} or len(words) < 2 or not words[1].isdigit():
        raise CommandError(TASK_USAGE)
    if action == "skip" and len(words) < 3:
        raise CommandError("Say why: `/incident task skip N <why it does not apply>`")
    item = checklists.settle(
        session=call.session,
        incident=incident,
        number=int(words[1]),
        actor=call.person.name,
        now=call.now,
        skip_reason=words[2] if action == "skip" else None,
    )
    ref = format_incident_id(incident.number)
    if action == "skip":
        what = f"skipped {item.number}. {item.text} on *{ref}*: {item.reason}"
    else:
        what = f"ticked {item.number}. {item.text} on *{ref}*"
    return Reply(f"{call.person.display_name} {what}", in_channel=True)


_COMMANDS: dict[str, Callable[[_Call, str], Reply]] = {
    "create": _create,
    "declare": _create,
    "status": _status,
    "update": _update,
    "escalate": _escalate,
    "resolve": _resolve,
    "timeline": _timeline,
    "runbook": _runbook,
    "runbooks": _runbook,
    "page": _page,
    "task": _task,
    "tasks": _task,
    "diagnose": _diagnose,
}

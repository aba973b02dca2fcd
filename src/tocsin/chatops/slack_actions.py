"""Slack's interactivity payloads: the Acknowledge and Resolve buttons, acted on as the
Slack user's Tocsin person through the same services the REST API uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tocsin.chatops.incident_moves import make_move
from tocsin.chatops.slack_channels import PLAYBOOK_APPROVE_ACTION, PLAYBOOK_DECLINE_ACTION
from tocsin.chatops.slack_people import LINK_ACCOUNT, person_for_slack_user
from tocsin.chatops.slack_tasks import TASK_DONE_ACTION, parse_task_value
from tocsin.checklists import service as checklists
from tocsin.clock import Clock
from tocsin.db import SessionFactory, session_scope
from tocsin.errors import Conflict, InvalidInput, NotFound
from tocsin.incidents import service
from tocsin.incidents.rules import format_incident_id
from tocsin.notify.channels.slack_blocks import ACKNOWLEDGE_ACTION, RESOLVE_ACTION
from tocsin.policy import Person, Policy
from tocsin.runbooks import service as runbooks

__all__ = ["run_action"]


def _user_id(payload: Mapping[str, Any]) -> str:
    user = payload.get("user")
    return str(user.get("id") or "") if isinstance(user, Mapping) else ""


def run_action(
    *, sessions: SessionFactory, policy: Policy, clock: Clock, payload: Mapping[str, Any]
) -> str:
    """Perform the clicked button's action; the sentence to show the user."""
    if payload.get("type") != "block_actions":
        return f"Tocsin does not handle {payload.get('type')!r} interactions."
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    if not isinstance(action, Mapping):
        return "That interaction carried no action."
    action_id = action.get("action_id")
    if action_id not in {ACKNOWLEDGE_ACTION, RESOLVE_ACTION, TASK_DONE_ACTION, *_PLAYBOOK_ACTIONS}:
        return f"Tocsin does not know the action {action_id!r}."
    user_id = _user_id(payload)
    person = person_for_slack_user(policy, user_id)
    if person is None:
        return LINK_ACCOUNT.format(user=user_id or "<your member id>")
    ref = str(action.get("value") or "")
    if action_id == TASK_DONE_ACTION:
        return _tick(sessions=sessions, clock=clock, value=ref, actor=person.name)
    if action_id in _PLAYBOOK_ACTIONS:
        return _decide_playbook(
            sessions=sessions,
            policy=policy,
            clock=clock,
            approve=action_id == PLAYBOOK_APPROVE_ACTION,
            value=ref,
            person=person,
        )
    try:
        with session_scope(sessions) as session:
            incident = service.get(session=session, ref=ref)
            done = make_move(
                session=session,
                policy=policy,
                incident=incident,
                actor=person.name,
                move="acknowledge" if action_id == ACKNOWLEDGE_ACTION else "resolve",
                now=clock.now(),
            )
            number = format_incident_id(incident.number)
    except (NotFound, Conflict, InvalidInput) as exc:
        return f"That did not work: {exc}"
    return f"{number} {done} by {person.display_name}."


def _tick(*, sessions: SessionFactory, clock: Clock, value: str, actor: str) -> str:
    """A checklist item's Done button (value ``INC-7/3``)."""
    parsed = parse_task_value(value)
    if parsed is None:
        return "That button names no checklist item."
    ref, number = parsed
    try:
        with session_scope(sessions) as session:
            incident = service.get(session=session, ref=ref)
            item = checklists.settle(
                session=session, incident=incident, number=number, actor=actor, now=clock.now()
            )
            done = f"Ticked {item.number}. {item.text} on {format_incident_id(incident.number)}"
    except (NotFound, Conflict, InvalidInput) as exc:
        return f"That did not work: {exc}"
    return f"{done} ({actor})."


_PLAYBOOK_ACTIONS = frozenset({PLAYBOOK_APPROVE_ACTION, PLAYBOOK_DECLINE_ACTION})


def _decide_playbook(
    *,
    sessions: SessionFactory,
    policy: Policy,
    clock: Clock,
    approve: bool,
    value: str,
    person: Person,
) -> str:
    """The Approve / Decline buttons of a proposed playbook: the commander only (a Slack
    user acts as their policy person, never as an admin)."""
    ref, _, name = value.partition("/")
    decide = runbooks.approve if approve else runbooks.decline
    try:
        with session_scope(sessions) as session:
            incident = service.get(session=session, ref=ref)
            decide(
                session=session,
                policy=policy,
                incident=incident,
                name=name,
                actor=person.name,
                person=person.name,
                admin=False,
                now=clock.now(),
            )
    except (NotFound, Conflict, InvalidInput, runbooks.NotAllowed) as exc:
        return f"That did not work: {exc}"
    done = "approved; its actions run now" if approve else "declined"
    return f"Playbook {name} on {ref} {done} by {person.display_name}."

"""An incident's checklists in Slack: the list ``/incident task`` answers with (a Done
button beside each open item), and the click on such a button."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tocsin.checklists import service as checklists
from tocsin.incidents.models import Incident
from tocsin.incidents.rules import format_incident_id
from tocsin.notify.channels.slack_blocks import TASK_DONE_ACTION
from tocsin.policy import Policy

__all__ = ["TASK_DONE_ACTION", "TASK_USAGE", "parse_task_value", "task_list_reply"]

TASK_USAGE = (
    "Usage: `/incident task` (the checklists), `/incident task done N`, "
    "`/incident task skip N <why it does not apply>`"
)
_MARKS = {"done": ":white_check_mark:", "skipped": ":heavy_minus_sign:"}
#: Slack allows 50 blocks in a message.
_MAX_BLOCKS = 50


def parse_task_value(value: str) -> tuple[str, int] | None:
    """``INC-7/3`` → ("INC-7", 3); None for anything else."""
    ref, _, number = value.partition("/")
    return (ref, int(number)) if ref and number.isdigit() else None


def _line(item: Any) -> str:
    mark = _MARKS.get(item.state.value, ":white_large_square:")
    text = f"{mark} {item.number}. {item.text}"
    if item.state.value == "done":
        return f"{text} ({item.settled_by})"
    if item.state.value == "skipped":
        return f"{text} (skipped by {item.settled_by}: {item.reason})"
    if item.overdue:
        return f"{text} *overdue*"
    return text


def task_list_reply(
    session: Session, policy: Policy, incident: Incident, now: datetime
) -> tuple[str, tuple[dict[str, Any], ...]]:
    """The reply's text, and its blocks (none when there would be too many)."""
    tasks = checklists.task_list(session=session, policy=policy, incident=incident, now=now)
    ref = format_incident_id(incident.number)
    if not tasks.checklists:
        return f"*{ref}* has no checklist.", ()
    lines = [f"*{ref}* checklists: {tasks.open} open"]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": lines[0]}}
    ]
    for checklist in tasks.checklists:
        owner = f" ({checklist.role})" if checklist.role else ""
        lines.append(f"*{checklist.heading}*{owner}")
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{checklist.heading}*{owner}"}}
        )
        for item in checklist.items:
            lines.append(_line(item))
            block: dict[str, Any] = {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _line(item)},
            }
            if item.state.value == "open":
                block["accessory"] = {
                    "type": "button",
                    "action_id": TASK_DONE_ACTION,
                    "text": {"type": "plain_text", "text": "Done"},
                    "value": f"{ref}/{item.number}",
                }
            blocks.append(block)
    text = "\n".join(lines)
    return text, tuple(blocks) if len(blocks) <= _MAX_BLOCKS else ()

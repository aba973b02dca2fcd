"""Block Kit for Slack messages: the pinned incident summary and pages with buttons.

Pure functions over plain data. The buttons carry the incident id (``INC-7``) as their
``value``; the interactivity endpoint (:mod:`tocsin.web.routes.chatops_slack`) acts on
them by ``action_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ACKNOWLEDGE_ACTION",
    "RESOLVE_ACTION",
    "SUMMARY_EVENT",
    "TASK_DONE_ACTION",
    "incident_url",
    "message_blocks",
    "summary_blocks",
    "summary_text",
]

ACKNOWLEDGE_ACTION = "tocsin_acknowledge"
RESOLVE_ACTION = "tocsin_resolve"
#: Ticks a checklist item; its value is ``INC-7/3`` (the incident, the item's number).
TASK_DONE_ACTION = "tocsin_task_done"
#: Slack message-metadata event type of the pinned summary.
SUMMARY_EVENT = "tocsin_incident_summary"

_DONE = {"resolved", "closed"}
_HEADER_MAX = 150  # Slack's limit for plain_text in a header block
_TEXT_MAX = 3000  # ... and for a section's text


def incident_url(public_url: str | None, incident_id: str) -> str | None:
    """The incident's dashboard page, when Tocsin knows its public address."""
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/dashboard/incidents/{incident_id}"


def _escape(text: str) -> str:
    """Slack mrkdwn needs &, < and > escaped; nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _buttons(incident_id: str, status: str) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    if status == "triggered":
        buttons.append(
            {
                "type": "button",
                "action_id": ACKNOWLEDGE_ACTION,
                "text": {"type": "plain_text", "text": "Acknowledge"},
                "style": "primary",
                "value": incident_id,
            }
        )
    if status not in _DONE:
        buttons.append(
            {
                "type": "button",
                "action_id": RESOLVE_ACTION,
                "text": {"type": "plain_text", "text": "Resolve"},
                "style": "danger",
                "value": incident_id,
                "confirm": {
                    "title": {"type": "plain_text", "text": f"Resolve {incident_id}?"},
                    "text": {"type": "mrkdwn", "text": "The impact is over and paging stops."},
                    "confirm": {"type": "plain_text", "text": "Resolve"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                },
            }
        )
    return buttons


def summary_text(summary: Mapping[str, Any]) -> str:
    """The summary as one line: the notification text of the message."""
    return f"[{summary['severity']}] {summary['id']}: {summary['title']} ({summary['status']})"


#: The lists a pinned summary may carry, in the order shown, with their headings.
_LISTS = (
    ("downstream_of", "Downstream of"),
    ("hints", "Likely causes"),
    ("recent_changes", "Recent changes"),
)


def summary_blocks(summary: Mapping[str, Any], *, url: str | None) -> list[dict[str, Any]]:
    """The pinned summary: title, severity, status, commander, services, upstream
    incidents, likely causes, recent changes, link, buttons."""
    services: Sequence[str] = summary.get("services") or ()
    fields = [
        ("Severity", str(summary["severity"])),
        ("Status", str(summary["status"])),
        ("Commander", str(summary.get("commander") or "not assigned")),
        ("Services", ", ".join(services) or "none"),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": f"{summary['id']}: {summary['title']}"[:_HEADER_MAX],
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{_escape(value)}"} for name, value in fields
            ],
        },
    ]
    for key, heading in _LISTS:
        lines: Sequence[str] = summary.get(key) or ()
        if lines:
            text = f"*{heading}*\n" + "\n".join(f"• {_escape(str(line))}" for line in lines)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:_TEXT_MAX]}})
    if url:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{url}|Open {summary['id']} in Tocsin>"}],
            }
        )
    buttons = _buttons(str(summary["id"]), str(summary["status"]))
    if buttons:
        blocks.append({"type": "actions", "block_id": "tocsin_incident", "elements": buttons})
    return blocks


def message_blocks(
    *,
    subject: str,
    text: str,
    incident_id: str | None,
    status: str | None,
    url: str | None,
    task: int | None = None,
) -> list[dict[str, Any]]:
    """A message (a page, an announcement) with the incident's buttons when it has one;
    ``task``: the checklist item it reminds of, which gets a Done button first."""
    body = f"*{_escape(subject)}*\n{_escape(text)}" if subject else _escape(text)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": body[:_TEXT_MAX]}}
    ]
    if incident_id is not None and url:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{url}|Open {incident_id} in Tocsin>"}],
            }
        )
    if incident_id is not None and status is not None:
        buttons = _buttons(incident_id, status)
        if task is not None and status not in _DONE:
            done = {
                "type": "button",
                "action_id": TASK_DONE_ACTION,
                "text": {"type": "plain_text", "text": f"Done: item {task}"},
                "value": f"{incident_id}/{task}",
            }
            buttons.insert(0, done)
        if buttons:
            blocks.append({"type": "actions", "block_id": "tocsin_incident", "elements": buttons})
    return blocks

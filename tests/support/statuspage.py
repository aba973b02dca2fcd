"""Helpers for the status page tests: an API client, the worker, and a structural
checker for Atlassian Statuspage's documented JSON shape.

The shape (field names and JSON types) is Atlassian's public ``/api/v2/summary.json``
as documented on any Statuspage page's ``/api`` and in its API reference:

- ``page``: id, name, url, time_zone, updated_at (strings)
- ``status``: indicator (none|minor|major|critical), description
- ``components[]``: id, name, status, created_at, updated_at (strings), position (int),
  description (string|null), showcase (bool), start_date (string|null),
  group_id (string|null), page_id (string), group (bool), only_show_if_degraded (bool)
  and, for a group, components (list of ids)
- ``incidents[]``: id, name, status, created_at, updated_at, monitoring_at|null,
  resolved_at|null, impact, shortlink, started_at, page_id, incident_updates[],
  components[]
- ``incident_updates[]``: id, status, body, incident_id, created_at, updated_at,
  display_at, affected_components (list|null), deliver_notifications (bool),
  custom_tweet|null, tweet_id|null
- ``scheduled_maintenances[]``: the incident fields plus scheduled_for, scheduled_until
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

from tocsin.db import session_scope
from tocsin.engine.worker import Worker
from tocsin.web.context import AppContext

__all__ = [
    "COMPONENT",
    "INCIDENT",
    "MAINTENANCE",
    "PAGE",
    "SUMMARY",
    "check_shape",
    "edit_policy",
    "run_worker",
    "walk_strings",
]

STR = str
NULLABLE_STR = (str, type(None))
TIME = "time"  # a string with an ISO-8601 date-time
NULLABLE_TIME = "time|null"

PAGE = {"id": STR, "name": STR, "url": STR, "time_zone": STR, "updated_at": TIME}
STATUS = {"indicator": ("none", "minor", "major", "critical"), "description": STR}
COMPONENT_STATUSES = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
)
COMPONENT = {
    "id": STR,
    "name": STR,
    "status": COMPONENT_STATUSES,
    "created_at": TIME,
    "updated_at": TIME,
    "position": int,
    "description": NULLABLE_STR,
    "showcase": bool,
    "start_date": NULLABLE_STR,
    "group_id": NULLABLE_STR,
    "page_id": STR,
    "group": bool,
    "only_show_if_degraded": bool,
}
GROUP_EXTRA = {"components": [STR]}
AFFECTED = {"code": STR, "name": STR, "old_status": COMPONENT_STATUSES, "new_status": STR}
UPDATE = {
    "id": STR,
    "status": STR,
    "body": STR,
    "incident_id": STR,
    "created_at": TIME,
    "updated_at": TIME,
    "display_at": TIME,
    "affected_components": ([AFFECTED], None),
    "deliver_notifications": bool,
    "custom_tweet": NULLABLE_STR,
    "tweet_id": NULLABLE_STR,
}
INCIDENT = {
    "id": STR,
    "name": STR,
    "status": ("investigating", "identified", "monitoring", "resolved", "postmortem"),
    "created_at": TIME,
    "updated_at": TIME,
    "monitoring_at": NULLABLE_TIME,
    "resolved_at": NULLABLE_TIME,
    "impact": ("none", "minor", "major", "critical"),
    "shortlink": STR,
    "started_at": TIME,
    "page_id": STR,
    "incident_updates": [UPDATE],
    "components": [COMPONENT],
}
MAINTENANCE = {
    **INCIDENT,
    "status": ("scheduled", "in_progress", "verifying", "completed"),
    "impact": ("none", "minor", "major", "critical", "maintenance"),
    "scheduled_for": TIME,
    "scheduled_until": TIME,
}
SUMMARY = {
    "page": PAGE,
    "components": [COMPONENT],
    "incidents": [INCIDENT],
    "scheduled_maintenances": [MAINTENANCE],
    "status": STATUS,
}


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return value.endswith("Z") or "+" in value[10:]


def check_shape(value: Any, shape: Any, path: str = "$") -> list[str]:
    """Every place where ``value`` differs from ``shape``; [] if it conforms.

    A shape is a dict (exactly these keys; a component may also carry its group's
    ``components``), a one-element list (a list of that), a type, a tuple of allowed
    literal values / types / shapes, or ``TIME`` / ``NULLABLE_TIME``.
    """
    problems: list[str] = []
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        expected = dict(shape)
        if shape is COMPONENT and value.get("group") is True:
            expected.update(GROUP_EXTRA)
        missing = sorted(set(expected) - set(value))
        extra = sorted(set(value) - set(expected))
        problems += [f"{path}: missing {name}" for name in missing]
        problems += [f"{path}: unexpected {name}" for name in extra]
        for name in set(expected) & set(value):
            problems += check_shape(value[name], expected[name], f"{path}.{name}")
        return problems
    if isinstance(shape, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        for index, item in enumerate(value):
            problems += check_shape(item, shape[0], f"{path}[{index}]")
        return problems
    if shape == TIME:
        return [] if _is_time(value) else [f"{path}: expected a date-time, got {value!r}"]
    if shape == NULLABLE_TIME:
        ok = value is None or _is_time(value)
        return [] if ok else [f"{path}: expected a date-time or null, got {value!r}"]
    if isinstance(shape, tuple):
        for option in shape:
            if option is None and value is None:
                return []
            if isinstance(option, type) and isinstance(value, option):
                return []
            if isinstance(option, str) and value == option:
                return []
            if isinstance(option, (list, dict)) and not check_shape(value, option, path):
                return []
        return [f"{path}: {value!r} is none of {shape!r}"]
    if isinstance(shape, type):
        # bool is an int in Python; JSON keeps them apart
        if shape is int and isinstance(value, bool):
            return [f"{path}: expected an integer, got a boolean"]
        if isinstance(value, shape):
            return []
        return [f"{path}: expected {shape.__name__}, got {type(value).__name__}"]
    raise AssertionError(f"bad shape at {path}: {shape!r}")


def run_worker(context: AppContext) -> int:
    """Handle every job due now (the status page's subscriber fan-out among them)."""
    return Worker(sessions=context.sessions, policy=context.policy, clock=context.clock).run_due()


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)


def client(url: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=url, headers=headers, timeout=10)


def notifications(context: AppContext, kind: str = "subscriber") -> list[dict[str, Any]]:
    """The outbox rows of ``kind`` as plain dicts, oldest first."""
    from sqlalchemy import select

    from tocsin.notify.models import Notification

    with session_scope(context.sessions, write=False) as session:
        rows = session.scalars(
            select(Notification).where(Notification.kind == kind).order_by(Notification.id)
        )
        return [
            {
                "key": r.key,
                "person": r.person,
                "channel": r.channel,
                "subject": r.subject,
                "body": r.body,
                "data": dict(r.data),
                "incident_id": r.incident_id,
            }
            for r in rows
        ]


def edit_policy(context: AppContext, change: Callable[[Any], None]) -> None:
    """Rewrite the running policy file with ``change(document)`` and reload it."""
    path = context.policy.path
    assert isinstance(path, Path)
    yaml = YAML()
    document = yaml.load(path.read_text(encoding="utf-8"))
    change(document)
    out = io.StringIO()
    yaml.dump(document, out)
    path.write_text(out.getvalue(), encoding="utf-8")
    context.policy.reload()

"""Opsgenie's Alert API (``POST /v2/alerts``, ``.../close``, ``.../acknowledge``) into
:class:`AlertEvent`, and the bodies Opsgenie's clients expect back.

A create request::

    {"message": "at most 130 characters", "alias": "dedup key, at most 512",
     "description": "at most 15000", "responders": [{"type": "team", "name": "ops"}],
     "visibleTo": [...], "actions": ["Restart"], "tags": ["critical"],
     "details": {"key": "value"}, "entity": "...", "source": "...",
     "priority": "P1".."P5", "user": "...", "note": "..."}

``alias`` is the deduplication key, as at Opsgenie: a create for an alias whose alert
is still open only counts a repeat; without an alias, the message is the alias.
Priorities map onto PagerDuty's severity words (P1 critical, P2 error, P3 warning, P4
and P5 info; P3 when absent, Opsgenie's default), which routing turns into the
policy's severities; the priority itself, ``entity`` and ``source`` become labels
(routes can match them), ``details`` become annotations, and ``tags`` and
``responders`` are kept as annotations for the people reading the alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from tocsin.ingest import _fields as f
from tocsin.ingest.events import Action, AlertEvent, IngestError

__all__ = [
    "ACTION_MAX",
    "ALIAS_MAX",
    "DESCRIPTION_MAX",
    "FIELD_MAX",
    "MESSAGE_MAX",
    "PRIORITIES",
    "RESPONDER_TYPES",
    "could_be_alias",
    "og_error_body",
    "og_error_for",
    "og_success_body",
    "parse_og_action",
    "parse_og_create",
]

MESSAGE_MAX = 130
ALIAS_MAX = 512
DESCRIPTION_MAX = 15000
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
#: Opsgenie's priority as the severity word routing understands (PagerDuty's words:
#: the example policy names P1 as an alias of its *second* severity, so the priority
#: itself must not reach routing as a severity name).
SEVERITY_OF_PRIORITY = {
    "P1": "critical",
    "P2": "error",
    "P3": "warning",
    "P4": "info",
    "P5": "info",
}
#: Stored dedup keys are at most 255 characters; longer aliases are stored hashed.
_DEDUP_MAX = 255
RESPONDER_TYPES = ("team", "user", "escalation", "schedule")
ACTION_MAX = 100
#: ``entity`` and ``source``.
FIELD_MAX = 512


def dedup_key_of(alias: str) -> str:
    """The stored dedup key for an alias (the alias itself when it fits)."""
    if len(alias) <= _DEDUP_MAX:
        return alias
    return "alias-sha256:" + hashlib.sha256(alias.encode("utf-8", "surrogatepass")).hexdigest()


def parse_og_create(body: Any) -> AlertEvent:
    """The alert a create request describes; raises :class:`IngestError`."""
    data = f.obj(body, f.BODY)
    message = f.req_str(data, "message", f.BODY, max_len=MESSAGE_MAX)
    alias = f.opt_str(data, "alias", f.BODY, max_len=ALIAS_MAX)
    if alias is None or not alias.strip():
        alias = message
    description = f.opt_str(data, "description", f.BODY, max_len=DESCRIPTION_MAX) or ""
    priority = data.get("priority")
    if priority is None or priority == "":
        priority = "P3"
    elif priority not in PRIORITIES:
        raise IngestError("priority", f"must be one of {', '.join(PRIORITIES)}, not {priority!r}")
    labels: dict[str, str] = {"priority": priority}
    for name in ("entity", "source"):
        value = f.opt_str(data, name, f.BODY, max_len=FIELD_MAX)
        if value:
            labels[name] = value
    annotations = f.str_map(data, "details", f.BODY, coerce=True)
    tags = _strings(data, "tags")
    if tags:
        annotations.setdefault("tags", ", ".join(tags))
    responders = _responders(data, "responders")
    _responders(data, "visibleTo")  # checked; kept in raw
    if responders:
        annotations.setdefault("responders", ", ".join(responders))
    for name in ("user", "note"):
        value = f.opt_str(data, name, f.BODY, max_len=DESCRIPTION_MAX)
        if value:
            annotations.setdefault(name, value)
    for index, action in enumerate(_strings(data, "actions")):
        if len(action) > ACTION_MAX:
            raise IngestError(f"actions[{index}]", f"must be at most {ACTION_MAX} characters")
    return AlertEvent(
        source="opsgenie",
        dedup_key=dedup_key_of(alias),
        action="trigger",
        title=f.title_from(message),
        summary=description or message,
        severity_hint=SEVERITY_OF_PRIORITY[priority],
        labels=labels,
        annotations=annotations,
        raw=dict(data),
    )


def parse_og_action(body: Any, action: Action, alias: str) -> AlertEvent:
    """A close (``resolve``) or acknowledge of the alert with ``alias`` (one that
    :func:`could_be_alias`); the body (``user``, ``source``, ``note``, all optional)
    may be empty."""
    data: Mapping[str, Any] = {} if body is None else f.obj(body, f.BODY)
    for name in ("user", "source", "note"):
        f.opt_str(data, name, f.BODY, max_len=DESCRIPTION_MAX)
    return AlertEvent(
        source="opsgenie", dedup_key=dedup_key_of(alias), action=action, title="", raw=dict(data)
    )


def could_be_alias(identifier: str) -> bool:
    """Whether an alert could have this alias (a blank or overlong one none has)."""
    return bool(identifier.strip()) and len(identifier) <= ALIAS_MAX


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    items = f.array(value, key)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise IngestError(f"{key}[{index}]", f"expected a string, not {f.kind(item)}")
    return items


def _responders(data: Mapping[str, Any], key: str) -> list[str]:
    """Each responder as ``type:name`` (or ``type:id``, ``user:username``)."""
    value = data.get(key)
    if value is None:
        return []
    shown: list[str] = []
    for index, item in enumerate(f.array(value, key)):
        path = f"{key}[{index}]"
        responder = f.obj(item, path)
        kind = f.choice(responder, "type", path, RESPONDER_TYPES)
        names = [f.opt_str(responder, key, path) for key in ("name", "username", "id")]
        name = next((n for n in names if n), None)
        if name is None:
            raise IngestError(path, "needs an id, a name or (for a user) a username")
        shown.append(f"{kind}:{name}")
    return shown


def og_success_body(request_id: str, took: float) -> dict[str, Any]:
    """The 202 body: the request is accepted (here, already processed)."""
    return {"result": "Request will be processed", "took": round(took, 3), "requestId": request_id}


def og_error_body(
    message: str, request_id: str, took: float, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    """Opsgenie's error body; a 422 also names each bad field under ``errors``."""
    body: dict[str, Any] = {"message": message}
    if errors:
        body["errors"] = errors
    body["took"] = round(took, 3)
    body["requestId"] = request_id
    return body


def og_error_for(error: IngestError, request_id: str, took: float) -> dict[str, Any]:
    """The 422 body for a field Opsgenie's clients must fix."""
    return og_error_body(
        "Request body is not processable. Please check the errors.",
        request_id,
        took,
        {error.field: error.message},
    )

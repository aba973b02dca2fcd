"""PagerDuty Events API v2 (``POST /v2/enqueue``) into :class:`AlertEvent`, and the
response bodies PagerDuty's clients expect back.

An event::

    {"routing_key": "<integration key>", "event_action": "trigger",
     "dedup_key": "optional for trigger, required otherwise",
     "payload": {"summary": "...", "source": "host1", "severity": "critical",
                 "timestamp": "...", "component": "...", "group": "...",
                 "class": "...", "custom_details": {...}},
     "links": [{"href": "...", "text": "..."}],
     "images": [{"src": "...", "href": "...", "alt": "..."}],
     "client": "...", "client_url": "..."}

``payload`` is read only for ``trigger``; acknowledge and resolve need only the
routing and dedup keys, as at PagerDuty. The payload's ``source``, ``severity``,
``component``, ``group`` and ``class`` become labels, so routes can match them like
Alertmanager labels (and may group them: each ``dedup_key`` is otherwise its own
alert group); ``custom_details`` become annotations. An event from Alertmanager's
``pagerduty_configs`` also gets the labels its alerts share
(:mod:`tocsin.ingest.pagerduty_alertmanager`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from tocsin.ingest import _fields as f
from tocsin.ingest.events import ACTIONS, Action, AlertEvent, IngestError, Link
from tocsin.ingest.pagerduty_alertmanager import InstanceText, alertmanager_alerts, common_pairs

__all__ = [
    "DEDUP_KEY_MAX",
    "MAX_BODY_BYTES",
    "PD_SEVERITIES",
    "SUMMARY_MAX",
    "links_of",
    "parse_pd_event",
    "pd_error_body",
    "pd_error_for",
    "pd_success_body",
    "pd_throttled_body",
]

PD_SEVERITIES = ("critical", "error", "warning", "info")
#: PagerDuty refuses events larger than 512 KiB.
MAX_BODY_BYTES = 512 * 1024
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
_LABEL_FIELDS = ("source", "severity", "component", "group", "class")
_ACTION_BY_NAME: dict[str, Action] = {action: action for action in ACTIONS}


def _new_dedup_key() -> str:
    return uuid.uuid4().hex


def parse_pd_event(
    body: Any, *, new_dedup_key: Callable[[], str] = _new_dedup_key
) -> tuple[str, AlertEvent]:
    """``(routing_key, event)``; raises :class:`IngestError`.

    A trigger without ``dedup_key`` gets ``new_dedup_key()`` (a random UUID in hex,
    as PagerDuty does; pass a factory for deterministic tests), which the caller
    must return in the response so the client can resolve the alert later.
    ``raw`` is the body without its ``routing_key``, which is a secret.
    """
    data = f.obj(body, f.BODY)
    routing_key = f.req_str(data, "routing_key", f.BODY)
    action = _ACTION_BY_NAME[f.choice(data, "event_action", f.BODY, ACTIONS)]
    dedup_key = f.opt_str(data, "dedup_key", f.BODY, max_len=DEDUP_KEY_MAX)
    if dedup_key is not None and not dedup_key.strip():
        dedup_key = None
    raw = {key: value for key, value in data.items() if key != "routing_key"}
    if action != "trigger":
        if dedup_key is None:
            raise IngestError("dedup_key", f"is missing or blank; {action} needs the alert's key")
        return routing_key, AlertEvent(
            source="pagerduty", dedup_key=dedup_key, action=action, title="", raw=raw
        )

    payload = f.obj(data.get("payload"), "payload")
    summary = f.req_str(payload, "summary", "payload", max_len=SUMMARY_MAX)
    f.req_str(payload, "source", "payload")
    severity = f.choice(payload, "severity", "payload", PD_SEVERITIES)
    labels: dict[str, str] = {}
    for name in _LABEL_FIELDS:
        value = f.opt_str(payload, name, "payload")
        if value:
            labels[name] = value
    client = f.opt_str(data, "client", f.BODY)
    client_url = f.opt_str(data, "client_url", f.BODY)
    annotations = _annotations(payload, client)
    instances = _alertmanager_instances(payload)
    if instances:  # Alertmanager's pagerduty_configs: the alerts' own labels count
        labels.update(common_pairs([alert.labels for alert in instances]))
        annotations.update(common_pairs([alert.annotations for alert in instances]))
    event = AlertEvent(
        source="pagerduty",
        dedup_key=dedup_key if dedup_key is not None else new_dedup_key(),
        action="trigger",
        title=f.title_from(summary),
        summary=summary,
        severity_hint=severity,
        labels=labels,
        annotations=annotations,
        starts_at=f.timestamp(payload, "timestamp", "payload"),
        source_url=client_url or None,
        links=_links(data),
        raw=raw,
    )
    return routing_key, event


def _annotations(payload: Mapping[str, Any], client: str | None) -> dict[str, str]:
    details = payload.get("custom_details")
    if isinstance(details, dict):
        annotations = f.str_map(payload, "custom_details", "payload", any_json=True)
    elif details is None:
        annotations = {}
    else:  # PagerDuty shows a plain string (or any JSON) as is
        annotations = {"details": f.json_text(details, "payload.custom_details")}
    if client:
        annotations.setdefault("client", client)
    return annotations


def _alertmanager_instances(payload: Mapping[str, Any]) -> list[InstanceText]:
    details = payload.get("custom_details")
    firing = details.get("firing") if isinstance(details, dict) else None
    return alertmanager_alerts(firing) if isinstance(firing, str) else []


def links_of(data: Mapping[str, Any]) -> tuple[Link, ...]:
    """The event's ``links`` (href required, text optional)."""
    links: list[Link] = []
    for index, value in enumerate(_optional_array(data, "links")):
        path = f"links[{index}]"
        item = f.obj(value, path)
        links.append(Link(f.req_str(item, "href", path), f.opt_str(item, "text", path) or ""))
    return tuple(links)


def _links(data: Mapping[str, Any]) -> tuple[Link, ...]:
    links = list(links_of(data))
    for index, value in enumerate(_optional_array(data, "images")):
        path = f"images[{index}]"
        item = f.obj(value, path)
        src = f.req_str(item, "src", path)
        f.opt_str(item, "href", path)  # checked; the image's click target stays in raw
        links.append(Link(src, f.opt_str(item, "alt", path) or "", "image"))
    return tuple(links)


def _optional_array(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return [] if value is None else f.array(value, key)


def pd_success_body(dedup_key: str) -> dict[str, str]:
    """The 202 body; PagerDuty's clients read ``dedup_key`` from it."""
    return {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


def pd_error_body(errors: list[str]) -> dict[str, Any]:
    """The 400 body PagerDuty sends for an invalid event."""
    return {"status": "invalid event", "message": "Event object is invalid", "errors": errors}


def pd_error_for(error: IngestError) -> dict[str, Any]:
    """:func:`pd_error_body` for one :class:`IngestError`."""
    return pd_error_body([str(error)])


def pd_throttled_body() -> dict[str, str]:
    """The 429 body PagerDuty sends when a routing key's events arrive too fast."""
    return {
        "status": "throttle event",
        "message": "Requests for this service are arriving too quickly.  Please retry later.",
    }

"""Schemathesis hooks for ``test_openapi_contract.py``: real data for the rules a JSON
Schema cannot state.

The OpenAPI document states each field's type, format, length, pattern and choices,
and schemathesis holds the server to them both ways. A few rules are not about the
shape of a request: a name must be one the running policy defines (a service, a person,
a severity, a template), one instant must come after another, a path must name
something that exists. For a request generated to be valid, these hooks put in values
that meet them, as a client that read the policy would; invalid requests are sent as
generated. The data comes from the test, in ``$CONTRACT_DATA`` (JSON).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from schemathesis import Case

DATA: dict[str, Any] = json.loads(os.environ.get("CONTRACT_DATA", "{}"))

#: Path parameters that name something, and what exists.
_PATH = {
    "incident_id": lambda case: DATA["incident"],
    "name": lambda case: DATA["playbook" if "/playbooks/" in case.path else "schedule"],
    "service": lambda case: DATA["service"],
    "key": lambda case: DATA["heartbeat_key" if "heartbeats" in case.path else "alert_key"],
}


def _instant(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).upper())
    except (ValueError, OverflowError):
        return None


def _text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _after(body: dict[str, Any], start: str, end: str, *, default_now: bool = False) -> None:
    """Make ``body[end]`` come after ``body[start]`` (or after now)."""
    if body.get(end) is None:
        return
    first = _instant(body.get(start)) if body.get(start) is not None else None
    if first is None and default_now:
        first = datetime.now(UTC)
    last = _instant(body[end])
    if first is not None and last is not None and last <= first:
        try:
            body[end] = _text(first + timedelta(hours=1))
        except OverflowError:
            body[start], body[end] = (
                _text(datetime.now(UTC)),
                _text(datetime.now(UTC) + timedelta(hours=1)),
            )


#: The instants the server takes (schedules and silences are computed within them).
_EARLIEST, _LATEST = datetime(1971, 1, 1, tzinfo=UTC), datetime(8999, 1, 1, tzinfo=UTC)


def _within_range(values: dict[str, Any]) -> None:
    """Instants far in the past or future (year 62, year 9000) become now."""
    for name, value in values.items():
        if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-":
            instant = _instant(value)
            aware = instant is not None and instant.tzinfo is not None
            if aware and instant is not None and not _EARLIEST <= instant <= _LATEST:
                values[name] = _text(datetime.now(UTC))


def _set(body: Any, name: str, value: Any) -> None:
    if isinstance(body, dict) and body.get(name) is not None:
        body[name] = value


def _incident(body: dict[str, Any]) -> None:
    started = _instant(body["started_at"]) if body.get("started_at") is not None else None
    if started is not None and started.tzinfo is not None and started > datetime.now(UTC):
        body["started_at"] = _text(datetime.now(UTC))  # impact cannot begin in the future
    if not body.get("drill"):  # what a drill pages means nothing without one
        body.pop("drill_responders", None)
        body.pop("drill_pages_oncall", None)
    _set(body, "drill_responders", [DATA["person"]])
    _set(body, "severity", DATA["severity"])
    _set(body, "services", [DATA["service"]])
    body.pop("roles", None)
    started = _instant(body.get("started_at")) if body.get("started_at") is not None else None
    if started is not None and started.tzinfo is not None and started > datetime.now(UTC):
        body["started_at"] = _text(datetime.now(UTC) - timedelta(hours=1))  # impact began


def _incident_edit(body: dict[str, Any]) -> None:
    """A correction of times depends on the incident's milestones (which are reached,
    in what order): a client reads the incident first; these requests correct nothing."""
    _incident(body)
    for name in ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at"):
        body.pop(name, None)
    body.pop("reason", None)


def _integration(body: dict[str, Any]) -> None:
    body["service"] = DATA["service"]
    if body.get("kind") == "heartbeat":
        body["heartbeat_interval"] = "5m"
    else:
        body.pop("heartbeat_interval", None)


def _override(body: dict[str, Any]) -> None:
    body["person"] = DATA["person"]
    _after(body, "start", "end")


def _silence(body: dict[str, Any]) -> None:
    """Valid matchers (one must not match an empty label), ending in the future."""
    body["matchers"] = [f"service={DATA['service']}"]
    _set(body, "duration", "2h")  # a duration's text may spell more days than a date holds
    if body.get("starts_at") is not None:
        body["starts_at"] = _text(datetime.now(UTC))
    _after(body, "starts_at", "ends_at", default_now=True)


def _status_incident(body: dict[str, Any]) -> None:
    if isinstance(body.get("components"), dict):
        body["components"] = {}
    _set(body, "incident_id", DATA["incident"])


def _maintenance(body: dict[str, Any]) -> None:
    _set(body, "components", [])
    _after(body, "scheduled_for", "scheduled_until")


def _action_item(body: dict[str, Any]) -> None:
    _set(body, "owner", DATA["person"])
    body.pop("status", None)  # which status may follow which depends on the item's


def _postmortem(body: dict[str, Any]) -> None:
    body.pop("sections", None)
    body.pop("root_cause_category", None)
    body.pop("root_cause_subcategory", None)
    _set(body, "owner", DATA["person"])


def _pagerduty(body: dict[str, Any]) -> None:
    """An integration's routing key (an unknown one is PagerDuty's 400)."""
    _set(body, "routing_key", DATA["pagerduty_key"])


_BODY: dict[str, Callable[[dict[str, Any]], None]] = {
    "POST /v2/enqueue": _pagerduty,
    "POST /v2/change/enqueue": _pagerduty,
    "POST /api/v1/incidents": _incident,
    "PATCH /api/v1/incidents/{incident_id}": _incident_edit,
    "POST /api/v1/incidents/{incident_id}/escalate": lambda b: _set(b, "tier", 1),
    "POST /api/v1/incidents/{incident_id}/reassign": lambda b: _set(b, "person", DATA["person"]),
    "POST /api/v1/incidents/{incident_id}/acknowledge": lambda b: b.pop("on_behalf_of", None),
    "POST /api/v1/incidents/{incident_id}/preview": lambda b: _set(b, "template", DATA["template"]),
    "POST /api/v1/integrations": _integration,
    "POST /api/v1/changes": lambda b: b.update(service=DATA["service"]),
    "POST /api/v1/schedules/{name}/overrides": _override,
    "POST /api/v1/silences": _silence,
    "POST /api/v1/statuspage/incidents": _status_incident,
    "POST /api/v1/statuspage/incidents/{code}/updates": _status_incident,
    "POST /api/v1/statuspage/maintenances": _maintenance,
    "PATCH /api/v1/statuspage/maintenances/{code}": _maintenance,
    "POST /api/v1/postmortems/{pm_id}/action-items": _action_item,
    "PATCH /api/v1/action-items/{item_id}": _action_item,
    "PATCH /api/v1/postmortems/{pm_id}": _postmortem,
    "POST /api/v1/incidents/{incident_id}/diagnostics": lambda b: _set(
        b, "collector", DATA["collector"]
    ),
}


def _query(case: Case) -> None:
    query = case.query
    if not isinstance(query, dict):
        return
    _within_range(query)
    if case.operation.label in ("GET /api/v1/metrics/summary", "GET /api/v1/metrics/drills"):
        query["window"] = "30d"
    if case.operation.label == "GET /api/v1/reports/monthly" and query.get("month"):
        query["month"] = f"{datetime.now(UTC) - timedelta(days=31):%Y-%m}"  # one that is over
    if case.operation.label == "GET /api/v1/schedules/{name}/overrides":
        _after(query, "from", "to", default_now=True)
    for name in ("incident",):
        if query.get(name) is not None:
            query[name] = DATA["incident"]
    for name in ("schedule", "service"):
        if query.get(name) is not None:
            query[name] = DATA[name]
    if query.get("owner") is not None:
        query["owner"] = DATA["person"]
    if query.get("severity") is not None:
        query["severity"] = DATA["severity"]
    # A cursor is opaque: a client passes only the `next_cursor` a page gave it (one
    # made up is refused with 422 naming `after`, as the cursor tests check).
    query.pop("after", None)


@schemathesis.hook
def before_call(context: Any, case: Case, kwargs: dict[str, Any]) -> None:
    """Real names and ordered instants in the requests generated to be valid."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return
    if case.path.startswith("/v2/alerts"):  # Opsgenie's API: the key is in the header
        case.headers = {**(case.headers or {}), "Authorization": f"GenieKey {DATA['opsgenie_key']}"}
    for name, value in _PATH.items():
        if isinstance(case.path_parameters, dict) and name in case.path_parameters:
            case.path_parameters[name] = value(case)
    _query(case)
    if isinstance(case.body, dict):
        _within_range(case.body)
        fix = _BODY.get(case.operation.label)
        if fix is not None:
            fix(case.body)

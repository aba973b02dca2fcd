"""JSON Schemas of the inbound alert bodies, for the OpenAPI document.

The inbound endpoints are parsed by hand (:mod:`tocsin.ingest`, served by the lane of
:mod:`tocsin.web.inbound`), not by pydantic models, so their request schemas are
written here. Each says exactly what its parser takes: what the parser refuses the
schema refuses, and what it accepts the schema allows (fields it does not read may be
anything, because it ignores them; Alertmanager and Grafana add fields across
versions). ``tests/e2e/test_openapi_contract.py`` holds both to that.
"""

from __future__ import annotations

from typing import Any

from tocsin.ingest.alertmanager import STATUSES
from tocsin.ingest.generic import DEDUP_KEY_MAX
from tocsin.ingest.opsgenie import (
    ACTION_MAX,
    ALIAS_MAX,
    DESCRIPTION_MAX,
    FIELD_MAX,
    MESSAGE_MAX,
    PRIORITIES,
    RESPONDER_TYPES,
)
from tocsin.ingest.pagerduty import DEDUP_KEY_MAX as PD_DEDUP_KEY_MAX
from tocsin.ingest.pagerduty import PD_SEVERITIES, SUMMARY_MAX

__all__ = ["INBOUND_SCHEMAS"]

_REF = "#/components/schemas/"
_NULL: dict[str, Any] = {"type": "null"}
#: Text that is not blank (the parsers strip it before looking).
_TEXT: dict[str, Any] = {"type": "string", "pattern": r"\S"}


def _nullable(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    nullable: dict[str, Any] = {"anyOf": [schema, _NULL]}
    if description:
        nullable["description"] = description
    return nullable


def _text(description: str, *, max_length: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if max_length is not None:
        schema["maxLength"] = max_length
    return _nullable(schema, description)


def _ignored(description: str) -> dict[str, Any]:
    """A field the sender includes and the parser does not read: any JSON."""
    return {"description": f"{description} Not read; any value is accepted."}


#: RFC 3339, as Alertmanager, Grafana and PagerDuty's clients send it. An empty string
#: and Go's zero time (0001-01-01T00:00:00Z) mean "none", as null does.
_TIME: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"const": ""}, _NULL],
    "examples": ["2026-01-31T12:00:00Z"],
}
_STRINGS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}

_ALERTMANAGER_ALERT: dict[str, Any] = {
    "type": "object",
    "description": "One alert; its labels identify it (or `fingerprint` when given).",
    "required": ["status", "labels"],
    "properties": {
        "status": {"type": "string", "enum": list(STATUSES)},
        "labels": {**_STRINGS, "minProperties": 1, "examples": [{"alertname": "HighErrorRate"}]},
        "annotations": _nullable(_STRINGS, "summary, description, runbook_url, ..."),
        "startsAt": _TIME,
        "endsAt": _TIME,
        "generatorURL": _text("Becomes the alert's source link."),
        "fingerprint": _text("Alertmanager's identity of the alert.", max_length=255),
    },
}

_GRAFANA_ALERT: dict[str, Any] = {
    **_ALERTMANAGER_ALERT,
    "description": "One alert of Grafana's body: Alertmanager's, plus links.",
    "properties": {
        **_ALERTMANAGER_ALERT["properties"],
        **{
            name: _text("Becomes a link on the alert.")
            for name in ("dashboardURL", "panelURL", "imageURL", "silenceURL")
        },
        "values": _ignored("The query's values."),
        "valueString": _ignored("The query's values as text."),
    },
}


def _group(alert: str, description: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": ["alerts"],
        "properties": {
            "version": _ignored('"4".'),
            "status": {"anyOf": [{"type": "string", "enum": list(STATUSES)}, _NULL]},
            "alerts": {"type": "array", "items": {"$ref": _REF + alert}},
            "receiver": _text("The receiver's name in Alertmanager's configuration."),
            "groupKey": _text("Alertmanager's key of the group."),
            "truncatedAlerts": _nullable(
                {"type": "integer", "minimum": 0}, "Alerts left out (max_alerts)."
            ),
            "externalURL": _text("Alertmanager's own address."),
            "groupLabels": _ignored("The labels the group is made by."),
            "commonLabels": _ignored("Labels every alert has (each alert has them all)."),
            "commonAnnotations": _ignored("Annotations every alert has."),
            **extra,
        },
    }


_GENERIC_FIELDS: dict[str, Any] = {
    "title": _text("Required (not blank) for a firing alert."),
    "severity": _text("Mapped to a severity by the routes (critical, P1, SEV2, ...)."),
    "dedup_key": _text(
        "The alert's identity; default: its labels, or its title without labels.",
        max_length=DEDUP_KEY_MAX,
    ),
    "labels": _nullable(
        {
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        },
        "Numbers and booleans are kept as their JSON text.",
    ),
    "annotations": _nullable({"type": "object"}, "Any JSON values (nested ones as JSON text)."),
    "details": _nullable({"type": "object"}, "Taken as annotations."),
    "source_url": _text("Where the alert comes from."),
}
_BLANK_OR_NULL: dict[str, Any] = {"anyOf": [_NULL, {"type": "string", "pattern": r"^\s*$"}]}

_GENERIC_ALERT: dict[str, Any] = {
    "type": "object",
    "description": "One alert. A firing one needs a title; a resolved one needs what "
    "identifies it: its dedup_key, labels or title.",
    "properties": {
        "status": {"type": "string", "enum": list(STATUSES), "default": "firing"},
        **_GENERIC_FIELDS,
    },
    "anyOf": [
        {
            "description": "firing",
            "required": ["title"],
            "properties": {"status": {"const": "firing"}, "title": _TEXT},
        },
        {
            "description": "resolved, by its dedup_key",
            "required": ["status", "dedup_key"],
            "properties": {"status": {"const": "resolved"}, "dedup_key": _TEXT},
        },
        {
            "description": "resolved, by its labels",
            "required": ["status", "labels"],
            "properties": {
                "status": {"const": "resolved"},
                "dedup_key": _BLANK_OR_NULL,
                "labels": {"type": "object", "minProperties": 1},
            },
        },
        {
            "description": "resolved, by its title",
            "required": ["status", "title"],
            "properties": {
                "status": {"const": "resolved"},
                "dedup_key": _BLANK_OR_NULL,
                "labels": {"anyOf": [_NULL, {"type": "object", "maxProperties": 0}]},
                "title": _TEXT,
            },
        },
    ],
}

_GENERIC_BODY: dict[str, Any] = {
    "description": "One alert, or several under `alerts`.",
    "anyOf": [
        {
            "type": "object",
            "required": ["alerts"],
            "properties": {"alerts": {"type": "array", "items": {"$ref": _REF + "GenericAlert"}}},
        },
        {"allOf": [{"$ref": _REF + "GenericAlert"}, {"not": {"required": ["alerts"]}}]},
    ],
}

_PD_COMMON: dict[str, Any] = {
    "routing_key": {**_TEXT, "description": "The integration's key."},
    "dedup_key": _text(
        "The alert's identity; a trigger without one gets a new one (in the answer).",
        max_length=PD_DEDUP_KEY_MAX,
    ),
}
_PD_TRIGGER: dict[str, Any] = {
    "type": "object",
    "required": ["routing_key", "event_action", "payload"],
    "properties": {
        **_PD_COMMON,
        "event_action": {"const": "trigger"},
        "payload": {
            "type": "object",
            "required": ["summary", "source", "severity"],
            "properties": {
                "summary": {**_TEXT, "maxLength": SUMMARY_MAX},
                "source": _TEXT,
                "severity": {"type": "string", "enum": list(PD_SEVERITIES)},
                "timestamp": _TIME,
                **{
                    name: _text("Becomes a label, for routes to match.")
                    for name in ("component", "group", "class")
                },
                "custom_details": {"description": "Any JSON; an object becomes annotations."},
            },
        },
        "client": _text("The monitoring tool's name."),
        "client_url": _text("Its page for this alert."),
        "links": _nullable(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["href"],
                    "properties": {"href": _TEXT, "text": _text("The link's text.")},
                },
            }
        ),
        "images": _nullable(
            {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["src"],
                    "properties": {
                        "src": _TEXT,
                        "href": _text("Where clicking the image leads."),
                        "alt": _text("The image's text."),
                    },
                },
            }
        ),
    },
}
_PD_FOLLOW_UP: dict[str, Any] = {
    "type": "object",
    "description": "acknowledge or resolve an alert by its dedup_key; nothing else is read.",
    "required": ["routing_key", "event_action", "dedup_key"],
    "properties": {
        **_PD_COMMON,
        "event_action": {"type": "string", "enum": ["acknowledge", "resolve"]},
        "dedup_key": {**_TEXT, "maxLength": PD_DEDUP_KEY_MAX},
    },
}
_PD_CHANGE: dict[str, Any] = {
    "type": "object",
    "description": "A PagerDuty change event (a deploy, a configuration change).",
    "required": ["routing_key", "payload"],
    "properties": {
        "routing_key": _PD_COMMON["routing_key"],
        "payload": {
            "type": "object",
            "required": ["summary"],
            "properties": {
                "summary": {**_TEXT, "maxLength": SUMMARY_MAX},
                "source": _text("What made the change (a CI job, a person)."),
                "timestamp": _TIME,
                "custom_details": {"description": "Any JSON, stored with the change."},
            },
        },
        "links": _PD_TRIGGER["properties"]["links"],
    },
}


def _strings(max_length: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "string"}
    if max_length is not None:
        item["maxLength"] = max_length
    return _nullable({"type": "array", "items": item})


_OG_RESPONDER: dict[str, Any] = {
    "type": "object",
    "description": "A team, user, escalation or schedule, by id, name or (users) username.",
    "required": ["type"],
    "properties": {
        "type": {"type": "string", "enum": list(RESPONDER_TYPES)},
        **{name: _text(f"The responder's {name}.") for name in ("id", "name", "username")},
    },
    "anyOf": [
        {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}}
        for name in ("id", "name", "username")
    ],
}
_OG_RESPONDERS = _nullable({"type": "array", "items": {"$ref": _REF + "OpsgenieResponder"}})
_OG_ALERT: dict[str, Any] = {
    "type": "object",
    "description": "An Opsgenie alert; the alias (else the message) deduplicates it.",
    "required": ["message"],
    "properties": {
        "message": {**_TEXT, "maxLength": MESSAGE_MAX},
        "alias": _text("The deduplication key.", max_length=ALIAS_MAX),
        "description": _text("Details.", max_length=DESCRIPTION_MAX),
        "priority": {
            "anyOf": [{"type": "string", "enum": list(PRIORITIES)}, {"const": ""}, _NULL],
            "description": "P1 (highest) .. P5; P3 when absent.",
        },
        "entity": _text("What the alert is about (a label).", max_length=FIELD_MAX),
        "source": _text("What sent it (a label).", max_length=FIELD_MAX),
        "details": _nullable(
            {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            },
            "Custom properties (annotations).",
        ),
        "tags": _strings(),
        "actions": _strings(ACTION_MAX),
        "responders": _OG_RESPONDERS,
        "visibleTo": _OG_RESPONDERS,
        "user": _text("Who sends it.", max_length=DESCRIPTION_MAX),
        "note": _text("A note kept with the alert.", max_length=DESCRIPTION_MAX),
    },
}
_OG_ACTION: dict[str, Any] = _nullable(
    {
        "type": "object",
        "properties": {
            name: _text(f"The request's {name}.", max_length=DESCRIPTION_MAX)
            for name in ("user", "source", "note")
        },
    },
    "Who closes or acknowledges it, and why.",
)

#: Component schemas, by name; the inbound routes refer to them.
INBOUND_SCHEMAS: dict[str, dict[str, Any]] = {
    "AlertmanagerAlert": _ALERTMANAGER_ALERT,
    "AlertmanagerWebhook": _group(
        "AlertmanagerAlert", "Prometheus Alertmanager's webhook body (version 4).", {}
    ),
    "GrafanaAlert": _GRAFANA_ALERT,
    "GrafanaWebhook": _group(
        "GrafanaAlert",
        "Grafana unified alerting's webhook contact point body.",
        {name: _ignored(f"Grafana's {name}.") for name in ("orgId", "title", "state", "message")},
    ),
    "GenericAlert": _GENERIC_ALERT,
    "GenericAlerts": _GENERIC_BODY,
    "PagerDutyEvent": {
        "description": "A PagerDuty Events API v2 event.",
        "anyOf": [{"$ref": _REF + "PagerDutyTrigger"}, {"$ref": _REF + "PagerDutyFollowUp"}],
    },
    "PagerDutyTrigger": _PD_TRIGGER,
    "PagerDutyFollowUp": _PD_FOLLOW_UP,
    "PagerDutyChangeEvent": _PD_CHANGE,
    "OpsgenieAlert": _OG_ALERT,
    "OpsgenieResponder": _OG_RESPONDER,
    "OpsgenieAction": _OG_ACTION,
}

"""PagerDuty Events API v2 events and PagerDuty's response bodies."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from tocsin.ingest import (
    IngestError,
    Link,
    parse_pd_event,
    pd_error_body,
    pd_error_for,
    pd_success_body,
)

KEY = "R0123456789abcdef0123456789abcd"  # 32 characters, like PagerDuty's
TRIGGER: dict[str, Any] = {
    "routing_key": KEY,
    "event_action": "trigger",
    "dedup_key": "host1-disk",
    "payload": {
        "summary": "Disk almost full on host1.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "source": "host1.example.com",
        "severity": "error",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "disk",
        "custom_details": {"free": "3%", "load avg": 0.75, "mounts": ["/", "/var"]},
    },
    "images": [{"src": "https://img.example.com/disk.png", "href": "https://x", "alt": "Disk"}],
    "links": [{"href": "https://monitoring.example.com/host1", "text": "Host"}],
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.example.com",
}


def trigger(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(TRIGGER)
    body.update(changes)
    return body


def test_trigger_every_field() -> None:
    routing_key, event = parse_pd_event(trigger())
    assert routing_key == KEY
    assert event.source == "pagerduty"
    assert event.dedup_key == "host1-disk"
    assert event.action == "trigger"
    assert event.title == "Disk almost full on host1.example.com"
    assert event.summary == "Disk almost full on host1.example.com"
    assert event.severity_hint == "error"
    assert event.labels == {
        "source": "host1.example.com",
        "severity": "error",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "disk",
    }
    assert event.annotations == {
        "free": "3%",
        "load avg": "0.75",
        "mounts": '["/","/var"]',
        "client": "Sample Monitoring Service",
    }
    assert event.starts_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert event.ends_at is None
    assert event.source_url == "https://monitoring.example.com"
    assert event.links == (
        Link("https://monitoring.example.com/host1", "Host"),
        Link("https://img.example.com/disk.png", "Disk", "image"),
    )
    # The routing key is a secret: it is not kept with the stored alert.
    assert "routing_key" not in event.raw
    assert event.raw["payload"] == TRIGGER["payload"]


def test_minimal_trigger_gets_a_generated_dedup_key() -> None:
    body = {
        "routing_key": "k",
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "h", "severity": "info"},
    }
    _, event = parse_pd_event(body, new_dedup_key=lambda: "generated-1")
    assert event.dedup_key == "generated-1"
    assert event.labels == {"source": "h", "severity": "info"}
    assert event.annotations == {}
    assert event.links == ()
    assert event.starts_at is None and event.source_url is None
    _, default = parse_pd_event(body)
    assert len(default.dedup_key) == 32
    int(default.dedup_key, 16)  # uuid4 hex


def test_blank_dedup_key_counts_as_absent() -> None:
    _, event = parse_pd_event(trigger(dedup_key="  "), new_dedup_key=lambda: "new")
    assert event.dedup_key == "new"


def test_string_custom_details() -> None:
    body = trigger()
    body["payload"]["custom_details"] = "just text"
    _, event = parse_pd_event(body)
    assert event.annotations == {"details": "just text", "client": "Sample Monitoring Service"}


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_need_only_the_keys(action: str) -> None:
    routing_key, event = parse_pd_event(
        {"routing_key": KEY, "event_action": action, "dedup_key": "host1-disk"}
    )
    assert routing_key == KEY
    assert event.action == action
    assert event.dedup_key == "host1-disk"
    assert event.title == "" and event.labels == {} and event.severity_hint is None
    # A payload is ignored, even a broken one, as at PagerDuty.
    _, again = parse_pd_event(
        {"routing_key": KEY, "event_action": action, "dedup_key": "d", "payload": 5}
    )
    assert again.dedup_key == "d"


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


def _payload(**changes: Any) -> dict[str, Any]:
    body = trigger()
    body["payload"].update(changes)
    return body


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (["x"], "body", "expected an object"),
        (_without(trigger(), "routing_key"), "routing_key", "is missing or blank"),
        (trigger(routing_key=""), "routing_key", "is missing or blank"),
        (trigger(routing_key=5), "routing_key", "expected a string"),
        (_without(trigger(), "event_action"), "event_action", "is missing"),
        (
            trigger(event_action="escalate"),
            "event_action",
            "must be one of trigger, acknowledge, resolve, not 'escalate'",
        ),
        (
            {"routing_key": KEY, "event_action": "resolve"},
            "dedup_key",
            "is missing or blank; resolve needs",
        ),
        (
            {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": ""},
            "dedup_key",
            "is missing or blank",
        ),
        (trigger(dedup_key="x" * 256), "dedup_key", "at most 255 characters"),
        (_without(trigger(), "payload"), "payload", "expected an object, not null"),
        (_payload(summary=""), "payload.summary", "is missing or blank"),
        (_payload(summary="x" * 1025), "payload.summary", "at most 1024 characters"),
        (_without(trigger(), "payload", "source"), "payload.source", "is missing or blank"),
        (
            _payload(severity="fatal"),
            "payload.severity",
            "must be one of critical, error, warning, info, not 'fatal'",
        ),
        (_without(trigger(), "payload", "severity"), "payload.severity", "is missing"),
        (_payload(timestamp="soon"), "payload.timestamp", "expected an RFC 3339 time"),
        (_payload(component=1), "payload.component", "expected a string"),
        (_payload(**{"class": []}), "payload.class", "expected a string"),
        (trigger(links={}), "links", "expected an array"),
        (trigger(links=[{"text": "no href"}]), "links[0].href", "is missing or blank"),
        (trigger(images=[{"alt": "x"}]), "images[0].src", "is missing or blank"),
        (trigger(images=["x"]), "images[0]", "expected an object"),
        (trigger(client=1), "client", "expected a string"),
        (trigger(client_url=[]), "client_url", "expected a string"),
    ],
)
def test_invalid_events_name_the_field(body: Any, field: str, message: str) -> None:
    with pytest.raises(IngestError) as caught:
        parse_pd_event(body)
    assert caught.value.field == field
    assert message in caught.value.message


def test_summary_of_exactly_1024_characters_is_accepted() -> None:
    _, event = parse_pd_event(_payload(summary="y" * 1024))
    assert event.summary == "y" * 1024
    assert len(event.title) == 300


def test_response_bodies() -> None:
    assert pd_success_body("abc") == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "abc",
    }
    assert pd_error_body(["payload.severity: bad"]) == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["payload.severity: bad"],
    }
    with pytest.raises(IngestError) as caught:
        parse_pd_event(_payload(severity="bad"))
    body = pd_error_for(caught.value)
    assert body["status"] == "invalid event"
    assert body["errors"] == [
        "payload.severity: must be one of critical, error, warning, info, not 'bad'"
    ]

"""PagerDuty events from Alertmanager's own ``pagerduty_configs`` (a body Alertmanager
0.25 sent, recorded) and PagerDuty change events."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tocsin.ingest import IngestError, parse_pd_change, parse_pd_event, pd_change_accepted
from tocsin.ingest.pagerduty_alertmanager import alertmanager_alerts, common_pairs

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"


def recorded(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return body


def test_alertmanager_event_carries_its_alerts_common_labels() -> None:
    body = recorded("alertmanager-pagerduty-trigger")
    routing_key, event = parse_pd_event(body)
    assert routing_key == "ROUTINGKEY"
    assert event.action == "trigger"
    assert event.dedup_key == body["dedup_key"]
    assert event.title == "[FIRING:2] HighErrorRate checkout-api (critical)"
    # The two alerts share these labels; `instance` differs, so it is not the event's.
    assert event.labels == {
        "alertname": "HighErrorRate",
        "service": "checkout-api",
        "severity": "critical",  # the alerts' own, over Alertmanager's default "error"
        "source": "Alertmanager",
    }
    assert event.severity_hint == "error"
    assert event.annotations["summary"] == "5xx above 5%"  # shared by both alerts
    assert "description" not in event.annotations  # only the first alert has one
    assert event.annotations["num_firing"] == "2"
    assert event.annotations["client"] == "Alertmanager"


def test_a_resolve_from_alertmanager_needs_nothing_but_its_key() -> None:
    _, event = parse_pd_event(recorded("alertmanager-pagerduty-resolve"))
    assert event.action == "resolve"
    assert event.dedup_key == recorded("alertmanager-pagerduty-trigger")["dedup_key"]


def test_the_instance_text_keeps_multi_line_values_and_sources() -> None:
    firing = recorded("alertmanager-pagerduty-trigger")["payload"]["custom_details"]["firing"]
    first, second = alertmanager_alerts(firing)
    assert first.labels["instance"] == "web-1" and second.labels["instance"] == "web-2"
    assert first.annotations == {"description": "line one\nline two", "summary": "5xx above 5%"}
    assert first.source == "http://prometheus:9090/graph?g0.expr=x"
    assert common_pairs([first.labels, second.labels])["alertname"] == "HighErrorRate"
    assert common_pairs([]) == {}


@pytest.mark.parametrize(
    "details",
    [
        {"firing": "disk is full"},  # any other text is only a detail
        {"firing": ""},
        {"firing": "Labels:\n"},  # no label at all
        {"firing": 3},
        "Labels:\n - alertname = X\n",  # custom_details itself a string
    ],
)
def test_other_details_are_not_taken_for_alertmanager(details: Any) -> None:
    body = copy.deepcopy(recorded("alertmanager-pagerduty-trigger"))
    body["payload"]["custom_details"] = details
    _, event = parse_pd_event(body)
    assert event.labels == {"source": "Alertmanager", "severity": "error"}


CHANGE: dict[str, Any] = {
    "routing_key": "R0123456789abcdef0123456789abcd",
    "payload": {
        "summary": "Build Success: Increase snapshot create timeout to 30 seconds",
        "timestamp": "2020-07-17T08:42:58.315+0000",
        "source": "acme-build-pipeline-tool-default-i-9999",
        "custom_details": {"build_state": "passed", "build_number": "2", "run_time": "1236s"},
    },
    "links": [{"href": "https://acme.pagerduty.dev/build/2", "text": "View more details"}],
}


def change(**payload: Any) -> dict[str, Any]:
    body = copy.deepcopy(CHANGE)
    body["payload"].update(payload)
    return body


def test_change_event_every_field() -> None:
    routing_key, parsed = parse_pd_change(change())
    assert routing_key == CHANGE["routing_key"]
    assert parsed.summary == CHANGE["payload"]["summary"]
    assert parsed.source == "acme-build-pipeline-tool-default-i-9999"
    assert parsed.timestamp == datetime(2020, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert parsed.custom_details == CHANGE["payload"]["custom_details"]
    assert parsed.links == (
        {"href": "https://acme.pagerduty.dev/build/2", "text": "View more details"},
    )


def test_minimal_change_event_and_storable_values() -> None:
    _, parsed = parse_pd_change({"routing_key": "k", "payload": {"summary": "Deploy\x00 1.2"}})
    assert parsed.summary == "Deploy\ufffd 1.2"  # PostgreSQL cannot store NUL
    assert parsed.source is None and parsed.timestamp is None
    assert parsed.links == () and parsed.custom_details is None
    assert pd_change_accepted(7) == {
        "status": "success",
        "message": "Change event processed",
        "id": "7",
    }


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ("text", "body", "expected an object"),
        ({"payload": {"summary": "x"}}, "routing_key", "is missing or blank"),
        ({"routing_key": "k"}, "payload", "expected an object, not null"),
        (change(summary=""), "payload.summary", "is missing or blank"),
        (change(summary="x" * 1025), "payload.summary", "at most 1024 characters"),
        (change(source=5), "payload.source", "expected a string"),
        (change(timestamp="yesterday"), "payload.timestamp", "expected an RFC 3339 time"),
        ({**CHANGE, "links": [{"text": "no href"}]}, "links[0].href", "is missing or blank"),
        ({**CHANGE, "links": "x"}, "links", "expected an array"),
    ],
)
def test_invalid_change_events_name_the_field(body: Any, field: str, message: str) -> None:
    with pytest.raises(IngestError) as caught:
        parse_pd_change(body)
    assert caught.value.field == field
    assert message in caught.value.message

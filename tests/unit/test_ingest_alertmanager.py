"""Alertmanager webhook bodies, from real captures (tests/fixtures/alertmanager/)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tocsin.alerts.rules import fingerprint
from tocsin.ingest import (
    AlertEvent,
    IngestError,
    Link,
    parse_alertmanager,
    parse_alertmanager_batch,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


CHECKOUT_LABELS = {
    "alertname": "HighErrorRate",
    "env": "test",
    "service": "checkout",
    "severity": "critical",
}
CHECKOUT_ANNOTATIONS = {
    "runbook_url": "http://127.0.0.1/runbooks/checkout",
    "summary": "5xx rate above 5%",
}
API_LABELS = {
    "alertname": "ApiDown",
    "instance": "127.0.0.1:19100",
    "job": "api",
    "service": "api",
    "severity": "critical",
}
API_URL = "http://vm:19090/graph?g0.expr=up%7Bjob%3D%22api%22%7D+%3D%3D+0&g0.tab=1"


def test_amtool_firing_every_field() -> None:
    body = load("alertmanager-webhook-firing")
    batch = parse_alertmanager_batch(body)
    assert batch.receiver == "local-webhook"
    assert batch.status == "firing"
    assert batch.group_key == '{}:{alertname="HighErrorRate", service="checkout"}'
    assert batch.truncated_alerts == 0
    assert batch.external_url == "http://vm:19093"
    (event,) = batch.events
    assert event == AlertEvent(
        source="alertmanager",
        dedup_key="c0e3b5d0a6fc4512",
        action="trigger",
        title="HighErrorRate: 5xx rate above 5%",
        summary="5xx rate above 5%",
        severity_hint="critical",
        labels=CHECKOUT_LABELS,
        annotations=CHECKOUT_ANNOTATIONS,
        # Go's nanoseconds are cut to microseconds.
        starts_at=datetime(2026, 11, 23, 3, 22, 33, 808065, tzinfo=UTC),
        ends_at=None,  # "0001-01-01T00:00:00Z" means unset
        source_url="http://127.0.0.1:19090/graph?g0.expr=up",
        links=(
            Link("http://127.0.0.1:19090/graph?g0.expr=up", "Source"),
            Link("http://127.0.0.1/runbooks/checkout", "Runbook"),
        ),
        raw=body["alerts"][0],
    )
    assert event.firing
    assert event.starts_at is not None and event.starts_at.tzinfo is UTC


def test_amtool_resolved_every_field() -> None:
    body = load("alertmanager-webhook-resolved")
    batch = parse_alertmanager_batch(body)
    assert batch.status == "resolved"
    (event,) = batch.events
    assert event.action == "resolve" and not event.firing
    assert event.dedup_key == "c0e3b5d0a6fc4512"  # the same alert as the firing one
    assert event.labels == CHECKOUT_LABELS
    assert event.annotations == CHECKOUT_ANNOTATIONS
    assert event.starts_at == datetime(2026, 11, 23, 3, 22, 33, 808065, tzinfo=UTC)
    assert event.ends_at == datetime(2026, 11, 23, 3, 22, 38, tzinfo=UTC)
    assert event.title == "HighErrorRate: 5xx rate above 5%"
    assert event.severity_hint == "critical"
    assert event.raw == body["alerts"][0]


def test_prometheus_firing_every_field() -> None:
    body = load("alertmanager-webhook-prometheus-firing")
    batch = parse_alertmanager_batch(body)
    assert batch.group_key == '{}:{alertname="ApiDown", service="api"}'
    (event,) = batch.events
    assert event == AlertEvent(
        source="alertmanager",
        dedup_key="2612447be140bdb3",
        action="trigger",
        title="ApiDown: API target 127.0.0.1:19100 is down",
        summary="API target 127.0.0.1:19100 is down",
        severity_hint="critical",
        labels=API_LABELS,
        annotations={
            "runbook_url": "http://127.0.0.1/runbooks/api-down",
            "summary": "API target 127.0.0.1:19100 is down",
        },
        starts_at=datetime(2026, 11, 23, 3, 23, 23, 78000, tzinfo=UTC),
        ends_at=None,
        source_url=API_URL,
        links=(Link(API_URL, "Source"), Link("http://127.0.0.1/runbooks/api-down", "Runbook")),
        raw=body["alerts"][0],
    )


def test_prometheus_resolved_every_field() -> None:
    (event,) = parse_alertmanager(load("alertmanager-webhook-prometheus-resolved"))
    assert event.action == "resolve"
    assert event.dedup_key == "2612447be140bdb3"
    assert event.labels == API_LABELS
    assert event.starts_at == datetime(2026, 11, 23, 3, 23, 23, 78000, tzinfo=UTC)
    assert event.ends_at == datetime(2026, 11, 23, 3, 23, 27, 78000, tzinfo=UTC)
    assert event.source_url == API_URL


def _firing() -> dict[str, Any]:
    return copy.deepcopy(load("alertmanager-webhook-firing"))


def test_several_alerts_extra_keys_and_missing_optional_fields() -> None:
    body = _firing()
    body["futureField"] = {"anything": [1, 2]}
    second = {
        "status": "resolved",
        "labels": {"alertname": "Quiet"},
        "someNewKey": True,
    }
    body["alerts"].append(second)
    body["truncatedAlerts"] = 3
    batch = parse_alertmanager_batch(body)
    assert batch.truncated_alerts == 3
    first, other = batch.events
    assert first.dedup_key == "c0e3b5d0a6fc4512"
    assert other.action == "resolve"
    assert other.dedup_key == fingerprint({"alertname": "Quiet"})  # no fingerprint sent
    assert other.title == "Quiet"
    assert other.summary == ""
    assert other.annotations == {}
    assert other.starts_at is None and other.ends_at is None
    assert other.source_url is None and other.links == ()
    assert other.severity_hint is None


def test_title_and_summary_prefer_description() -> None:
    body = _firing()
    alert = body["alerts"][0]
    alert["annotations"] = {"description": "Long text\nwith lines", "summary": "Short"}
    (event,) = parse_alertmanager(body)
    assert event.title == "HighErrorRate: Short"
    assert event.summary == "Long text\nwith lines"
    alert["annotations"] = {}
    del alert["labels"]["alertname"]
    (event,) = parse_alertmanager(body)
    assert event.title == "Alert c0e3b5d0a6fc4512"


def test_long_title_is_cut() -> None:
    body = _firing()
    body["alerts"][0]["annotations"]["summary"] = "x" * 1000
    (event,) = parse_alertmanager(body)
    assert len(event.title) == 300 and event.title.endswith("…")


def test_offsets_are_converted_to_utc() -> None:
    body = _firing()
    body["alerts"][0]["startsAt"] = "2026-11-23T05:22:33+02:00"
    body["alerts"][0]["endsAt"] = "2026-11-23T03:30:00"  # no offset: taken as UTC
    (event,) = parse_alertmanager(body)
    assert event.starts_at == datetime(2026, 11, 23, 3, 22, 33, tzinfo=UTC)
    assert event.ends_at == datetime(2026, 11, 23, 3, 30, tzinfo=UTC)


def test_empty_alerts_is_no_events() -> None:
    assert parse_alertmanager({"alerts": []}) == []


def _mutated(path: list[str | int], value: Any, *, delete: bool = False) -> Any:
    body = _firing()
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ([], "body", "expected an object, not an array"),
        ("text", "body", "expected an object, not a string"),
        ({}, "alerts", "is missing; expected an array of alerts"),
        ({"alerts": {}}, "alerts", "expected an array, not an object"),
        ({"alerts": [1]}, "alerts[0]", "expected an object, not a number"),
        (_mutated(["status"], "broken"), "status", "must be one of firing, resolved"),
        (_mutated(["alerts", 0, "labels"], "x"), "alerts[0].labels", "expected an object"),
        (
            _mutated(["alerts", 0, "labels"], None, delete=True),
            "alerts[0].labels",
            "is missing",
        ),
        (_mutated(["alerts", 0, "labels"], {}), "alerts[0].labels", "must not be empty"),
        (
            _mutated(["alerts", 0, "labels", "severity"], 1),
            "alerts[0].labels.severity",
            "expected a string, not a number",
        ),
        (
            _mutated(["alerts", 0, "labels", "odd key"], None),
            'alerts[0].labels["odd key"]',
            "expected a string, not null",
        ),
        (
            _mutated(["alerts", 0, "annotations"], ["a"]),
            "alerts[0].annotations",
            "expected an object",
        ),
        (
            _mutated(["alerts", 0, "status"], "pending"),
            "alerts[0].status",
            "must be one of firing, resolved, not 'pending'",
        ),
        (
            _mutated(["alerts", 0, "status"], None, delete=True),
            "alerts[0].status",
            "is missing",
        ),
        (
            _mutated(["alerts", 0, "startsAt"], "yesterday"),
            "alerts[0].startsAt",
            "expected an RFC 3339 time",
        ),
        (
            _mutated(["alerts", 0, "endsAt"], 12),
            "alerts[0].endsAt",
            "expected an RFC 3339 time string, not a number",
        ),
        (
            _mutated(["alerts", 0, "fingerprint"], ["x"]),
            "alerts[0].fingerprint",
            "expected a string",
        ),
        (
            _mutated(["alerts", 0, "generatorURL"], {}),
            "alerts[0].generatorURL",
            "expected a string",
        ),
        (_mutated(["truncatedAlerts"], -1), "truncatedAlerts", "whole number >= 0"),
        (_mutated(["truncatedAlerts"], True), "truncatedAlerts", "whole number >= 0"),
        (_mutated(["groupKey"], 5), "groupKey", "expected a string"),
    ],
)
def test_malformed_bodies_name_the_field(body: Any, field: str, message: str) -> None:
    with pytest.raises(IngestError) as caught:
        parse_alertmanager(body)
    assert caught.value.field == field
    assert message in caught.value.message
    assert str(caught.value) == f"{field}: {caught.value.message}"


def test_the_bad_alert_is_named_by_its_index() -> None:
    body = _firing()
    body["alerts"] += [copy.deepcopy(body["alerts"][0]), {"status": "firing", "labels": 3}]
    with pytest.raises(IngestError) as caught:
        parse_alertmanager(body)
    assert caught.value.field == "alerts[2].labels"


def test_go_zero_time_with_an_offset_is_an_error_not_a_crash() -> None:
    body = _mutated(["alerts", 0, "startsAt"], "0001-01-01T00:00:00+01:00")
    with pytest.raises(IngestError) as caught:
        parse_alertmanager(body)
    assert caught.value.field == "alerts[0].startsAt"

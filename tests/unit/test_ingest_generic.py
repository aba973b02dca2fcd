"""Tocsin's generic alert JSON."""

from __future__ import annotations

from typing import Any

import pytest

from tocsin.alerts.rules import fingerprint
from tocsin.ingest import IngestError, parse_generic


def test_single_alert_every_field() -> None:
    body = {
        "title": "Disk almost full on db-1",
        "severity": "warning",
        "dedup_key": "disk-db-1",
        "labels": {"service": "payments-db", "instance": "db-1", "shard": 3, "primary": True},
        "annotations": {"runbook_url": "https://runbooks.example.com/disk"},
        "details": {"free_percent": 7.5, "mounts": ["/var"]},
        "status": "firing",
        "source_url": "https://monitoring.example.com/db-1",
        "extra": "kept in raw",
    }
    (event,) = parse_generic(body)
    assert event.source == "generic"
    assert event.dedup_key == "disk-db-1"
    assert event.action == "trigger"
    assert event.title == "Disk almost full on db-1"
    assert event.summary == "Disk almost full on db-1"
    assert event.severity_hint == "warning"
    assert event.labels == {
        "service": "payments-db",
        "instance": "db-1",
        "shard": "3",
        "primary": "true",
    }
    assert event.annotations == {
        "runbook_url": "https://runbooks.example.com/disk",
        "free_percent": "7.5",
        "mounts": '["/var"]',
    }
    assert event.source_url == "https://monitoring.example.com/db-1"
    assert event.starts_at is None and event.ends_at is None
    assert event.links == ()
    assert event.raw is body


def test_defaults_and_computed_keys() -> None:
    (event,) = parse_generic({"title": "Backup failed", "labels": {"job": "backup"}})
    assert event.action == "trigger"
    assert event.severity_hint is None
    assert event.dedup_key == fingerprint({"job": "backup"})
    (bare,) = parse_generic({"title": "Backup failed"})
    assert bare.dedup_key == fingerprint({"title": "Backup failed"})
    # A resolve without a key finds the alert by the same labels or title.
    (resolve,) = parse_generic({"status": "resolved", "title": "Backup failed"})
    assert resolve.action == "resolve" and resolve.dedup_key == bare.dedup_key
    (by_key,) = parse_generic({"status": "resolved", "dedup_key": "k"})
    assert by_key.dedup_key == "k" and by_key.title == ""


def test_batch() -> None:
    events = parse_generic(
        {"alerts": [{"title": "a"}, {"title": "b", "status": "resolved", "dedup_key": "b"}]}
    )
    assert [(e.title, e.action) for e in events] == [("a", "trigger"), ("b", "resolve")]
    assert parse_generic({"alerts": []}) == []


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (None, "body", "expected an object, not null"),
        ({}, "title", "is missing or blank"),
        ({"title": "  "}, "title", "is missing or blank"),
        ({"title": 5}, "title", "expected a string"),
        ({"title": "t", "status": "open"}, "status", "must be one of firing, resolved"),
        ({"title": "t", "labels": []}, "labels", "expected an object"),
        ({"title": "t", "labels": {"a": None}}, "labels.a", "string, number or boolean"),
        ({"title": "t", "labels": {"a": {"b": 1}}}, "labels.a", "not an object"),
        ({"title": "t", "annotations": "x"}, "annotations", "expected an object"),
        ({"title": "t", "details": 1}, "details", "expected an object"),
        ({"title": "t", "severity": 1}, "severity", "expected a string"),
        ({"title": "t", "dedup_key": "k" * 256}, "dedup_key", "at most 255"),
        ({"title": "t", "source_url": 1}, "source_url", "expected a string"),
        ({"status": "resolved"}, "dedup_key", "needs its dedup_key, labels or title"),
        ({"alerts": "x"}, "alerts", "expected an array"),
        ({"alerts": [{"title": "ok"}, {}]}, "alerts[1].title", "is missing or blank"),
        ({"alerts": [{"title": "t", "labels": {"a b": []}}]}, 'alerts[0].labels["a b"]', ""),
    ],
)
def test_malformed_bodies_name_the_field(body: Any, field: str, message: str) -> None:
    with pytest.raises(IngestError) as caught:
        parse_generic(body)
    assert caught.value.field == field
    assert message in caught.value.message

"""Grafana unified alerting webhook bodies (the documented shape)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from tocsin.ingest import IngestError, Link, parse_grafana, parse_grafana_batch

SILENCE = "https://grafana.example.com/alerting/silence/new?matchers=alertname%3DHigh"
BODY: dict[str, Any] = {
    "receiver": "tocsin",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "High memory usage", "team": "blue", "zone": "us-1"},
            "annotations": {
                "description": "The system has high memory usage",
                "runbook_url": "https://runbooks.example.com/memory",
                "summary": "This alert was triggered for zone us-1",
            },
            "startsAt": "2021-10-12T09:51:03.157076+02:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.example.com/alerting/1afz29v7z/edit",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": SILENCE,
            "dashboardURL": "",
            "panelURL": "",
            "values": {"B": 44.23943737541908, "C": 1},
            "valueString": "[ var='B' labels={} value=44.2 ]",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "High CPU usage", "team": "blue", "zone": "eu-1"},
            "annotations": {},
            "startsAt": "2021-10-12T09:56:03.157076+02:00",
            "endsAt": "2021-10-12T10:01:03Z",
            "generatorURL": "https://grafana.example.com/alerting/d1rdpdv7k/edit",
            "fingerprint": "bc97ff14869b13e3",
            "silenceURL": "",
            "dashboardURL": "https://grafana.example.com/d/abc",
            "panelURL": "https://grafana.example.com/d/abc?viewPanel=2",
            "imageURL": "https://grafana.example.com/render/abc.png",
        },
    ],
    "groupLabels": {},
    "commonLabels": {"team": "blue"},
    "commonAnnotations": {},
    "externalURL": "https://grafana.example.com/",
    "version": "1",
    "groupKey": '{}:{alertname="High memory usage"}',
    "truncatedAlerts": 0,
    "title": "[FIRING:1, RESOLVED:1]  (blue)",
    "state": "alerting",
    "message": "**Firing** ...",
}


def test_documented_body_every_field() -> None:
    batch = parse_grafana_batch(copy.deepcopy(BODY))
    assert batch.receiver == "tocsin"
    assert batch.group_key == '{}:{alertname="High memory usage"}'
    assert batch.external_url == "https://grafana.example.com/"
    memory, cpu = batch.events

    assert memory.source == "grafana"
    assert memory.dedup_key == "c6eadffa33fcdf37"
    assert memory.action == "trigger"
    assert memory.title == "High memory usage: This alert was triggered for zone us-1"
    assert memory.summary == "The system has high memory usage"
    assert memory.severity_hint is None
    assert memory.labels == {"alertname": "High memory usage", "team": "blue", "zone": "us-1"}
    assert memory.annotations["runbook_url"] == "https://runbooks.example.com/memory"
    assert memory.starts_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert memory.ends_at is None
    assert memory.source_url == "https://grafana.example.com/alerting/1afz29v7z/edit"
    assert memory.links == (
        Link("https://grafana.example.com/alerting/1afz29v7z/edit", "Source"),
        Link("https://runbooks.example.com/memory", "Runbook"),
        Link(SILENCE, "Silence in Grafana"),
    )
    assert memory.raw["valueString"] == "[ var='B' labels={} value=44.2 ]"

    assert cpu.action == "resolve"
    assert cpu.dedup_key == "bc97ff14869b13e3"
    assert cpu.title == "High CPU usage"
    assert cpu.ends_at == datetime(2021, 10, 12, 10, 1, 3, tzinfo=UTC)
    assert cpu.links == (
        Link("https://grafana.example.com/alerting/d1rdpdv7k/edit", "Source"),
        Link("https://grafana.example.com/d/abc", "Dashboard"),
        Link("https://grafana.example.com/d/abc?viewPanel=2", "Panel"),
        Link("https://grafana.example.com/render/abc.png", "Image", "image"),
    )


def test_legacy_body_is_refused_with_a_hint() -> None:
    with pytest.raises(IngestError) as caught:
        parse_grafana({"title": "x", "ruleId": 1, "state": "alerting", "evalMatches": []})
    assert caught.value.field == "alerts"
    assert "legacy" in caught.value.message


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("silenceURL", 3, "alerts[0].silenceURL"),
        ("dashboardURL", [], "alerts[0].dashboardURL"),
        ("labels", {"a": {"b": "c"}}, "alerts[0].labels.a"),
        ("status", "alerting", "alerts[0].status"),
    ],
)
def test_malformed_alert_fields(key: str, value: Any, field: str) -> None:
    body = copy.deepcopy(BODY)
    body["alerts"][0][key] = value
    with pytest.raises(IngestError) as caught:
        parse_grafana(body)
    assert caught.value.field == field

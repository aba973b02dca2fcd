"""A real Prometheus Alertmanager posts its webhook to a live Tocsin server.

Alerts go to Alertmanager's own API (``POST /api/v2/alerts``); Alertmanager groups
them (1 s group wait and interval) and calls Tocsin's Alertmanager endpoint. A second
alert of the same group makes Alertmanager send the first one again: Tocsin counts
the repeat and attaches the newcomer, one incident in all. Expiring both (``endsAt``
in the past) makes Alertmanager send them resolved, and the incident moves to
monitoring (the example policy's ``resolve_action``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from tests.conftest import LiveServer
from tests.support.alertmanager import HOW_TO_GET, Alertmanager, find_alertmanager, webhook_config
from tests.support.requirements import require
from tests.support.waiting import wait_for

T = TypeVar("T")


def count(items: list[T], wanted: int) -> list[T] | None:
    return items if len(items) == wanted else None


def am_alert(instance: str, *, ends_at: datetime | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {
            "alertname": "HighErrorRate",
            "service": "checkout",
            "severity": "critical",
            "instance": instance,
        },
        "annotations": {"summary": f"5xx rate above 5% on {instance}"},
        "generatorURL": "http://prometheus.invalid/graph",
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    return alert


def test_alertmanager_opens_dedups_and_resolves_an_incident(live_server: LiveServer) -> None:
    require(find_alertmanager() is not None, "Prometheus Alertmanager", HOW_TO_GET)
    with httpx.Client(
        base_url=live_server.url,
        timeout=10,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
    ) as api:
        _through_alertmanager(api, live_server.url)


def _through_alertmanager(api: httpx.Client, url: str) -> None:
    created = api.post(
        "/api/v1/integrations",
        json={"name": "prometheus", "service": "checkout-api", "kind": "alertmanager"},
    )
    key = created.json()["key"]
    webhook = f"{url}/api/v1/integrations/{key}/alertmanager"

    def alerts() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = api.get("/api/v1/alerts").json()["items"]
        return items

    def incidents() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = api.get("/api/v1/incidents").json()["items"]
        return items

    with Alertmanager(webhook_config(webhook, group_by=["alertname", "service"])) as am:
        post = am.url + "/api/v2/alerts"
        assert httpx.post(post, json=[am_alert("web-1")], timeout=5).status_code == 200
        [first] = wait_for(alerts, 15, "the first webhook")
        assert first["source"] == "alertmanager" and first["status"] == "firing"
        [incident] = wait_for(incidents, 15, "an incident")
        assert incident["status"] == "triggered" and incident["severity"] == "SEV1"
        assert first["incident"] == incident["id"]

        # Same group: Alertmanager sends web-1 again with web-2 after group_interval.
        assert httpx.post(post, json=[am_alert("web-2")], timeout=5).status_code == 200
        both = wait_for(lambda: count(alerts(), 2), 15, "the second webhook")
        repeated = next(a for a in both if a["labels"]["instance"] == "web-1")
        assert repeated["occurrences"] == 2
        assert {a["incident"] for a in both} == {incident["id"]}
        assert len(incidents()) == 1

        past = datetime.now(UTC) - timedelta(seconds=1)
        expired = [am_alert("web-1", ends_at=past), am_alert("web-2", ends_at=past)]
        assert httpx.post(post, json=expired, timeout=5).status_code == 200
        wait_for(
            lambda: all(a["status"] == "resolved" for a in alerts()), 15, "the resolved webhook"
        )
        [after] = incidents()
        assert after["id"] == incident["id"] and after["status"] == "monitoring"
    linked = api.get(f"/api/v1/incidents/{incident['id']}/alerts").json()["items"]
    assert len(linked) == 2

"""A real Prometheus Alertmanager sends to Tocsin through its own PagerDuty
integration (``pagerduty_configs``) — the set-up of a team moving off PagerDuty that
only changes the URL.

Alertmanager posts to ``serve --tls-cert`` and trusts the test's CA
(``http_config.tls_config.ca_file``). Its events carry the alerts' labels only as text
in ``custom_details.firing``; Tocsin reads them back, so the example policy's routes
on ``service`` match: the integration belongs to web-frontend, but the alerts say
``service=checkout`` and land on checkout-api. Two alert groups are two dedup_keys,
so two incidents; expiring the alerts makes Alertmanager send ``resolve``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from tests.support.alertmanager import HOW_TO_GET, Alertmanager, find_alertmanager
from tests.support.requirements import require
from tests.support.tls_serve import TlsTocsin
from tests.support.waiting import wait_for

from tocsin.policy import example_policy_text


def pagerduty_config(tocsin: TlsTocsin, key: str) -> str:
    receiver = {
        "name": "tocsin",
        "pagerduty_configs": [
            {
                "routing_key": key,
                "url": f"{tocsin.base}/v2/enqueue",
                "send_resolved": True,
                "http_config": {"tls_config": {"ca_file": str(tocsin.tls.ca)}},
            }
        ],
    }
    config = {
        "route": {
            "receiver": "tocsin",
            "group_by": ["alertname", "service"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "24h",
        },
        "receivers": [receiver],
    }
    return json.dumps(config, indent=2)  # JSON is YAML


def alert(name: str, instance: str, *, ends_at: datetime | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "labels": {
            "alertname": name,
            "service": "checkout",
            "severity": "critical" if name == "CheckoutDown" else "warning",
            "instance": instance,
        },
        "annotations": {"summary": f"{name} on {instance}"},
        "generatorURL": "http://prometheus.invalid/graph",
    }
    if ends_at is not None:
        found["endsAt"] = ends_at.isoformat()
    return found


def test_alertmanager_pagerduty_configs(tmp_path: Path) -> None:
    require(find_alertmanager() is not None, "Prometheus Alertmanager", HOW_TO_GET)
    with TlsTocsin(tmp_path, example_policy_text(), "--no-worker") as tocsin:
        key = tocsin.integration("prom-pd", "pagerduty", service="web-frontend")
        with Alertmanager(pagerduty_config(tocsin, key)) as am:
            alerts = [
                alert("CheckoutDown", "web-1"),
                alert("CheckoutDown", "web-2"),
                alert("SlowQueries", "db-1"),
            ]
            assert httpx.post(f"{am.url}/api/v2/alerts", json=alerts).status_code == 200
            down, slow = wait_for(lambda: two(tocsin.incidents()), 20, "two incidents")
            assert down["title"] == "[FIRING:2] CheckoutDown checkout (critical)"
            assert (down["severity"], slow["severity"]) == ("SEV1", "SEV3")
            assert slow["title"] == "[FIRING:1] SlowQueries checkout (db-1 warning)"
            [down_alert] = tocsin.get(f"/api/v1/incidents/{down['id']}/alerts")["items"]
            assert down_alert["service"] == "checkout-api"  # routed on the alerts' label
            assert down_alert["route_path"] == "default/checkout"
            assert down_alert["labels"] == {
                "alertname": "CheckoutDown",
                "service": "checkout",
                "severity": "critical",
                "source": "Alertmanager",
            }
            assert down_alert["annotations"]["num_firing"] == "2"

            past = datetime.now(UTC) - timedelta(minutes=1)
            for each in alerts:
                each["endsAt"] = past.isoformat()
            assert httpx.post(f"{am.url}/api/v2/alerts", json=alerts).status_code == 200
            wait_for(
                lambda: all(status(tocsin, i) == "monitoring" for i in (down, slow)),
                20,
                "both incidents resolved by Alertmanager",
            )
            assert len(tocsin.incidents()) == 2


def two(items: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Both incidents, CheckoutDown's first (Alertmanager sends its groups in any order)."""
    return sorted(items, key=lambda i: "SlowQueries" in i["title"]) if len(items) == 2 else None


def status(tocsin: TlsTocsin, incident: dict[str, Any]) -> str:
    found: str = tocsin.get(f"/api/v1/incidents/{incident['id']}")["status"]
    return found

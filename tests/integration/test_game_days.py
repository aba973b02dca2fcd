"""Game days through the real server and the `tocsin drill` commands, with the engine
driven by a fake clock: the scenario's alerts arrive through the alert pipeline in
order and at their delays, open drills that page only the scenario's responders, and
never join the real incident of the same alert group, nor a real alert a drill's."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.cli import Cli

from tocsin.engine.worker import Worker

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alertmanager"

POLICY = """
severities:
  - {name: SEV1, aliases: [critical], respond_within: 5m, escalate_after: 15m,
     update_every: 15m, resolve_target: 30m}
  - {name: SEV2, aliases: [warning], respond_within: 15m, escalate_after: 30m,
     update_every: 30m, resolve_target: 2h}
people:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 1h, targets: [{person: alice}]}
services:
  - {name: checkout-api, escalation_policy: main}
routes:
  name: default
  service: checkout-api
  group_by: [alertname]
alerting:
  resolve_action: resolved
game_days:
  - name: checkout-outage
    description: Latency first, then errors; the latency clears
    service: checkout-api
    responders: [bob]
    alerts:
      - labels: {alertname: CheckoutLatencyHigh, severity: critical}
        annotations: {summary: p99 above 2 s}
      - after: 30s
        labels: {alertname: CheckoutErrors, severity: warning}
      - after: 2m
        labels: {alertname: CheckoutLatencyHigh, severity: critical}
        status: resolved
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def _real_alert(alertname: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        (FIXTURES / "alertmanager-webhook-firing.json").read_text(encoding="utf-8")
    )
    alert = copy.deepcopy(body["alerts"][0])
    alert["labels"] = {"alertname": alertname, "severity": "critical"}
    del alert["fingerprint"]
    body["alerts"] = [alert]
    return body


def test_a_game_day_runs_its_alerts_in_order_as_a_drill(live_server: Any) -> None:
    clock = live_server.clock
    worker = Worker(
        sessions=live_server.context.sessions, policy=live_server.context.policy, clock=clock
    )
    cli = Cli(live_server.url, live_server.make_token("responder", "bob"))
    with httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
        timeout=10,
    ) as api:
        created = api.post(
            "/api/v1/integrations",
            json={"name": "prom", "service": "checkout-api", "kind": "alertmanager"},
        )
        key = created.json()["key"]
        real = api.post(
            f"/api/v1/integrations/{key}/alertmanager", json=_real_alert("CheckoutLatencyHigh")
        )
        assert real.json()["alerts"][0]["incident"] == "INC-1"  # a real incident, open

        listed = cli.ok("drill", "list")
        assert "checkout-outage" in listed and "bob" in listed
        started = cli.ok("drill", "run", "checkout-outage")
        assert "Game day checkout-outage started" in started and "page bob" in started
        worker.run_due()
        clock.advance(timedelta(seconds=30))
        worker.run_due()
        drills = [i for i in api.get("/api/v1/incidents").json()["items"] if i["drill"]]
        assert sorted((i["id"], i["title"]) for i in drills) == [
            ("INC-2", "CheckoutLatencyHigh"),
            ("INC-3", "CheckoutErrors"),
        ]
        assert all(i["drill_responders"] == ["bob"] for i in drills)
        clock.advance(timedelta(seconds=90))
        worker.run_due()

        alerts = api.get("/api/v1/alerts", params={"limit": 50}).json()["items"]
        played = sorted(
            (a for a in alerts if a["labels"].get("game_day") == "checkout-outage"),
            key=lambda a: a["fired_at"],
        )
        assert [(a["labels"]["alertname"], a["incident"]) for a in played] == [
            ("CheckoutLatencyHigh", "INC-2"),
            ("CheckoutErrors", "INC-3"),
        ]
        fired = [a["fired_at"][11:19] for a in played]
        assert fired == ["09:00:00", "09:00:30"]
        assert api.get("/api/v1/incidents/INC-2").json()["status"] == "resolved"
        # The real incident kept its own alert, and is still open.
        real_incident = api.get("/api/v1/incidents/INC-1").json()
        assert (real_incident["status"], real_incident["drill"]) == ("triggered", False)
        real_alerts = [a for a in alerts if a["incident"] == "INC-1"]
        assert [a["labels"].get("game_day") for a in real_alerts] == [None]

        pages = {
            (n["incident_id"], n["person"], n["subject"])
            for n in api.get("/api/v1/notifications", params={"limit": 50}).json()["items"]
            if n["kind"] == "page"
        }
        assert pages == {
            ("INC-1", "alice", "[SEV1] INC-1: CheckoutLatencyHigh: 5xx rate above 5%"),
            ("INC-2", "bob", "[DRILL] [SEV1] INC-2: CheckoutLatencyHigh"),
            ("INC-3", "bob", "[DRILL] [SEV2] INC-3: CheckoutErrors"),
        }
        # A real alert of a drill's group opens a real incident; it never joins the drill.
        again = api.post(
            f"/api/v1/integrations/{key}/alertmanager", json=_real_alert("CheckoutErrors")
        )
        assert again.json()["alerts"][0]["incident"] == "INC-4"
        assert api.get("/api/v1/incidents/INC-4").json()["drill"] is False

        assert "not found" in cli.refused("drill", "run", "no-such-day")

"""Templates and the delivery views through the REST API and the CLI, against a real
server: previews, the pending view (throttled and retrying messages with their due
time and reason) and the dead letters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.test_cli_oncall import Cli, lines_with
from tests.support.api import ApiAs
from tests.support.receivers import WebhookReceiver

from tocsin.engine.delivery import DeliveryWorker

POLICY = """
severities:
  - {name: SEV1, respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 30m}
  - {name: SEV2, respond_within: 15m, escalate_after: 30m, update_every: 30m,
     resolve_target: 2h}
people:
  - {name: alice, full_name: Alice Anders, email: alice@example.com}
  - {name: bob, full_name: Bob Baker, email: bob@example.com}
  - {name: carol, full_name: Carol Chen, email: carol@example.com}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 1h, targets: [{person: alice}, {person: bob}]}
  - name: db-team
    tiers:
      - {timeout: 1h, targets: [{person: carol}]}
services:
  - {name: api, escalation_policy: main, customer_facing: true}
  - {name: db, escalation_policy: db-team}
channels:
  sms: {type: webhook, url: "URL", rate_limit: {count: 1, per: 15m}}
  chat: {type: webhook, url: "GONE"}
  phone: {type: webhook, url: "URL"}
notification_rules:
  alice:
    - notify: [{channel: sms}]
  bob:
    - notify: [{channel: chat}]
  carol:
    - notify: [{channel: phone}, {channel: phone, after: 20s}]
templates:
  page:
    subject: "PAGE {{ incident_id }} for {{ person.display_name }}"
    text: "{{ title }}: {{ reason }}"
  ack_time:
    description: Needs an acknowledged incident
    text: |
      Acknowledged
      in {{ incident.acknowledged_at.year }}
"""


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def gone() -> Iterator[WebhookReceiver]:
    """A receiver that refuses every message for good (410 Gone)."""
    receiver = WebhookReceiver(script=[410] * 10).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def policy_file(tmp_path: Path, hook: WebhookReceiver, gone: WebhookReceiver) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(POLICY.replace("URL", hook.url).replace("GONE", gone.url), encoding="utf-8")
    return path


@pytest.fixture
def api(api_as: ApiAs) -> httpx.Client:
    """The admin."""
    return api_as("admin")


@pytest.fixture
def cli(live_server: Any) -> Cli:
    return Cli(live_server.url, live_server.make_token("responder", "alice"))


def _declare(api: httpx.Client, title: str = "API down") -> str:
    answer = api.post(
        "/api/v1/incidents", json={"title": title, "severity": "SEV2", "services": ["api"]}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_preview_renders_a_template_for_an_incident(api: httpx.Client, cli: Cli) -> None:
    ref = _declare(api)
    answer = api.post(f"/api/v1/incidents/{ref}/preview", json={"template": "update"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["subject"] == f"[SEV2] {ref} update: API down"
    assert f"INCIDENT UPDATE - {ref} - 2026-03-02 09:00 UTC" in body["text"]
    assert "Next Update: 09:30 UTC" in body["text"]

    out = cli.ok("template", "render", "customer_email", ref)
    assert "Subject: Service Incident - API down" in out
    assert "Dear Customer," in out
    names = [t["name"] for t in cli.json("template", "list")["items"]]
    assert {"page", "ack_time", "update", "resolution", "customer_email"} <= set(names)


def test_preview_errors_name_the_template_and_line(api: httpx.Client, cli: Cli) -> None:
    ref = _declare(api)
    answer = api.post(f"/api/v1/incidents/{ref}/preview", json={"template": "ack_time"})
    assert answer.status_code == 422
    assert "template 'ack_time' (text, line 2)" in answer.json()["detail"]
    unknown = api.post(f"/api/v1/incidents/{ref}/preview", json={"template": "nope"})
    assert unknown.status_code == 422 and "unknown template 'nope'" in unknown.json()["detail"]
    err = cli.refused("template", "render", "ack_time", ref)
    assert "template 'ack_time' (text, line 2)" in err
    missing = api.post("/api/v1/incidents/INC-999/preview", json={"template": "update"})
    assert missing.status_code == 404


def test_pending_and_failed_views_show_when_and_why(
    api: httpx.Client, cli: Cli, live_server: Any, hook: WebhookReceiver
) -> None:
    context = live_server.context
    worker = DeliveryWorker(sessions=context.sessions, policy=context.policy, clock=context.clock)
    try:
        first = _declare(api, "First")
        worker.run_due()
        second = _declare(api, "Second")
        worker.run_due()
    finally:
        worker.shutdown()
    [sent] = hook.processed
    assert sent["subject"] == f"PAGE {first} for Alice Anders"  # the `page` template
    assert sent["text"] == "First: tier 1 of main (incident triggered)"

    pending = api.get("/api/v1/notifications", params={"state": "pending"}).json()
    [waiting] = pending["items"]
    assert (waiting["incident_id"], waiting["person"]) == (second, "alice")
    assert waiting["due_at"].startswith("2026-03-02T09:15:00")
    assert waiting["delay_reason"] == "throttled: 1 sms in 15m"
    [delivery] = waiting["deliveries"]
    assert delivery["channel"] == "sms" and delivery["state"] == "pending"

    failed = api.get("/api/v1/notifications", params={"state": "failed"}).json()
    assert {(n["incident_id"], n["person"]) for n in failed["items"]} == {
        (first, "bob"),
        (second, "bob"),
    }
    assert all(n["last_error"].startswith("chat: HTTP 410") for n in failed["items"])
    timeline = api.get(f"/api/v1/incidents/{first}/timeline").json()["items"]
    assert any(e["kind"] == "notification_failed" for e in timeline)

    out = cli.ok("notifications", "pending")
    assert lines_with(
        out, "2026-03-02 09:15:00Z", second, "alice", "sms", "throttled: 1 sms in 15m"
    )
    out = cli.ok("notifications", "failed")
    assert lines_with(out, first, "bob", "chat", "HTTP 410")
    assert cli.json("notifications", "pending")["total"] == 1
    assert "unknown view" in cli.refused("notifications", "lost")
    # The old form still works.
    assert lines_with(cli.ok("notifications", "--state", "sent"), first, "alice")


def test_a_delayed_step_of_a_persons_rule_says_why_it_waits(
    api: httpx.Client, cli: Cli, live_server: Any, hook: WebhookReceiver
) -> None:
    context = live_server.context
    worker = DeliveryWorker(sessions=context.sessions, policy=context.policy, clock=context.clock)
    answer = api.post(
        "/api/v1/incidents", json={"title": "Replica lag", "severity": "SEV2", "services": ["db"]}
    )
    assert answer.status_code == 201, answer.text
    incident = answer.json()["id"]
    try:
        worker.run_due()
    finally:
        worker.shutdown()
    assert len(hook.processed) == 1  # the first step went at once; the second waits
    reason = "delayed step: phone 20s after the message, unless acknowledged"
    [waiting] = cli.json("notifications", "pending")["items"]
    assert (waiting["incident_id"], waiting["person"]) == (incident, "carol")
    assert waiting["delay_reason"] == reason
    [delivery] = [d for d in waiting["deliveries"] if d["state"] == "pending"]
    assert delivery["due_at"].startswith("2026-03-02T09:00:20")
    assert delivery["delay_reason"] == reason
    out = cli.ok("notifications", "pending")
    assert lines_with(out, "2026-03-02 09:00:20Z", incident, "carol", "phone", "delayed step")
    assert "due now" not in out

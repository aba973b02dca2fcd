"""A drill through `tocsin serve` and the installed `tocsin` command: it pages only the
people it names, every page says [DRILL], and nothing reaches the public status page,
the stakeholders, PagerDuty or Jira (their local servers see no request), nor any
metric or SLO. A real incident declared afterwards under the same policy reaches all
of them, so the silence of the drill is not a broken set-up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.jira_api import JiraApi
from tests.support.pagerduty_api import PagerDutyApi
from tests.support.receivers import WebhookReceiver
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server
from tests.support.waiting import wait_for

PD_KEY = "R0UT1NGKEY0123456789abcdef012345"
JIRA_TOKEN = "jira-token-e2e"

POLICY = """
severities:
  - {name: SEV1, respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 30m}
people:
  - {name: alice, full_name: Alice Anders, email: alice@example.com}
  - {name: bob, full_name: Bob Baker, email: bob@example.com}
  - {name: erin, full_name: Erin Evans, email: erin@example.com}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 1h, targets: [{person: alice}]}
services:
  - name: checkout-api
    escalation_policy: main
    customer_facing: true
    status_page: {component: Checkout}
stakeholders:
  - severity: SEV1
    steps:
      - {after: 0m, notify: [{person: erin}]}
channels:
  ops: {type: webhook, url: "HOOK_URL"}
  pagerduty: {type: pagerduty, routing_key_env: TOCSIN_PD_KEY, base_url: "PD_URL",
              ca_file: "PD_CA"}
  jira: {type: jira, base_url: "JIRA_URL", email: tocsin@example.com,
         api_token_env: TOCSIN_JIRA_TOKEN, issue_type: Incident}
notification_rules:
  alice:
    - notify: [{channel: ops}, {channel: pagerduty}]
  "*":
    - notify: [{channel: ops}]
broadcasts:
  - name: everywhere
    severities: [SEV1]
    to:
      - {channel: ops, target: "#incidents"}
      - {channel: pagerduty}
      - {channel: jira, target: OPS}
slos:
  - {service: checkout-api, objective: 99.9, window: 30d}
status_page:
  title: Example Status
  url: https://status.example.com
  automation: {enabled: true, severities: [SEV1], draft: false}
game_days:
  - name: checkout-outage
    service: checkout-api
    responders: [bob]
    alerts:
      - labels: {alertname: CheckoutLatencyHigh, severity: critical}
      - after: 1s
        labels: {alertname: CheckoutErrors, severity: critical}
      - after: 2s
        labels: {alertname: CheckoutLatencyHigh, severity: critical}
        status: resolved
"""


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[tuple[WebhookReceiver, PagerDutyApi, JiraApi]]:
    hook = WebhookReceiver().start()
    pd = PagerDutyApi(tmp_path / "tls", routing_keys={PD_KEY}).start()
    jira = JiraApi(token=JIRA_TOKEN).start()
    yield hook, pd, jira
    jira.stop()
    pd.stop()
    hook.stop()


def _policy(hook: WebhookReceiver, pd: PagerDutyApi, jira: JiraApi) -> str:
    return (
        POLICY.replace("HOOK_URL", hook.url)
        .replace("PD_URL", pd.url)
        .replace("PD_CA", str(pd.tls.ca))
        .replace("JIRA_URL", jira.url)
    )


def _tocsin(cwd: Path, env: dict[str, str], *args: str) -> str:
    result = run_tocsin(*args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@contextmanager
def _served(
    tmp_path: Path, outside: tuple[WebhookReceiver, PagerDutyApi, JiraApi]
) -> Iterator[tuple[dict[str, str], int, httpx.Client]]:
    """``tocsin init`` + ``tocsin serve`` on the drill policy: the environment, the port
    and an admin client of the server."""
    hook, pd, jira = outside
    (tmp_path / "tocsin.yaml").write_text(_policy(hook, pd, jira), encoding="utf-8")
    env = clean_env({"TOCSIN_PD_KEY": PD_KEY, "TOCSIN_JIRA_TOKEN": JIRA_TOKEN})
    port = free_port()
    _tocsin(tmp_path, env, "init", "--url", f"http://127.0.0.1:{port}")
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    server = start_server(tmp_path, port, env)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ) as api:
            yield env, port, api
    finally:
        stop_server(server)


def _without_time(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in {"since", "until", "by_period"}}


def test_a_drill_pages_only_its_people_and_reaches_nothing_public_or_outside(
    tmp_path: Path, outside: tuple[WebhookReceiver, PagerDutyApi, JiraApi]
) -> None:
    hook, pd, jira = outside
    with _served(tmp_path, outside) as (env, port, api):
        public_before = httpx.get(f"http://127.0.0.1:{port}/api/v2/summary.json").json()
        metrics_before = _without_time(api.get("/api/v1/metrics/summary").json())
        slo_before = api.get("/api/v1/slos/checkout-api").json()

        out = _tocsin(
            tmp_path,
            env,
            "incident",
            "declare",
            "Checkout outage rehearsal",
            "--severity",
            "sev1",
            "--service",
            "checkout-api",
            "--drill",
            "--responder",
            "bob",
        )
        assert "Declared a drill, INC-1" in out
        page = wait_for(
            lambda: next((p for p in hook.processed if p["kind"] == "page"), None),
            5.0,
            "the drill's page to bob",
        )
        assert page["recipient"]["name"] == "bob"
        assert page["subject"] == "[DRILL] [SEV1] INC-1: Checkout outage rehearsal"
        _tocsin(tmp_path, env, "incident", "ack", "INC-1")
        _tocsin(
            tmp_path,
            env,
            "incident",
            "update",
            "INC-1",
            "Failing over to the standby",
            "--status",
            "identified",
            "--public",
        )
        _tocsin(tmp_path, env, "incident", "resolve", "INC-1", "Failover rehearsed")
        listed = _tocsin(tmp_path, env, "incident", "list", "--all")
        assert [line for line in listed.splitlines() if "INC-1" in line and "DRILL" in line]
        shown = api.get("/api/v1/incidents/INC-1").json()
        assert (shown["drill"], shown["drill_responders"]) == (True, ["bob"])
        refused = api.patch("/api/v1/incidents/INC-1", json={"drill": False})
        assert refused.status_code == 422 and "drill" in refused.text

        # Metrics and the SLO are what they were; the drills section has it.
        assert _without_time(api.get("/api/v1/metrics/summary").json()) == {
            **metrics_before,
            "drills_excluded": 1,
        }
        slo_after = api.get("/api/v1/slos/checkout-api").json()
        assert slo_after["consumed_seconds"] == slo_before["consumed_seconds"] == 0
        drills = json.loads(_tocsin(tmp_path, env, "metrics", "--drills", "--json"))
        assert drills["count"] == 1
        [drill] = drills["drills"]
        assert drill["id"] == "INC-1" and drill["time_to_acknowledge"] is not None
        assert "bob" in drill["participants"] and "alice" not in drill["participants"]
        table = _tocsin(tmp_path, env, "metrics", "--drills")
        assert "INC-1" in table and "Drills" in table

        # The control: a real incident under the same policy reaches everyone.
        _tocsin(
            tmp_path,
            env,
            "incident",
            "declare",
            "Checkout API down",
            "--severity",
            "sev1",
            "--service",
            "checkout-api",
        )
        wait_for(
            lambda: pd.accepted and jira.issues and len(hook.processed) >= 4,
            10.0,
            "the real incident at PagerDuty, in Jira, paged and announced",
        )
        public_after = httpx.get(f"http://127.0.0.1:{port}/api/v2/summary.json").json()
        drill_notes = api.get("/api/v1/incidents/INC-1/notifications").json()["items"]
        real_notes = api.get("/api/v1/incidents/INC-2/notifications").json()["items"]

    assert public_before["incidents"] == []
    assert [i["name"] for i in public_after["incidents"]] == ["Checkout - service disruption"]
    # PagerDuty and Jira heard of the real incident only.
    assert {e.dedup_key for e in pd.events} == {"tocsin-INC-2"}
    assert len(jira.issues) == 1
    assert all("INC-1" not in json.dumps(issue) for issue in jira.issues.values())
    # The drill paged bob and nobody else, every message marked; no stakeholder, no
    # broadcast.
    about_drill = [p for p in hook.processed if "INC-1" in json.dumps(p.get("incident"))]
    assert {(p["kind"], p["recipient"]["name"]) for p in about_drill} == {("page", "bob")}
    assert all(p["subject"].startswith("[DRILL]") for p in about_drill)
    assert {(n["kind"], n["person"]) for n in drill_notes} == {("page", "bob")}
    assert {("stakeholder", "erin"), ("page", "alice")} <= {
        (n["kind"], n["person"]) for n in real_notes
    }


def test_a_game_day_plays_its_alerts_in_order_through_the_server_as_a_drill(
    tmp_path: Path, outside: tuple[WebhookReceiver, PagerDutyApi, JiraApi]
) -> None:
    hook, pd, jira = outside
    with _served(tmp_path, outside) as (env, port, api):
        out = _tocsin(tmp_path, env, "drill", "run", "checkout-outage")
        assert "Game day checkout-outage started" in out and "3 alert(s)" in out

        def played() -> list[dict[str, Any]]:
            items = api.get("/api/v1/alerts", params={"limit": 50}).json()["items"]
            return sorted(items, key=lambda a: (a["fired_at"], a["id"]))

        wait_for(
            lambda: any(a["status"] == "resolved" for a in played()),
            15.0,
            "the scenario's three alerts, the last resolving the first",
        )
        alerts = played()
        assert [a["labels"]["alertname"] for a in alerts] == [
            "CheckoutLatencyHigh",
            "CheckoutErrors",
        ]
        assert all(a["labels"]["game_day"] == "checkout-outage" for a in alerts)
        incidents = api.get("/api/v1/incidents").json()["items"]
        assert {(i["title"], i["drill"]) for i in incidents} == {
            ("CheckoutLatencyHigh", True),
            ("CheckoutErrors", True),
        }
        wait_for(
            lambda: len([p for p in hook.processed if p["kind"] == "page"]) == 2,
            5.0,
            "a page to bob for each drill",
        )
        public = httpx.get(f"http://127.0.0.1:{port}/api/v2/summary.json").json()
        metrics = api.get("/api/v1/metrics/summary").json()
    pages = [p for p in hook.processed if p["kind"] == "page"]
    assert {p["recipient"]["name"] for p in pages} == {"bob"}
    assert all(p["subject"].startswith("[DRILL] ") for p in pages)
    assert [p for p in hook.processed if p["kind"] != "page"] == []
    assert public["incidents"] == [] and pd.events == [] and jira.issues == {}
    assert (metrics["incidents"], metrics["drills_excluded"]) == (0, 2)

"""From an alert to a remediated incident, in real Chromium against a real `tocsin
serve`, a real Prometheus scraping an exporter the test controls and a local webhook:
the alert opens an incident, its diagnostics attach within seconds, a playbook is
proposed, a responder who is not the commander is refused, the commander approves on
the incident page, the actions run in order (the second skipped: its condition no
longer holds), and all of it is on the timeline and in the post-mortem draft."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from tests.support.browser import PageFactory, init_directory, screenshot
from tests.support.local_http import Exporter, Recorder
from tests.support.prometheus import Prometheus, find_prometheus, scrape_config
from tests.support.requirements import require
from tests.support.servers import TOCSIN, clean_env, free_port, start_server, stop_server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.browser

PY = sys.executable
PASSWORD = "correct horse battery staple 42"
DIAGNOSTICS_WITHIN_S = 10.0


def _policy(prometheus: str, hook: str) -> str:
    return f"""
severities:
  - {{name: SEV1, aliases: [critical], respond_within: 5m, escalate_after: 15m,
     update_every: 15m, resolve_target: 30m, postmortem_required: true}}
people:
  - {{name: alice, email: alice@example.com}}
  - {{name: bob, email: bob@example.com}}
escalation_policies:
  - name: main
    tiers: [{{timeout: 1h, targets: [{{person: alice}}]}}]
services:
  - {{name: checkout-api, escalation_policy: main}}
routes: {{name: default, service: checkout-api, group_by: [alertname]}}
diagnostics:
  prometheus:
    main: {{url: "{prometheus}"}}
  collectors:
    queue-health:
      services: [checkout-api]
      steps:
        - name: Queue depth
          promql: {{prometheus: main, query: queue_depth}}
        - name: Health endpoint
          http: {{url: "{hook}/health"}}
playbooks:
  relieve-queue:
    trigger: {{match: ['alertname="QueueBacklog"']}}
    actions:
      - name: Drain the queue
        command: ["{PY}", "-c", "import sys; print('drained', sys.argv[1])", "{{{{ labels.pod }}}}"]
      - name: Restart if still high
        condition: {{prometheus: main, query: 'queue_depth > 100'}}
        command: ["{PY}", "-c", "print('restarted')"]
      - name: Start the rollback pipeline
        http: {{url: "{hook}/rollback", method: POST, json: {{service: "{{{{ service }}}}"}}}}
"""


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    with Exporter() as server:
        server.set("queue_depth", 500)
        yield server


@pytest.fixture
def prometheus(exporter: Exporter) -> Iterator[Prometheus]:
    require(find_prometheus() is not None, "Prometheus", "apt-get install prometheus")
    with Prometheus(scrape_config(exporter.address, "unused", interval="200ms")) as prom:
        wait_for(lambda: prom.query("queue_depth"), 20, "the exporter scraped")
        yield prom


@pytest.fixture
def hook() -> Iterator[Recorder]:
    with Recorder(status=200, body=b'{"ok": true}') as server:
        yield server


@pytest.fixture
def site(tmp_path: Path, prometheus: Prometheus, hook: Recorder) -> Iterator[dict[str, Any]]:
    directory = tmp_path / "site"
    init_directory(directory)
    (directory / "tocsin.yaml").write_text(_policy(prometheus.url, hook.url), encoding="utf-8")
    env = clean_env()
    for name in ("alice", "bob"):
        made = subprocess.run(
            [
                TOCSIN,
                "user",
                "create",
                name,
                "--role",
                "responder",
                "--person",
                name,
                "--password-stdin",
            ],
            cwd=directory,
            env=env,
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stdout + made.stderr
    token = json.loads((directory / ".tocsin" / "credentials.json").read_text())["token"]
    port = free_port()
    log = directory / "serve.log"
    process = start_server(directory, port, env, log=log)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "dir": directory}
    finally:
        stop_server(process)
        text = log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in text, text[-4000:]


def _sign_in(page: Page, url: str, name: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/dashboard")


def _runs(api: httpx.Client, ref: str, what: str) -> list[dict[str, Any]]:
    return list(api.get(f"/api/v1/incidents/{ref}/{what}").json()["items"])


def test_alert_to_approved_playbook_in_the_dashboard(
    site: dict[str, Any],
    new_page: PageFactory,
    exporter: Exporter,
    prometheus: Prometheus,
    hook: Recorder,
) -> None:
    url = site["url"]
    api = httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {site['token']}"}, timeout=10
    )
    with api:
        key = api.post(
            "/api/v1/integrations",
            json={"name": "prom", "service": "checkout-api", "kind": "alertmanager"},
        ).json()["key"]
        alert = {
            "status": "firing",
            "labels": {"alertname": "QueueBacklog", "severity": "critical", "pod": "web-7"},
            "annotations": {"summary": "queue backlog"},
        }
        sent = api.post(
            f"/api/v1/integrations/{key}/alertmanager",
            json={"version": "4", "status": "firing", "alerts": [alert]},
        )
        assert sent.status_code in (200, 202), sent.text
        ref = api.get("/api/v1/incidents").json()["items"][0]["id"]

        # Diagnostics attach by themselves within seconds.
        (diagnostics,) = wait_for(
            lambda: [r for r in _runs(api, ref, "diagnostics") if r["state"] == "done"],
            DIAGNOSTICS_WITHIN_S,
            "diagnostics attached",
        )
        assert [s["state"] for s in diagnostics["steps"]] == ["ok", "ok"]
        assert "queue_depth" in diagnostics["steps"][0]["output"]
        (proposal,) = wait_for(lambda: _runs(api, ref, "playbooks"), 5, "a playbook proposed")
        assert proposal["state"] == "proposed"

        assert (
            api.patch(
                f"/api/v1/incidents/{ref}", json={"roles": {"commander": "alice"}}
            ).status_code
            == 200
        )
        exporter.set("queue_depth", 5)
        wait_for(lambda: not prometheus.query("queue_depth > 100"), 20, "the queue drained")

        # Bob, a responder but not the commander, is refused.
        bob = new_page()
        _sign_in(bob, url, "bob")
        bob.goto(f"{url}/dashboard/incidents/{ref}")
        expect(bob.locator('[data-run="queue-health"]')).to_contain_text("done")
        bob.get_by_role("button", name="Approve relieve-queue").click()
        expect(bob.locator(".flash-error")).to_contain_text("only the commander (alice)")
        assert _runs(api, ref, "playbooks")[0]["state"] == "proposed"
        # Any responder may ask for diagnostics again, from the incident page.
        bob.get_by_label("Collector").select_option("queue-health")
        bob.get_by_role("button", name="Run diagnostics").click()
        expect(bob.locator(".flash-ok")).to_contain_text("Diagnostics queued")
        again = wait_for(
            lambda: [r for r in _runs(api, ref, "diagnostics") if r["state"] == "done"][1:],
            DIAGNOSTICS_WITHIN_S,
            "the second diagnostics run",
        )
        assert again[0]["requested_by"] == "bob"

        # Alice, the commander, approves.
        alice = new_page()
        _sign_in(alice, url, "alice")
        alice.goto(f"{url}/dashboard/incidents/{ref}")
        alice.get_by_role("button", name="Approve relieve-queue").click()
        expect(alice.locator(".flash-ok")).to_contain_text("approved")
        (run,) = wait_for(
            lambda: [r for r in _runs(api, ref, "playbooks") if r["state"] == "done"],
            15,
            "the playbook ran",
        )
        assert [(s["name"], s["state"]) for s in run["steps"]] == [
            ("Drain the queue", "ok"),
            ("Restart if still high", "skipped"),
            ("Start the rollback pipeline", "ok"),
        ]
        assert run["decided_by"] == "alice"
        assert [r.path for r in hook.requests if r.method == "POST"] == ["/rollback"]

        alice.reload()
        playbook = alice.locator('[data-playbook="relieve-queue"]')
        expect(playbook).to_have_attribute("data-state", "done")
        expect(playbook.locator('[data-step="Restart if still high"]')).to_have_attribute(
            "data-state", "skipped"
        )
        timeline = alice.locator("#timeline")
        for text in (
            "Diagnostics 'queue-health' done",
            "Playbook 'relieve-queue' proposed",
            "Playbook 'relieve-queue' approved by alice",
            "step 2 'Restart if still high': skipped",
            "Playbook 'relieve-queue' done",
        ):
            expect(timeline).to_contain_text(text)
        screenshot(alice, "incident-playbook-done")

        assert api.post(f"/api/v1/incidents/{ref}/resolve").status_code == 200
        markdown = api.get(f"/api/v1/incidents/{ref}/postmortem").json()["markdown"]
        assert "### Evidence" in markdown
        assert "Diagnostics queue-health" in markdown and "queue_depth" in markdown
        assert "Playbook relieve-queue" in markdown and "approved by alice" in markdown

"""Remediation playbooks through the real server: proposed when an alert fits, approved
only by the incident commander (or an admin), run action by action with a real
Prometheus judging the "still holds" conditions, a local webhook receiving the rollback
request; a declined or failed playbook is not proposed again by itself."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.cli import Cli
from tests.support.local_http import Exporter, Recorder
from tests.support.prometheus import Prometheus, find_prometheus, scrape_config
from tests.support.requirements import require
from tests.support.waiting import wait_for

from tocsin.db import session_scope
from tocsin.engine.runbook_runner import RunbookRunner
from tocsin.engine.worker import Worker
from tocsin.incidents import service as incidents
from tocsin.runbooks import service as runbooks

PY = sys.executable


def _policy(prometheus: str, hook: str, marker: Path) -> str:
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
playbooks:
  relieve-queue:
    description: Drain the queue, restart if it stays high, then roll back
    trigger: {{match: ['alertname="QueueBacklog"']}}
    actions:
      - name: Drain the queue
        command: ["{PY}", "-c", "import sys; print('drained', sys.argv[1])", "{{{{ labels.pod }}}}"]
      - name: Restart if still high
        condition: {{prometheus: main, query: 'queue_depth > 100'}}
        command: ["{PY}", "-c", "open('{marker}', 'w').write('restarted')"]
      - name: Start the rollback pipeline
        http:
          url: "{hook}/rollback"
          method: POST
          json: {{service: "{{{{ service }}}}", pod: "{{{{ labels.pod }}}}"}}
  look-around:
    approval: none
    trigger: {{promql: {{prometheus: main, query: 'queue_depth > 10'}}}}
    actions:
      - name: Read-only look
        command: ["{PY}", "-c", "print('looked')"]
  never-fires:
    trigger: {{promql: {{prometheus: main, query: 'queue_depth > 1000000'}}}}
    actions:
      - name: Nothing
        command: ["{PY}", "-c", "print('no')"]
  breaks:
    trigger: {{match: ['alertname="QueueBacklog"']}}
    actions:
      - name: Fails
        command: ["{PY}", "-c", "import sys; sys.exit(2)"]
      - name: Never reached
        command: ["{PY}", "-c", "open('{marker}', 'w').write('reached')"]
"""


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    with Exporter() as server:
        yield server


@pytest.fixture(scope="module")
def prometheus(exporter: Exporter) -> Iterator[Prometheus]:
    require(find_prometheus() is not None, "Prometheus", "apt-get install prometheus")
    exporter.set("queue_depth", 500)
    with Prometheus(scrape_config(exporter.address, "unused", interval="200ms")) as prom:
        wait_for(lambda: prom.query("queue_depth"), 20, "the exporter scraped")
        yield prom


@pytest.fixture
def hook() -> Iterator[Recorder]:
    with Recorder(status=202, body=b'{"pipeline": 17}') as server:
        yield server


@pytest.fixture
def policy_file(tmp_path: Path, prometheus: Prometheus, hook: Recorder) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(_policy(prometheus.url, hook.url, tmp_path / "marker"), encoding="utf-8")
    return path


def _open_incident(live_server: Any, pod: str = "web-1") -> str:
    with httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
        timeout=10,
    ) as api:
        key = api.post(
            "/api/v1/integrations",
            json={"name": "prom", "service": "checkout-api", "kind": "alertmanager"},
        ).json()["key"]
        alert = {
            "status": "firing",
            "labels": {"alertname": "QueueBacklog", "severity": "critical", "pod": pod},
            "annotations": {},
            "startsAt": live_server.clock.now().isoformat(),
        }
        body = {"version": "4", "status": "firing", "alerts": [alert]}
        answer = api.post(f"/api/v1/integrations/{key}/alertmanager", json=body)
        assert answer.status_code in (200, 202), answer.text
        return str(api.get("/api/v1/incidents").json()["items"][0]["id"])


def _run(live_server: Any) -> None:
    """The engine's jobs, then every run the executor can start, until none is left."""
    context = live_server.context
    Worker(sessions=context.sessions, policy=context.policy, clock=live_server.clock).run_due()
    runner = RunbookRunner(
        sessions=context.sessions, policy=context.policy, clock=live_server.clock
    )
    while futures := runner.start_due():
        for future in futures:
            future.result(timeout=60)


def _playbooks(api: httpx.Client, ref: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for run in api.get(f"/api/v1/incidents/{ref}/playbooks").json()["items"]:
        found.setdefault(run["name"], []).append(run)
    return found


def test_the_commander_approves_and_a_condition_that_no_longer_holds_skips_its_action(
    live_server: Any,
    api_as: Any,
    exporter: Exporter,
    prometheus: Prometheus,
    hook: Recorder,
    tmp_path: Path,
) -> None:
    exporter.set("queue_depth", 500)  # high, as the alert says (an earlier test lowered it)
    wait_for(lambda: prometheus.query("queue_depth > 100"), 20, "Prometheus saw the backlog")
    ref = _open_incident(live_server)
    _run(live_server)
    bob = api_as("responder", "bob")
    runs = _playbooks(bob, ref)
    # Matched by the alert, waiting for approval, with its actions rendered.
    (proposal,) = runs["relieve-queue"]
    assert proposal["state"] == "proposed"
    assert proposal["planned"][0]["display"].endswith("web-1")
    # Read-only and approval: none, its PromQL trigger holds: it ran by itself.
    assert [r["state"] for r in runs["look-around"]] == ["done"]
    assert runs["look-around"][0]["steps"][0]["output"].strip() == "looked"
    # Its trigger did not hold: nothing is proposed.
    assert [r["state"] for r in runs["never-fires"]] == ["not_triggered"]

    # Bob is a responder but not the commander: refused. A viewer: refused.
    refused = bob.post(f"/api/v1/incidents/{ref}/playbooks/relieve-queue/approve")
    assert refused.status_code == 403 and "commander" in refused.text
    viewer = api_as("viewer", "alice")
    assert (
        viewer.post(f"/api/v1/incidents/{ref}/playbooks/relieve-queue/approve").status_code == 403
    )

    admin = api_as("admin")
    assert (
        admin.patch(f"/api/v1/incidents/{ref}", json={"roles": {"commander": "alice"}}).status_code
        == 200
    )
    # The queue drained meanwhile: "restart if still high" no longer holds.
    exporter.set("queue_depth", 5)
    wait_for(lambda: not prometheus.query("queue_depth > 100"), 20, "Prometheus saw the drop")

    # The commander approves, from the CLI.
    cli = Cli(live_server.url, live_server.make_token("responder", "alice"))
    shown = cli.ok("playbook", "approve", ref, "relieve-queue")
    assert "queued" in shown and "approved by alice" in shown
    _run(live_server)

    (run,) = _playbooks(bob, ref)["relieve-queue"]
    assert run["state"] == "done" and run["decided_by"] == "alice"
    steps = [(s["name"], s["state"], s["exit_status"]) for s in run["steps"]]
    assert steps == [
        ("Drain the queue", "ok", 0),
        ("Restart if still high", "skipped", None),
        ("Start the rollback pipeline", "ok", 202),
    ]
    assert not (tmp_path / "marker").exists()
    assert [json.loads(r.body) for r in hook.requests] == [
        {"service": "checkout-api", "pod": "web-1"}
    ]
    timeline = [e["kind"] for e in bob.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]]
    for kind in ("playbook_proposed", "playbook_approved", "playbook_step", "playbook_finished"):
        assert kind in timeline
    assert timeline.count("playbook_step") == 3 + 1  # and look-around's one step

    # Resolved, it gets a post-mortem whose draft carries the evidence.
    assert admin.post(f"/api/v1/incidents/{ref}/resolve").status_code == 200
    markdown = admin.get(f"/api/v1/incidents/{ref}/postmortem").json()["markdown"]
    assert "### Evidence" in markdown
    assert "Playbook relieve-queue" in markdown and "approved by alice" in markdown
    assert "Restart if still high: skipped" in markdown
    assert "Playbook 'relieve-queue' approved by alice" in markdown  # the timeline table


def test_declined_and_failed_playbooks_wait_for_a_person(
    live_server: Any, api_as: Any, tmp_path: Path
) -> None:
    ref = _open_incident(live_server)
    _run(live_server)
    admin = api_as("admin")
    # Dry run: rendered, nothing runs.
    dry = admin.get(f"/api/v1/incidents/{ref}/playbooks/breaks/dry-run").json()
    assert [s["name"] for s in dry["steps"]] == ["Fails", "Never reached"]
    assert _playbooks(admin, ref)["breaks"][0]["steps"] == []

    assert admin.post(f"/api/v1/incidents/{ref}/playbooks/relieve-queue/decline").status_code == 200
    assert admin.post(f"/api/v1/incidents/{ref}/playbooks/breaks/approve").status_code == 200
    _run(live_server)
    runs = _playbooks(admin, ref)
    assert [r["state"] for r in runs["relieve-queue"]] == ["declined"]
    (broken,) = runs["breaks"]
    assert broken["state"] == "failed" and "later steps not run" in broken["note"]
    assert [s["state"] for s in broken["steps"]] == ["failed"]
    assert not (tmp_path / "marker").exists()

    # Looking again (as on a new alert) proposes neither again.
    with session_scope(live_server.context.sessions) as session:
        incident = incidents.get(session=session, ref=ref)
        again = runbooks.evaluate_playbooks(
            session=session,
            policy=live_server.context.policy.current,
            incident=incident,
            now=live_server.clock.now(),
        )
    assert again == []
    # A person proposes it again: it waits for approval once more.
    proposed = admin.post(f"/api/v1/incidents/{ref}/playbooks/relieve-queue/propose")
    assert proposed.status_code == 201 and proposed.json()["state"] == "proposed"
    twice = admin.post(f"/api/v1/incidents/{ref}/playbooks/relieve-queue/propose")
    assert twice.status_code == 409
    unknown = admin.post(f"/api/v1/incidents/{ref}/playbooks/rm-rf/propose")
    assert unknown.status_code == 404 and "relieve-queue" in unknown.text

"""Diagnostics with real parts: an alert through the real server opens an incident, the
collectors that fit run as real subprocesses, a request to a local HTTP server, PromQL
against a real Prometheus scraping an exporter the test controls, and SQL against the
suite's real PostgreSQL; the results are on the API, the timeline and the post-mortem.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.local_http import Exporter, Recorder
from tests.support.pgcluster import PostgresCluster
from tests.support.prometheus import Prometheus, find_prometheus, scrape_config
from tests.support.requirements import require
from tests.support.waiting import wait_for

from tocsin.engine.runbook_runner import RunbookRunner
from tocsin.engine.worker import Worker

PY = sys.executable

#: A label an attacker controls, full of shell syntax.
HOSTILE = "web-1; touch {marker} #$(touch {marker})`touch {marker}`"


def _policy(tmp: Path, *, prometheus_url: str, web_url: str) -> str:
    return f"""
severities:
  - {{name: SEV1, aliases: [critical], respond_within: 5m, escalate_after: 15m,
     update_every: 15m, resolve_target: 30m}}
people:
  - {{name: alice, email: alice@example.com}}
escalation_policies:
  - name: main
    tiers: [{{timeout: 1h, targets: [{{person: alice}}]}}]
services:
  - {{name: checkout-api, escalation_policy: main}}
routes: {{name: default, service: checkout-api, group_by: [alertname]}}
diagnostics:
  output_cap: 2048
  redact: ['sessionid=\\w+']
  prometheus:
    main: {{url: "{prometheus_url}"}}
  databases:
    app: {{dsn_env: TEST_APP_DSN}}
  collectors:
    commands:
      services: [checkout-api]
      steps:
        - name: argv with a hostile label
          command: ["{PY}", "-c", "import sys; print('pod=' + sys.argv[1])", "{{{{ labels.pod }}}}"]
        - name: shell line with a hostile label
          command: "echo pod={{{{ labels.pod }}}}"
          shell: true
        - name: sleeps past its timeout
          command: ["{PY}", "-c", "import time; print('started', flush=True); time.sleep(60)"]
          timeout: 1s
        - name: prints too much
          command: ["{PY}", "-c", "print('x' * 100000)"]
        - name: fails
          command: ["{PY}", "-c", "import sys; print('boom'); sys.exit(3)"]
        - name: prints secrets
          command: ["{PY}", "-c", "print('password=hunter2 sessionid=abc123 ok')"]
        - name: sees only its environment
          command: ["{PY}", "-c", "import os; print(sorted(os.environ))"]
          env: [ALLOWED_VAR]
          cwd: "{tmp}"
    web:
      steps:
        - name: health
          http: {{url: "{web_url}/health/{{{{ labels.pod }}}}"}}
    metrics:
      steps:
        - name: queue depth now
          promql:
            prometheus: main
            query: 'queue_depth{{pod="{{{{ labels.pod }}}}"}} or queue_depth'
        - name: queue depth over a minute
          promql: {{prometheus: main, query: 'queue_depth', range: 1m, step: 15s}}
"""


@pytest.fixture(scope="module")
def web() -> Iterator[Recorder]:
    with Recorder(status=503, body=b'{"status": "degraded", "token": "t0psecret"}') as server:
        yield server


@pytest.fixture(scope="module")
def prometheus() -> Iterator[Prometheus]:
    require(find_prometheus() is not None, "Prometheus", "apt-get install prometheus")
    with Exporter() as exporter:
        exporter.set("queue_depth", 42)
        with Prometheus(scrape_config(exporter.address, "unused", interval="200ms")) as prom:
            wait_for(lambda: prom.query("queue_depth"), 20, "the exporter scraped")
            yield prom


@pytest.fixture
def policy_file(tmp_path: Path, prometheus: Prometheus, web: Recorder) -> Path:
    path = tmp_path / "tocsin.yaml"
    path.write_text(
        _policy(tmp_path, prometheus_url=prometheus.url, web_url=web.url),
        encoding="utf-8",
    )
    return path


def _open_incident(live_server: Any, pod: str) -> str:
    with httpx.Client(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {live_server.admin_token}"},
        timeout=10,
    ) as api:
        created = api.post(
            "/api/v1/integrations",
            json={"name": "prom", "service": "checkout-api", "kind": "alertmanager"},
        ).json()
        body = {
            "version": "4",
            "status": "firing",
            "receiver": "tocsin",
            "groupKey": '{}:{alertname="QueueBacklog"}',
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "QueueBacklog", "severity": "critical", "pod": pod},
                    "annotations": {"summary": "queue backlog"},
                    "startsAt": live_server.clock.now().isoformat(),
                }
            ],
        }
        answer = api.post(f"/api/v1/integrations/{created['key']}/alertmanager", json=body)
        assert answer.status_code in (200, 202), answer.text
        incidents = api.get("/api/v1/incidents").json()["items"]
        return str(incidents[0]["id"])


def _run_everything(live_server: Any, environ: dict[str, str]) -> None:
    context = live_server.context
    Worker(sessions=context.sessions, policy=context.policy, clock=live_server.clock).run_due()
    runner = RunbookRunner(
        sessions=context.sessions, policy=context.policy, clock=live_server.clock, environ=environ
    )
    while futures := runner.start_due():
        for future in futures:
            future.result(timeout=60)


def _steps(api: httpx.Client, ref: str) -> dict[str, dict[str, Any]]:
    runs = api.get(f"/api/v1/incidents/{ref}/diagnostics").json()["items"]
    return {step["name"]: step for run in runs for step in run["steps"]}


def test_an_opened_incident_gets_its_diagnostics_with_values_as_data(
    live_server: Any, tmp_path: Path, web: Recorder, api_as: Any
) -> None:
    marker = tmp_path / "injected"
    pod = HOSTILE.format(marker=marker)
    ref = _open_incident(live_server, pod)
    _run_everything(
        live_server, {"PATH": "/usr/bin:/bin", "ALLOWED_VAR": "1", "NOT_ALLOWED": "leak"}
    )
    viewer = api_as("viewer")
    steps = _steps(viewer, ref)

    # Hostile label values stay one argument, or are shell-quoted: nothing was executed.
    assert not marker.exists()
    assert steps["argv with a hostile label"]["output"].strip() == f"pod={pod}"
    assert steps["shell line with a hostile label"]["output"].strip() == f"pod={pod}"
    assert steps["argv with a hostile label"]["state"] == "ok"

    slow = steps["sleeps past its timeout"]
    assert slow["state"] == "timeout" and slow["exit_status"] is None
    assert "started" in slow["output"] and "timeout" in slow["output"]

    big = steps["prints too much"]
    assert big["truncated"] is True
    assert big["output"].count("x") == 2048 and "cut at 2048 bytes of 100001" in big["output"]

    failed = steps["fails"]
    assert (failed["state"], failed["exit_status"]) == ("failed", 3)
    assert "boom" in failed["output"]

    secrets = steps["prints secrets"]["output"]
    assert "hunter2" not in secrets and "abc123" not in secrets and " ok" in secrets

    environment = steps["sees only its environment"]["output"]
    assert "ALLOWED_VAR" in environment and "NOT_ALLOWED" not in environment

    health = steps["health"]
    assert health["state"] == "failed" and health["exit_status"] == 503
    assert health["data"]["status"] == 503
    assert {"connect", "first_byte", "total"} <= set(health["data"]["timing_ms"])
    assert '"degraded"' in health["output"] and "t0psecret" not in health["output"]
    # The label is URL-encoded into one path segment.
    assert web.requests[-1].path.startswith("/health/web-1%3B%20touch%20")

    now = steps["queue depth now"]
    assert now["state"] == "ok", now["output"]
    assert now["data"]["columns"] == ["series", "value"]
    assert now["data"]["rows"][0][1] == "42"
    over = steps["queue depth over a minute"]
    assert over["state"] == "ok", over["output"]
    assert over["data"]["columns"][:3] == ["series", "first", "last"]

    timeline = viewer.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
    finished = [e for e in timeline if e["kind"] == "diagnostics_finished"]
    assert {e["summary"].split(" ")[1] for e in finished} == {"'commands'", "'web'", "'metrics'"}


def test_a_viewer_cannot_run_diagnostics_and_only_policy_names_run(
    live_server: Any, api_as: Any
) -> None:
    ref = _open_incident(live_server, "web-1")
    viewer = api_as("viewer")
    refused = viewer.post(f"/api/v1/incidents/{ref}/diagnostics", json={"collector": "web"})
    assert refused.status_code == 403
    responder = api_as("responder", "alice")
    unknown = responder.post(f"/api/v1/incidents/{ref}/diagnostics", json={"collector": "rm -rf /"})
    assert unknown.status_code == 422 and "collector" in unknown.text
    smuggled = responder.post(
        f"/api/v1/incidents/{ref}/diagnostics", json={"command": ["touch", "pwned"]}
    )
    assert smuggled.status_code in (400, 422) and "command" in smuggled.text
    queued = responder.post(f"/api/v1/incidents/{ref}/diagnostics", json={"collector": "web"})
    assert queued.status_code == 202
    assert [r["name"] for r in queued.json()["items"]] == ["web"]
    assert queued.json()["items"][0]["requested_by"] == "alice"


@pytest.mark.postgres
def test_the_sql_step_reads_pg_stat_activity_read_only(
    live_server: Any, pg_cluster: PostgresCluster, tmp_path: Path, api_as: Any
) -> None:
    # The collectors of the module's policy, plus one SQL collector.
    policy = live_server.context.policy
    assert policy.path is not None
    text = (
        policy.path.read_text(encoding="utf-8")
        + """
    database:
      on_open: false
      steps:
        - name: long-running queries
          sql:
            database: app
            query: >
              SELECT now() - query_start AS duration, state, query
              FROM pg_stat_activity WHERE state != 'idle' ORDER BY duration DESC LIMIT 10
        - name: a write is refused
          sql: {database: app, query: "CREATE TABLE evil (x int)"}
        - name: a slow statement is stopped
          sql: {database: app, query: "SELECT pg_sleep(5)"}
          timeout: 1s
"""
    )
    policy.path.write_text(text, encoding="utf-8")
    policy.reload()
    ref = _open_incident(live_server, "web-1")
    responder = api_as("responder", "alice")
    assert (
        responder.post(
            f"/api/v1/incidents/{ref}/diagnostics", json={"collector": "database"}
        ).status_code
        == 202
    )
    dsn = pg_cluster.url("postgres")
    _run_everything(live_server, {"PATH": "/usr/bin:/bin", "TEST_APP_DSN": dsn})
    steps = _steps(responder, ref)
    activity = steps["long-running queries"]
    assert activity["state"] == "ok", activity["output"]
    assert activity["data"]["columns"] == ["duration", "state", "query"]
    # The diagnostic's own query is active while it runs.
    assert any("pg_stat_activity" in row[2] for row in activity["data"]["rows"])
    write = steps["a write is refused"]
    assert write["state"] == "failed" and "read-only" in write["output"]
    slow = steps["a slow statement is stopped"]
    assert slow["state"] == "timeout", slow["output"]

"""A server killed (SIGKILL) while a playbook's action runs: after the restart the run
and the action it was in are reported interrupted, and nothing runs again by itself."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server
from tests.support.waiting import stays, wait_for

pytestmark = pytest.mark.alone

PY = sys.executable


def _policy(log: Path) -> str:
    step = (
        "import os, sys, time; "
        "open(sys.argv[1], 'a').write(sys.argv[2] + ' ' + str(os.getpid()) + chr(10))"
    )
    check = "import sys; print('checked', sys.argv[1])"
    return f"""
severities:
  - {{name: SEV1, respond_within: 1h, escalate_after: 1h, update_every: 1h, resolve_target: 1h}}
people:
  - {{name: alice, email: alice@example.com}}
escalation_policies:
  - name: main
    tiers: [{{timeout: 1h, targets: [{{person: alice}}]}}]
services:
  - {{name: api, escalation_policy: main}}
diagnostics:
  collectors:
    quick:
      on_open: false
      steps:
        - name: Who is there
          command: ["{PY}", "-c", "{check}", "{{{{ incident.ref }}}}"]
playbooks:
  slow-fix:
    trigger: {{match: ['alertname="Never"']}}
    actions:
      - name: First
        command: ["{PY}", "-c", "{step}", "{log}", "first"]
      - name: Slow second
        command: ["{PY}", "-c", "{step}; time.sleep(120)", "{log}", "second"]
        timeout: 5m
      - name: Third
        command: ["{PY}", "-c", "{step}", "{log}", "third"]
"""


def _run(api: httpx.Client, ref: str) -> dict[str, Any]:
    (run,) = api.get(f"/api/v1/incidents/{ref}/playbooks").json()["items"]
    return dict(run)


def _started(log: Path) -> list[str]:
    return log.read_text().split("\n")[:-1] if log.exists() else []


def test_sigkill_during_an_action_reports_it_interrupted_and_runs_nothing_again(
    tmp_path: Path,
) -> None:
    log = tmp_path / "actions.log"
    (tmp_path / "tocsin.yaml").write_text(_policy(log), encoding="utf-8")
    env = clean_env()
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=5, headers={"Authorization": f"Bearer {token}"}
    )
    server = start_server(tmp_path, port, env)
    orphan = None
    try:
        declared = api.post(
            "/api/v1/incidents", json={"title": "API slow", "severity": "SEV1", "services": ["api"]}
        )
        ref = declared.json()["id"]
        # The installed CLI, as an operator runs it.
        cli_env = {**env, "TOCSIN_URL": f"http://127.0.0.1:{port}", "TOCSIN_TOKEN": token}
        diagnosed = run_tocsin("diagnose", ref, "quick", cwd=tmp_path, env=cli_env)
        assert diagnosed.returncode == 0, diagnosed.stderr
        assert "Diagnostic quick — done" in diagnosed.stdout
        assert f"| checked {ref}" in diagnosed.stdout
        dry = run_tocsin("playbook", "dry-run", ref, "slow-fix", cwd=tmp_path, env=cli_env)
        assert "nothing is run" in dry.stdout and "Slow second" in dry.stdout
        proposed = run_tocsin("playbook", "propose", ref, "slow-fix", cwd=tmp_path, env=cli_env)
        assert proposed.returncode == 0 and "proposed" in proposed.stdout, proposed.stderr
        assert not log.exists()  # a proposal and a dry run run nothing
        approved = run_tocsin("playbook", "approve", ref, "slow-fix", cwd=tmp_path, env=cli_env)
        assert approved.returncode == 0 and "queued" in approved.stdout, approved.stderr
        wait_for(lambda: len(_started(log)) == 2, 15, "the second action started")
        orphan = int(_started(log)[1].split()[1])
        server.send_signal(signal.SIGKILL)
        server.communicate(timeout=10)

        server = start_server(tmp_path, port, env)
        run = wait_for(
            lambda: (r := _run(api, ref))["state"] == "interrupted" and r, 10, "run interrupted"
        )
        assert [(s["name"], s["state"]) for s in run["steps"]] == [
            ("First", "ok"),
            ("Slow second", "interrupted"),
        ]
        assert "during step 2 'Slow second'" in run["note"]
        timeline = api.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
        interrupted = [e for e in timeline if e["kind"] == "run_interrupted"]
        assert len(interrupted) == 1 and "propose it again" in interrupted[0]["summary"]
        # Nothing runs again by itself: no action starts a second time, the third never.
        stays(
            lambda: [s.split()[0] for s in _started(log)] == ["first", "second"],
            2.0,
            "no action ran again",
        )
        assert _run(api, ref)["state"] == "interrupted"
    finally:
        stop_server(server)
        api.close()
        if orphan is not None:  # the killed server's action outlived it; the test ends it
            with contextlib.suppress(ProcessLookupError):
                os.kill(orphan, signal.SIGKILL)

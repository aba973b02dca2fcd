"""Many diagnostic runs at once: the executor runs at most ``diagnostics.concurrency``
of them at a time, finishes every one, and people's requests are answered at once
while they run."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.support.waiting import wait_for

from tocsin.engine.runbook_runner import RunbookRunner

RUNS = 12
CONCURRENCY = 3


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    # Each step notes its start, waits until the test lets steps end, and notes its end.
    step = (
        "import os, sys, time; log, gate = sys.argv[1], sys.argv[2]; "
        "open(log, 'a').write('start' + chr(10)); "
        "[time.sleep(0.02) for _ in range(1500) if not os.path.exists(gate)]; "
        "open(log, 'a').write('end' + chr(10))"
    )
    path = tmp_path / "tocsin.yaml"
    path.write_text(
        f"""
severities:
  - {{name: SEV1, respond_within: 5m, escalate_after: 15m, update_every: 15m,
     resolve_target: 30m}}
people: [{{name: alice}}]
escalation_policies:
  - {{name: main, tiers: [{{timeout: 1h, targets: [{{person: alice}}]}}]}}
services: [{{name: api, escalation_policy: main}}]
diagnostics:
  concurrency: {CONCURRENCY}
  collectors:
    slow:
      on_open: false
      steps:
        - name: waits for the gate
          command: ["{sys.executable}", "-c", "{step}", "{tmp_path / "log"}", "{tmp_path / "gate"}"]
""",
        encoding="utf-8",
    )
    return path


def test_many_runs_respect_the_concurrency_and_all_finish(
    live_server: Any, api_as: Any, tmp_path: Path
) -> None:
    api = api_as("admin")
    ref = api.post(
        "/api/v1/incidents", json={"title": "Slow", "severity": "SEV1", "services": ["api"]}
    ).json()["id"]
    for _ in range(RUNS):
        answer = api.post(f"/api/v1/incidents/{ref}/diagnostics", json={"collector": "slow"})
        assert answer.status_code == 202
    context = live_server.context
    runner = RunbookRunner(
        sessions=context.sessions, policy=context.policy, clock=live_server.clock
    )
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop,), kwargs={"poll": 0.05})
    thread.start()
    log = tmp_path / "log"
    try:
        wait_for(
            lambda: log.exists() and log.read_text().count("start") == CONCURRENCY,
            20,
            "the first runs started",
        )

        def states() -> list[str]:
            items = api.get(f"/api/v1/incidents/{ref}/diagnostics").json()["items"]
            return [r["state"] for r in items]

        # While the slots are full, the rest wait, and the API answers at once.
        running = states()
        assert running.count("running") == CONCURRENCY
        assert running.count("queued") == RUNS - CONCURRENCY
        (tmp_path / "gate").touch()
        wait_for(lambda: states() == ["done"] * RUNS, 60, "every run done")
    finally:
        (tmp_path / "gate").touch()
        stop.set()
        thread.join(timeout=30)
    # Replay the log: never more than CONCURRENCY steps at once.
    inside = highest = 0
    for line in log.read_text().split():
        inside += 1 if line == "start" else -1
        highest = max(highest, inside)
    assert highest == CONCURRENCY
    assert log.read_text().split().count("end") == RUNS

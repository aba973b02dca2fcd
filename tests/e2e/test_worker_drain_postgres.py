"""A worker stopped with SIGTERM hands back the sends it claimed: another worker
delivers them at once, long before their claim deadline, and the stopped worker exits
cleanly. The receiver holds the first worker's requests without answering (a slow
far side), so its sends are under way when it is told to stop."""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from tests.support.receivers import WebhookReceiver
from tests.support.servers import TOCSIN, clean_env, free_port, run_tocsin, start_server
from tests.support.servers import stop_server as stop_serve
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.alone]

PAGES = 3
POLICY = """
severities:
  - {name: SEV1, respond_within: 1h, escalate_after: 1h, update_every: 1h, resolve_target: 1h}
people:
  - {name: alice, email: alice@example.com}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 1h, targets: [{person: alice}]}
services:
  - {name: api, escalation_policy: main}
channels:
  hook: {type: webhook, url: "HOOK_URL", timeout: 30s}
notification_rules:
  alice: [{notify: [{channel: hook}]}]
"""


@dataclass
class HoldingReceiver(WebhookReceiver):
    """Holds every request (unanswered) while ``holding`` is set; ``arrived`` counts
    the requests as they come in, before any answer."""

    holding: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    arrived: list[str] = field(default_factory=list)

    def _answer(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        with self._lock:
            self.arrived.append(headers.get("Idempotency-Key", ""))
        if self.holding.is_set():
            self.released.wait(60)
            return 503, {}  # never counted as processed
        return super()._answer(headers, body)


def _start_worker(directory: Path, env: dict[str, str], name: str) -> subprocess.Popen[str]:
    log = directory / f"{name}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [TOCSIN, "worker"], cwd=directory, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    wait_for(lambda: "worker" in log.read_text() and "started" in log.read_text(), 90, name)
    return process


def _claims(database_url: str) -> dict[int, tuple[str, datetime]]:
    """The deliveries being sent: id → (claiming worker, claim deadline)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, claimed_by, deadline_at FROM deliveries WHERE state = 'sending'")
            )
            return {row.id: (row.claimed_by, row.deadline_at) for row in rows}
    finally:
        engine.dispose()


def _page_deliveries(api: httpx.Client, refs: list[str]) -> list[dict[str, Any]]:
    found = []
    for ref in refs:
        for notification in api.get(f"/api/v1/incidents/{ref}/notifications").json()["items"]:
            if notification["kind"] == "page":
                found.extend(notification["deliveries"])
    return found


def test_sigterm_hands_claimed_sends_to_another_worker(postgres_url: str, tmp_path: Path) -> None:
    hook = HoldingReceiver().start()
    hook.holding.set()
    processes: list[subprocess.Popen[Any]] = []
    try:
        (tmp_path / "tocsin.yaml").write_text(POLICY.replace("HOOK_URL", hook.url), "utf-8")
        env = clean_env({"TOCSIN_DATABASE_URL": postgres_url})
        port = free_port()
        init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path, env=env)
        assert init.returncode == 0, init.stdout + init.stderr
        token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
        server = start_server(tmp_path, port, env, "--no-worker", log=tmp_path / "serve.log")
        processes.append(server)
        first = _start_worker(tmp_path, env, "first")
        processes.append(first)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        refs = []
        for number in range(PAGES):
            declared = api.post(
                "/api/v1/incidents",
                json={"title": f"Outage {number}", "severity": "SEV1", "services": ["api"]},
            )
            assert declared.status_code == 201, declared.text
            refs.append(declared.json()["id"])
        wait_for(lambda: len(hook.arrived) == PAGES, 30, "the first worker sending every page")
        claims = _claims(postgres_url)
        assert len(claims) == PAGES
        assert len({worker for worker, _ in claims.values()}) == 1

        second = _start_worker(tmp_path, env, "second")
        processes.append(second)
        hook.holding.clear()  # the far side answers again, at once
        first.terminate()
        # Handed back at once: the second worker sends every page again and it is sent.
        wait_for(
            lambda: all(d["state"] == "sent" for d in _page_deliveries(api, refs)),
            20,
            "every page sent by the second worker",
        )
        assert first.wait(timeout=60) == 0  # once its abandoned sends time out
        assert f"handed back {PAGES} claimed sends" in (tmp_path / "first.log").read_text()
        sent = _page_deliveries(api, refs)
        assert len(sent) == PAGES
        for delivery in sent:
            _, deadline = claims[delivery["id"]]
            assert datetime.fromisoformat(delivery["sent_at"]) < deadline
        # Each page went out twice: the held attempt, then the second worker's, with the
        # same idempotency key (so the far side can tell).
        assert sorted(Counter(hook.arrived).values()) == [2] * PAGES
        assert len(hook.processed) == PAGES  # each page received once
        api.close()
    finally:
        hook.released.set()
        for process in reversed(processes):
            if process is processes[0]:
                stop_serve(process)
            elif process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
        hook.stop()

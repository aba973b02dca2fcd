"""A server killed mid-escalation resumes it after a restart: no page lost, none doubled."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server
from tests.support.waiting import stays, wait_for

pytestmark = pytest.mark.alone

POLICY = """
severities:
  - name: SEV1
    respond_within: 1h
    escalate_after: 1h
    update_every: 1h
    resolve_target: 1h
people:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com}
escalation_policies:
  - name: fast
    tiers:
      - {timeout: 3s, targets: [{person: alice}]}
      - {timeout: 1h, targets: [{person: bob}]}
services:
  - {name: api, escalation_policy: fast}
"""


def _pages(api: httpx.Client, ref: str) -> list[dict[str, Any]]:
    body = api.get(f"/api/v1/incidents/{ref}/notifications").json()
    return [n for n in body["items"] if n["kind"] == "page"]


def test_sigkill_after_tier_one_then_restart_pages_tier_two_exactly_once(
    tmp_path: Path,
) -> None:
    (tmp_path / "tocsin.yaml").write_text(POLICY, encoding="utf-8")
    env = clean_env()
    port = free_port()
    assert (
        run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path, env=env).returncode
        == 0
    )
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", timeout=5, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        _crash_and_recover(tmp_path, port, env, api)


def _crash_and_recover(tmp_path: Path, port: int, env: dict[str, str], api: httpx.Client) -> None:
    server = start_server(tmp_path, port, env)
    try:
        declared = api.post(
            "/api/v1/incidents", json={"title": "API down", "severity": "SEV1", "services": ["api"]}
        )
        assert declared.status_code == 201, declared.text
        ref = declared.json()["id"]
        assert [p["person"] for p in _pages(api, ref)] == ["alice"]
    finally:
        server.send_signal(signal.SIGKILL)
        server.communicate(timeout=10)

    time.sleep(3.5)  # tier 2 (3 s after tier 1) falls due while the server is down
    server = start_server(tmp_path, port, env)
    try:
        # Promptly: the overdue escalation is run at the start, not left for later.
        wait_for(lambda: len(_pages(api, ref)) >= 2, 1.0, "tier 2 paged after the restart")
        stays(lambda: len(_pages(api, ref)) == 2, 1.0, "exactly two pages")
        pages = _pages(api, ref)
        assert [p["person"] for p in pages] == ["alice", "bob"]
        assert "tier 2 of fast" in pages[1]["reason"]
        timeline = api.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
        assert [e["kind"] for e in timeline].count("paged") == 2
    finally:
        stop_server(server)

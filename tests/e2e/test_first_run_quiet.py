"""A new user's first run, with nothing outside set up: `tocsin init`, `tocsin serve`
with the example policy and no channel settings in the environment.

Pages must reach the responder on the console channel, the outside channels must stay
quiet (no delivery attempts, no failures on timelines or in the log), and the warnings
must say once which channels are not configured: at start-up, in `tocsin policy
validate` and at /api/v1/policy/warnings. Then the worst day: 200 incidents, and still
no failed delivery and no repeated warning.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.example_env import EXAMPLE_CHANNEL_ENV
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server
from tests.support.waiting import wait_for

NOT_CONFIGURED = ["email", "sms", "voice", "slack", "pagerduty", "jira"]


@dataclass
class FirstRun:
    directory: Path
    env: dict[str, str]
    url: str
    token: str
    log: Path
    process: Any

    def tocsin(self, *args: str) -> str:
        result = run_tocsin(*args, cwd=self.directory, env=self.env)
        assert result.returncode == 0, f"tocsin {' '.join(args)}:\n{result.stderr}"
        return result.stdout + result.stderr

    def api(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)

    def stop(self) -> str:
        stop_server(self.process)
        return self.log.read_text(encoding="utf-8")


@pytest.fixture
def first_run(tmp_path: Path) -> Iterator[FirstRun]:
    env = clean_env()
    for name in EXAMPLE_CHANNEL_ENV:  # nothing outside is set up
        env.pop(name, None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    init = run_tocsin("init", "--url", url, cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    log = tmp_path / "serve.log"
    process = start_server(tmp_path, port, env, log=log)
    run = FirstRun(tmp_path, env, url, token, log, process)
    try:
        yield run
    finally:
        stop_server(process)


def _timeline(api: httpx.Client, ref: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
    return items


def _settled(api: httpx.Client, count: int) -> bool:
    """Every message decided so far has gone (or been skipped) and ``count`` pages were
    delivered."""
    waiting = api.get("/api/v1/notifications", params=[("state", "pending"), ("limit", 1)])
    sending = api.get("/api/v1/notifications", params=[("state", "sending"), ("limit", 1)])
    pages = api.get(
        "/api/v1/notifications", params=[("state", "sent"), ("channel", "console"), ("limit", 1)]
    )
    return (
        waiting.json()["total"] == 0
        and sending.json()["total"] == 0
        and pages.json()["total"] >= count
    )


def test_the_first_incident_reads_like_a_story_and_pages_reach_the_console(
    first_run: FirstRun,
) -> None:
    validate = run_tocsin("policy", "validate", cwd=first_run.directory, env=first_run.env)
    assert validate.returncode == 0 and ": OK" in validate.stdout
    for name in NOT_CONFIGURED:
        assert validate.stderr.count(f"channel '{name}' is not configured") == 1

    with first_run.api() as api:
        warnings = api.get("/api/v1/policy/warnings").json()["items"]
        paths = [w["path"] for w in warnings]
        assert [p for p in paths if p.startswith("channels.")] == [
            f"channels.{name}" for name in NOT_CONFIGURED
        ]
        assert len(paths) == len(set(paths))
        assert "notification_rules.*" in paths and "broadcasts" in paths

        declared = first_run.tocsin(
            "incident", "declare", "Checkout down", "--severity", "sev1",
            "--service", "checkout-api",
        )  # fmt: skip
        assert "INC-1" in declared
        delivered = wait_for(
            lambda: [e for e in _timeline(api, "INC-1") if e["kind"] == "page_delivered"],
            30,
            "the page delivered",
        )
        assert delivered[0]["summary"].endswith("delivered by console")
        paged = delivered[0]["data"]["person"]
        first_run.tocsin("incident", "ack", "INC-1")
        story = [e["kind"] for e in _timeline(api, "INC-1")]
        assert story[0] == "declared"
        assert story.index("paged") < story.index("page_delivered") < story.index("acknowledged")
        assert "notification_failed" not in story

        failed = api.get("/api/v1/notifications", params={"state": "failed"}).json()
        assert failed["total"] == 0

    listed = first_run.tocsin("notifications").splitlines()
    page_lines = [line for line in listed if f" {paged} " in line and " page " in line]
    assert page_lines and all(" console " in line and " sent " in line for line in page_lines)
    console = first_run.tocsin("notifications", "console")
    assert f"INC-1  page for {paged}" in console
    assert "[SEV1] INC-1: Checkout down" in console
    assert "No failed notifications." in first_run.tocsin("notifications", "failed")

    log = first_run.stop()
    assert f"page for {paged}" in log and "by console: [SEV1] INC-1: Checkout down" in log
    for name in NOT_CONFIGURED:
        assert log.count(f"channel '{name}' is not configured") == 1  # at start-up, once
    assert "failed" not in log.lower()
    assert "Traceback" not in log


def test_two_hundred_incidents_page_on_the_console_without_a_single_failure(
    first_run: FirstRun,
) -> None:
    count = 200
    severities = ["SEV1", "SEV2", "SEV3", "SEV4"]
    services = ["checkout-api", "auth-service", "web-frontend", "payments-db"]
    with first_run.api() as api:
        refs = []
        for number in range(count):
            answer = api.post(
                "/api/v1/incidents",
                json={
                    "title": f"Outage {number}",
                    "severity": severities[number % 4],
                    "services": [services[number % 4]],
                },
            )
            assert answer.status_code == 201, answer.text
            refs.append(answer.json()["id"])
        wait_for(lambda: _settled(api, count), 180, "every page delivered", poll=0.5)
        failed = api.get("/api/v1/notifications", params={"state": "failed"}).json()
        assert failed["total"] == 0
        for ref in refs:
            kinds = [e["kind"] for e in _timeline(api, ref)]
            assert "notification_failed" not in kinds, ref
            assert "page_delivered" in kinds, ref
        sent = api.get(
            "/api/v1/notifications",
            params=[("state", "sent"), ("channel", "console"), ("limit", 1)],
        ).json()["total"]

    log = first_run.stop()
    lines = log.splitlines()
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == len(set(warnings))  # each said once, at start-up
    assert sum("' is not configured (" in line for line in lines) == len(NOT_CONFIGURED)
    assert not [line for line in lines if "failed" in line.lower()]
    assert sum(" by console: " in line for line in lines) == sent  # one line per message

"""The worst day against a real ``tocsin serve``: a large webhook body is stored at
once and decided in short transactions, a page for an unrelated incident goes out
while it is being decided, and a server killed in the middle finishes the body after
a restart with every alert stored once and the storm paged once."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.support.receivers import WebhookReceiver
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server
from tests.support.waiting import wait_for

pytestmark = pytest.mark.alone

JSON = {"Content-Type": "application/json"}

POLICY = """
severities:
  - {name: SEV1, aliases: [critical], respond_within: 5m, escalate_after: 15m,
     update_every: 15m, resolve_target: 30m}
  - {name: SEV2, aliases: [warning], respond_within: 15m, escalate_after: 30m,
     update_every: 30m, resolve_target: 2h}
people:
  - {name: alice, email: alice@example.com}
escalation_policies:
  - name: main
    tiers:
      - {timeout: 1h, targets: [{person: alice}]}
services:
  - {name: api, escalation_policy: main}
  - {name: billing, escalation_policy: main}
channels:
  ops: {type: webhook, url: "HOOK_URL"}
notification_rules:
  alice:
    - notify: [{channel: ops}]
alerting:
  storm: {threshold: 10, window: 10m}
"""


@dataclass
class Server:
    directory: Path
    port: int
    env: dict[str, str]
    token: str
    hook: WebhookReceiver
    process: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = start_server(self.directory, self.port, self.env)

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {self.token}"}
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    hook = WebhookReceiver().start()
    (tmp_path / "tocsin.yaml").write_text(POLICY.replace("HOOK_URL", hook.url), encoding="utf-8")
    env = clean_env()
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    running = Server(tmp_path, port, env, token, hook)
    running.start()
    try:
        yield running
    finally:
        if running.process is not None and running.process.poll() is None:
            stop_server(running.process)
        hook.stop()


def _body(count: int, service: str = "api", prefix: str = "S") -> bytes:
    """An Alertmanager body of ``count`` distinct alerts, kept small enough that 9,000
    fit under the 1 MiB body limit (the fields Alertmanager always sends are optional
    to the parser)."""
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": f"{prefix}{i % 50}",
                "service": service,
                "severity": "critical",
                "i": str(i),
            },
        }
        for i in range(count)
    ]
    return orjson.dumps({"version": "4", "status": "firing", "receiver": "t", "alerts": alerts})


def _integration(api: httpx.Client, service: str) -> str:
    created = api.post(
        "/api/v1/integrations",
        json={"name": f"am-{service}", "service": service, "kind": "alertmanager"},
    )
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


def _stored(api: httpx.Client, service: str = "api") -> int:
    total: int = api.get("/api/v1/alerts", params={"service": service, "limit": 1}).json()["total"]
    return total


def _active(api: httpx.Client, service: str = "api") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(
        "/api/v1/incidents", params={"service": service, "limit": 200}
    ).json()["items"]
    return [i for i in items if i["status"] not in ("resolved", "closed")]


def _pages_for(hook: WebhookReceiver, ref: str) -> list[dict[str, Any]]:
    return [m for m in hook.processed if m.get("kind") == "page" and m["incident"]["id"] == ref]


def test_a_large_body_is_answered_at_once_and_decided_in_order(server: Server) -> None:
    with server.api() as api:
        key = _integration(api, "api")
        answer = api.post(
            f"/api/v1/integrations/{key}/alertmanager", content=_body(2_000), headers=JSON
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["queued"] == 2_000
        # A resolve sent right after waits its turn: it never overtakes the firing.
        resolved = json.loads(_body(1))
        resolved["alerts"][0]["status"] = "resolved"
        later = api.post(f"/api/v1/integrations/{key}/alertmanager", json=resolved)
        assert later.status_code == 202, later.text
        wait_for(lambda: _stored(api) == 2_000, 120, "every alert stored")
        wait_for(
            lambda: api.get("/api/v1/alerts", params={"status": "resolved"}).json()["total"] == 1,
            30,
            "the resolve applied after its firing",
        )
        [storm] = _active(api)
        assert storm["title"].startswith("Alert storm on api: 2,000 alerts")
        storm_page = api.get(f"/api/v1/incidents/{storm['id']}/storm").json()
        assert storm_page["alerts"] == 2_000
        assert storm_page["top_alertnames"][0]["alerts"] == 40
    # The installed command pages through the storm's alerts.
    listed = run_tocsin(
        "alert",
        "list",
        "--incident",
        storm["id"],
        "--limit",
        "500",
        "--offset",
        "1900",
        cwd=server.directory,
        env=server.env,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Showing 1901-2000 of 2000 alerts" in " ".join(listed.stdout.split())
    as_json = run_tocsin(
        "alert",
        "list",
        "--incident",
        storm["id"],
        "--offset",
        "1990",
        "--json",
        cwd=server.directory,
        env=server.env,
    )
    assert len(json.loads(as_json.stdout)["items"]) == 10


def test_an_unrelated_page_goes_out_while_a_large_body_is_decided(server: Server) -> None:
    with server.api() as api:
        key = _integration(api, "api")
        answer = api.post(
            f"/api/v1/integrations/{key}/alertmanager", content=_body(9_000), headers=JSON
        )
        assert answer.status_code == 202, answer.text
        wait_for(lambda: _stored(api) > 0, 30, "the body's first chunk decided")
        declared = api.post(
            "/api/v1/incidents",
            json={"title": "Billing down", "severity": "SEV1", "services": ["billing"]},
        )
        assert declared.status_code == 201, declared.text
        ref = declared.json()["id"]
        wait_for(lambda: bool(_pages_for(server.hook, ref)), 10, "the billing page delivered")
        # The page did not wait for the body: most of it was still to be decided.
        assert _stored(api) < 9_000
        wait_for(lambda: _stored(api) == 9_000, 300, "every alert stored")


def test_a_server_killed_in_the_middle_of_a_large_body_finishes_it_exactly_once(
    server: Server,
) -> None:
    with server.api() as api:
        key = _integration(api, "api")
        answer = api.post(
            f"/api/v1/integrations/{key}/alertmanager", content=_body(5_000), headers=JSON
        )
        assert answer.status_code == 202, answer.text
        wait_for(lambda: _stored(api) >= 500, 60, "part of the body decided")
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.communicate(timeout=10)  # reaped, its pipes closed
    server.start()
    with server.api() as api:
        wait_for(lambda: _stored(api) == 5_000, 300, "the rest decided after the restart")
        [storm] = _active(api)
        assert api.get(f"/api/v1/incidents/{storm['id']}/storm").json()["alerts"] == 5_000
        linked = api.get(f"/api/v1/incidents/{storm['id']}/alerts", params={"limit": 1}).json()
        assert linked["total"] == 5_000
        # A page the kill caught in the middle of its send is sent again once its send
        # deadline passes (the receiver's idempotency key makes that safe): wait for it.
        wait_for(lambda: bool(_pages_for(server.hook, storm["id"])), 120, "the storm paged")
        assert len(_pages_for(server.hook, storm["id"])) == 1
        notifications = api.get(f"/api/v1/incidents/{storm['id']}/notifications").json()
        assert [n["kind"] for n in notifications["items"]].count("page") == 1

"""Several nodes share one PostgreSQL and any one may die: three `tocsin serve` and two
`tocsin worker` processes take alerts and declared incidents whose escalation moves on
every two seconds, while one server and one worker are killed with SIGKILL (at several
moments) and started again.

A sender does what Alertmanager behind a load balancer does: a request that gets no
answer, or a 5xx, is sent again to another server. Afterwards every alert answered 2xx
is stored (and only alerts that were sent), and every incident's three tiers were each
received exactly once by the webhook receiver: no tier skipped, none paged twice.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.receivers import WebhookReceiver
from tests.support.servers import TOCSIN, clean_env, free_port, run_tocsin, start_server
from tests.support.waiting import stays, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.alone]

TIERS = ("alice", "bob", "carol")
POLICY = """
severities:
  - {name: SEV1, respond_within: 1h, escalate_after: 1h, update_every: 1h, resolve_target: 1h}
people:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com}
  - {name: carol, email: carol@example.com}
escalation_policies:
  - name: fast
    tiers:
      - {timeout: 2s, targets: [{person: alice}]}
      - {timeout: 2s, targets: [{person: bob}]}
      - {timeout: 1h, targets: [{person: carol}]}
services:
  - {name: api, escalation_policy: fast}
channels:
  hook: {type: webhook, url: "HOOK_URL", timeout: 2s}
notification_rules:
  alice: [{notify: [{channel: hook}]}]
  bob: [{notify: [{channel: hook}]}]
  carol: [{notify: [{channel: hook}]}]
"""
#: A send claimed by a worker that is killed is taken over once its deadline passes:
#: three times the channel's timeout plus 30 s.
CLAIM_DEADLINE_SECONDS = 36
#: How long a client goes on sending a request again (two servers stay up throughout).
RETRY_SECONDS = 30


@dataclass
class Node:
    """One `tocsin serve` (with a port) or `tocsin worker` process, restartable."""

    directory: Path
    env: dict[str, str]
    name: str
    port: int | None = None
    process: subprocess.Popen[str] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        log = self.directory / f"{self.name}-{self.starts}.log"
        if self.port is not None:
            self.process = start_server(self.directory, self.port, self.env, log=log, timeout=90)
            return
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                [TOCSIN, "worker"],
                cwd=self.directory,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
            )
        wait_for(lambda: "started" in log.read_text(), 90, f"{self.name} started")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Sender:
    """Alerts and declared incidents sent round the servers, each request sent again to
    the next server until one answers 2xx (as a client behind a load balancer would)."""

    ports: list[int]
    key: str
    token: str
    answered: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    declared: int = 0
    retries: int = 0
    _turn: Iterator[int] = field(default_factory=itertools.count)

    def _post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        deadline = time.monotonic() + RETRY_SECONDS
        while time.monotonic() < deadline:
            port = self.ports[next(self._turn) % len(self.ports)]
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{port}{path}", json=body, headers=headers, timeout=10
                )
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.is_success:
                return answer
            assert answer is None or answer.status_code >= 500, answer.text
            self.retries += 1
            threading.Event().wait(0.1)
        raise AssertionError(f"no server answered {path} 2xx within {RETRY_SECONDS} s")

    def alerts(self, batch: int) -> None:
        names = [f"a{batch}-{n}" for n in range(10)]
        self.sent.update(names)
        body = {
            "version": "4",
            "status": "firing",
            "receiver": "tocsin",
            "groupKey": "{}:{}",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": f"Disk{batch % 3}",
                        "instance": name,
                        "severity": "critical",
                    },
                    "annotations": {"summary": f"Disk full on {name}"},
                    "startsAt": "2026-11-23T08:00:00Z",
                }
                for name in names
            ],
        }
        self._post(f"/api/v1/integrations/{self.key}/alertmanager", body, {})
        self.answered.update(names)

    def incident(self, number: int) -> None:
        body = {"title": f"Outage {number}", "severity": "SEV1", "services": ["api"]}
        self._post("/api/v1/incidents", body, {"Authorization": f"Bearer {self.token}"})
        self.declared += 1


def _read_all(api: httpx.Client, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = api.get(path, params={"limit": 500, "offset": len(items)}).json()
        items.extend(page["items"])
        if len(items) >= page["total"]:
            return items


def _pages_received(hook: WebhookReceiver) -> Counter[tuple[str, str]]:
    """(incident, person) of every page the receiver processed (once per idempotency key)."""
    return Counter(
        (body["incident"]["id"], body["recipient"]["name"])
        for body in list(hook.processed)
        if body["kind"] == "page"
    )


def test_killed_nodes_lose_no_alert_and_page_each_tier_once(
    postgres_url: str, tmp_path: Path
) -> None:
    hook = WebhookReceiver().start()
    nodes: list[Node] = []
    try:
        (tmp_path / "tocsin.yaml").write_text(POLICY.replace("HOOK_URL", hook.url), "utf-8")
        env = clean_env({"TOCSIN_DATABASE_URL": postgres_url})
        ports = [free_port() for _ in range(3)]
        init = run_tocsin("init", "--url", f"http://127.0.0.1:{ports[0]}", cwd=tmp_path, env=env)
        assert init.returncode == 0, init.stdout + init.stderr
        token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
        servers = [Node(tmp_path, env, f"serve{n}", port) for n, port in enumerate(ports)]
        workers = [Node(tmp_path, env, f"worker{n}") for n in range(2)]
        nodes = [*servers, *workers]
        _start_all(nodes)
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{ports[0]}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        created = api.post(
            "/api/v1/integrations", json={"name": "am", "service": "api", "kind": "alertmanager"}
        )
        assert created.status_code == 201, created.text
        sender = Sender(ports, created.json()["key"], token)
        _run_with_failures(sender, servers, workers)

        # Every alert answered 2xx is stored, and nothing that was never sent.
        stored = {alert["labels"]["instance"] for alert in _read_all(api, "/api/v1/alerts")}
        assert sender.answered == sender.sent
        assert stored == sender.answered

        incidents = [i["id"] for i in _read_all(api, "/api/v1/incidents")]
        assert len(incidents) >= sender.declared  # alerts opened their own, too
        expected = {(ref, person) for ref in incidents for person in TIERS}

        # Every tier of every incident reached, by the nodes still alive: a send a killed
        # worker had claimed is taken over when its deadline passes.
        try:
            wait_for(
                lambda: set(_pages_received(hook)) >= expected,
                CLAIM_DEADLINE_SECONDS + 15,
                "every tier of every incident paged",
            )
        except AssertionError as missed:
            raise AssertionError(_what_is_missing(api, hook, expected)) from missed
        stays(
            lambda: all(count == 1 for count in _pages_received(hook).values()),
            3.0,
            "each page received once",
        )
        assert set(_pages_received(hook)) == expected
        for ref in incidents:
            notifications = api.get(f"/api/v1/incidents/{ref}/notifications").json()["items"]
            persons = [n["person"] for n in notifications if n["kind"] == "page"]
            assert persons == list(TIERS), (ref, persons)
        api.close()
    finally:
        for node in nodes:
            node.stop()
        hook.stop()


def _what_is_missing(
    api: httpx.Client, hook: WebhookReceiver, expected: set[tuple[str, str]]
) -> str:
    """The pages never received, with what Tocsin says of their incidents' messages:
    what a failure needs to be understood once the nodes are gone."""
    missing = sorted(expected - set(_pages_received(hook)))
    lines = [f"pages never received: {missing}"]
    for ref in sorted({ref for ref, _ in missing}):
        timeline = api.get(f"/api/v1/incidents/{ref}/timeline", params={"limit": 100})
        notes = api.get(f"/api/v1/incidents/{ref}/notifications").json()["items"]
        lines.append(f"{ref} timeline: {[e['kind'] for e in timeline.json()['items']]}")
        for note in notes:
            sends = [
                (d["channel"], d["state"], d["attempts"], d.get("last_error"))
                for d in note["deliveries"]
            ]
            lines.append(f"  {note['kind']} {note['person']} {note['state']}: {sends}")
    return "\n".join(lines)


def _start_all(nodes: Sequence[Node]) -> None:
    """Start the nodes side by side, each returning once it serves (or works)."""
    with ThreadPoolExecutor(len(nodes)) as pool:
        for started in [pool.submit(node.start) for node in nodes]:
            started.result()


def _run_with_failures(sender: Sender, servers: list[Node], workers: list[Node]) -> None:
    """Alerts and incidents flow for a few seconds while a server and a worker are
    killed and started again, three times at different moments of an escalation."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def alerts() -> None:
        try:
            for batch in itertools.count():
                if stop.is_set():
                    return
                sender.alerts(batch)
        except BaseException as exc:
            errors.append(exc)

    def incidents() -> None:
        try:
            for number in itertools.count():
                if stop.wait(0.4):
                    return
                sender.incident(number)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=alerts), threading.Thread(target=incidents)]
    for thread in threads:
        thread.start()
    restarts: dict[str, Future[None]] = {}
    try:
        with ThreadPoolExecutor(4) as pool:
            plan = ((servers[0], workers[0]), (servers[1], workers[1]), (servers[2], workers[0]))
            for pause, victims in zip((1.0, 2.3, 1.7), plan, strict=True):
                stop.wait(pause)
                for restart in restarts.values():  # one server and one worker down at a time
                    restart.result()
                for victim in victims:
                    victim.kill()
                stop.wait(1.0)  # the cluster runs one server and one worker short
                # Started again in the background (slow on a busy machine): the traffic
                # goes on meanwhile, to the other servers.
                restarts.update((victim.name, pool.submit(victim.start)) for victim in victims)
            for restart in restarts.values():
                restart.result()
        stop.wait(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert sender.declared > 5 and len(sender.answered) > 100

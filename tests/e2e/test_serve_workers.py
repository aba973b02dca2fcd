"""`tocsin serve --workers 2`: two HTTP processes on one port and one SQLite file.

Alerts sent over many connections at once are all stored exactly once; an incident an
alert opens in a server process is paged by the main process's engine; a policy reload
asked of one process (or SIGHUP to the main one) reaches every process; a process that
dies is replaced; SIGTERM stops them all, and so does SIGKILL of the main process (the
others notice and stop, freeing the port). To ask one server process in particular, the
others are paused (SIGSTOP) while a fresh connection is made: only the running one can
accept it.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.test_crash_recovery import POLICY
from tests.support.servers import (
    clean_env,
    free_port,
    run_tocsin,
    server_processes,
    start_server,
    stop_server,
)
from tests.support.waiting import wait_for


@dataclass
class Served:
    directory: Path
    url: str
    token: str
    process: Any

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, timeout=10, headers={"Authorization": f"Bearer {self.token}"}
        )

    def children(self) -> list[int]:
        return server_processes(self.process.pid)

    @contextmanager
    def only(self, child: int) -> Iterator[httpx.Client]:
        """A fresh connection that ``child`` accepts (the other processes are paused)."""
        others = [pid for pid in self.children() if pid != child]
        for pid in others:
            os.kill(pid, signal.SIGSTOP)
        try:
            with self.client() as api:
                yield api
        finally:
            for pid in others:
                os.kill(pid, signal.SIGCONT)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "tocsin.yaml").write_text(POLICY, encoding="utf-8")
    env = clean_env()
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    process = start_server(tmp_path, port, env, "--workers", "2", log=tmp_path / "serve.log")
    server = Served(tmp_path, f"http://127.0.0.1:{port}", token, process)
    try:
        wait_for(lambda: len(server.children()) == 2, 30, "two server processes")
        for child in server.children():
            wait_for(lambda child=child: _ready(server, child), 30, f"process {child} ready")
        yield server
    finally:
        stop_server(process)


def _ready(server: Served, child: int) -> bool:
    try:
        with server.only(child) as api:
            return api.get("/readyz").status_code == 200
    except httpx.TransportError:
        return False


def _webhook(fingerprints: range) -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "tocsin",
        "groupKey": "{}:{}",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "DiskFull",
                    "instance": f"host-{n}",
                    "severity": "critical",
                },
                "annotations": {"summary": f"Disk full on host-{n}"},
                "startsAt": "2026-11-23T08:00:00Z",
                "fingerprint": f"{n:016x}",
            }
            for n in fingerprints
        ],
    }


def test_alerts_over_many_connections_are_stored_once_each(served: Served) -> None:
    with served.client() as api:
        created = api.post(
            "/api/v1/integrations", json={"name": "am", "service": "api", "kind": "alertmanager"}
        )
        assert created.status_code == 201, created.text
        key = created.json()["key"]

    def send(batch: int) -> int:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            body = _webhook(range(batch % 5 * 10, batch % 5 * 10 + 10))
            return client.post(f"/api/v1/integrations/{key}/alertmanager", json=body).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(send, range(200)))
    assert statuses == [202] * 200

    with served.client() as api:
        alerts = api.get("/api/v1/alerts", params={"limit": 500}).json()["items"]
        incidents = api.get("/api/v1/incidents").json()["items"]
    assert len(alerts) == 50  # 50 fingerprints, each stored once
    assert sum(alert["occurrences"] for alert in alerts) == 2000
    assert len({alert["incident"] for alert in alerts}) == 1
    assert len(incidents) == 1  # one group, one incident: never a second page


def test_an_incident_declared_in_a_server_process_is_paged_by_the_engine(
    served: Served,
) -> None:
    for child in served.children():
        with served.only(child) as api:
            declared = api.post(
                "/api/v1/incidents",
                json={"title": f"Outage {child}", "severity": "SEV1", "services": ["api"]},
            )
            assert declared.status_code == 201, declared.text
            ref = declared.json()["id"]

        def paged(ref: str = ref) -> bool:
            with served.client() as api:
                body = api.get(f"/api/v1/incidents/{ref}/notifications").json()
            return any(n["kind"] == "page" for n in body["items"])

        wait_for(paged, 2.0, f"{ref}, declared in process {child}, paged by the engine")


def _services(api: httpx.Client) -> list[str]:
    return [s["name"] for s in api.get("/api/v1/policy").json()["services"]]


def _refusals(log: Path) -> int:
    """How many times a process of the server said it refused a policy file."""
    return log.read_text(encoding="utf-8", errors="replace").lower().count("policy refused")


def test_a_policy_reload_reaches_every_process(served: Served) -> None:
    policy = served.directory / "tocsin.yaml"
    first, second = served.children()
    policy.write_text(POLICY + "  - {name: search, escalation_policy: fast}\n", encoding="utf-8")
    with served.only(first) as api:
        assert api.post("/api/v1/policy/reload").status_code == 200

    def everywhere(service: str, expected: bool) -> Callable[[], bool]:
        def check() -> bool:
            for child in (first, second):
                with served.only(child) as api:
                    if (service in _services(api)) != expected:
                        return False
            return True

        return check

    wait_for(everywhere("search", True), 5, "search served by every process after the API reload")

    policy.write_text(POLICY, encoding="utf-8")
    os.kill(served.process.pid, signal.SIGHUP)
    wait_for(everywhere("search", False), 5, "search gone from every process after SIGHUP")

    # A bad file is refused by each process (each says so), and the running policy stays.
    log = served.directory / "serve.log"
    refused_before = _refusals(log)
    policy.write_text("severities: [", encoding="utf-8")
    os.kill(served.process.pid, signal.SIGHUP)
    wait_for(
        lambda: _refusals(log) >= refused_before + 3, 5, "the bad file refused by all 3 processes"
    )
    assert everywhere("search", False)()

    # ... and every process still follows the next SIGHUP.
    policy.write_text(POLICY + "  - {name: billing, escalation_policy: fast}\n", encoding="utf-8")
    os.kill(served.process.pid, signal.SIGHUP)
    wait_for(everywhere("billing", True), 5, "billing served by every process after SIGHUP")


def test_a_dead_process_is_replaced_and_sigterm_stops_all(served: Served) -> None:
    first, second = served.children()
    os.kill(first, signal.SIGKILL)
    wait_for(
        lambda: len(served.children()) == 2 and first not in served.children(),
        10,
        f"process {first} replaced",
    )
    replacement = next(pid for pid in served.children() if pid != second)
    wait_for(lambda: _ready(served, replacement), 30, f"the replacement {replacement} ready")

    children = served.children()
    served.process.terminate()
    assert served.process.wait(timeout=20) == 0
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()]


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (a child of init, reaped soon)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_the_server_processes_stop_when_the_main_one_is_killed(served: Served) -> None:
    children = served.children()
    served.process.kill()  # SIGKILL: the main process cannot tell its children
    served.process.wait(timeout=10)
    wait_for(lambda: all(_gone(pid) for pid in children), 15, "the server processes stopping")

    # The port is free again: a new server takes it and answers, with its engine.
    port = int(served.url.rsplit(":", 1)[1])
    env = clean_env()
    again = start_server(served.directory, port, env, log=served.directory / "again.log")
    try:
        with served.client() as api:
            assert api.get("/readyz").status_code == 200
    finally:
        stop_server(again)

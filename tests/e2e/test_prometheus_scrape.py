"""A real Prometheus scrapes a real ``tocsin serve`` while incidents are declared,
re-severitied, acknowledged, escalated, resolved and reopened, alerts come in and pages
are sent, retried and given up — with one server process and with ``--workers 2``,
restarting nothing.

Prometheus (Debian's ``prometheus``) scrapes every 250 ms with the token in its
``authorization`` configuration. At the end, ``resets()`` over the whole run is 0 for
every series of every counter and histogram it stored, the figures it holds are the
server's, and ``promtool check metrics`` finds nothing wrong with a scrape. With two
server processes, each scrape is answered by either; both give the same figures.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.prometheus import (
    HOW_TO_GET,
    Prometheus,
    family_types,
    find_prometheus,
    find_promtool,
    samples,
    scrape_config,
)
from tests.support.receivers import WebhookReceiver
from tests.support.requirements import require
from tests.support.servers import (
    clean_env,
    free_port,
    run_tocsin,
    server_processes,
    start_server,
    stop_server,
)
from tests.support.waiting import wait_for

POLICY = """
severities:
  - {name: SEV1, respond_within: 1h, escalate_after: 1h, update_every: 1h, resolve_target: 1h}
  - {name: SEV2, respond_within: 1h, escalate_after: 1h, update_every: 1h, resolve_target: 1h}
  - {name: SEV3, respond_within: 1h, escalate_after: 1h, update_every: 1h, resolve_target: 1h}
people:
  - {name: alice, email: alice@example.com}
  - {name: bob, email: bob@example.com}
escalation_policies:
  - name: slow
    tiers:
      - {timeout: 1h, targets: [{person: alice}]}
      - {timeout: 1h, targets: [{person: bob}]}
  - name: fast
    tiers:
      - {timeout: 2s, targets: [{person: alice}]}
      - {timeout: 1h, targets: [{person: bob}]}
services:
  - {name: api, escalation_policy: slow}
  - {name: web, escalation_policy: fast}
channels:
  hook: {type: webhook, url: "http://127.0.0.1:PORT/hook", retry: {backoff: 1s, max_backoff: 1s}}
notification_rules:
  "*":
    - notify: [{channel: hook}]
"""

SCRAPE_BOUND = 30.0
#: Series that move between any two scrapes: every write transaction, the server's own
#: timers and deliveries included, counts how long it waited for its turn.
MOVING = ("tocsin_writer_wait_seconds",)


class Run:
    """The server under scrape, its API and the Prometheus scraping it."""

    def __init__(self, api: httpx.Client, prometheus: Prometheus, server: Any) -> None:
        self.api = api
        self.prometheus = prometheus
        self.server = server

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.api.request(method, path, **kwargs)
        assert answer.status_code < 300, (path, answer.status_code, answer.text)
        return answer.json()

    def declare(self, severity: str, *services: str) -> str:
        body = {"title": f"{severity} trouble", "severity": severity, "services": list(services)}
        ref: str = self.call("POST", "/api/v1/incidents", json=body)["id"]
        return ref

    def stored(self, expr: str) -> float:
        """The value of ``sum(expr)`` in Prometheus now (0 for no series)."""
        result = self.prometheus.query(f"sum({expr})")
        return float(result[0]["value"][1]) if result else 0.0

    def scraped(self, expr: str, expected: float, what: str) -> None:
        """Wait until Prometheus has scraped ``sum(expr) == expected``."""
        wait_for(lambda: self.stored(expr) == expected, SCRAPE_BOUND, what)

    def scraped_at_least(self, expr: str, expected: float, what: str) -> None:
        """Wait until Prometheus has scraped ``sum(expr) >= expected`` (a counter that
        moves on its own between scrapes)."""
        wait_for(lambda: self.stored(expr) >= expected, SCRAPE_BOUND, what)

    def settled_pages(self) -> list[str]:
        """The states of all pages once none is pending or being sent (else [])."""
        incidents = self.call("GET", "/api/v1/incidents", params={"limit": 100})["items"]
        states = [
            message["state"]
            for incident in incidents
            for message in self.call("GET", f"/api/v1/incidents/{incident['id']}/notifications")[
                "items"
            ]
            if message["kind"] == "page"
        ]
        return [] if {"pending", "sending"} & set(states) else states

    def scrape(self) -> str:
        answer = self.api.get("/metrics")
        assert answer.status_code == 200, answer.text
        return answer.text

    def scrape_fresh(self) -> str:
        """A scrape on a new connection (taken by whichever process accepts it)."""
        with httpx.Client(base_url=self.api.base_url, headers=self.api.headers) as client:
            answer = client.get("/metrics", timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.text


@pytest.fixture
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Run]:
    """``tocsin serve`` (with ``request.param`` server processes) scraped by Prometheus."""
    processes: int = request.param
    require(find_prometheus() is not None, "Prometheus", HOW_TO_GET)
    require(find_promtool() is not None, "promtool", HOW_TO_GET)
    receiver = WebhookReceiver(script=[500, 400, 500]).start()
    (tmp_path / "tocsin.yaml").write_text(
        POLICY.replace("PORT", str(receiver.port)), encoding="utf-8"
    )
    env = clean_env()
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    extra = ("--workers", str(processes)) if processes > 1 else ()
    server = start_server(tmp_path, port, env, *extra, log=tmp_path / "serve.log", timeout=90)
    try:
        if processes > 1:
            wait_for(lambda: len(server_processes(server.pid)) == 2, 30, "two processes")
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        )
        config = scrape_config(f"127.0.0.1:{port}", token, interval="250ms")
        with api, Prometheus(config) as prometheus:
            run = Run(api, prometheus, server)
            run.scraped('up{job="tocsin"}', 1, "Prometheus scraping with the token")
            yield run
    finally:
        stop_server(server)
        receiver.stop()


@pytest.mark.parametrize("run", [1, 2], ids=["one-process", "workers-2"], indirect=True)
def test_no_counter_resets_while_incidents_move(run: Run) -> None:
    # Declared: counted under the severity and service they had then.
    one = run.declare("SEV2", "api")
    two = run.declare("SEV2", "api")
    three = run.declare("SEV3", "api")
    run.declare("SEV1")  # no service: under service "none"
    unanswered = run.declare("SEV3", "web")  # tier 1 waits 2 s: escalated by timeout
    run.scraped("tocsin_incidents_total", 5, "five declarations scraped")
    run.scraped('tocsin_incidents_open{severity="SEV2"}', 2, "two SEV2 open")

    # Re-severitied: SEV2 stays counted twice, the gauge moves.
    run.call("PATCH", f"/api/v1/incidents/{one}", json={"severity": "SEV1"})
    run.call("PATCH", f"/api/v1/incidents/{two}", json={"severity": "SEV3"})
    run.scraped("tocsin_incident_severity_changes_total", 2, "two severity changes scraped")
    run.scraped('tocsin_incidents_open{severity="SEV2"}', 0, "no SEV2 open any more")
    assert run.stored('tocsin_incidents_total{severity="SEV2"}') == 2

    # Acknowledged, escalated by hand and by timeout, resolved, reopened, resolved again.
    run.call("POST", f"/api/v1/incidents/{one}/acknowledge")
    run.call("POST", f"/api/v1/incidents/{two}/acknowledge")
    run.call("POST", f"/api/v1/incidents/{three}/escalate", json={})
    run.scraped("tocsin_escalations_total", 2, "one escalation by hand, one by timeout")
    timeline = run.call("GET", f"/api/v1/incidents/{unanswered}/timeline")["items"]
    assert [e["data"]["people"] for e in timeline if e["kind"] == "paged"] == [["alice"], ["bob"]]
    for ref in (one, three):
        run.call("POST", f"/api/v1/incidents/{ref}/resolve", json={})
    run.call("POST", f"/api/v1/incidents/{one}/reopen", json={})
    run.call("POST", f"/api/v1/incidents/{one}/resolve", json={})
    run.scraped("tocsin_time_to_resolve_seconds_count", 3, "three resolutions scraped")
    run.scraped("tocsin_time_to_acknowledge_seconds_count", 3, "three first acknowledgements")

    # Alerts: repeats are counted as received and deduplicated.
    created = run.call(
        "POST", "/api/v1/integrations", json={"name": "jobs", "service": "api", "kind": "generic"}
    )
    url = f"/api/v1/integrations/{created['key']}/events"
    for key in ("queue-1", "queue-1", "queue-1", "queue-2"):
        run.call("POST", url, json={"title": "Queue backing up", "dedup_key": key})
    run.scraped("tocsin_alerts_received_total", 4, "four alerts scraped")
    run.scraped("tocsin_alerts_deduplicated_total", 2, "two repeats scraped")

    # Pages: the receiver answered 500, 400, 500, then 200.
    run.scraped('tocsin_deliveries_total{outcome="retry"}', 2, "two retries scraped")
    run.scraped('tocsin_deliveries_total{outcome="failed"}', 1, "one page given up")
    states = wait_for(run.settled_pages, SCRAPE_BOUND, "every page sent or given up")
    run.scraped('tocsin_notifications_total{kind="page"}', len(states), "every page counted")
    sent, failed = states.count("sent"), states.count("failed")
    assert failed == 1 and sent >= 3, states  # some may be cancelled: acknowledged first
    run.scraped('tocsin_deliveries_total{outcome="sent"}', sent, "every page sent counted")
    run.scraped("tocsin_deliveries_queued", 0, "nothing left to send")

    # What Prometheus holds is what the server says, and nothing ever went down.
    body = run.scrape()
    now = samples(body)
    declared = run.call("GET", "/api/v1/incidents", params={"limit": 100})["total"]
    assert sum(v for (n, _), v in now.items() if n == "tocsin_incidents_total") == declared
    for (name, labels), figure in now.items():
        if name.startswith("tocsin_") and figure:
            selector = ",".join(f'{k}="{v}"' for k, v in labels)
            check = run.scraped_at_least if name.startswith(MOVING) else run.scraped
            check(f"{name}{{{selector}}}", figure, f"{name}{{{selector}}} scraped")
    series_names = [
        f"{family}{suffix}"
        for family, kind in family_types(body).items()
        for suffix in {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}.get(
            kind, ()
        )
    ]
    assert {"tocsin_incidents_total", "tocsin_time_to_resolve_seconds_bucket"} <= set(series_names)
    checked = 0
    for name in series_names:
        assert run.stored(f'count_over_time({name}{{job="tocsin"}}[10m])') > 0, name
        for found in run.prometheus.query(f'resets({name}{{job="tocsin"}}[10m])'):
            checked += 1
            assert found["value"][1] == "0", (name, found["metric"], found["value"])
    assert checked > 50
    # Long enough a run that the check means something: many scrapes of each series.
    assert run.stored('count_over_time(tocsin_incidents_total{severity="SEV2"}[10m])') > 10

    promtool = find_promtool()
    assert promtool is not None
    checked_metrics = subprocess.run(
        [promtool, "check", "metrics"],
        input=body,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked_metrics.returncode == 0, checked_metrics.stdout + checked_metrics.stderr
    assert checked_metrics.stdout.strip() == "", checked_metrics.stdout


@pytest.mark.parametrize("run", [2], ids=["workers-2"], indirect=True)
def test_every_server_process_gives_the_same_figures(run: Run) -> None:
    """With ``--workers 2`` a scrape is answered by either process: each reads the same
    counters, and neither adds figures of its own process (they would jump back and
    forth between scrapes)."""
    children = server_processes(run.server.pid)
    assert len(children) == 2
    for severity in ("SEV1", "SEV2", "SEV3"):
        run.declare(severity, "api")
    run.scraped("tocsin_incidents_total", 3, "three declarations scraped")
    run.scraped('tocsin_notifications_total{kind="page"}', 3, "three pages counted")
    run.scraped("tocsin_deliveries_queued", 0, "nothing left to send")
    run.scraped("tocsin_notifications_pending", 0, "every page settled")
    bodies = []
    for child in children:
        with _only(children, child):
            bodies.append(_tocsin_samples(run.scrape_fresh()))
    first, second = ({k: v for k, v in b.items() if not k[0].startswith(MOVING)} for b in bodies)
    assert first == second
    moving = {k: v for k, v in bodies[0].items() if k[0].startswith(MOVING)}
    assert moving and all(bodies[1][k] >= v for k, v in moving.items())  # never back
    assert sum(v for (n, _), v in bodies[0].items() if n == "tocsin_incidents_total") == 3
    assert not any(name.startswith("process_") for name, _ in bodies[0])


def _tocsin_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {key: figure for key, figure in samples(text).items() if key[0].startswith("tocsin_")}


@contextmanager
def _only(children: list[int], child: int) -> Iterator[None]:
    """Only ``child`` accepts new connections meanwhile (the others are paused)."""
    others = [pid for pid in children if pid != child]
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)

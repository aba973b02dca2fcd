"""PostgreSQL stops under a running ``tocsin serve`` and starts again: meanwhile every
request is answered 503 with Retry-After (never 500) and ``/readyz`` says the database
cannot be reached; afterwards the same server process answers again, ``/readyz`` is
ready, and a page that fell due during the outage goes out."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.pgcluster import StoppableCluster, find_pg_bin
from tests.support.requirements import require
from tests.support.servers import clean_env, free_port, run_tocsin, start_server, stop_server
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.alone]

#: Tier 1 times out this long after the incident opens: during the outage.
TIER_ONE_SECONDS = 4
POLICY = f"""
severities:
  - name: SEV1
    respond_within: 1h
    escalate_after: 1h
    update_every: 1h
    resolve_target: 1h
people:
  - {{name: alice, email: alice@example.com}}
  - {{name: bob, email: bob@example.com}}
escalation_policies:
  - name: fast
    tiers:
      - {{timeout: {TIER_ONE_SECONDS}s, targets: [{{person: alice}}]}}
      - {{timeout: 1h, targets: [{{person: bob}}]}}
services:
  - {{name: api, escalation_policy: fast}}
"""


@pytest.fixture
def cluster() -> Iterator[StoppableCluster]:
    require(find_pg_bin() is not None, "PostgreSQL server", "apt-get install postgresql")
    with StoppableCluster() as started:
        started.create_database("outage")
        yield started


def status_of(url: str) -> int:
    try:
        return httpx.get(f"{url}/readyz", timeout=10).status_code
    except httpx.TransportError:
        return 0


def unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0
    assert "the database cannot be reached" in answer.json()["detail"], answer.text


def pages(api: httpx.Client, ref: str) -> list[str]:
    items = api.get(f"/api/v1/incidents/{ref}/notifications").json()["items"]
    return [n["person"] for n in items if n["kind"] == "page"]


def test_postgres_stopped_then_started_again(cluster: StoppableCluster, tmp_path: Path) -> None:
    (tmp_path / "tocsin.yaml").write_text(POLICY, encoding="utf-8")
    env = clean_env({"TOCSIN_DATABASE_URL": cluster.url("outage")})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    initialised = run_tocsin("init", "--url", url, cwd=tmp_path, env=env)
    assert initialised.returncode == 0, initialised.stdout + initialised.stderr
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    server = start_server(tmp_path, port, env, log=tmp_path / "serve.log")
    try:
        with httpx.Client(
            base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            _outage(cluster, api, url)
    finally:
        stop_server(server)


def _outage(cluster: StoppableCluster, api: httpx.Client, url: str) -> None:
    declared = api.post(
        "/api/v1/incidents", json={"title": "API down", "severity": "SEV1", "services": ["api"]}
    )
    assert declared.status_code == 201, declared.text
    ref = declared.json()["id"]
    tier_two_due = time.monotonic() + TIER_ONE_SECONDS
    wait_for(lambda: pages(api, ref) == ["alice"], 10, "tier 1 paged")

    cluster.halt()
    requests: list[Callable[[], httpx.Response]] = [
        lambda: api.post("/api/v1/incidents", json={"title": "More", "severity": "SEV1"}),
        lambda: api.post(f"/api/v1/incidents/{ref}/updates", json={"message": "looking"}),
        lambda: api.patch(f"/api/v1/incidents/{ref}", json={"title": "API down hard"}),
        lambda: api.post(
            "/api/v1/silences", json={"matchers": ['alertname="X"'], "duration": "1h"}
        ),
        lambda: api.get("/api/v1/incidents"),
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:  # under load: many at once
        answers: list[Any] = list(pool.map(lambda send: send(), requests * 6))
    for answer in answers:
        unavailable(answer)
    wait_for(lambda: status_of(url) == 503, 10, "/readyz says unavailable")
    not_ready = httpx.get(f"{url}/readyz", timeout=10)
    assert not_ready.json()["status"] == "unavailable"
    unavailable(not_ready)
    # The outage lasts until tier 2 is overdue.
    wait_for(lambda: time.monotonic() > tier_two_due + 0.5, TIER_ONE_SECONDS + 5, "tier 2 due")

    cluster.resume()
    wait_for(lambda: status_of(url) == 200, 30, "/readyz ready again")
    assert httpx.get(f"{url}/readyz", timeout=10).json() == {"status": "ready"}
    again = api.post("/api/v1/incidents", json={"title": "More", "severity": "SEV1"})
    assert again.status_code == 201, again.text
    wait_for(lambda: pages(api, ref) == ["alice", "bob"], 30, "tier 2 paged after the outage")
    assert api.get(f"/api/v1/incidents/{ref}").json()["title"] == "API down"

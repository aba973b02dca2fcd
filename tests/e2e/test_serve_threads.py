"""`tocsin serve --threads N`: how many requests a process works on at once.

With a single thread, no request may need a second one to finish: reads, writes, the
inbound lane, the public page and the signed-in dashboard, all at once from several
clients, must each be answered. A bad value is refused naming the option.
"""

from __future__ import annotations

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from tests.support.servers import (
    TOCSIN,
    clean_env,
    free_port,
    run_tocsin,
    start_server,
    stop_server,
)
from tests.support.waiting import wait_for

PASSWORD = "threads password 1"
ALERT = {
    "version": "4",
    "status": "firing",
    "receiver": "tocsin",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": "host-1", "severity": "critical"},
            "annotations": {"summary": "Disk full"},
            "startsAt": "2026-11-23T08:00:00Z",
        }
    ],
}


def _signed_in(url: str) -> httpx.Client:
    browser = httpx.Client(base_url=url, timeout=30)
    page = browser.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    answer = browser.post(
        "/login", data={"csrf_token": found.group(1), "username": "viewer", "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text
    return browser


def _initialised(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> tuple[dict[str, str], int, str]:
    """`tocsin init` in ``tmp_path`` on ``database``: the environment, the port the
    server is to take, and the admin token."""
    extra = {}
    if database == "postgres":
        extra["TOCSIN_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    env = clean_env(extra)
    port = free_port()
    init = run_tocsin("init", "--url", f"http://127.0.0.1:{port}", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    token = json.loads((tmp_path / ".tocsin" / "credentials.json").read_text())["token"]
    return env, port, token


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_one_thread_answers_every_kind_of_request_at_once(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    """On PostgreSQL a declaration holds the incident-number counter's row lock until
    it commits: the others wait for it in the request thread, and the one holding it
    must not need that thread again to finish."""
    env, port, token = _initialised(tmp_path, database, request)
    url = f"http://127.0.0.1:{port}"
    created = subprocess.run(
        [TOCSIN, "user", "create", "viewer", "--role", "viewer", "--password-stdin"],
        cwd=tmp_path, env=env, input=f"{PASSWORD}\n", capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    server = start_server(tmp_path, port, env, "--threads", "1", timeout=90)
    try:
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        integration = api.post(
            "/api/v1/integrations",
            json={"name": "am", "service": "checkout-api", "kind": "alertmanager"},
        )
        assert integration.status_code == 201, integration.text
        key = integration.json()["key"]
        browser = _signed_in(url)

        def declare(n: int) -> int:
            body = {"title": f"Threads {n}", "severity": "SEV3", "services": ["web-frontend"]}
            return api.post("/api/v1/incidents", json=body).status_code

        def alert(n: int) -> int:
            body = json.loads(json.dumps(ALERT))
            body["alerts"][0]["labels"]["instance"] = f"host-{n}"
            return api.post(f"/api/v1/integrations/{key}/alertmanager", json=body).status_code

        calls = [
            *(lambda n=n: declare(n) for n in range(8)),
            *(lambda n=n: alert(n) for n in range(8)),
            *(lambda: api.get("/api/v1/incidents?limit=50").status_code for _ in range(8)),
            *(lambda: httpx.get(f"{url}/status", timeout=30).status_code for _ in range(8)),
            *(lambda: browser.get("/dashboard").status_code for _ in range(4)),
            *(lambda: httpx.get(f"{url}/readyz", timeout=30).status_code for _ in range(4)),
        ]
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(lambda call: call(), calls))
        assert statuses.count(201) == 8, statuses  # the declarations
        assert statuses.count(202) == 8, statuses  # the alerts, stored
        assert statuses.count(200) == len(calls) - 16, statuses
        listed = api.get("/api/v1/incidents?limit=500").json()
        assert sum(1 for i in listed["items"] if i["title"].startswith("Threads ")) == 8
        browser.close()
        api.close()
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_more_readers_than_pooled_connections_are_all_answered_and_paging_goes_on(
    tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    """48 readers at once, one request thread. A read holds its connection from its
    token's lookup to its end, across its wait for the thread: unbounded, the readers
    took every pooled connection while the thread waited for one, and every request
    (and the engine) stalled for the pool's 30 s timeout. Meanwhile an incident is
    declared, and its page still goes out."""
    env, port, token = _initialised(tmp_path, database, request)
    url = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port, env, "--threads", "1", timeout=90)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as api:
            first = api.post(
                "/api/v1/incidents",
                json={"title": "Readers", "severity": "SEV3", "services": ["web-frontend"]},
            )
            assert first.status_code == 201, first.text
        number = first.json()["id"]
        paths = [
            "/api/v1/incidents?limit=50",
            f"/api/v1/incidents/{number}",
            f"/api/v1/incidents/{number}/timeline",
        ]

        def read(n: int) -> int:
            # Well under the pool's 30 s: a stall shows as a timeout, not a slow answer.
            with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
                return client.get(paths[n % len(paths)]).status_code

        with ThreadPoolExecutor(max_workers=48) as pool:
            readers = pool.map(read, range(96))
            with httpx.Client(base_url=url, headers=headers, timeout=10) as api:
                declared = api.post(
                    "/api/v1/incidents",
                    json={"title": "Paged", "severity": "SEV1", "services": ["checkout-api"]},
                )
            statuses = list(readers)
        assert statuses == [200] * 96
        assert declared.status_code == 201, declared.text
        paged = declared.json()["id"]

        def delivered() -> bool:
            with httpx.Client(base_url=url, headers=headers, timeout=10) as api:
                sent = api.get(f"/api/v1/incidents/{paged}/notifications").json()
            return any(n["kind"] == "page" and n["sent_at"] for n in sent["items"])

        wait_for(delivered, 15, "the SEV1's first page sent")
    finally:
        stop_server(server)


def test_a_bad_thread_count_is_refused_naming_the_option(tmp_path: Path) -> None:
    env = clean_env()
    init = run_tocsin("init", cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    refused = run_tocsin("serve", "--port", "0", "--threads", "0", cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert "--threads" in refused.stderr

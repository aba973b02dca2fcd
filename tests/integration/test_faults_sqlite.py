"""A database that cannot be written answers 503 with Retry-After, never a 500, and
``/readyz`` says so; once the fault clears everything works again without a restart,
and nothing that was answered 2xx is lost.

The faults are SQLite's own, on the connections of a running server: a full disk
(``max_page_count`` clamped to the file's size once its free pages are used up) and a
read-only database (``query_only``).
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import Engine, event
from tests.conftest import LiveServer
from tests.support.api import ApiAs
from tests.support.dashboard_session import Browser, add_user, cheap_hashing

from tocsin.db.engine import WRITE_OPTION

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

INCIDENTS = "/api/v1/incidents"
SLACK_SECRET = "5f2b9c0e7d4a41c3b8e6a9d2f1c0b7a4"
ALICE_SLACK = "U0123ALICE"
#: Big enough to need new pages (SQLite pages are 4 KiB) whatever is free in the old ones.
BIG = "x" * 16_000
#: Requests tried against a full database before one must have been refused.
ATTEMPTS = 40


class SqliteFaults:
    """Switches real SQLite faults on and off for every connection the server checks
    out of its pool (the settings are per connection, so each checkout applies them)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        database = self.engine.url.database
        assert database is not None
        self.path = Path(database)
        self.full = False
        self.read_only = False
        #: Only the commit of a write transaction meets the full disk (see _at_commit).
        self.full_at_commit = False
        event.listen(self.engine, "checkout", self._apply)
        event.listen(self.engine, "commit", self._at_commit)

    def close(self) -> None:
        event.remove(self.engine, "checkout", self._apply)
        event.remove(self.engine, "commit", self._at_commit)

    def _at_commit(self, connection: Any) -> None:
        """A last write just before each write transaction commits, that needs more
        space than the free pages hold (see :meth:`fill_disk`) in a file that may not
        grow: the whole transaction fails at its commit, whatever it wrote before."""
        if self.full_at_commit and connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("PRAGMA max_page_count = 1")
            connection.exec_driver_sql("INSERT INTO test_filler VALUES (zeroblob(100000))")

    def _apply(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # A maximum below the file's size is raised to it: the file cannot grow.
        limit = 1 if self.full else 1_073_741_823
        dbapi_connection.execute(f"PRAGMA max_page_count = {limit}")
        dbapi_connection.execute(f"PRAGMA query_only = {'ON' if self.read_only else 'OFF'}")

    def fill_disk(self) -> None:
        """From now on the database cannot grow, and its free pages are used up."""
        self.full = True
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as raw:
            raw.execute("CREATE TABLE IF NOT EXISTS test_filler (b BLOB)")
            raw.execute("PRAGMA max_page_count = 1")
            with pytest.raises(sqlite3.OperationalError, match="full"):
                for _ in range(100_000):
                    raw.execute("INSERT INTO test_filler VALUES (zeroblob(100))")

    def free_disk(self) -> None:
        self.full = False


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@pytest.fixture
def faults(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteFaults]:
    monkeypatch.setenv("TOCSIN_SLACK_SIGNING_SECRET", SLACK_SECRET)
    injected = SqliteFaults(live_server.context.sessions.engine)
    yield injected
    injected.close()


@pytest.fixture
def api(api_as: ApiAs) -> httpx.Client:
    """The admin."""
    return api_as("admin")


def declare(api: httpx.Client, title: str = "Checkout 5xx") -> str:
    answer = api.post(INCIDENTS, json={"title": title, "severity": "sev2"})
    assert answer.status_code == 201, answer.text
    ref: str = answer.json()["id"]
    return ref


def unavailable(answer: httpx.Response, reason: str) -> None:
    """The 503 of a database fault: Retry-After, JSON, a sentence naming the fault."""
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0
    assert answer.headers["content-type"].startswith("application/json")
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and reason in detail, detail


def until_refused(
    send: Callable[[int], httpx.Response], reason: str
) -> tuple[list[httpx.Response], httpx.Response]:
    """Send requests (``send(n)``: the n-th) until the database refuses one.

    A full disk refuses the writes that need new space; a small write may still fit
    in a page that has room. Every answer must be a success or the fault's 503.
    """
    accepted: list[httpx.Response] = []
    for attempt in range(ATTEMPTS):
        answer = send(attempt)
        if answer.status_code == 503:
            unavailable(answer, reason)
            return accepted, answer
        assert answer.is_success, answer.text
        accepted.append(answer)
    raise AssertionError(f"{ATTEMPTS} writes succeeded on a full database")


def wait_for_ready(url: str, expected: int, timeout: float = 10.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(f"{url}/readyz", timeout=10)
        if answer.status_code == expected or time.monotonic() > deadline:
            assert answer.status_code == expected, answer.text
            return answer
        time.sleep(0.05)


def slack_command(live: LiveServer, text: str) -> httpx.Response:
    body = urlencode(
        {"command": "/incident", "text": text, "user_id": ALICE_SLACK, "channel_id": "C0GEN"}
    ).encode()
    timestamp = str(int(live.clock.now().timestamp()))
    signature = hmac.new(
        SLACK_SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={signature}",
    }
    return httpx.post(
        f"{live.url}/api/v1/chatops/slack/commands", content=body, headers=headers, timeout=30
    )


# ---------------------------------------------------------------- the writes


def _writes(
    live: LiveServer, api: httpx.Client, targets: list[str]
) -> dict[str, Callable[[int], httpx.Response]]:
    """Each write endpoint, as ``send(n)``: the n-th request of its kind."""
    override_day = "2026-04-{:02d}T00:00:00Z"
    return {
        "declare": lambda n: api.post(
            INCIDENTS, json={"title": f"Disk {n}", "severity": "sev2", "description": BIG}
        ),
        "acknowledge": lambda n: api.post(f"{INCIDENTS}/{targets[n]}/acknowledge", json={}),
        "patch": lambda n: api.patch(f"{INCIDENTS}/{targets[n]}", json={"description": BIG}),
        "update": lambda n: api.post(
            f"{INCIDENTS}/{targets[n]}/updates", json={"message": f"{n} {BIG}"}
        ),
        "silence": lambda n: api.post(
            "/api/v1/silences",
            json={"matchers": [f'alertname="Disk{n}"'], "duration": "1h", "comment": BIG[:2000]},
        ),
        "override": lambda n: api.post(
            "/api/v1/schedules/platform-primary/overrides",
            json={
                "person": "dana",
                "start": override_day.format(n % 28 + 1),
                "end": override_day.format(n % 28 + 2),
                "reason": BIG[:2000],
            },
        ),
        "status page incident": lambda n: api.post(
            "/api/v1/statuspage/incidents", json={"name": f"Checkout slow {n}", "body": BIG}
        ),
        "integration": lambda n: api.post(
            "/api/v1/integrations",
            json={"name": f"grafana-{n}", "service": "checkout-api", "kind": "grafana"},
        ),
        "slack command": lambda n: slack_command(live, f"update {targets[n]} {BIG[:3000]}"),
    }


def test_a_full_disk_is_503_and_everything_resumes_after(
    live_server: LiveServer, faults: SqliteFaults, api: httpx.Client
) -> None:
    add_user(live_server.context, "rita", person="alice")
    targets = [declare(api, f"Target {n}") for n in range(ATTEMPTS)]
    with Browser(live_server.url) as rita:
        assert rita.sign_in("rita").status_code == 303
        incident_page = f"/dashboard/incidents/{targets[0]}"
        form_page = rita.get(incident_page)
        assert form_page.status_code == 200
        writes = _writes(live_server, api, targets)
        wait_for_ready(live_server.url, 200)

        faults.fill_disk()
        accepted: dict[str, list[httpx.Response]] = {}
        for name, send in writes.items():
            accepted[name], _ = until_refused(send, "the database disk is full")
        page = rita.submit(
            incident_page, f"{incident_page}/updates", {"message": BIG, "status": ""}
        )
        assert page.status_code == 503, page.text
        assert int(page.headers["retry-after"]) > 0
        assert page.headers["content-type"].startswith("text/html")
        assert "Database unavailable" in page.text and "the database disk is full" in page.text
        assert "Traceback" not in page.text
        not_ready = wait_for_ready(live_server.url, 503)
        assert int(not_ready.headers["retry-after"]) > 0
        body = not_ready.json()
        assert body["status"] == "unavailable" and "disk is full" in body["detail"]
        assert api.get(INCIDENTS).status_code == 200  # reads still work

        faults.free_disk()
        assert wait_for_ready(live_server.url, 200).json() == {"status": "ready"}
        for name, send in writes.items():
            answer = send(ATTEMPTS - 1)
            assert answer.is_success, (name, answer.text)
            accepted[name].append(answer)
        page = rita.submit(incident_page, f"{incident_page}/updates", {"message": "back"})
        assert page.status_code == 303, page.text

    _nothing_accepted_was_lost(api, accepted)


def _nothing_accepted_was_lost(
    api: httpx.Client, accepted: dict[str, list[httpx.Response]]
) -> None:
    listed = {i["id"] for i in api.get(INCIDENTS, params={"limit": 500}).json()["items"]}
    assert {a.json()["id"] for a in accepted["declare"]} <= listed
    for answer in accepted["update"]:
        ref = answer.request.url.path.split("/")[-2]
        messages = [u["message"] for u in api.get(f"{INCIDENTS}/{ref}/updates").json()["items"]]
        assert answer.json()["message"] in messages
    silences = {s["id"] for s in api.get("/api/v1/silences").json()["items"]}
    assert {a.json()["id"] for a in accepted["silence"]} <= silences
    integrations = {i["name"] for i in api.get("/api/v1/integrations").json()["items"]}
    assert {a.json()["name"] for a in accepted["integration"]} <= integrations
    for answer in accepted["acknowledge"]:
        assert answer.json()["status"] == "acknowledged"
        ref = answer.json()["id"]
        assert api.get(f"{INCIDENTS}/{ref}").json()["status"] == "acknowledged"


def test_a_fault_at_commit_after_the_handler_returned_is_503(
    live_server: LiveServer, faults: SqliteFaults, api: httpx.Client
) -> None:
    """The request's transaction commits in its session dependency's tear-down, after
    the handler returned: a write that fails only there is refused all the same."""
    declare(api)
    faults.fill_disk()
    faults.free_disk()  # no free pages left, but the file may grow again ...
    faults.full_at_commit = True  # ... except for the commit's own last write
    unavailable(
        api.post(INCIDENTS, json={"title": "At commit", "severity": "sev2"}),
        "the database disk is full",
    )
    unavailable(api.post(f"{INCIDENTS}/INC-1/acknowledge", json={}), "disk is full")
    faults.full_at_commit = False
    faults.free_disk()
    assert [i["id"] for i in api.get(INCIDENTS).json()["items"]] == ["INC-1"]
    assert api.get(f"{INCIDENTS}/INC-1").json()["status"] == "triggered"
    assert api.post(f"{INCIDENTS}/INC-1/acknowledge", json={}).status_code == 200


def test_a_read_only_database_is_503_and_writes_resume_after(
    live_server: LiveServer, faults: SqliteFaults, api: httpx.Client
) -> None:
    ref = declare(api)
    wait_for_ready(live_server.url, 200)
    faults.read_only = True
    unavailable(api.post(INCIDENTS, json={"title": "RO", "severity": "sev2"}), "read-only")
    unavailable(api.post(f"{INCIDENTS}/{ref}/acknowledge", json={}), "read-only")
    unavailable(api.patch(f"{INCIDENTS}/{ref}", json={"title": "Renamed"}), "read-only")
    unavailable(slack_command(live_server, f"update {ref} still down"), "read-only")
    not_ready = wait_for_ready(live_server.url, 503)
    assert "the database is read-only" in not_ready.json()["detail"]
    assert api.get(f"{INCIDENTS}/{ref}").json()["title"] == "Checkout 5xx"

    faults.read_only = False
    wait_for_ready(live_server.url, 200)
    assert api.post(f"{INCIDENTS}/{ref}/acknowledge", json={}).status_code == 200
    assert api.post(INCIDENTS, json={"title": "RW", "severity": "sev2"}).status_code == 201

"""Post-mortem action items in Jira, through the API and `tocsin actions sync-jira`
against a running server and a local Jira: one issue per item (title, owner, due date,
priority), its key in the item's API view, and Jira's "done" pulled back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from tests.support.cli import Cli
from tests.support.jira_api import JiraApi

from tocsin.policy import example_policy_text

if TYPE_CHECKING:
    from tests.conftest import LiveServer

TOKEN = "jira-token-123"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def database_url(sqlite_template: Path, tmp_path: Path) -> str:
    target = tmp_path / "tocsin.db"
    target.write_bytes(sqlite_template.read_bytes())
    return f"sqlite:///{target}"


@pytest.fixture
def jira(monkeypatch: pytest.MonkeyPatch) -> Iterator[JiraApi]:
    monkeypatch.setenv("TOCSIN_TEST_JIRA_TOKEN", TOKEN)
    monkeypatch.setenv("TOCSIN_PUBLIC_URL", "https://tocsin.example.com")
    api = JiraApi(token=TOKEN).start()
    yield api
    api.stop()


@pytest.fixture
def alice(live_server: LiveServer, jira: JiraApi) -> Cli:
    channel = (
        f"  jira: {{type: jira, base_url: '{jira.url}', email: tocsin@example.com, "
        "api_token_env: TOCSIN_TEST_JIRA_TOKEN, project: OPS, action_item_project: ACT}\n"
    )
    text = example_policy_text()
    example = (
        "  jira:\n    type: jira\n    base_url: https://example.atlassian.net\n"
        "    email: tocsin@example.com\n    api_token_env: TOCSIN_JIRA_API_TOKEN\n"
        "    project: OPS\n"
    )
    assert example in text  # the example's jira channel, pointed at the test's Jira here
    text = text.replace(example, channel, 1)
    path = live_server.context.policy.path
    assert path is not None
    path.write_text(text, encoding="utf-8")
    live_server.context.policy.reload()
    return Cli(live_server.url, live_server.make_token("responder", "alice"))


def postmortem_with_items(cli: Cli, live_server: LiveServer) -> list[int]:
    live_server.clock.set(T0)
    inc = str(cli.json("incident", "declare", "Checkout 5xx", "--severity", "sev2",
                       "--service", "checkout-api")["id"])  # fmt: skip
    live_server.clock.set(T0 + timedelta(minutes=30))
    cli.ok("incident", "resolve", inc, "Rolled back")
    assert cli.json("postmortem", "show", inc)["id"] == "PM-1"
    first = cli.json("actions", "add", "PM-1", "Add a canary stage", "--owner", "alice",
                     "--due", "2026-03-20", "--priority", "p2")  # fmt: skip
    second = cli.json("actions", "add", "PM-1", "Alert on 5xx ratio", "--priority", "p4")
    return [int(first["id"]), int(second["id"])]


def push(live_server: LiveServer, cli: Cli, item: int) -> httpx.Response:
    return httpx.post(
        f"{live_server.url}/api/v1/postmortems/PM-1/action-items/{item}/jira",
        headers={"Authorization": f"Bearer {cli.token}"},
        timeout=10,
    )


def test_push_sync_and_status_back(live_server: LiveServer, alice: Cli, jira: JiraApi) -> None:
    first, second = postmortem_with_items(alice, live_server)

    pushed = push(live_server, alice, first)
    assert pushed.status_code == 200, pushed.text
    item: dict[str, Any] = pushed.json()
    assert item["jira"] == {"key": "ACT-1", "url": f"{jira.url}/browse/ACT-1"}
    fields = jira.issues["ACT-1"]["fields"]
    assert fields["summary"] == "Add a canary stage"
    assert fields["duedate"] == "2026-03-20"
    assert fields["priority"] == {"name": "High"}
    assert fields["labels"] == [f"tocsin-action-{first}"]
    assert "Owner: Alice" in fields["description"]
    assert "Post-mortem: https://tocsin.example.com/postmortems/PM-1" in fields["description"]
    assert push(live_server, alice, first).status_code == 200  # again: no second issue
    assert jira.writes() == ["POST /rest/api/2/issue"]

    out = alice.ok("actions", "sync-jira", "PM-1")
    assert "ACT-2" in out and "created" in out
    assert jira.issues["ACT-2"]["fields"]["priority"] == {"name": "Low"}

    jira.move("ACT-1", "Done")
    report = alice.json("actions", "sync-jira", "PM-1")["items"]
    assert [(r["item"], r["key"], r["outcome"]) for r in report] == [
        (first, "ACT-1", "completed"),
        (second, "ACT-2", "synced"),
    ]
    listed = {i["id"]: i for i in alice.json("actions", "list", "--status", "done")["items"]}
    assert listed[first]["jira"]["key"] == "ACT-1" and first in listed
    assert len(jira.issues) == 2


def test_a_lost_answer_is_found_by_label_and_errors_are_clear(
    live_server: LiveServer, alice: Cli, jira: JiraApi
) -> None:
    first, second = postmortem_with_items(alice, live_server)
    jira.script = [("POST", "/rest/api/2/issue", "drop")]
    pushed = push(live_server, alice, first)
    assert pushed.status_code == 502
    assert pushed.json()["detail"] == (
        "Jira (jira channel): connection to Jira lost (ConnectionError)"
    )
    assert push(live_server, alice, first).json()["jira"]["key"] == "ACT-1"
    assert len(jira.issues) == 1

    jira.script = [("POST", "/rest/api/2/issue", 503)]
    failed = alice("actions", "sync-jira")
    assert failed.exit_code == 1
    assert "failed: Jira: HTTP 503" in failed.stdout
    assert "1 of 2 action items could not be synced with Jira" in failed.stderr
    # Jira refused: nothing was created, so trying again at once creates it.
    again = push(live_server, alice, second)
    assert again.status_code == 200, again.text
    assert again.json()["jira"]["key"] == "ACT-2"
    assert len(jira.issues) == 2

    alice.ok("actions", "drop", str(second))
    refused = push(live_server, alice, second)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith(f"action item {second} is dropped: only open")
    assert push(live_server, alice, 999).status_code == 404

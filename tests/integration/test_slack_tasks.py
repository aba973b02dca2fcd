"""``/incident task`` and the checklist's Done buttons in Slack, signed as Slack signs
them, against a running Tocsin; the effects are checked through the API."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import LiveServer
from tests.integration.test_slack_chatops import ALICE, BOB, SECRET, click, command

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

POLICY = """
severities:
  - {name: SEV1, respond_within: 5m, escalate_after: 15m, update_every: 15m, resolve_target: 1h}
  - {name: SEV2, respond_within: 15m, escalate_after: 30m, update_every: 30m, resolve_target: 4h}
people:
  - {name: alice, full_name: Alice Anders, slack: U0ALICE01}
  - {name: bob, full_name: Bob Baker, slack: U0BOB0001}
services:
  - {name: checkout}
channels:
  slack:
    type: slack
    token_env: TOCSIN_TEST_SLACK_TOKEN
    signing_secret_env: TOCSIN_TEST_SLACK_SIGNING_SECRET
    base_url: "http://127.0.0.1:9/api/"
checklists:
  - name: first-steps
    title: First steps
    role: commander
    items:
      - {text: Acknowledge the page, done_when: acknowledged}
      - Check the dashboards
  - name: resolution
    title: Resolution
    required_to_resolve: true
    items:
      - The fix is in place
"""


@pytest.fixture
def server(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    monkeypatch.setenv("TOCSIN_TEST_SLACK_SIGNING_SECRET", SECRET)
    path = live_server.context.policy.path
    assert path is not None
    path.write_text(POLICY, encoding="utf-8")
    live_server.context.policy.reload()
    return live_server


def _api(server: LiveServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {server.admin_token}"}, timeout=10
    )


def declare(server: LiveServer) -> str:
    with _api(server) as api:
        response = api.post(
            "/api/v1/incidents",
            json={"title": "Checkout 5xx", "severity": "SEV2", "services": ["checkout"]},
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def states(server: LiveServer, ref: str) -> dict[int, tuple[str, str | None]]:
    with _api(server) as api:
        body = api.get(f"/api/v1/incidents/{ref}/tasks").json()
    return {
        i["number"]: (i["state"], i["settled_by"]) for c in body["checklists"] for i in c["items"]
    }


def test_task_list_done_and_skip(server: LiveServer) -> None:
    ref = declare(server)
    listed = command(server, f"task {ref}")
    assert listed["text"].splitlines() == [
        f"*{ref}* checklists: 3 open",
        "*First steps* (commander)",
        ":white_large_square: 1. Acknowledge the page",
        ":white_large_square: 2. Check the dashboards",
        "*Resolution*",
        ":white_large_square: 3. The fix is in place",
    ]
    buttons = [b["accessory"]["value"] for b in listed["blocks"] if "accessory" in b]
    assert buttons == [f"{ref}/1", f"{ref}/2", f"{ref}/3"]

    blocked = command(server, f"resolve {ref}")
    assert "cannot be resolved yet" in blocked["text"]
    assert "3. The fix is in place" in blocked["text"]

    done = command(server, f"task {ref} done 2")
    assert done == {
        "response_type": "in_channel",
        "text": f"Alice Anders ticked 2. Check the dashboards on *{ref}*",
    }
    assert "Say why" in command(server, f"task {ref} skip 3")["text"]
    skipped = command(server, f"task {ref} skip 3 rolled back, nothing to fix", user=BOB)
    assert skipped["text"] == (
        f"Bob Baker skipped 3. The fix is in place on *{ref}*: rolled back, nothing to fix"
    )
    assert "already done by alice" in command(server, f"task {ref} done 2")["text"]
    assert "Usage" in command(server, f"task {ref} tick two")["text"]
    assert states(server, ref) == {
        1: ("open", None),
        2: ("done", "alice"),
        3: ("skipped", "bob"),
    }
    assert "resolved" in command(server, f"resolve {ref}")["text"]


def test_the_done_button_ticks_as_the_slack_user(server: LiveServer) -> None:
    ref = declare(server)
    response = click(server, "tocsin_task_done", f"{ref}/2", user=BOB)
    assert response.status_code == 200
    assert response.json()["text"] == f"Ticked 2. Check the dashboards on {ref} (bob)."
    assert states(server, ref)[2] == ("done", "bob")
    again = click(server, "tocsin_task_done", f"{ref}/2", user=ALICE)
    assert "already done by bob" in again.json()["text"]
    assert "names no checklist item" in click(server, "tocsin_task_done", ref).json()["text"]

"""Diagnostics and playbooks in Slack: ``/incident diagnose``, a proposal posted to the
incident's channel with Approve / Decline buttons (delivered to a local server speaking
Slack's Web API), and the buttons, signed as Slack signs them: only the commander's
click approves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import LiveServer
from tests.integration.test_slack_channel import TOKEN, Harness, _action_ids, _channel_calls
from tests.integration.test_slack_chatops import ALICE, BOB, CLIENT, click, command, declare
from tests.integration.test_slack_chatops import POLICY as CHATOPS_POLICY
from tests.support.slack_api import SlackApi

from tocsin.clock import FakeClock
from tocsin.db import session_scope
from tocsin.incidents import service
from tocsin.runbooks import service as runbooks
from tocsin.web.context import AppContext

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

RUNBOOKS = """
diagnostics:
  collectors:
    uptime:
      steps:
        - name: uptime
          command: [uptime]
playbooks:
  restart:
    trigger: {match: ['alertname="Never"']}
    actions:
      - name: Restart the service
        command: [systemctl, restart, "{{ service }}"]
"""


def _add_runbooks(path: Path | None, server_policy: Any) -> None:
    assert path is not None
    path.write_text(path.read_text(encoding="utf-8") + RUNBOOKS, encoding="utf-8")
    server_policy.reload()


@pytest.fixture
def server(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    monkeypatch.setenv("TOCSIN_TEST_SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5")
    path = live_server.context.policy.path
    assert path is not None
    path.write_text(CHATOPS_POLICY, encoding="utf-8")
    _add_runbooks(path, live_server.context.policy)
    return live_server


@pytest.fixture
def slack_api() -> Iterator[SlackApi]:
    with SlackApi(token=TOKEN) as api:
        yield api


@pytest.fixture
def harness(app_context: AppContext, clock: FakeClock, slack_api: SlackApi) -> Iterator[Harness]:
    made = Harness(app_context, clock, slack_api)
    made.configure()
    yield made
    made.delivery.shutdown()


def _playbook_state(server: LiveServer, ref: str) -> str:
    answer = CLIENT.get(
        f"{server.url}/api/v1/incidents/{ref}/playbooks",
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )
    return str(answer.json()["items"][-1]["state"])


def test_diagnose_command_queues_the_collectors(server: LiveServer) -> None:
    ref = declare(server)
    answer = command(server, f"diagnose {ref} uptime")
    assert answer["response_type"] == "in_channel"
    assert f"diagnostics on *{ref}*: `uptime`" in answer["text"]
    unknown = command(server, f"diagnose {ref} rm")
    assert "unknown collector 'rm'" in unknown["text"] and "uptime" in unknown["text"]
    listed = CLIENT.get(
        f"{server.url}/api/v1/incidents/{ref}/diagnostics",
        headers={"Authorization": f"Bearer {server.admin_token}"},
    ).json()["items"]
    assert [(r["name"], r["state"], r["requested_by"]) for r in listed] == [
        ("uptime", "queued", "alice")
    ]


def test_only_the_commanders_click_approves(server: LiveServer) -> None:
    ref = declare(server)
    with session_scope(server.context.sessions) as session:
        incident = service.get(session=session, ref=ref)
        runbooks.propose(
            session=session,
            policy=server.context.policy.current,
            incident=incident,
            name="restart",
            actor="bob",
            now=server.clock.now(),
        )
    assert (
        CLIENT.patch(
            f"{server.url}/api/v1/incidents/{ref}",
            json={"roles": {"commander": "alice"}},
            headers={"Authorization": f"Bearer {server.admin_token}"},
        ).status_code
        == 200
    )
    refused = click(server, "tocsin_playbook_approve", f"{ref}/restart", user=BOB)
    assert "only the commander (alice)" in refused.json()["text"]
    assert _playbook_state(server, ref) == "proposed"
    approved = click(server, "tocsin_playbook_approve", f"{ref}/restart", user=ALICE)
    assert approved.json()["text"] == (
        f"Playbook restart on {ref} approved; its actions run now by Alice Anders."
    )
    assert _playbook_state(server, ref) == "queued"
    again = click(server, "tocsin_playbook_decline", f"{ref}/restart", user=ALICE)
    assert "no proposal waiting" in again.json()["text"]


def test_a_proposal_is_posted_with_its_actions_and_buttons(
    harness: Harness, slack_api: SlackApi
) -> None:
    _add_runbooks(harness.context.policy.path, harness.context.policy)
    ref = harness.declare()
    harness.advance(1)
    with session_scope(harness.context.sessions) as session:
        incident = service.get(session=session, ref=ref)
        runbooks.propose(
            session=session,
            policy=harness.context.policy.current,
            incident=incident,
            name="restart",
            actor="bob",
            now=harness.clock.now(),
        )
    harness.advance(1)
    posts = [
        params
        for method, params in _channel_calls(slack_api)
        if method == "chat.postMessage" and "Playbook restart" in str(params.get("text"))
    ]
    assert len(posts) == 1
    assert "`systemctl restart api`" in posts[0]["text"]
    assert _action_ids(posts[0]["blocks"]) == ["tocsin_playbook_approve", "tocsin_playbook_decline"]
    values = {
        e["value"] for b in posts[0]["blocks"] if b["type"] == "actions" for e in b["elements"]
    }
    assert values == {f"{ref}/restart"}
